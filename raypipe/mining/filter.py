"""Filter stage: turn retrieved candidates into the rank window of valid negatives.

Input per query batch: candidate scores/ids (B, K) sorted by retrieval, K = range_max + max_positives, -inf/-1
padded; the positives of each query as a padded (B, P) id matrix; the lowest positive score per query (B,).
Removed candidates get score -inf (so they sort last), in this order, matching sentence-transformers:
positives masked (unless include_positives), absolute margin (drop if s + m > min_pos), relative margin
(drop if s > min_pos - |min_pos| * m), max_score (drop if s > max), min_score (drop if s < min). Margins use the
*lowest* positive score (the NV-Retriever positive-aware filter, safe with several positives).
Then the survivors are sorted by score (stable), cut to range_max, and the first range_min are skipped.
All vectorized: O(B x K x P) time and memory per batch.

Ties: candidates with exactly the same score keep their retrieval order (score desc, then corpus id asc, from the
shard merge), so after cross-encoder rescoring an exact tie goes to the candidate the bi-encoder ranked higher.
sentence-transformers re-sorts with `torch.topk`, whose order among equal values is an implementation detail of
its partial sort (neither index order nor stable); the two libraries therefore agree on every score and differ
only in which of several exactly tied texts is reported. Exact ties are common with near-constant scorers (a tiny
random cross-encoder's sigmoid outputs sit within ~1e-5 of each other, i.e. a few float32 steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FilterParams", "apply_filters", "rank_window"]

FILTER_NAMES = ("absolute_margin", "relative_margin", "max_score", "min_score")


@dataclass(frozen=True)
class FilterParams:
    range_min: int = 0
    range_max: int = 10
    max_score: float | None = None
    min_score: float | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = None
    include_positives: bool = False


def apply_filters(scores: np.ndarray, ids: np.ndarray, pos_ids: np.ndarray, min_pos: np.ndarray,
                  p: FilterParams, counters: dict[str, int]) -> np.ndarray:
    """Return a copy of scores (B, K) with removed candidates set to -inf; add removal counts to `counters`."""
    s = scores.astype(np.float32, copy=True)
    s[ids < 0] = -np.inf
    if not p.include_positives:
        is_pos = (ids[:, :, None] == pos_ids[:, None, :]).any(-1) & (ids >= 0)
        s[is_pos] = -np.inf
    counters["candidates"] = counters.get("candidates", 0) + int(s.size)
    mp = min_pos[:, None].astype(np.float32)
    rules = []
    if p.absolute_margin is not None:
        rules.append(("absolute_margin", lambda x: x + np.float32(p.absolute_margin) > mp))
    if p.relative_margin is not None:
        thr = mp - np.abs(mp) * np.float32(p.relative_margin)
        rules.append(("relative_margin", lambda x: x > thr))
    if p.max_score is not None:
        rules.append(("max_score", lambda x: x > np.float32(p.max_score)))
    if p.min_score is not None:
        rules.append(("min_score", lambda x: x < np.float32(p.min_score)))
    for name, rule in rules:
        with np.errstate(invalid="ignore"):
            drop = rule(s) & np.isfinite(s)
        counters[name] = counters.get(name, 0) + int(drop.sum())
        s[drop] = -np.inf
    return s


def rank_window(scores: np.ndarray, ids: np.ndarray, p: FilterParams):
    """Sort each row by score (stable, so retrieval order breaks ties; see the module docstring), keep ranks
    [range_min, range_max)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, : p.range_max]
    s = np.take_along_axis(scores, order, 1)[:, p.range_min:]
    i = np.take_along_axis(ids, order, 1)[:, p.range_min:]
    return s, i
