"""MatryoshkaLoss (Kusupati et al., 2022): train every prefix of the embedding as an embedding of its own."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raypipe.losses.base import LossRequirements, RaypipeLoss, wrapped_requirements
from raypipe.losses.dense._dense_checks import embedding_dimension

logger = logging.getLogger(__name__)


def shrink(embeddings: Tensor, dim: int) -> Tensor:
    """(..., D) -> (..., dim): the first `dim` coordinates, L2-normalized."""
    if dim > embeddings.shape[-1]:
        raise ValueError(
            f"MatryoshkaLoss: dimension {dim} in matryoshka_dims is larger than the model's embedding dimension "
            f"{embeddings.shape[-1]}. Fix: only list dimensions <= {embeddings.shape[-1]}."
        )
    return F.normalize(embeddings[..., :dim], p=2, dim=-1)


def sample_indices(count: int, per_step: int) -> list[int]:
    """All indices, or `per_step` of them drawn with Python's `random` (seedable) when 0 < per_step < count."""
    if 0 < per_step < count:
        return sorted(random.sample(range(count), per_step))
    return list(range(count))


def uses_gradient_cache(loss: nn.Module) -> bool:
    return bool(getattr(loss, "uses_gradient_cache", False)) and callable(
        getattr(loss, "loss_on_cached_embeddings", None)
    )


