"""CachedMultipleNegativesSymmetricRankingLoss (deprecated alias kept for sentence-transformers compatibility)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from torch import Tensor

from raypipe.losses.dense.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from raypipe.models.similarity import cos_sim


class CachedMultipleNegativesSymmetricRankingLoss(CachedMultipleNegativesRankingLoss):
    """Symmetric InfoNCE (query->document and document->query softmaxes, averaged) computed with GradCache.

        loss = -mean_i [ scale·s(q_i, p_i) - ½ (logsumexp_j scale·s(q_i, d_j) + logsumexp_j scale·s(q_j, p_i)) ]

    Exactly `CachedMultipleNegativesRankingLoss(directions=("query_to_doc", "doc_to_query"),
    partition_mode="per_direction")`, the recommended spelling (deprecated, as in sentence-transformers).

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) (extra columns are used as hard negatives for query->doc) | none |

    Memory: one mini-batch of activations plus the cached (B, D) embeddings. Citations: Günther et al. 2024
    (arXiv:2310.19923); Gao et al. 2021 (GradCache, arXiv:2101.06983).
    """

    def __init__(
        self,
        model,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        warnings.warn(
            "CachedMultipleNegativesSymmetricRankingLoss is deprecated; use CachedMultipleNegativesRankingLoss("
            "directions=('query_to_doc', 'doc_to_query'), partition_mode='per_direction').",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            mini_batch_size=mini_batch_size,
            mini_batch_num_tokens=mini_batch_num_tokens,
            gather_across_devices=gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
            show_progress_bar=show_progress_bar,
        )


__all__ = ["CachedMultipleNegativesSymmetricRankingLoss"]
