"""Shared guard for the `Sparse*` wrapper losses: they only make sense inside SpladeLoss or CSRLoss.

A SPLADE/CSR model trained on a ranking loss alone loses its sparsity (nothing pushes activations to zero), so the
wrappers refuse a standalone `forward` and only offer `compute_loss_from_embeddings` to the outer loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import torch

from raypipe.losses.base import LossRequirements


class SparseLossUsageError(ValueError, AttributeError):
    """Raised when a wrapper loss is called on its own. Subclasses ValueError (raypipe's convention for wrong
    usage) and AttributeError (what sentence-transformers raises here), so either `except` clause catches it."""


class StandaloneForwardGuard:
    """Mixin placed first in the MRO of each `Sparse*` wrapper: overrides `forward` to raise."""

    def forward(
        self, sentence_features: Iterable[dict[str, torch.Tensor]], labels: torch.Tensor | None = None
    ):
        name = type(self).__name__
        raise SparseLossUsageError(
            f"{name} should not be used alone. Use it with SpladeLoss or CSRLoss: "
            f"SpladeLoss(model, loss={name}(model), document_regularizer_weight=3e-5, query_regularizer_weight=5e-5) "
            f"or CSRLoss(model, loss={name}(model)). Those call {name}.compute_loss_from_embeddings(embeddings, labels)."
        )


def set_cosine_similarity(model) -> None:
    """Losses trained on cosine similarity make cosine the model's scoring function (sentence-transformers does the
    same). Models without the attribute (plain modules in unit tests) are left alone."""
    if model is not None and hasattr(model, "similarity_fn_name"):
        try:
            model.similarity_fn_name = "cosine"
        except (AttributeError, ValueError):
            pass


def sparse_requirements(dense: LossRequirements, standalone: bool = False) -> LossRequirements:
    """The dense loss's requirements, retargeted to SparseEncoder models (with a usage note for the wrappers)."""
    note = "" if standalone else "base loss only: wrap it in SpladeLoss or CSRLoss"
    return replace(
        dense,
        model_kinds=("sparse",),
        notes="; ".join(n for n in (dense.notes, note) if n),
    )


__all__ = ["SparseLossUsageError", "StandaloneForwardGuard", "set_cosine_similarity", "sparse_requirements"]
