"""A running top-k over corpus chunks, with ties broken by ascending corpus id.

Retrieval evaluators score queries against one corpus chunk at a time and fold each chunk's best hits into a
(Q, k) buffer, so memory is O(Q·k + Q·chunk) whatever the corpus size. Ties are resolved under the total order
(-score, corpus_id), so the result does not depend on the chunk size and equals a full sort of the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# Rows with ties at the cut-off are re-selected exactly in blocks of this many rows, bounding the extra memory
# to TIE_BLOCK x chunk even when every score of a chunk is equal (e.g. all-zero sparse scores).
TIE_BLOCK = 256


def corpus_id_ranks(corpus_ids: Sequence[str]) -> Tensor:
    """rank[i] = position of corpus_ids[i] in ascending id order, as int64 (N,). O(N log N)."""
    order = sorted(range(len(corpus_ids)), key=lambda i: corpus_ids[i])
    ranks = torch.empty(len(corpus_ids), dtype=torch.long)
    ranks[torch.tensor(order, dtype=torch.long)] = torch.arange(len(corpus_ids), dtype=torch.long)
    return ranks


def _order_by_score_then_rank(scores: Tensor, ranks: Tensor, k: int) -> Tensor:
    """Column indices of the k best entries per row under (-score, rank). scores, ranks: (R, C) -> (R, k)."""
    by_rank = torch.argsort(ranks, dim=1, stable=True)
    by_score = torch.sort(scores.gather(1, by_rank), dim=1, descending=True, stable=True).indices
    return by_rank.gather(1, by_score[:, :k])


class RunningTopK:
    """Keeps, per query, the k best (score, corpus index) pairs seen so far.

    Args:
        num_queries: Q.
        k: how many hits to keep per query.
        id_ranks: (N,) rank of each corpus entry in ascending corpus-id order (see ``corpus_id_ranks``).
    """

    def __init__(self, num_queries: int, k: int, id_ranks: Tensor) -> None:
        self.k = k
        self.id_ranks = id_ranks
        self.values = torch.empty(num_queries, 0)
        self.indices = torch.empty(num_queries, 0, dtype=torch.long)

    def _chunk_topk(self, scores: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
        """Exact top-k of one chunk. scores: (Q, C), indices: (C,) corpus index of each column ->
        values (Q, k'), corpus indices (Q, k')."""
        k = min(self.k, scores.shape[1])
        values, cols = torch.topk(scores, k, dim=1, largest=True, sorted=False)
        cutoff = values.min(dim=1, keepdim=True).values
        # torch.topk picks arbitrarily among scores equal to the cut-off: redo those rows under the id order.
        tied_rows = torch.nonzero((scores >= cutoff).sum(dim=1) > k).flatten()
        if len(tied_rows):
            chunk_ranks = self.id_ranks[indices]
            for block in torch.split(tied_rows, TIE_BLOCK):
                block_scores = scores[block]
                picked = _order_by_score_then_rank(block_scores, chunk_ranks.expand_as(block_scores), k)
                cols[block] = picked
                values[block] = block_scores.gather(1, picked)
        return values, indices[cols]

    def update(self, scores: Tensor, start: int) -> None:
        """Fold in the scores of corpus entries [start, start + C). scores: (Q, C)."""
        self.update_at(scores, torch.arange(start, start + scores.shape[1], dtype=torch.long))

    def update_at(self, scores: Tensor, indices: Tensor) -> None:
        """Fold in the scores of corpus entries `indices` (C,), in any order. scores: (Q, C)."""
        if scores.is_sparse:
            scores = scores.to_dense()
        scores = scores.detach().cpu()
        values, idx = self._chunk_topk(scores, indices.cpu())
        values = torch.cat([self.values.to(values.dtype), values], dim=1)
        idx = torch.cat([self.indices, idx], dim=1)
        keep = _order_by_score_then_rank(values, self.id_ranks[idx], min(self.k, values.shape[1]))
        self.values, self.indices = values.gather(1, keep), idx.gather(1, keep)

    def result(self) -> tuple[Tensor, Tensor]:
        """(values, corpus indices), each (Q, min(k, N)), best first."""
        return self.values, self.indices


__all__ = ["RunningTopK", "corpus_id_ranks", "TIE_BLOCK"]
