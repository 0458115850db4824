"""ListNetLoss: cross-entropy between the label and score top-one distributions of each list."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.cross._common import IDENTITY
from raypipe.losses.cross._listwise import ListwiseCrossEncoderLoss

_PAD_LOGIT = -1e16  # exp(pad) == 0: padded documents get no probability mass


class ListNetLoss(ListwiseCrossEncoderLoss):
    """ListNet (Cao et al., 2007) on (query, [documents]) lists.

    Per query: P_y = softmax(labels), P_s = softmax(act(s)) over the real documents, and

        loss = mean over queries of - sum_i P_y(i) · log P_s(i)

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, [doc_1, ..., doc_n]) | [score_1, ..., score_n] (ragged lists allowed) | 1 |

    Cost: sum_i n_i model pairs; O(B·N) memory in the loss. Queries with an empty document list are skipped
    (sentence-transformers returns NaN for them).

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        activation_fn: applied to the logits first (default identity).
        mini_batch_size: pairs per forward pass (None: number of queries; <= 0: all pairs).
    """

    citation = """
@inproceedings{cao2007learning,
    title={Learning to Rank: From Pairwise Approach to Listwise Approach},
    author={Cao, Zhe and Qin, Tao and Liu, Tie-Yan and Tsai, Ming-Feng and Li, Hang},
    booktitle={Proceedings of the 24th International Conference on Machine Learning},
    pages={129--136},
    year={2007}
}
"""

    def __init__(
        self,
        model: nn.Module,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """scores: raw logits (B, N); labels: (B, N); mask: (B, N) bool, True = real document."""
        scores, mask = self._activated(scores, mask)
        keep = mask.any(dim=1)  # drop queries without documents (their label softmax is undefined)
        scores, mask, labels = scores[keep], mask[keep], labels.float().to(scores.device)[keep]
        logits = scores.masked_fill(~mask, _PAD_LOGIT)
        target = labels.masked_fill(~mask, float("-inf")).softmax(dim=1)  # (B, N), 0 on padding
        return F.cross_entropy(logits, target)


__all__ = ["ListNetLoss"]
