"""SparseTripletLoss: TripletLoss on sparse embeddings (inside SpladeLoss / CSRLoss)."""

from __future__ import annotations

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.triplet import TripletDistanceMetric, TripletLoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, sparse_requirements


class SparseTripletLoss(StandaloneForwardGuard, TripletLoss):
    """Triplet loss on sparse embeddings; the math is TripletLoss's::

        loss = mean_i relu(d(a_i, p_i) − d(a_i, n_i) + triplet_margin)     (default d: Euclidean, margin 5)

    Base loss only: use inside :class:`SpladeLoss` or :class:`CSRLoss` (a standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | (anchor, positive, negative) triplets | none |

    Cost: O(B·V). Citation: Schroff et al., 2015, "FaceNet" (arXiv:1503.03832).
    """

    def __init__(
        self, model, distance_metric=TripletDistanceMetric.EUCLIDEAN, triplet_margin: float = 5
    ) -> None:
        super().__init__(model, distance_metric=distance_metric, triplet_margin=triplet_margin)

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseTripletLoss", "TripletDistanceMetric"]