class _TruncatingForward:
    """Replaces `model.forward` during one MatryoshkaLoss step: the first pass over the dims runs the real forward
    and keeps each call's output; later dims reuse them (one model run per column per step) with
    `sentence_embedding` = shrink(full embedding, dim)."""

    def __init__(self, forward) -> None:
        self.forward = forward
        self.outputs: list[dict] = []
        self.full: list[Tensor] = []
        self.dim: int | None = None
        self.first_pass = True
        self.calls = 0

    def start(self, dim: int, first_pass: bool) -> None:
        self.dim, self.first_pass, self.calls = dim, first_pass, 0

    def __call__(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.first_pass:
            output = self.forward(features)
            self.outputs.append(output)
            self.full.append(output["sentence_embedding"])
        elif self.calls < len(self.outputs):
            output = self.outputs[self.calls]
        else:
            raise ValueError(
                "MatryoshkaLoss: the inner loss embedded more inputs for a smaller dimension than for the full one "
                f"({self.calls + 1} > {len(self.outputs)}). Fix: use an inner loss that embeds the same inputs "
                "every call."
            )
        full = self.full[self.calls]
        self.calls += 1
        return {**output, "sentence_embedding": shrink(full, self.dim)}


class _CachedLossDims:
    """Wraps a GradCache loss's `loss_on_cached_embeddings(embeddings, labels)` (the stage that turns cached
    (B, D) embeddings into a loss and back-propagates into them) so it runs once per Matryoshka dimension on
    shrunk embeddings and accumulates the weighted gradients into the full embeddings. The model still runs
    once per mini-batch: truncation happens after the embedding step."""

    def __init__(self, fn, owner: MatryoshkaLoss) -> None:
        self.fn = fn
        self.owner = owner

    def __call__(self, embeddings: list[Tensor], *args, **kwargs) -> Tensor:
        owner = self.owner
        total = None
        for idx in sample_indices(len(owner.matryoshka_dims), owner.n_dims_per_step):
            dim, weight = owner.matryoshka_dims[idx], owner.matryoshka_weights[idx]
            with torch.enable_grad() if embeddings[0].requires_grad else torch.no_grad():
                shrunk = [shrink(e, dim) for e in embeddings]  # graph: full leaf -> shrunk
            track = any(s.requires_grad for s in shrunk)
            leaves = [s.detach().requires_grad_(s.requires_grad) for s in shrunk] if track else shrunk
            value = self.fn(leaves, *args, **kwargs)
            if track:
                if value.requires_grad:  # an inner loss that does not back-propagate itself
                    value.backward()
                grads = [(s, leaf.grad) for s, leaf in zip(shrunk, leaves) if leaf.grad is not None]
                if grads:
                    torch.autograd.backward([s for s, _ in grads], [weight * g for _, g in grads])
            term = weight * value.detach()
            total = term if total is None else total + term
        return total


class MatryoshkaLoss(RaypipeLoss):
    """Matryoshka representation learning: loss = Σ_d w_d · L(shrink(embeddings, d)), where shrink keeps the first
    d coordinates and L2-normalizes them, L is the inner loss and d runs over `matryoshka_dims` (sorted from the
    largest). Labels shaped (B, D) or (B, k, D) with D = the model dimension (teacher embeddings) are truncated too.
    With 0 < n_dims_per_step < len(dims), a random subset of n_dims_per_step dims is used each step.

    | Inputs                         | Labels                        |
    |--------------------------------|-------------------------------|
    | whatever the inner loss takes  | whatever the inner loss takes |

    The model runs once per column per step (outputs are reused for every dim). A GradCache inner loss
    (e.g. CachedMultipleNegativesRankingLoss) is supported: its loss stage is run once per dim on truncated
    cached embeddings. Cost: the inner loss's cost × number of dims (loss stage only).
    Reference: Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022 (arXiv:2205.13147).
    """

    citation = """
@misc{kusupati2024matryoshka,
    title={Matryoshka Representation Learning},
    author={Aditya Kusupati and Gantavya Bhatt and Aniket Rege and Matthew Wallingford and Aditya Sinha and Vivek Ramanujan and William Howard-Snyder and Kaifeng Chen and Sham Kakade and Prateek Jain and Ali Farhadi},
    year={2024},
    eprint={2205.13147},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""

    def __init__(
        self,
        model,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | Sequence[int] | None = None,
        n_dims_per_step: int = -1,
    ) -> None:
        super().__init__()
        dims = list(matryoshka_dims or [])
        if not dims or any(int(d) <= 0 for d in dims):
            raise ValueError(
                f"MatryoshkaLoss expects matryoshka_dims to be a non-empty list of positive ints, but got "
                f"{matryoshka_dims!r}. Fix: e.g. matryoshka_dims=[768, 512, 256, 128, 64]."
            )
        weights = [1] * len(dims) if matryoshka_weights is None else list(matryoshka_weights)
        if len(weights) != len(dims):
            raise ValueError(
                f"MatryoshkaLoss expects one weight per dimension ({len(dims)}), but got {len(weights)} "
                f"matryoshka_weights. Fix: pass matryoshka_weights of the same length, or None for all 1."
            )
        model_dim = embedding_dimension(model)
        if model_dim is not None:
            too_big = [d for d in dims if d > model_dim]
            if too_big:
                raise ValueError(
                    f"MatryoshkaLoss: matryoshka_dims {too_big} exceed the model's embedding dimension {model_dim}. "
                    f"Fix: only list dimensions <= {model_dim}."
                )
            if model_dim not in dims:
                logger.warning(
                    "MatryoshkaLoss: the model's full dimension %d is not in matryoshka_dims %s, so the full "
                    "embedding is not trained directly. Add %d to matryoshka_dims.",
                    model_dim,
                    dims,
                    model_dim,
                )
        pairs = sorted(zip(dims, weights), key=lambda p: p[0], reverse=True)
        self.model = model
        self.loss = loss
        self.matryoshka_dims = tuple(int(d) for d, _ in pairs)
        self.matryoshka_weights = tuple(w for _, w in pairs)
        self.n_dims_per_step = n_dims_per_step
        self.uses_cached_inner = uses_gradient_cache(loss)
        if self.uses_cached_inner:
            # instance attribute shadows the method: the cached loss looks it up at call time
            loss.loss_on_cached_embeddings = _CachedLossDims(loss.loss_on_cached_embeddings, self)

    def input_requirements(self) -> LossRequirements:
        return wrapped_requirements(self, self.loss)

    def _truncate_labels(self, labels, dim: int):
        model_dim = embedding_dimension(self.model)
        if isinstance(labels, Tensor) and labels.ndim in (2, 3) and labels.shape[-1] == model_dim:
            return labels[..., :dim]
        return labels

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        if self.uses_cached_inner:
            return self.loss(sentence_features, labels)
        model = self.model
        had_instance_forward = "forward" in vars(model)  # e.g. AdaptiveLayerLoss's recorder, when nested
        original = model.forward
        patched = _TruncatingForward(original)
        model.forward = patched
        try:
            total = 0.0
            for step, idx in enumerate(sample_indices(len(self.matryoshka_dims), self.n_dims_per_step)):
                dim, weight = self.matryoshka_dims[idx], self.matryoshka_weights[idx]
                patched.start(dim, first_pass=step == 0)
                total = total + weight * self.loss(sentence_features, self._truncate_labels(labels, dim))
        finally:
            if had_instance_forward:
                model.forward = original
            else:
                del model.forward
        return total

    def get_config_dict(self) -> dict:
        return {
            "loss": type(self.loss).__name__,
            "matryoshka_dims": self.matryoshka_dims,
            "matryoshka_weights": self.matryoshka_weights,
            "n_dims_per_step": self.n_dims_per_step,
        }


__all__ = ["MatryoshkaLoss"]
