"""SparseMultipleNegativesRankingLoss: MultipleNegativesRankingLoss with SPLADE defaults (dot product, scale 1)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, sparse_requirements
from raypipe.models.similarity import dot_score


class SparseMultipleNegativesRankingLoss(StandaloneForwardGuard, MultipleNegativesRankingLoss):
    """In-batch-negatives ranking loss (InfoNCE) on sparse embeddings; the math is MultipleNegativesRankingLoss's::

        loss = -mean_i [ scale·s(q_i, p_i) - logsumexp_j scale·s(q_i, d_j) ],  s = dot product, scale = 1

    (d_j: every positive and hard negative in the batch; ``directions``, ``partition_mode`` and ``hardness_mode``
    as in the dense loss). Raw dot products of SPLADE vectors are already large, hence scale 1.

    Base loss only: use inside :class:`SpladeLoss` or :class:`CSRLoss` (a standalone ``forward`` raises), so that
    the regularizers keep the embeddings sparse.

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) | none |
    | (anchor, positive, negative) | none |
    | (anchor, positive, negative_1, ..., negative_n) | none |

    Cost: O(B · B·(1 + n) · V) time, O(B · B·(1 + n)) memory for the scores.
    Citation: van den Oord et al. 2018 (arXiv:1807.03748); Formal et al. 2021 (SPLADE v2, arXiv:2109.10086).
    """

    def __init__(
        self,
        model,
        scale: float = 1.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = dot_score,
        gather_across_devices: bool = False,
        directions: tuple[str, ...] = ("query_to_doc",),
        partition_mode: str = "joint",
        hardness_mode: str | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=directions,
            partition_mode=partition_mode,
            hardness_mode=hardness_mode,
            hardness_strength=hardness_strength,
        )

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseMultipleNegativesRankingLoss"]
