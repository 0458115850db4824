"""BatchSemiHardTripletLoss: FaceNet's semi-hard negative mining inside the batch."""

from __future__ import annotations

import torch
from torch import Tensor

from raypipe.losses.dense.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
    same_label_masks,
)


def semi_hard_negatives(dist: Tensor, neg_mask: Tensor) -> Tensor:
    """For every (anchor a, candidate p): the nearest negative of a that is still farther than p
    (d(a, n) > d(a, p)); if a has none, its farthest negative; if a has no negative at all, its nearest item.

    dist, neg_mask: (B, B). Returns (B, B). Cost: O(B² log B) (a sort per anchor), O(B²) memory.
    """
    batch = dist.shape[0]
    neg_sorted = dist.masked_fill(~neg_mask, float("inf")).sort(dim=1, stable=True).values  # (B, B)
    # first negative strictly farther than d(a, p); the anchor itself is never a negative, so the last
    # sorted entry is always inf and the clamped index lands on inf when nothing is farther
    pos = torch.searchsorted(neg_sorted.detach().contiguous(), dist.detach().contiguous(), right=True)
    farther = neg_sorted.gather(1, pos.clamp(max=batch - 1))
    row_min = dist.min(dim=1, keepdim=True).values
    farthest_neg = ((dist - row_min) * neg_mask).max(dim=1, keepdim=True).values + row_min  # (B, 1)
    return torch.where(torch.isfinite(farther), farther, farthest_neg)


class BatchSemiHardTripletLoss(BatchHardTripletLoss):
    """Semi-hard triplet loss: for every anchor-positive pair (a, p), the negative n is the closest one with
    d(a, n) > d(a, p) (else the farthest negative); loss = Σ_{(a,p)} relu(d(a, p) − d(a, n) + margin) / #(a, p).

    | Inputs      | Labels      |
    |-------------|-------------|
    | single text | class label (int); the batch needs ≥ 2 examples per class |

    Cost: O(B²·D + B² log B) time, O(B²) memory. Reference: Schroff et al., "FaceNet", CVPR 2015.
    """

    citation = """
@misc{hermans2017defense,
    title={In Defense of the Triplet Loss for Person Re-Identification},
    author={Alexander Hermans and Lucas Beyer and Bastian Leibe},
    year={2017},
    eprint={1703.07737},
    archivePrefix={arXiv},
    primaryClass={cs.CV}
}
"""

    def __init__(
        self,
        model,
        distance_metric=BatchHardTripletLossDistanceFunction.euclidean_distance,
        margin: float = 5,
    ) -> None:
        super().__init__(model, distance_metric=distance_metric, margin=margin)

    @property
    def margin(self) -> float:
        return self.triplet_margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        dist, labels = self._pairwise(embeddings, labels)
        pos_mask, neg_mask = same_label_masks(labels)
        negatives = semi_hard_negatives(dist, neg_mask)  # (B, B)
        per_pair = torch.relu((dist - negatives + self.triplet_margin) * pos_mask)
        return per_pair.sum() / pos_mask.sum().clamp(min=1e-16)


__all__ = ["BatchSemiHardTripletLoss"]
