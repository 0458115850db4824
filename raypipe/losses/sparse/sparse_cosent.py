"""SparseCoSENTLoss: CoSENTLoss on sparse embeddings (inside SpladeLoss / CSRLoss)."""

from __future__ import annotations

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.cosent import CoSENTLoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, set_cosine_similarity, sparse_requirements
from raypipe.models.similarity import pairwise_cos_sim


class SparseCoSENTLoss(StandaloneForwardGuard, CoSENTLoss):
    """CoSENT on sparse embeddings; the math is CoSENTLoss's::

        loss = log(1 + Σ_{(i, j): label_i < label_j} exp(scale · (s(u_i, v_i) − s(u_j, v_j)))),  s = cosine

    Sets the model's ``similarity_fn_name`` to "cosine" (the loss trains cosine scores). Base loss only: use
    inside :class:`SpladeLoss` or :class:`CSRLoss` (a standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | (sentence_A, sentence_B) pairs | float similarity score |

    Cost: O(B·V + B²). Citation: Su, 2022, "CoSENT" (https://kexue.fm/archives/8847).
    """

    def __init__(self, model, scale: float = 20.0, similarity_fct=pairwise_cos_sim) -> None:
        set_cosine_similarity(model)
        super().__init__(model, scale=scale, similarity_fct=similarity_fct)

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseCoSENTLoss"]
