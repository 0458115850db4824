"""Output formats, built per query batch as Arrow tables (texts gathered with `take`, no Python loops).

| format | columns | rows |
|---|---|---|
| triplet | anchor, positive, negative (+ scores [pos, neg]) | one per (query, positive, valid negative) |
| n-tuple | anchor, positive, negative_1..n (+ scores [pos, neg_1..n]) | one per (query, positive) with n valid negatives |
| labeled-pair | anchor, positive_col, label (or score) | per query: its positives (1), then its valid negatives (0) |
| labeled-list | anchor, positive_col = [positive, negs...], labels [1, 0...] (or scores) | one per (query, positive) with >= 1 negative |

Each builder also returns the negative and difference scores that go into the statistics table, counted the same way
as sentence-transformers, and the maximum possible number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["Batch", "build_output", "OUTPUT_FORMATS"]

OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair", "labeled-list")


@dataclass
class Batch:
    """One batch of B queries and their P (query, positive) pairs (grouped by query, in order)."""

    qids: np.ndarray  # (B,) global query ids
    pair_b: np.ndarray  # (P,) local query index of each pair
    pair_did: np.ndarray  # (P,) corpus id of each positive
    pair_score: np.ndarray  # (P,) positive score
    neg_scores: np.ndarray  # (B, N) -inf = no negative
    neg_ids: np.ndarray  # (B, N) corpus ids, -1 = none


def _lists(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def _triplet(b: Batch, q, c, a_col, p_col, scores):
    valid = np.isfinite(b.neg_scores)[b.pair_b]  # (P, N)
    r, j = np.nonzero(valid)
    qb = b.pair_b[r]
    ns = b.neg_scores[qb, j]
    cols = {a_col: q.take(pa.array(b.qids[qb])), p_col: c.take(pa.array(b.pair_did[r])),
            "negative": c.take(pa.array(b.neg_ids[qb, j]))}
    if scores:
        flat = np.stack([b.pair_score[r], ns], 1).astype(np.float64).reshape(-1)
        cols["scores"] = _lists(np.arange(0, 2 * len(r) + 1, 2), pa.array(flat))
    return pa.table(cols), ns, b.pair_score[r] - ns, valid.size


def _ntuple(b: Batch, q, c, a_col, p_col, scores):
    n = b.neg_scores.shape[1]
    keep = np.isfinite(b.neg_scores).all(1)[b.pair_b]
    r = np.nonzero(keep)[0]
    qb = b.pair_b[r]
    cols = {a_col: q.take(pa.array(b.qids[qb])), p_col: c.take(pa.array(b.pair_did[r]))}
    for k in range(n):
        cols[f"negative_{k + 1}"] = c.take(pa.array(b.neg_ids[qb, k]))
    ns = b.neg_scores[qb]
    if scores:
        flat = np.concatenate([b.pair_score[r, None], ns], 1).astype(np.float64).reshape(-1)
        cols["scores"] = _lists(np.arange(0, (n + 1) * len(r) + 1, n + 1), pa.array(flat))
    return pa.table(cols), ns.reshape(-1), (b.pair_score[r, None] - ns).reshape(-1), len(b.pair_b)


def _labeled_pair(b: Batch, q, c, a_col, p_col, scores):
    valid = np.isfinite(b.neg_scores)
    nb, nj = np.nonzero(valid)
    # rows: per query, its positives (kind 0) then its valid negatives (kind 1), each in order
    qb = np.concatenate([b.pair_b, nb])
    kind = np.concatenate([np.zeros(len(b.pair_b), np.int8), np.ones(len(nb), np.int8)])
    pos = np.concatenate([np.arange(len(b.pair_b)), nj])
    order = np.lexsort((pos, kind, qb))
    doc = np.concatenate([b.pair_did, b.neg_ids[nb, nj]])[order]
    val = np.concatenate([b.pair_score, b.neg_scores[nb, nj]])[order]
    cols = {a_col: q.take(pa.array(b.qids[qb[order]])), p_col: c.take(pa.array(doc))}
    if scores:
        cols["score"] = pa.array(val.astype(np.float64))
    else:
        cols["label"] = pa.array((kind[order] == 0).astype(np.int64))
    rep = valid[b.pair_b]
    r, j = np.nonzero(rep)
    ns = b.neg_scores[b.pair_b[r], j]
    return pa.table(cols), ns, b.pair_score[r] - ns, None


def _labeled_list(b: Batch, q, c, a_col, p_col, scores):
    valid = np.isfinite(b.neg_scores)[b.pair_b]  # (P, N)
    r = np.nonzero(valid.any(1))[0]
    counts = valid[r].sum(1) + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    rr, j = np.nonzero(valid[r])  # row-major: grouped by kept pair
    qb = b.pair_b[r]
    docs = np.empty(offsets[-1], np.int64)
    vals = np.empty(offsets[-1], np.float64)
    docs[offsets[:-1]] = b.pair_did[r]
    vals[offsets[:-1]] = b.pair_score[r]
    slot = offsets[rr] + 1 + (np.arange(len(rr)) - np.searchsorted(rr, rr))  # 1 + rank within the row
    docs[slot] = b.neg_ids[qb[rr], j]
    vals[slot] = b.neg_scores[qb[rr], j]
    cols = {a_col: q.take(pa.array(b.qids[qb])), p_col: _lists(offsets, c.take(pa.array(docs)))}
    if scores:
        cols["scores"] = _lists(offsets, pa.array(vals))
    else:
        lab = np.zeros(offsets[-1], np.int64)
        lab[offsets[:-1]] = 1
        cols["labels"] = _lists(offsets, pa.array(lab))
    ns = b.neg_scores[b.pair_b][valid]
    diff = (b.pair_score[:, None] - b.neg_scores[b.pair_b])[valid]
    return pa.table(cols), ns, diff, len(b.pair_b)


_BUILDERS = {"triplet": _triplet, "n-tuple": _ntuple, "labeled-pair": _labeled_pair,
             "labeled-list": _labeled_list}


def build_output(fmt: str, batch: Batch, queries: pa.Array, corpus: pa.Array, anchor_column: str,
                 positive_column: str, output_scores: bool):
    """Return (table, negative_scores, difference_scores, max_possible_rows or None)."""
    if fmt not in _BUILDERS:
        raise ValueError(f"output_format={fmt!r} is not supported; choose one of {OUTPUT_FORMATS}.")
    return _BUILDERS[fmt](batch, queries, corpus, anchor_column, positive_column, output_scores)
