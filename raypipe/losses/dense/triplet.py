"""TripletLoss and TripletDistanceMetric (Schroff et al., FaceNet 2015)."""

from __future__ import annotations

from collections.abc import Iterable

import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.base import LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import check_num_columns, check_same_batch
from raypipe.models.similarity import pairwise_cos_sim, pairwise_euclidean_sim, pairwise_manhattan_sim


def _cosine(x: Tensor, y: Tensor) -> Tensor:
    return 1 - pairwise_cos_sim(x, y)


def _euclidean(x: Tensor, y: Tensor) -> Tensor:
    return -pairwise_euclidean_sim(x, y)


def _manhattan(x: Tensor, y: Tensor) -> Tensor:
    return -pairwise_manhattan_sim(x, y)


class TripletDistanceMetric:
    """Pairwise distances (n, d), (n, d) -> (n,) for TripletLoss; use as `TripletDistanceMetric.EUCLIDEAN`."""

    COSINE = staticmethod(_cosine)
    EUCLIDEAN = staticmethod(_euclidean)
    MANHATTAN = staticmethod(_manhattan)

    _NAMES = ("COSINE", "EUCLIDEAN", "MANHATTAN")

    @classmethod
    def resolve(cls, metric):
        if callable(metric):
            return metric
        name = str(metric).split(".")[-1].upper()
        if name not in cls._NAMES:
            raise ValueError(
                f"distance_metric={metric!r} is not supported; allowed: TripletDistanceMetric.COSINE, EUCLIDEAN, "
                f"MANHATTAN or a callable (x, y) -> (n,). Fix: pass one of those."
            )
        return getattr(cls, name)

    @classmethod
    def name_of(cls, metric) -> str:
        for name in cls._NAMES:
            if getattr(cls, name) is metric:
                return f"TripletDistanceMetric.{name}"
        return getattr(metric, "__name__", str(metric))


class TripletLoss(RaypipeLoss):
    """Triplet loss: loss = mean_i relu(d(a_i, p_i) − d(a_i, n_i) + triplet_margin).

    | Inputs                          | Labels |
    |---------------------------------|--------|
    | (anchor, positive, negative) triplets | none |

    Cost: O(B·D). Reference: Schroff et al., "FaceNet", CVPR 2015 (arXiv:1503.03832).
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
        self, model, distance_metric=TripletDistanceMetric.EUCLIDEAN, triplet_margin: float = 5
    ) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = TripletDistanceMetric.resolve(distance_metric)
        self.triplet_margin = triplet_margin

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__, min_inputs=3, max_inputs=3, model_kinds=("dense",)
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 3, 3)
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        check_num_columns(self, len(embeddings), 3, 3)
        check_same_batch(self, embeddings)
        anchor, positive, negative = embeddings
        d_pos = self.distance_metric(anchor, positive)  # (B,)
        d_neg = self.distance_metric(anchor, negative)  # (B,)
        return F.relu(d_pos - d_neg + self.triplet_margin).mean()

    def get_config_dict(self) -> dict:
        return {
            "distance_metric": TripletDistanceMetric.name_of(self.distance_metric),
            "triplet_margin": self.triplet_margin,
        }


__all__ = ["TripletLoss", "TripletDistanceMetric"]
