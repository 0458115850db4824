"""What every raypipe loss shares: declared input requirements and a small nn.Module base.

The trainer (and anyone building a dataset) reads `loss.input_requirements()` to validate a dataset *before* any
compute, instead of letting the loss fail at the first batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

LABEL_NONE = "none"
LABEL_REQUIRED = "required"
LABEL_OPTIONAL = "optional"


@dataclass(frozen=True)
class LossRequirements:
    """Machine-readable description of the dataset a loss accepts.

    Attributes:
        loss_name: class name, used in error messages.
        min_inputs / max_inputs: number of non-label (text) columns; max_inputs=None means unbounded.
        label: "none" (no label column allowed), "required" or "optional".
        label_kind: "float" | "int" | "binary" | "vector" (one float vector per row) | "list" (one list per row,
            listwise cross-encoder losses) | None.
        label_shape: human-readable shape per batch, e.g. "(batch,)", "(batch, num_negatives)".
        listwise: cross-encoder listwise loss: column 0 is a query string, column 1 a list of documents.
        num_labels: the model's required `num_labels` (cross-encoders), None if any.
        model_kinds: model kinds the loss works with ("dense", "cross", "sparse": the models' `kind`); empty means
            any.
        notes: extra constraints in words (e.g. "needs >= 2 examples per class per batch").
    """

    loss_name: str
    min_inputs: int = 1
    max_inputs: int | None = None
    label: str = LABEL_NONE
    label_kind: str | None = None
    label_shape: str | None = None
    listwise: bool = False
    num_labels: int | None = None
    model_kinds: tuple[str, ...] = field(default_factory=tuple)
    notes: str = ""

    def describe(self) -> str:
        if self.max_inputs is None:
            cols = f"at least {self.min_inputs} input column(s)"
        elif self.min_inputs == self.max_inputs:
            cols = f"exactly {self.min_inputs} input column(s)"
        else:
            cols = f"{self.min_inputs} to {self.max_inputs} input columns"
        if self.label == LABEL_NONE:
            lab = "no label column"
        else:
            kind = f" of kind {self.label_kind}" if self.label_kind else ""
            shape = f" with shape {self.label_shape}" if self.label_shape else ""
            lab = f"a{'n optional' if self.label == LABEL_OPTIONAL else ''} label column{kind}{shape}"
        extra = "; listwise (query, [documents])" if self.listwise else ""
        nl = f"; model num_labels == {self.num_labels}" if self.num_labels is not None else ""
        return f"{cols} and {lab}{extra}{nl}"

    def problems(self, num_inputs: int, has_label: bool, num_labels: int | None = None) -> list[str]:
        """Every mismatch between a dataset/model and these requirements, as messages with a fix."""
        out = []
        name = self.loss_name
        if num_inputs < self.min_inputs or (self.max_inputs is not None and num_inputs > self.max_inputs):
            out.append(
                f"{name} expects {self.describe()}, but got {num_inputs} input column(s). "
                f"Fix: select/reorder the dataset columns (inputs are used by position)."
            )
        if self.label == LABEL_REQUIRED and not has_label:
            out.append(
                f"{name} needs a label column (named 'label', 'labels', 'score' or 'scores')"
                f"{' of kind ' + self.label_kind if self.label_kind else ''}, but the dataset has none. "
                f"Fix: add one, or choose a loss that needs no labels."
            )
        if self.label == LABEL_NONE and has_label:
            out.append(
                f"{name} takes no labels, but the dataset has a label column. "
                f"Fix: remove it (dataset.remove_columns([...])) or choose a loss that uses labels."
            )
        if self.num_labels is not None and num_labels is not None and num_labels != self.num_labels:
            out.append(
                f"{name} needs a model with num_labels == {self.num_labels}, but the model has "
                f"num_labels == {num_labels}. Fix: load the model with num_labels={self.num_labels}."
            )
        return out

    def check(self, num_inputs: int, has_label: bool, num_labels: int | None = None) -> None:
        probs = self.problems(num_inputs, has_label, num_labels)
        if probs:
            raise ValueError("\n".join(probs))


class RaypipeLoss(nn.Module):
    """Base for raypipe losses: `__init__` only stores arguments; subclasses implement the math.

    Subclasses override `input_requirements()`, `get_config_dict()` and set `citation`.
    """

    citation: str | None = None

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(loss_name=type(self).__name__)

    def get_config_dict(self) -> dict:
        return {}


def wrapped_requirements(wrapper: nn.Module, inner_loss: nn.Module) -> LossRequirements:
    """Requirements of a loss that wraps another (Matryoshka, AdaptiveLayer...): the inner loss's, renamed.
    An inner loss without declared requirements (e.g. a custom nn.Module) accepts anything."""
    from dataclasses import replace

    inner = getattr(inner_loss, "input_requirements", None)
    req = inner() if callable(inner) else LossRequirements(type(inner_loss).__name__, label=LABEL_OPTIONAL)
    return replace(req, loss_name=f"{type(wrapper).__name__}({req.loss_name})")


def embed_columns(model: nn.Module, sentence_features: Iterable[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
    """Run the model once per input column; returns one (batch, dim) `sentence_embedding` per column."""
    return [model(features)["sentence_embedding"] for features in sentence_features]


__all__ = ["LossRequirements", "RaypipeLoss", "embed_columns", "wrapped_requirements", "LABEL_NONE", "LABEL_REQUIRED", "LABEL_OPTIONAL"]
