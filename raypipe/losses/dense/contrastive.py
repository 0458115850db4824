"""ContrastiveLoss and SiameseDistanceMetric (Hadsell, Chopra & LeCun, 2006)."""

from __future__ import annotations

from collections.abc import Iterable

import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import (
    check_num_columns,
    check_one_label_per_example,
    check_same_batch,
    warn_if_not_binary,
)


def _euclidean(x: Tensor, y: Tensor) -> Tensor:
    return F.pairwise_distance(x, y, p=2)


def _manhattan(x: Tensor, y: Tensor) -> Tensor:
    return F.pairwise_distance(x, y, p=1)


def _cosine_distance(x: Tensor, y: Tensor) -> Tensor:
    return 1 - F.cosine_similarity(x, y)


class SiameseDistanceMetric:
    """Pairwise distances (n, d), (n, d) -> (n,) for siamese losses; use as `SiameseDistanceMetric.EUCLIDEAN`."""

    EUCLIDEAN = staticmethod(_euclidean)
    MANHATTAN = staticmethod(_manhattan)
    COSINE_DISTANCE = staticmethod(_cosine_distance)

    @classmethod
    def resolve(cls, metric):
        """Accept a callable or one of the member names (for YAML configs)."""
        if callable(metric):
            return metric
        name = str(metric).split(".")[-1].upper()
        if name not in ("EUCLIDEAN", "MANHATTAN", "COSINE_DISTANCE"):
            raise ValueError(
                f"distance_metric={metric!r} is not supported; allowed: SiameseDistanceMetric.EUCLIDEAN, "
                f"MANHATTAN, COSINE_DISTANCE or a callable (x, y) -> (n,). Fix: pass one of those."
            )
        return getattr(cls, name)

    @classmethod
    def name_of(cls, metric) -> str:
        for name in ("EUCLIDEAN", "MANHATTAN", "COSINE_DISTANCE"):
            if getattr(cls, name) is metric:
                return f"SiameseDistanceMetric.{name}"
        return getattr(metric, "__name__", str(metric))


class ContrastiveLoss(RaypipeLoss):
    """Contrastive loss on (anchor, other) pairs with a binary label (1 = similar, 0 = dissimilar).

    With d = distance_metric(u, v):  loss_i = 0.5 · [y_i · d_i² + (1 − y_i) · relu(margin − d_i)²],
    averaged over the batch (`size_average=True`) or summed. Non-binary labels weight the two terms.

    | Inputs                  | Labels                          |
    |-------------------------|---------------------------------|
    | (anchor, positive/negative) pairs | 1 if similar, 0 if dissimilar |

    Cost: O(B·D). Reference: Hadsell et al., "Dimensionality Reduction by Learning an Invariant Mapping", 2006.
    """

    citation = """
@inproceedings{hadsell2006dimensionality,
    author={Hadsell, R. and Chopra, S. and LeCun, Y.},
    booktitle={2006 IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR'06)},
    title={Dimensionality Reduction by Learning an Invariant Mapping},
    year={2006},
    volume={2},
    pages={1735-1742},
    doi={10.1109/CVPR.2006.100}
}
"""

    def __init__(
        self,
        model,
        distance_metric=SiameseDistanceMetric.COSINE_DISTANCE,
        margin: float = 0.5,
        size_average: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = SiameseDistanceMetric.resolve(distance_metric)
        self.margin = margin
        self.size_average = size_average

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="binary",
            label_shape="(batch,)",
            model_kinds=("dense",),
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 2, 2)
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        check_num_columns(self, len(embeddings), 2, 2)
        check_same_batch(self, embeddings)
        labels = check_one_label_per_example(self, labels, embeddings[0].shape[0]).float()
        warn_if_not_binary(self, labels, "they weight the positive term (and 1 − label the negative term).")
        distances = self.distance_metric(embeddings[0], embeddings[1])  # (B,)
        losses = 0.5 * (labels * distances.pow(2) + (1 - labels) * F.relu(self.margin - distances).pow(2))
        return losses.mean() if self.size_average else losses.sum()

    def get_config_dict(self) -> dict:
        return {
            "distance_metric": SiameseDistanceMetric.name_of(self.distance_metric),
            "margin": self.margin,
            "size_average": self.size_average,
        }


__all__ = ["ContrastiveLoss", "SiameseDistanceMetric"]
