"""SparseAnglELoss: AnglELoss on sparse embeddings (inside SpladeLoss / CSRLoss)."""

from __future__ import annotations

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.angle import AnglELoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, set_cosine_similarity, sparse_requirements


class SparseAnglELoss(StandaloneForwardGuard, AnglELoss):
    """AnglE on sparse embeddings; the math is AnglELoss's (CoSENT with ``pairwise_angle_sim``)::

        loss = log(1 + Σ_{(i, j): label_i < label_j} exp(scale · (angle(u_i, v_i) − angle(u_j, v_j))))

    Sets the model's ``similarity_fn_name`` to "cosine". Base loss only: use inside :class:`SpladeLoss` or
    :class:`CSRLoss` (a standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | (sentence_A, sentence_B) pairs | float similarity score |

    Cost: O(B·V + B²). Citation: Li & Li, 2023, "AnglE-optimized Text Embeddings" (arXiv:2309.12871).
    """

    def __init__(self, model, scale: float = 20.0) -> None:
        set_cosine_similarity(model)
        super().__init__(model, scale=scale)

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseAnglELoss"]
