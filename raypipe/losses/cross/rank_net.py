"""RankNetLoss: pairwise logistic ranking loss, LambdaLoss with unit pair weights."""

from __future__ import annotations

from typing import Literal

from torch import nn

from raypipe.losses.cross._common import IDENTITY
from raypipe.losses.cross.lambda_loss import LambdaLoss
from raypipe.losses.cross.lambda_schemes import NoWeightingScheme


class RankNetLoss(LambdaLoss):
    """RankNet (Burges et al., 2005) on (query, [documents]) lists.

    Over pairs (i, j) of one query's documents with rel_i > rel_j (and i or j in the top k by predicted score):

        loss = - sum_{ij} log_b sigmoid(sigma · (s_i - s_j)) / #pairs

    i.e. LambdaLoss with NoWeightingScheme. Labels may be graded; only their order matters.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, [doc_1, ..., doc_n]) | [score_1, ..., score_n] (ragged lists allowed) | 1 |

    Cost: sum_i n_i model pairs; O(B·N²) memory in the loss (N = longest list).

    Args: as LambdaLoss, without `weighting_scheme`.
    """

    citation = """
@inproceedings{burges2005learning,
  title={Learning to Rank using Gradient Descent},
  author={Burges, Chris and Shaked, Tal and Renshaw, Erin and Lazier, Ari and Deeds, Matt and Hamilton, Nicole
    and Hullender, Greg},
  booktitle={Proceedings of the 22nd International Conference on Machine Learning},
  pages={89--96},
  year={2005}
}
"""

    def __init__(
        self,
        model: nn.Module,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            weighting_scheme=NoWeightingScheme(),
            k=k,
            sigma=sigma,
            eps=eps,
            reduction_log=reduction_log,
            activation_fn=activation_fn,
            mini_batch_size=mini_batch_size,
        )

    def get_config_dict(self) -> dict:
        config = super().get_config_dict()
        config.pop("weighting_scheme")
        return config


__all__ = ["RankNetLoss"]
