"""OnlineContrastiveLoss: ContrastiveLoss restricted to the hard pairs of the batch."""

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
from raypipe.losses.dense.contrastive import SiameseDistanceMetric


class OnlineContrastiveLoss(RaypipeLoss):
    """Online contrastive loss: only hard positives and hard negatives of the batch contribute.

    With d = distance_metric(u, v) over the B pairs: hard positives are positive pairs with
    d > min(d over negatives), hard negatives are negative pairs with d < max(d over positives)
    (if one group is empty the other group's mean is the threshold). Then
    loss = Σ_hard_pos d² + Σ_hard_neg relu(margin − d)²  (a sum, not a mean).

    | Inputs                  | Labels                          |
    |-------------------------|---------------------------------|
    | (anchor, positive/negative) pairs | 1 if similar, 0 if dissimilar |

    Cost: O(B·D). Pairs with labels other than 0/1 are ignored.
    """

    citation = None

    def __init__(
        self, model, distance_metric=SiameseDistanceMetric.COSINE_DISTANCE, margin: float = 0.5
    ) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = SiameseDistanceMetric.resolve(distance_metric)
        self.margin = margin

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

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor, size_average=False
    ) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 2, 2)
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        check_num_columns(self, len(embeddings), 2, 2)
        check_same_batch(self, embeddings)
        labels = check_one_label_per_example(self, labels, embeddings[0].shape[0])
        warn_if_not_binary(self, labels, "pairs with other labels are ignored.")
        distances = self.distance_metric(embeddings[0], embeddings[1])  # (B,)
        d_neg = distances[labels == 0]
        d_pos = distances[labels == 1]
        # thresholds are taken from the (differentiable) distances themselves, as in the original recipe
        neg_threshold = d_pos.max() if d_pos.numel() else d_neg.mean()
        pos_threshold = d_neg.min() if d_neg.numel() else d_pos.mean()
        hard_neg = d_neg[d_neg < neg_threshold]
        hard_pos = d_pos[d_pos > pos_threshold]
        return hard_pos.pow(2).sum() + F.relu(self.margin - hard_neg).pow(2).sum()

    def get_config_dict(self) -> dict:
        return {"distance_metric": SiameseDistanceMetric.name_of(self.distance_metric), "margin": self.margin}


__all__ = ["OnlineContrastiveLoss"]
