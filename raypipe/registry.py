"""One registry from model kind (dense | cross | sparse) to what works with it: the model class, the trainer, the
training-arguments class and the loss namespace. It stands above the models, losses and trainers it names; code
below it (mining, the Ray Train driver) receives the classes it needs instead of looking names up.

    spec = get_kind("sparse")
    model = spec.model_class(path)
    loss = spec.loss_class("SpladeLoss")
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from torch import nn

from raypipe.losses import cross as cross_losses
from raypipe.losses import dense as dense_losses
from raypipe.losses import sparse as sparse_losses
from raypipe.models import CrossEncoder, SentenceTransformer, SparseEncoder
from raypipe.train import (
    CrossEncoderTrainer,
    CrossEncoderTrainingArguments,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    SparseEncoderTrainer,
    SparseEncoderTrainingArguments,
)

__all__ = ["EncoderKind", "KINDS", "get_kind", "kind_of"]


@dataclass(frozen=True)
class EncoderKind:
    """Everything raypipe pairs with one model kind."""

    name: str
    model_class: type
    trainer_class: type
    args_class: type
    losses: ModuleType

    def __reduce__(self):
        # pickled by name (its loss namespace is a module): a Ray worker unpickles it through the registry
        return (get_kind, (self.name,))

    @property
    def loss_names(self) -> list[str]:
        """The catalogue: every loss module class the namespace exports (helpers such as schemes excluded)."""
        return sorted(n for n in self.losses.__all__ if _is_loss(getattr(self.losses, n)))

    def loss_class(self, name: str) -> type:
        """The loss class `name` of this kind's catalogue; an unknown name lists the catalogue."""
        if name not in self.loss_names:
            raise ValueError(f"loss {name!r} is not in the {self.name} loss catalogue; choose one of "
                             f"{', '.join(self.loss_names)}.")
        return getattr(self.losses, name)


def _is_loss(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, nn.Module) and hasattr(obj, "input_requirements")


KINDS: dict[str, EncoderKind] = {
    "dense": EncoderKind("dense", SentenceTransformer, SentenceTransformerTrainer,
                         SentenceTransformerTrainingArguments, dense_losses),
    "cross": EncoderKind("cross", CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments, cross_losses),
    "sparse": EncoderKind("sparse", SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments,
                          sparse_losses),
}


def get_kind(name: str) -> EncoderKind:
    """The registry entry of `name` (dense | cross | sparse)."""
    if name not in KINDS:
        raise ValueError(f"model kind {name!r} is not one of {sorted(KINDS)}; use dense (SentenceTransformer), "
                         "cross (CrossEncoder) or sparse (SparseEncoder).")
    return KINDS[name]


def kind_of(model) -> EncoderKind:
    """The registry entry of a model instance (by its `kind`)."""
    return get_kind(getattr(model, "kind", None) or type(model).__name__)
