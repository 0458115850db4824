"""BatchHardSoftMarginTripletLoss: batch-hard triplets with a soft (softplus) margin."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.dense.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
    hardest_pairs,
)


class BatchHardSoftMarginTripletLoss(BatchHardTripletLoss):
    """Batch-hard triplet loss without a margin hyper-parameter:
    loss = mean_a log(1 + exp(max_p d(a, p) − min_n d(a, n))).

    | Inputs      | Labels      |
    |-------------|-------------|
    | single text | class label (int); the batch needs ≥ 2 examples per class |

    Cost: O(B²·D) time, O(B²) memory. Reference: Hermans et al., "In Defense of the Triplet Loss", 2017.
    """

    def __init__(
        self, model, distance_metric=BatchHardTripletLossDistanceFunction.euclidean_distance
    ) -> None:
        super().__init__(model, distance_metric=distance_metric)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        dist, labels = self._pairwise(embeddings, labels)
        hardest_pos, hardest_neg = hardest_pairs(dist, labels)
        return F.softplus(hardest_pos - hardest_neg).mean()

    def get_config_dict(self) -> dict:
        return {"distance_metric": getattr(self.distance_metric, "__name__", str(self.distance_metric))}


__all__ = ["BatchHardSoftMarginTripletLoss"]
