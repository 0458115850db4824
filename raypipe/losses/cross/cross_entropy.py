"""CrossEntropyLoss: pair classification into `num_labels` classes (e.g. NLI)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements
from raypipe.losses.cross._common import (
    IDENTITY,
    CrossEncoderLoss,
    fullname,
    model_num_labels,
)


class CrossEntropyLoss(CrossEncoderLoss):
    """Softmax cross-entropy over the model's `num_labels` logits per pair.

    loss = mean_i CE(act(s_i), y_i), s_i the (C,) raw logits of pair i, y_i its class id in [0, C).

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (sentence_A, sentence_B) pairs | class id | number of classes C (>= 2) |

    Cost: one forward pass over B pairs; memory grows linearly with the batch.

    Args:
        model: a CrossEncoder with `num_labels` = number of classes.
        activation_fn: applied to the logits before the loss (default identity).
        **kwargs: extra arguments of `torch.nn.functional.cross_entropy` (`weight`, `label_smoothing`, ...).

    Deviation from sentence-transformers: a model with num_labels == 1 is rejected (the loss would be 0 for any
    input); use BinaryCrossEntropyLoss there.

    Reference: torch.nn.CrossEntropyLoss; sentence-transformers' CrossEncoder CrossEntropyLoss.
    """

    citation = None

    def __init__(self, model: nn.Module, activation_fn: nn.Module = IDENTITY, **kwargs) -> None:
        super().__init__(model)
        self.activation_fn = activation_fn
        self.ce_kwargs = kwargs
        num_labels = model_num_labels(model)
        if num_labels is not None and num_labels < 2:
            raise ValueError(
                f"CrossEntropyLoss needs a CrossEncoder with num_labels >= 2 (one logit per class), but the model "
                f"has num_labels == {num_labels}. Fix: load it with num_labels=<number of classes>, or use "
                f"BinaryCrossEntropyLoss for a single relevance logit."
            )

    def forward(self, inputs: list[list[str]], labels: Tensor) -> Tensor:
        scores, labels = self.score_pointwise(inputs, labels, flat=False)  # scores (B, C)
        return self.compute_loss_from_scores(scores, labels)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor) -> Tensor:
        """scores: raw logits (B, C); labels: (B,) or (B, 1) class ids (or (B, C) class probabilities)."""
        if labels is None:
            raise ValueError("CrossEntropyLoss needs a class-id label per row, but got labels=None.")
        labels = torch.as_tensor(labels, device=scores.device)
        batch, num_classes = scores.shape
        if not labels.is_floating_point():
            labels = labels.reshape(-1)
            if labels.numel() != batch:
                raise ValueError(
                    f"CrossEntropyLoss expects {batch} class ids (one per row), got {labels.numel()}."
                )
            if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
                raise ValueError(
                    f"CrossEntropyLoss: labels must be class ids in [0, {num_classes}) for a model with "
                    f"num_labels == {num_classes}, but got values in [{int(labels.min())}, {int(labels.max())}]. "
                    f"Fix: load the model with num_labels equal to the number of classes."
                )
        return F.cross_entropy(self.activation_fn(scores), labels, **self.ce_kwargs)

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="int",
            label_shape="(batch,)",
            model_kinds=("cross",),
            notes="class ids in [0, num_labels); the model needs num_labels >= 2",
        )

    def get_config_dict(self) -> dict:
        return {"activation_fn": fullname(self.activation_fn)}


__all__ = ["CrossEntropyLoss"]
