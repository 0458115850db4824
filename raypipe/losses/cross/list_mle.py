"""ListMLELoss: Plackett-Luce likelihood of the ground-truth ordering (PListMLE without position weights)."""

from __future__ import annotations

from torch import nn

from raypipe.losses.cross._common import IDENTITY
from raypipe.losses.cross.plist_mle import PListMLELoss


class ListMLELoss(PListMLELoss):
    """ListMLE (Xia et al., 2008) on (query, [documents]) lists.

    With documents in ground-truth order (input order when `respect_input_order`, else sorted by label) and
    s = act(logits):  loss = mean over queries of - sum_r (s_r - log sum_{t >= r} exp(s_t)).

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, [doc_1, ..., doc_n]) | [score_1, ..., score_n] (ragged lists allowed) | 1 |

    Cost: sum_i n_i model pairs; O(B·N) memory in the loss.

    Args: as PListMLELoss, without `lambda_weight`.
    """

    citation = """
@inproceedings{xia2008listwise,
    title={Listwise Approach to Learning to Rank - Theory and Algorithm},
    author={Xia, Fen and Liu, Tie-Yan and Wang, Jue and Zhang, Wensheng and Li, Hang},
    booktitle={Proceedings of the 25th International Conference on Machine Learning},
    pages={1192--1199},
    year={2008},
    doi={10.1145/1390156.1390306}
}
"""

    def __init__(
        self,
        model: nn.Module,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(
            model,
            lambda_weight=None,
            activation_fn=activation_fn,
            mini_batch_size=mini_batch_size,
            respect_input_order=respect_input_order,
        )

    def get_config_dict(self) -> dict:
        config = super().get_config_dict()
        config.pop("lambda_weight")
        return config


__all__ = ["ListMLELoss"]
