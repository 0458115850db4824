"""MultipleNegativesSymmetricRankingLoss (deprecated alias kept for sentence-transformers compatibility)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from torch import Tensor

from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
from raypipe.models.similarity import cos_sim


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """Symmetric InfoNCE: the query->document and document->query softmaxes, averaged.

        loss = -mean_i [ scale·s(q_i, p_i) - ½ (logsumexp_j scale·s(q_i, d_j) + logsumexp_j scale·s(q_j, p_i)) ]

    Exactly `MultipleNegativesRankingLoss(directions=("query_to_doc", "doc_to_query"),
    partition_mode="per_direction")`, which is the recommended spelling (this class is deprecated, as in
    sentence-transformers).

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) (extra columns are used as hard negatives for query->doc) | none |

    Cost: O(B · W · (1 + n) · D). Citation: Günther et al. 2024, Jina Embeddings 2 (arXiv:2310.19923).
    """

    def __init__(
        self,
        model,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        gather_across_devices: bool = False,
    ) -> None:
        warnings.warn(
            "MultipleNegativesSymmetricRankingLoss is deprecated; use MultipleNegativesRankingLoss("
            "directions=('query_to_doc', 'doc_to_query'), partition_mode='per_direction').",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )


__all__ = ["MultipleNegativesSymmetricRankingLoss"]
