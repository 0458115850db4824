"""Embed each distinct text once, so that duplicate documents get bit-identical embeddings and scores.

Real corpora hold copies of the same document under different ids. A model embeds a text with float rounding
that depends on its batch (padding width, batch composition), so two copies embedded in different batches differ
by ~1e-7 and stop being ties: which copy ranks first becomes an accident of batching instead of the evaluators'
tie rule (sentence-transformers: descending score, then ascending corpus id). Embedding the distinct texts once
and reusing the rows makes the copies exact ties, which the tie rule then orders deterministically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


def unique_inverse(items: Sequence) -> tuple[list, Tensor]:
    """(distinct items in first-occurrence order, inverse (N,) int64 with items[i] == unique[inverse[i]]).
    Items must be hashable (strings, tuples of strings). O(N)."""
    position: dict = {}
    inverse = [position.setdefault(item, len(position)) for item in items]
    return list(position), torch.tensor(inverse, dtype=torch.long)


def take_rows_at(embeddings, rows: Tensor):
    """Rows `rows` (R,) of (N, D) embeddings: a dense tensor, a torch sparse COO tensor or a numpy array."""
    if isinstance(embeddings, Tensor):
        rows = rows.to(embeddings.device)
        return embeddings.index_select(0, rows) if embeddings.is_sparse else embeddings[rows]
    return embeddings[rows.numpy()]


def encode_unique(embed: Callable[[list], object], items: Sequence):
    """embed(distinct items) expanded back to one row per item: copies share one bit-identical row."""
    unique, inverse = unique_inverse(items)
    if len(unique) == len(items):
        return embed(list(items))
    return take_rows_at(embed(unique), inverse)


class UniqueChunks:
    """Chunks of a corpus's distinct texts and the corpus entries each chunk covers.

    For a chunk of distinct texts [begin, end): `entries` (M,) are the indices of all corpus entries holding one of
    those texts (copies included, wherever they sit in the corpus) and `columns` (M,) the row of each entry's text
    within the chunk, so that `scores[:, columns]` turns (Q, end - begin) chunk scores into (Q, M) entry scores.
    Memory: O(N) int64 for the whole corpus.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.unique, self.inverse = unique_inverse(texts)
        # entries grouped by distinct text: order[offsets[u]:offsets[u + 1]] are the copies of unique[u]
        self.order = torch.argsort(self.inverse, stable=True)
        counts = torch.bincount(self.inverse, minlength=len(self.unique))
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])

    def __len__(self) -> int:
        return len(self.unique)

    def cover(self, begin: int, end: int) -> tuple[Tensor, Tensor]:
        """(entries (M,), columns (M,)) of distinct texts [begin, end)."""
        entries = self.order[self.offsets[begin] : self.offsets[end]]
        return entries, self.inverse[entries] - begin


__all__ = ["unique_inverse", "take_rows_at", "encode_unique", "UniqueChunks"]
