"""ADRMSELoss (Rank-DistiLLM): discounted MSE between true ranks and differentiable approximate ranks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raypipe.losses.cross._common import IDENTITY
from raypipe.losses.cross._listwise import ListwiseCrossEncoderLoss

_PAD_LOGIT = -1e16  # sigmoid(alpha · (pad - s)) == 0: padding never outranks a real document


class ADRMSELoss(ListwiseCrossEncoderLoss):
    """Approx-Discounted-Rank MSE (Schlatt et al., 2025) on (query, [documents]) lists.

    For the real documents of a query, with s = act(logits):

        approx_rank_i = 1 + sum_{j != i} sigmoid(alpha · (s_j - s_i))
        true_rank_i   = 1 + #{j: y_j > y_i} + (#{j != i: y_j == y_i}) / 2      (ties share their average rank)
        loss = sum over real documents of (true_rank_i - approx_rank_i)^2 / log2(1 + true_rank_i),
               divided by the number of real documents in the batch.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, [doc_1, ..., doc_n]) | [score_1, ..., score_n], higher = more relevant (ragged allowed) | 1 |

    Cost: sum_i n_i model pairs; O(B·N²) memory in the loss (N = longest list).

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        alpha: sharpness of the sigmoid in the approximate rank.
        activation_fn: applied to the logits first (default identity).
        mini_batch_size: pairs per forward pass (None: number of queries; <= 0: all pairs).
    """

    citation = """
@inproceedings{schlatt2025rankdistillm,
    title={Rank-DistiLLM: Closing the Effectiveness Gap Between Cross-Encoders and LLMs for Passage Re-ranking},
    author={Schlatt, Ferdinand and Fr{\\"o}be, Maik and Scells, Harrisen and Zhuang, Shengyao and Koopman, Bevan
        and Zuccon, Guido and Stein, Benno and Potthast, Martin and Hagen, Matthias},
    booktitle={Advances in Information Retrieval (ECIR 2025)},
    year={2025},
    doi={10.1007/978-3-031-88714-7_31}
}
"""

    def __init__(
        self,
        model: nn.Module,
        alpha: float = 1.0,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)
        self.alpha = alpha

    def approximate_ranks(self, scores: Tensor, mask: Tensor) -> Tensor:
        """(B, N) soft ranks: 1 + sum over other real documents j of sigmoid(alpha · (s_j - s_i))."""
        beats = torch.sigmoid(self.alpha * (scores[:, None, :] - scores[:, :, None]))  # [b, i, j]: j above i
        beats = beats * mask[:, None, :].float()
        return 1.0 + beats.sum(dim=2) - 0.5 * mask.float()  # the j == i term is sigmoid(0) = 0.5

    @staticmethod
    def true_ranks(labels: Tensor, mask: Tensor) -> Tensor:
        """(B, N) ranks from labels (1 = most relevant), ties sharing their average rank."""
        other = labels[:, None, :]  # [b, i, j] = y_j
        valid = mask[:, None, :]
        higher = ((other > labels[:, :, None]) & valid).sum(dim=-1).float()
        tied = ((other == labels[:, :, None]) & valid).sum(dim=-1).float()  # includes i itself
        return higher + (tied + 1.0) / 2.0

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """scores: raw logits (B, N); labels: (B, N); mask: (B, N) bool, True = real document."""
        scores, mask = self._activated(scores, mask)
        scores = scores.masked_fill(~mask, _PAD_LOGIT)
        labels = labels.float().to(scores.device).masked_fill(~mask, 0.0)
        true = self.true_ranks(labels, mask)
        approx = self.approximate_ranks(scores, mask)
        per_doc = (true - approx) ** 2 / torch.log2(true + 1.0) * mask.float()
        return per_doc.sum() / mask.sum()

    def get_config_dict(self) -> dict:
        return {**super().get_config_dict(), "alpha": self.alpha}


__all__ = ["ADRMSELoss"]
