"""BinaryCrossEntropyLoss: pointwise relevance classification for a one-logit CrossEncoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements
from raypipe.losses.cross._common import (
    IDENTITY,
    CrossEncoderLoss,
    check_num_labels,
    fullname,
    single_logits,
)


class BinaryCrossEntropyLoss(CrossEncoderLoss):
    """Binary cross-entropy on one logit per (query, document) pair.

    loss = mean_i BCEWithLogits(act(s_i), y_i; pos_weight), with s_i the raw logit of pair i and y_i in [0, 1].
    `pos_weight` (e.g. torch.tensor(#neg / #pos)) up-weights the positive term of every example.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, document) pairs | 1 / 0, or a float score in [0, 1] | 1 |

    Cost: one forward pass over B pairs; memory grows linearly with the batch.

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        activation_fn: applied to the logits before the loss (default identity).
        pos_weight: weight of the positive examples, a tensor like `torch.tensor(4.0)`.
        **kwargs: extra arguments of `torch.nn.functional.binary_cross_entropy_with_logits` (`weight`, `reduction`).

    Reference: torch.nn.BCEWithLogitsLoss; sentence-transformers' CrossEncoder BinaryCrossEntropyLoss.
    """

    citation = None

    def __init__(
        self,
        model: nn.Module,
        activation_fn: nn.Module = IDENTITY,
        pos_weight: Tensor | None = None,
        **kwargs,
    ) -> None:
        super().__init__(model)
        self.activation_fn = activation_fn
        self.pos_weight = pos_weight
        self.bce_kwargs = kwargs
        check_num_labels(type(self).__name__, model, 1)

    def forward(self, inputs: list[list[str]], labels: Tensor) -> Tensor:
        scores, labels = self.score_pointwise(inputs, labels)  # scores (B, 1), labels (B,)
        return self.compute_loss_from_scores(scores, labels)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor) -> Tensor:
        """scores: raw logits (B,) or (B, 1); labels: (B,) in [0, 1]."""
        logits = self.activation_fn(single_logits(type(self).__name__, scores))
        labels = labels.reshape(-1).to(device=logits.device, dtype=torch.float32)
        pos_weight = None if self.pos_weight is None else torch.as_tensor(self.pos_weight).to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight, **self.bce_kwargs)

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="float",
            label_shape="(batch,)",
            num_labels=1,
            model_kinds=("cross",),
            notes="labels are 1/0 or floats in [0, 1]",
        )

    def get_config_dict(self) -> dict:
        pos_weight = None if self.pos_weight is None else torch.as_tensor(self.pos_weight).item()
        return {"activation_fn": fullname(self.activation_fn), "pos_weight": pos_weight}


__all__ = ["BinaryCrossEntropyLoss"]
