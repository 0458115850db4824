"""BatchAllTripletLoss: every valid (anchor, positive, negative) triplet of the batch."""

from __future__ import annotations

import torch
from torch import Tensor

from raypipe.losses.dense.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
    same_label_masks,
)


class BatchAllTripletLoss(BatchHardTripletLoss):
    """Batch-all triplet loss: over all triplets (a, p, n) with y_a = y_p, a ≠ p, y_n ≠ y_a,
    l = relu(d(a, p) − d(a, n) + margin); loss = Σ l / #(triplets with l > 1e-16) (the mean over active ones).

    | Inputs      | Labels      |
    |-------------|-------------|
    | single text | class label (int); the batch needs ≥ 2 examples per class |

    Cost: O(B²·D) time; O(P·B) memory for P anchor-positive pairs (≤ B²).
    Reference: Hermans et al., "In Defense of the Triplet Loss", 2017.
    """

    def __init__(
        self,
        model,
        distance_metric=BatchHardTripletLossDistanceFunction.euclidean_distance,
        margin: float = 5,
    ) -> None:
        super().__init__(model, distance_metric=distance_metric, margin=margin)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        dist, labels = self._pairwise(embeddings, labels)
        pos_mask, neg_mask = same_label_masks(labels)
        anchor_idx, pos_idx = pos_mask.nonzero(as_tuple=True)  # P anchor-positive pairs
        # (P, B): one row per (a, p) pair, one column per candidate negative n
        triplets = dist[anchor_idx, pos_idx][:, None] - dist[anchor_idx] + self.triplet_margin
        triplets = torch.relu(triplets * neg_mask[anchor_idx])
        num_active = (triplets > 1e-16).sum()
        return triplets.sum() / (num_active + 1e-16)


__all__ = ["BatchAllTripletLoss"]
