"""Weighting schemes of LambdaLoss (Wang et al., 2018): which pairwise weight w_ij each swap gets.

Every scheme maps (gain, discount, true_sorted) to weights broadcastable to (B, N, N), with items in predicted order:
    gain      (B, N)  G_i = (2^rel_i - 1) / maxDCG@k of the item at predicted rank i
    discount  (1, N)  D_r = log2(1 + r), r = 1..N
    true_sorted (B, N) the relevance labels in predicted order (padding clamped to 0)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BaseWeightingScheme(nn.Module):
    """A LambdaLoss weighting scheme: forward(gain, discount, true_sorted) -> pair weights."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        raise NotImplementedError


class NoWeightingScheme(BaseWeightingScheme):
    """w_ij = 1: LambdaLoss reduces to RankNet."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return torch.tensor(1.0, device=gain.device)


class NDCGLoss1Scheme(BaseWeightingScheme):
    """w_ij = G_i / D_i (per item i; LambdaLoss then keeps every non-padded pair, not only rel_i > rel_j)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return (gain / discount).unsqueeze(2)  # (B, N, 1)


class NDCGLoss2Scheme(BaseWeightingScheme):
    """w_ij = |1/D(|i-j|) - 1/D(|i-j|+1)| · |G_i - G_j|, and 0 on the diagonal."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        width = gain.shape[1]
        positions = torch.arange(width, device=gain.device)
        gap = (positions[:, None] - positions[None, :]).abs()  # (N, N), |i - j|
        inv = discount[0].abs().reciprocal()  # (N,), 1 / D_r at index r - 1
        # D(|i-j|) is discount index gap-1 (invalid on the diagonal, zeroed below); D(|i-j|+1) is index gap.
        delta = (inv[(gap - 1).clamp(min=0)] - inv[gap.clamp(max=width - 1)]).abs()
        delta = delta.masked_fill(gap == 0, 0.0)
        return delta.unsqueeze(0) * (gain[:, :, None] - gain[:, None, :]).abs()


class LambdaRankScheme(BaseWeightingScheme):
    """w_ij = |1/D_i - 1/D_j| · |G_i - G_j| (LambdaRank's delta-NDCG weight)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        inv = discount.reciprocal()  # (1, N)
        return (inv[:, :, None] - inv[:, None, :]).abs() * (gain[:, :, None] - gain[:, None, :]).abs()


class NDCGLoss2PPScheme(BaseWeightingScheme):
    """NDCG-Loss2++: w_ij = mu · NDCGLoss2_ij + LambdaRank_ij (the LambdaLoss default)."""

    def __init__(self, mu: float = 10.0) -> None:
        super().__init__()
        self.mu = mu
        self.ndcg_loss2 = NDCGLoss2Scheme()
        self.lambda_rank = LambdaRankScheme()

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        ndcg2 = self.ndcg_loss2(gain, discount, true_sorted)
        return self.mu * ndcg2 + self.lambda_rank(gain, discount, true_sorted)


__all__ = [
    "BaseWeightingScheme",
    "NoWeightingScheme",
    "NDCGLoss1Scheme",
    "NDCGLoss2Scheme",
    "LambdaRankScheme",
    "NDCGLoss2PPScheme",
]
