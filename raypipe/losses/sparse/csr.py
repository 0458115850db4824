"""CSRLoss: Contrastive Sparse Representation = autoencoder reconstruction + a (contrastive) base loss."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from torch import Tensor, nn

from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.sparse.csr_reconstruction import CSRReconstructionLoss
from raypipe.losses.sparse.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss


class CSRLoss(RaypipeLoss):
    """CSR objective (Wen et al., 2025) for a dense backbone + SparseAutoEncoder model::

        loss = L_k + L_4k / 8 + beta · L_aux + gamma · base_loss(sparse embeddings, labels)

    where the reconstruction terms are :class:`CSRReconstructionLoss` (averaged over columns) and the base loss
    defaults to :class:`SparseMultipleNegativesRankingLoss` (InfoNCE with dot product, scale 1).

    ``forward`` returns ``{"reconstruction_loss_k", "reconstruction_loss_4k", "reconstruction_loss_aux",
    "base_loss"}`` (or the base loss's own dict keys, each multiplied by gamma).

    | Inputs | Labels |
    |---|---|
    | whatever the base loss takes; default (anchor, positive[, negatives...]) | as the base loss; default none |

    Cost: one forward per column plus the base loss; the reconstruction terms are O(columns · B · d).

    Args:
        model: a SparseEncoder ending in a SparseAutoEncoder module (run in training mode).
        loss: base loss with ``compute_loss_from_embeddings``; None -> SparseMultipleNegativesRankingLoss(model).
        beta: weight of the auxiliary reconstruction term L_aux.
        gamma: weight of the base loss.
    """

    citation = CSRReconstructionLoss.citation

    def __init__(
        self, model: nn.Module, loss: nn.Module | None = None, beta: float = 0.1, gamma: float = 1.0
    ):
        super().__init__()
        if loss is None:
            loss = SparseMultipleNegativesRankingLoss(model)
        if not callable(getattr(loss, "compute_loss_from_embeddings", None)):
            raise ValueError(
                f"CSRLoss: loss must implement compute_loss_from_embeddings(embeddings, labels), but "
                f"{type(loss).__name__} does not. Fix: use a sparse base loss such as "
                f"SparseMultipleNegativesRankingLoss(model), or loss=None for that default."
            )
        self.model = model
        self.beta = beta
        self.gamma = gamma
        self.reconstruction_loss = CSRReconstructionLoss(model, beta=beta)
        self.loss = loss

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        # The full output dicts are kept: the reconstruction terms read the autoencoder's extra keys.
        outputs = [self.model(features) for features in sentence_features]
        return self.compute_loss_from_embeddings(outputs, labels)

    def compute_loss_from_embeddings(
        self, outputs: Sequence[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """outputs: one model-output dict per column (with ``sentence_embedding`` (B, hidden_dim) and the
        autoencoder keys). Returns the named terms."""
        outputs = list(outputs)
        losses = self.reconstruction_loss.compute_loss_from_embeddings(outputs)
        base = self.loss.compute_loss_from_embeddings([out["sentence_embedding"] for out in outputs], labels)
        if isinstance(base, dict):
            losses.update({key: value * self.gamma for key, value in base.items()})
        else:
            losses["base_loss"] = base * self.gamma
        return losses

    def input_requirements(self) -> LossRequirements:
        inner_fn = getattr(self.loss, "input_requirements", None)
        inner = inner_fn() if callable(inner_fn) else LossRequirements(loss_name=type(self.loss).__name__)
        return replace(
            inner,
            loss_name=f"CSRLoss({inner.loss_name})",
            model_kinds=("sparse",),
            notes="; ".join(n for n in (inner.notes, "model must end in a SparseAutoEncoder module") if n),
        )

    def get_config_dict(self) -> dict:
        return {"beta": self.beta, "gamma": self.gamma, "loss": type(self.loss).__name__}


__all__ = ["CSRLoss"]
