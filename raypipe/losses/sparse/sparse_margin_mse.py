"""SparseMarginMSELoss: MarginMSELoss on sparse embeddings (inside SpladeLoss / CSRLoss)."""

from __future__ import annotations

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.margin_mse import MarginMSELoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, sparse_requirements
from raypipe.models.similarity import pairwise_dot_score


class SparseMarginMSELoss(StandaloneForwardGuard, MarginMSELoss):
    """Margin-MSE distillation (Hofstätter et al., 2020) on sparse embeddings; the math is MarginMSELoss's::

        loss = mean_{i, k} ( [s(q_i, p_i) − s(q_i, n_ik)] − margin_ik )²,   s = dot product

    The margins come from a teacher (often a cross-encoder): teacher(q, p) − teacher(q, n_k). The standard
    SPLADE-distillation recipe. Base loss only: use inside :class:`SpladeLoss` or :class:`CSRLoss` (a standalone
    ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | (query, positive, negative) | margin teacher(q, p) − teacher(q, n), (B,) |
    | (query, positive, negative_1, ..., negative_k) | margins (B, k), or teacher scores [pos, negs] (B, k + 1) |

    Cost: O(B·k·V). Citation: Hofstätter et al., 2020, "Improving Efficient Neural Ranking Models with
    Cross-Architecture Knowledge Distillation" (arXiv:2010.02666).
    """

    def __init__(self, model, similarity_fct=pairwise_dot_score) -> None:
        super().__init__(model, similarity_fct=similarity_fct)

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseMarginMSELoss"]
