"""Search stage: every query shard goes to every corpus shard; each (query shard, corpus shard) task returns its
top k; results are merged per query shard (the Tevatron shard-and-merge pattern, sharded on both sides).

One task holds: the corpus shard's vectors + its index (O(shard_size x d)), the query shard it reads from the
embedding cache itself (O(query_shard_size x d)) and its result (O(query_shard_size x k)). The driver holds the
running merged top k of the query shards in flight only, O(query_shard_size x k x (search_parallelism + 1)),
whatever the number of queries; it never holds query embeddings. Ties are broken by corpus id so the merge does
not depend on which shard finishes first.
With several query shards, an approximate index (IVF, HNSW, PQ) is built once per corpus shard and kept next to
its embeddings (`<shard>.<spec hash>.faiss`); later query shards read it instead of training again. Flat indexes
are rebuilt (loading the vectors is the whole cost).
A task also scores the (query, positive) pairs whose query is in its query shard and whose positive lives in its
corpus shard, so positive scores never need the whole corpus in one place.
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from raypipe.atomic import atomic_path
from raypipe.mining.embed import load_shard
from raypipe.mining.index import IndexSpec, build_index, choose_index

__all__ = ["ShardResult", "SearchTask", "search_shard", "run_search_task", "merge_topk", "search_all",
           "search_query_shards"]


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


def _flat_search(emb: np.ndarray):
    """Exact inner-product search over `emb` (n, d) itself: FAISS's brute-force kNN, the kernel an IndexFlatIP runs
    (same results, same ties), without the index's own copy of the shard (46k x 60k MiniLM: the search task's
    peak 437 -> 400 MB)."""
    import faiss

    return lambda q, k: faiss.knn(q, emb, k, metric=faiss.METRIC_INNER_PRODUCT)


def _cached_index(emb: np.ndarray, spec: IndexSpec, k: int, cache: str | None):
    """An approximate index: build_index, or the one kept at `cache` by an earlier task (see module doc)."""
    if cache is None:
        return build_index(emb, spec, k=k)
    import faiss

    if os.path.exists(cache):
        index = faiss.read_index(cache)
        _search_params(index, spec, k)
        return index
    index = build_index(emb, spec, k=k)
    with atomic_path(cache) as tmp:  # two tasks building the same shard at once both write a complete file
        faiss.write_index(index, tmp)
    return index


def _search_params(index, spec: IndexSpec, k: int) -> None:
    # search-time parameters are not all kept by faiss.write_index: set them again as build_index does
    import faiss

    try:
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = min(ivf.nlist, spec.nprobe or max(32, ivf.nlist // 4))
    except RuntimeError:  # not an IVF index
        pass
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = spec.ef_search or max(128, 2 * k)


def index_cache_path(shard_path: str, spec: IndexSpec) -> str:
    """Where the approximate index of a corpus shard is kept (its embeddings' path + a hash of the spec)."""
    return f"{shard_path}.{hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:12]}.faiss"


def search_shard(path: str, start: int, queries, k: int, spec: IndexSpec, batch_size: int = 16384,
                 pair_qid: np.ndarray | None = None, pair_did: np.ndarray | None = None,
                 index_cache: str | None = None) -> ShardResult:
    """Search one corpus shard with a query matrix (or the path of a query embedding shard), in batches of
    `batch_size` queries. `pair_qid` are rows of `queries`."""
    if isinstance(queries, str):
        queries = load_shard(queries)
    t0, build_s = time.perf_counter(), 0.0
    emb = load_shard(path)
    n, n_q = emb.shape[0], queries.shape[0]
    kk = min(k, n)
    # positives first, so the shard's vectors can be dropped once a dense index holds its own copy
    pidx, pscores = _pair_scores(queries, emb, start, pair_qid, pair_did)
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
        search = _flat_search(emb) if factory == "Flat" else _cached_index(emb, spec, kk, index_cache).search
        del emb  # an approximate index keeps what it searches; the flat search holds the matrix itself
        t0, build_s = time.perf_counter(), time.perf_counter() - t0
        for i in range(0, n_q, batch_size):
            s, j = search(np.ascontiguousarray(queries[i:i + batch_size]), kk)
            scores[i:i + batch_size], ids[i:i + batch_size] = s, j
    search_s = time.perf_counter() - t0
    invalid = ids < 0
    scores[invalid] = -np.inf
    ids += start
    ids[invalid] = -1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ShardResult(scores, ids, pidx, pscores, factory, peak, build_s, search_s)


def _pair_scores(queries, emb, start: int, pair_qid, pair_did, chunk: int = 8192):
    """(positions into the pair arrays whose positive lies in this shard, their scores float32), gathered
    `chunk` pairs at a time so the gathered rows stay O(chunk x d) instead of two copies of every pair's vectors."""
    if pair_did is None:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    pidx = np.nonzero((pair_did >= start) & (pair_did < start + emb.shape[0]))[0]
    out = np.empty(len(pidx), np.float32)
    for i in range(0, len(pidx), chunk):
        sel = pidx[i:i + chunk]
        q, d = queries[pair_qid[sel]], emb[pair_did[sel] - start]
        out[i:i + chunk] = (np.asarray(q.multiply(d).sum(axis=1)).ravel() if sp.issparse(emb)
                            else np.einsum("ij,ij->i", q, d))
    return pidx, out


def merge_topk(a_scores, a_ids, b_scores, b_ids, k: int):
    """Merge two per-query top lists into the top k by (score desc, id asc); -1 ids sort last."""
    s = np.concatenate([a_scores, b_scores], axis=1)
    i = np.concatenate([a_ids, b_ids], axis=1)
    tie = np.where(i < 0, np.iinfo(np.int64).max, i)
    order = np.lexsort((tie, -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


def search_all(queries, shards, k: int, spec: IndexSpec, runner, *, batch_size: int = 16384, pair_qid=None,
               pair_did=None):
    """Search every corpus shard with one in-memory query matrix (where: the runner's choice); return
    (scores (N_q, k), ids (N_q, k), pair_scores, info). The mining pipeline uses `search_query_shards` instead,
    which reads query shards from the cache and never holds all queries."""
    from raypipe.mining.embed import EmbeddingShards

    n_q = queries.shape[0]
    one = EmbeddingShards([queries], [0], [n_q], sparse=False)
    starts = None if pair_qid is None else np.r_[np.zeros(n_q, np.int64), len(pair_qid)]  # all pairs: one shard
    info: dict = {}
    for _, scores, ids, pair_scores in search_query_shards(one, shards, k, spec, runner, batch_size=batch_size,
                                                           pair_qid=pair_qid, pair_did=pair_did,
                                                           pair_starts=starts, info=info):
        return scores, ids, pair_scores, info
    raise AssertionError("unreachable: one query shard always yields")


@dataclass
class SearchTask:
    """One (query shard, corpus shard) search: paths into the embedding cache, the query shard's pairs (query rows
    local to the shard, positive ids global) and the shard index `qi` it belongs to."""

    qi: int
    query_path: str | np.ndarray  # an embedding-cache shard, or (search_all) an in-memory matrix
    corpus_path: str
    corpus_start: int
    k: int
    spec: IndexSpec
    batch_size: int
    pair_qid: np.ndarray
    pair_did: np.ndarray
    index_cache: str | None = None


def run_search_task(t: SearchTask) -> ShardResult:
    """What a search worker runs (in this process or as a Ray task)."""
    return search_shard(t.corpus_path, t.corpus_start, t.query_path, t.k, t.spec, t.batch_size, t.pair_qid,
                        t.pair_did, t.index_cache)


def _shard_tasks(q_sh, c_sh, k, spec, batch_size, pair_qid, pair_did, pair_starts) -> list[SearchTask]:
    cache = len(q_sh) > 1  # an approximate index is worth keeping only when more than one query shard reads it
    tasks = []
    for qi, (qpath, q0, q1) in enumerate(zip(q_sh.paths, q_sh.starts, q_sh.stops)):
        p0, p1 = (pair_starts[q0], pair_starts[q1]) if pair_qid is not None else (0, 0)
        pq_ = pair_qid[p0:p1] - q0 if pair_qid is not None else None
        pd_ = pair_did[p0:p1] if pair_did is not None else None
        for cpath, c0 in zip(c_sh.paths, c_sh.starts):
            tasks.append(SearchTask(qi, qpath, cpath, c0, k, spec, batch_size, pq_, pd_,
                                    index_cache_path(cpath, spec) if cache else None))
    return tasks


def search_query_shards(q_sh, c_sh, k: int, spec: IndexSpec, runner, *, batch_size: int = 16384,
                        pair_qid=None, pair_did=None, pair_starts=None, info: dict | None = None, bar=None):
    """Yield (qi, scores (n_qi, k), ids (n_qi, k), pair scores of the shard's pairs) per query shard, in order,
    once every corpus shard has answered it. `pair_starts[q]` is the first pair of query q (pairs grouped by
    query). The runner runs the tasks (`runner.search(tasks)` yields (task index, ShardResult) as they finish);
    `info` collects factories, peak RSS, build and search seconds per task; `bar` counts finished tasks."""
    tasks = _shard_tasks(q_sh, c_sh, k, spec, batch_size, pair_qid, pair_did, pair_starts)
    info = info if info is not None else {}
    for key in ("factories", "peak_rss_mb", "build_s", "search_s"):
        info.setdefault(key, [])
    per_shard = len(c_sh)
    acc: dict[int, list] = {}
    left = {qi: per_shard for qi in range(len(q_sh))}
    nxt = 0
    for ti, r in runner.search(tasks):
        qi = tasks[ti].qi
        if qi not in acc:
            n_q, n_p = q_sh.stops[qi] - q_sh.starts[qi], len(tasks[ti].pair_did) if pair_did is not None else 0
            acc[qi] = [np.full((n_q, k), -np.inf, np.float32), np.full((n_q, k), -1, np.int64),
                       np.full(n_p, np.nan, np.float32)]
        a = acc[qi]
        a[0], a[1] = merge_topk(a[0], a[1], r.scores, r.ids, k)
        a[2][r.pair_index] = r.pair_scores
        for key, value in (("factories", r.factory), ("peak_rss_mb", r.peak_rss_mb), ("build_s", r.build_s),
                           ("search_s", r.search_s)):
            info[key].append(value)
        if bar is not None:
            bar.update(1)
        left[qi] -= 1
        while nxt < len(q_sh) and left[nxt] == 0:
            yield (nxt, *acc.pop(nxt))
            nxt += 1
