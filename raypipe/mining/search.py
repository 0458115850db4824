"""Search stage: every query batch goes to every corpus shard; each shard returns its top k; results are merged
per query (the Tevatron shard-and-merge pattern).

One shard task holds: the shard's vectors + its index (O(shard_size x d)), the query matrix (O(N_q x d)) and its
result (O(N_q x k)). The driver holds only the running merged top k, O(N_q x k). Ties are broken by corpus id so
the merge does not depend on which shard finishes first.
A shard task also scores the (query, positive) pairs whose positive lives in that shard, so positive scores never
need the whole corpus in one place.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from raypipe.mining.embed import load_shard
from raypipe.mining.index import IndexSpec, build_index, choose_index

__all__ = ["ShardResult", "search_shard", "merge_topk", "search_all"]


@dataclass
class ShardResult:
    scores: np.ndarray  # (N_q, k') float32, -inf padded
    ids: np.ndarray  # (N_q, k') int64 global corpus ids, -1 padded
    pair_index: np.ndarray  # positions into the pair arrays scored by this shard
    pair_scores: np.ndarray  # (len(pair_index),) float32
    factory: str
    peak_rss_mb: float
    build_s: float = 0.0
    search_s: float = 0.0


def _topk_dense(scores: np.ndarray, k: int):
    """Top k per row of a (B, n) score block, sorted descending (ties: lower column first)."""
    # Order (score desc, column asc), also for *which* tied columns make the cut: argpartition keeps an arbitrary
    # subset of the scores equal to the k-th (frequent with sparse dot products, e.g. rows of zeros), so those rows
    # are re-selected with the lowest tied columns, as FAISS's flat search keeps the lowest ids.
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (B, k) k best, boundary ties arbitrary
        cut = np.take_along_axis(scores, part, axis=1).min(axis=1)  # (B,) the k-th best score
        for r in np.nonzero((scores >= cut[:, None]).sum(axis=1) > k)[0]:
            above = np.flatnonzero(scores[r] > cut[r])
            part[r] = np.concatenate([above, np.flatnonzero(scores[r] == cut[r])[: k - len(above)]])
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(vals, order, 1), np.take_along_axis(part, order, 1)


def search_shard(path: str, start: int, queries, k: int, spec: IndexSpec, batch_size: int = 16384,
                 pair_qid: np.ndarray | None = None, pair_did: np.ndarray | None = None) -> ShardResult:
    """Search one shard with all queries, in batches of `batch_size` queries."""
    t0, build_s = time.perf_counter(), 0.0
    emb = load_shard(path)
    n = emb.shape[0]
    n_q = queries.shape[0]
    kk = min(k, n)
    scores = np.empty((n_q, kk), np.float32)
    ids = np.empty((n_q, kk), np.int64)
    if sp.issparse(emb):
        factory = "SparseDot"
        doc_t = emb.T.tocsr()
        # Dense (B, n) score block: cap B so that block stays ~<= 64M floats.
        step = max(1, min(batch_size, 64_000_000 // max(n, 1)))
        for i in range(0, n_q, step):
            block = (queries[i:i + step] @ doc_t).toarray()
            scores[i:i + step], ids[i:i + step] = _topk_dense(block, kk)
    else:
        factory = choose_index(n, emb.shape[1], spec)
        index = build_index(emb, spec, k=kk)
        t0, build_s = time.perf_counter(), time.perf_counter() - t0
        for i in range(0, n_q, batch_size):
            s, j = index.search(np.ascontiguousarray(queries[i:i + batch_size]), kk)
            scores[i:i + batch_size], ids[i:i + batch_size] = s, j
    search_s = time.perf_counter() - t0
    invalid = ids < 0
    scores[invalid] = -np.inf
    ids += start
    ids[invalid] = -1
    pidx = np.zeros(0, np.int64)
    pscores = np.zeros(0, np.float32)
    if pair_did is not None:
        pidx = np.nonzero((pair_did >= start) & (pair_did < start + n))[0]
        q = queries[pair_qid[pidx]]
        d = emb[pair_did[pidx] - start]
        pscores = (np.asarray(q.multiply(d).sum(axis=1)).ravel() if sp.issparse(emb)
                   else np.einsum("ij,ij->i", q, d)).astype(np.float32)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ShardResult(scores, ids, pidx, pscores, factory, peak, build_s, search_s)


def merge_topk(a_scores, a_ids, b_scores, b_ids, k: int):
    """Merge two per-query top lists into the top k by (score desc, id asc); -1 ids sort last."""
    s = np.concatenate([a_scores, b_scores], axis=1)
    i = np.concatenate([a_ids, b_ids], axis=1)
    tie = np.where(i < 0, np.iinfo(np.int64).max, i)
    order = np.lexsort((tie, -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


def search_all(queries, shards, k: int, spec: IndexSpec, runner, *, batch_size: int = 16384, pair_qid=None,
               pair_did=None):
    """Search every shard (where: the runner's choice); return (scores (N_q, k), ids (N_q, k), pair_scores, info)."""
    n_q = queries.shape[0]
    acc_s = np.full((n_q, k), -np.inf, np.float32)
    acc_i = np.full((n_q, k), -1, np.int64)
    pair_scores = np.full(0 if pair_qid is None else len(pair_qid), np.nan, np.float32)
    info = {"factories": [], "peak_rss_mb": [], "build_s": [], "search_s": []}

    def consume(r: ShardResult):
        nonlocal acc_s, acc_i
        acc_s, acc_i = merge_topk(acc_s, acc_i, r.scores, r.ids, k)
        pair_scores[r.pair_index] = r.pair_scores
        info["factories"].append(r.factory)
        info["peak_rss_mb"].append(r.peak_rss_mb)
        info["build_s"].append(r.build_s)
        info["search_s"].append(r.search_s)

    jobs = [(p, s) for p, s in zip(shards.paths, shards.starts)]
    runner.search(jobs, queries, k, spec, batch_size, pair_qid, pair_did, consume)
    return acc_s, acc_i, pair_scores, info
