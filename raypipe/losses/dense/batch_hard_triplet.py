"""BatchHardTripletLoss and the batch distance functions shared by the batch-triplet losses."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss
from raypipe.losses.dense._dense_checks import check_num_columns, check_one_label_per_example
from raypipe.models.similarity import cos_sim


class BatchHardTripletLossDistanceFunction:
    """All-pairs distance matrices (B, D) -> (B, B) for the batch-triplet losses."""

    @staticmethod
    def cosine_distance(embeddings: Tensor) -> Tensor:
        return 1 - cos_sim(embeddings, embeddings)

    @staticmethod
    def euclidean_distance(embeddings: Tensor, squared: bool = False) -> Tensor:
        """‖x_i − x_j‖ from the Gram matrix (|x_i|² − 2·x_i·x_j + |x_j|²); zero distances get a zero gradient
        instead of sqrt's infinite one. Computed in float32 for half-precision inputs."""
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        gram = embeddings @ embeddings.T  # (B, B)
        sq_norm = gram.diagonal()
        dist2 = (sq_norm[None, :] - 2.0 * gram + sq_norm[:, None]).clamp_min(0.0)
        if squared:
            return dist2
        is_zero = dist2 == 0
        return torch.where(is_zero, torch.zeros_like(dist2), dist2.masked_fill(is_zero, 1.0).sqrt())

    eucledian_distance = euclidean_distance  # old misspelled name, kept for ported code


def same_label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(positive_mask, negative_mask), both (B, B) bool: same label and i != j / different label."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def hardest_pairs(dist: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per anchor: the largest positive distance (0 if none) and the smallest negative distance (the row maximum
    if the anchor has no negative in the batch). Shapes (B, B) -> (B,), (B,)."""
    pos_mask, neg_mask = same_label_masks(labels)
    hardest_pos = (dist * pos_mask).max(dim=1).values
    row_max = dist.max(dim=1).values
    hardest_neg = dist.masked_fill(~neg_mask, float("inf")).min(dim=1).values
    hardest_neg = torch.where(neg_mask.any(dim=1), hardest_neg, row_max)
    return hardest_pos, hardest_neg


class BatchHardTripletLoss(RaypipeLoss):
    """Batch-hard triplet loss: for every anchor, its farthest positive and nearest negative in the batch.

    loss = mean_a relu(max_{p: y_p = y_a, p≠a} d(a, p) − min_{n: y_n ≠ y_a} d(a, n) + margin).

    | Inputs      | Labels      |
    |-------------|-------------|
    | single text | class label (int); the batch needs ≥ 2 examples per class |

    Cost: O(B²·D) time, O(B²) memory. Reference: Hermans et al., "In Defense of the Triplet Loss", 2017.
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
        super().__init__()
        self.sentence_embedder = model
        self.distance_metric = distance_metric
        self.triplet_margin = margin

    @property
    def model(self):
        return self.sentence_embedder

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=1,
            max_inputs=1,
            label=LABEL_REQUIRED,
            label_kind="int",
            label_shape="(batch,)",
            model_kinds=("dense",),
            notes="each batch needs at least 2 examples per class (use a group-by-label batch sampler)",
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 1, 1)
        embeddings = self.sentence_embedder(sentence_features[0])["sentence_embedding"]
        return self.compute_loss_from_embeddings([embeddings], labels)

    def _pairwise(self, embeddings: list[Tensor], labels: Tensor) -> tuple[Tensor, Tensor]:
        check_num_columns(self, len(embeddings), 1, 1)
        labels = check_one_label_per_example(self, labels, embeddings[0].shape[0])
        return self.distance_metric(embeddings[0]), labels.to(embeddings[0].device)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        dist, labels = self._pairwise(embeddings, labels)
        hardest_pos, hardest_neg = hardest_pairs(dist, labels)
        return F.relu(hardest_pos - hardest_neg + self.triplet_margin).mean()

    def get_config_dict(self) -> dict:
        return {
            "distance_metric": getattr(self.distance_metric, "__name__", str(self.distance_metric)),
            "margin": self.triplet_margin,
        }


__all__ = ["BatchHardTripletLoss", "BatchHardTripletLossDistanceFunction"]
