"""Sample stage: pick `num_negatives` per query from the rank window.

- "top": the first num_negatives of the window.
- "random": num_negatives drawn uniformly without replacement among the valid (finite) candidates, then re-sorted
  by score. The draw is a keyed hash of (seed, query id, candidate id), not a stateful RNG, so the result is the
  same whatever the batching, the sharding or the number of workers. Fewer valid candidates than num_negatives:
  all of them are kept (the rest of the row is -inf and dropped by the output formats), as sentence-transformers.
O(B x W log W) per batch of B queries with window width W.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_negatives", "hash_uniform"]

_M = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M
        return x ^ (x >> np.uint64(31))


def hash_uniform(seed: int, qids: np.ndarray, cids: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random uint64 keys for each (query id (B,), candidate id (B, W)) -> (B, W)."""
    h = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], np.uint64))
    hq = _splitmix64(h ^ qids.astype(np.int64).astype(np.uint64))[:, None]
    return _splitmix64(hq ^ _splitmix64(cids.astype(np.int64).astype(np.uint64)))


def sample_negatives(scores: np.ndarray, ids: np.ndarray, num_negatives: int, strategy: str = "top",
                     seed: int = 0, qids: np.ndarray | None = None):
    """scores/ids: (B, W) window sorted by score desc. Returns (B, num_negatives) scores and ids."""
    if strategy == "top":
        return scores[:, :num_negatives], ids[:, :num_negatives]
    if strategy != "random":
        raise ValueError(f"sampling_strategy={strategy!r} is not supported; use 'top' or 'random'.")
    if qids is None:
        qids = np.arange(scores.shape[0])
    keys = hash_uniform(seed, qids, ids).astype(np.float64)
    keys[~np.isfinite(scores)] = np.inf  # invalid slots are only taken when too few valid ones exist
    pick = np.argsort(keys, axis=1, kind="stable")[:, :num_negatives]
    s = np.take_along_axis(scores, pick, 1)
    i = np.take_along_axis(ids, pick, 1)
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
