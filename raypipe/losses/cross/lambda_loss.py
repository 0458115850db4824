"""LambdaLoss: metric-driven pairwise ranking loss for listwise CrossEncoder training."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.cross._common import IDENTITY, fullname
from raypipe.losses.cross._listwise import ListwiseCrossEncoderLoss
from raypipe.losses.cross.lambda_schemes import (
    BaseWeightingScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NoWeightingScheme,
)

_DEFAULT_SCHEME = NDCGLoss2PPScheme()
_PAD_LOGIT = -1e16  # padded documents sort last and never win a pair


class LambdaLoss(ListwiseCrossEncoderLoss):
    """LambdaLoss framework (Wang et al., 2018) on (query, [documents]) lists with graded labels.

    Per query, documents are sorted by predicted score s (descending); rel is the label, G_i = (2^rel_i - 1) /
    maxDCG@k, D_r = log2(1 + r). Over pairs (i, j) with rel_i > rel_j (NDCGLoss1Scheme: all real pairs) where i or
    j is in the top k:

        loss = - sum_{ij} w_ij · log_b sigmoid(sigma · (s_i - s_j)) / #pairs,   b = 2 ("binary") or e ("natural")

    with w_ij from the weighting scheme (NoWeightingScheme = RankNet, NDCGLoss2PPScheme = default).
    maxDCG is clamped to >= eps.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, [doc_1, ..., doc_n]) | [score_1, ..., score_n] (ragged lists allowed) | 1 |

    Cost: sum_i n_i model pairs; the loss itself is O(B·N²) memory (N = longest list).

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        weighting_scheme: a scheme from raypipe.losses.cross (None = NoWeightingScheme).
        k: only pairs with a document in the top k predicted ranks count (None = all).
        sigma: sharpness of the pairwise sigmoid.
        eps: lower clamp of maxDCG (queries without relevant documents).
        reduction_log: "binary" (log2) or "natural" (ln).
        activation_fn: applied to the logits first (default identity).
        mini_batch_size: pairs per forward pass (None: number of queries; <= 0: all pairs).
    """

    citation = """
@inproceedings{wang2018lambdaloss,
  title={The LambdaLoss Framework for Ranking Metric Optimization},
  author={Wang, Xuanhui and Li, Cheng and Golbandi, Nadav and Bendersky, Michael and Najork, Marc},
  booktitle={Proceedings of the 27th ACM International Conference on Information and Knowledge Management},
  pages={1313--1322},
  year={2018}
}
"""

    def __init__(
        self,
        model: nn.Module,
        weighting_scheme: BaseWeightingScheme | None = _DEFAULT_SCHEME,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)
        if reduction_log not in ("natural", "binary"):
            raise ValueError(
                f"{type(self).__name__}: reduction_log must be 'natural' or 'binary', got {reduction_log!r}."
            )
        if k is not None and (not isinstance(k, int) or k < 1):
            raise ValueError(f"{type(self).__name__}: k must be None (all ranks) or an int >= 1, got {k!r}.")
        self.weighting_scheme = weighting_scheme if weighting_scheme is not None else NoWeightingScheme()
        self.k = k
        self.sigma = sigma
        self.eps = eps
        self.reduction_log = reduction_log

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """scores: raw logits (B, N); labels: (B, N) graded relevance; mask: (B, N) bool, True = real document."""
        scores, mask = self._activated(scores, mask)
        scores = scores.masked_fill(~mask, _PAD_LOGIT)
        labels = labels.float().to(scores.device).masked_fill(~mask, float("-inf"))
        width = scores.shape[1]

        sorted_scores, order = scores.sort(descending=True, dim=-1)  # (B, N) predicted ranking
        ideal_labels = labels.sort(descending=True, dim=-1).values  # (B, N) ideal ranking
        true_sorted = labels.gather(1, order)  # labels in predicted order, padding = -inf
        true_diffs = true_sorted[:, :, None] - true_sorted[:, None, :]  # (B, N, N)
        pair_mask = torch.isfinite(true_diffs)  # both documents real
        if not isinstance(self.weighting_scheme, NDCGLoss1Scheme):
            pair_mask = pair_mask & (true_diffs > 0)
        k = self.k or width
        rank = torch.arange(width, device=scores.device)
        top_k = (rank[:, None] < k) | (rank[None, :] < k)  # (N, N): i or j within the top k
        pair_mask = pair_mask & top_k

        true_sorted = true_sorted.clamp(min=0.0)
        ideal_labels = ideal_labels.clamp(min=0.0)
        discount = torch.log2(1.0 + (rank + 1).float())[None, :]  # (1, N), D_r = log2(1 + r)
        max_dcg = ((torch.pow(2, ideal_labels) - 1) / discount)[:, :k].sum(dim=-1).clamp(min=self.eps)  # (B,)
        gain = (torch.pow(2, true_sorted) - 1) / max_dcg[:, None]  # (B, N)
        weights = self.weighting_scheme(gain, discount, true_sorted)

        # log-sigmoid directly (not log(sigmoid)) so strongly mis-ordered pairs keep a gradient.
        diffs = (sorted_scores[:, :, None] - sorted_scores[:, None, :]).clamp(min=-1e8, max=1e8)
        diffs = diffs.masked_fill(torch.isnan(diffs), 0.0)
        pair_losses = weights * F.logsigmoid(self.sigma * diffs)
        if self.reduction_log == "binary":
            pair_losses = pair_losses / math.log(2)
        kept = pair_losses[pair_mask]
        return -kept.sum() / max(kept.numel(), 1)

    def get_config_dict(self) -> dict:
        return {
            "weighting_scheme": fullname(self.weighting_scheme),
            "k": self.k,
            "sigma": self.sigma,
            "eps": self.eps,
            "reduction_log": self.reduction_log,
            "activation_fn": fullname(self.activation_fn),
            "mini_batch_size": self.mini_batch_size,
        }


__all__ = ["LambdaLoss"]
