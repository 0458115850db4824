"""SparseDistillKLDivLoss: DistillKLDivLoss on sparse embeddings (inside SpladeLoss / CSRLoss)."""

from __future__ import annotations

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.distill_kl_div import DistillKLDivLoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, sparse_requirements
from raypipe.models.similarity import pairwise_dot_score


class SparseDistillKLDivLoss(StandaloneForwardGuard, DistillKLDivLoss):
    """KL-divergence distillation on sparse embeddings; the math is DistillKLDivLoss's::

        loss = T_s² · KL( softmax(teacher / T_t) ‖ softmax(student / T_s) )   (batchmean)
        student_k = s(q, c_k), s = dot product, over the candidates c = (positive, negative_1, ..., negative_n)

    Default temperature 2.0 (dense: 1.0), as sentence-transformers: raw SPLADE dot products are large.
    ``student_temperature`` / ``teacher_temperature`` default to ``temperature``. Base loss only: use inside
    :class:`SpladeLoss` or :class:`CSRLoss` (a standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | (query, positive, negative_1, ..., negative_n), ≥ 3 columns | teacher scores (B, n + 1) for [positive, negatives] |

    Cost: O(B·n·V). Citation: Lin et al., 2020, "Distilling Dense Representations for Ranking using Tightly-Coupled
    Teachers" (arXiv:2010.11386).
    """

    def __init__(
        self,
        model,
        similarity_fct=pairwise_dot_score,
        temperature: float = 2.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        super().__init__(
            model,
            similarity_fct=similarity_fct,
            temperature=temperature,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
        )

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseDistillKLDivLoss"]
