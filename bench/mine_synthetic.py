"""Synthetic sections of bench/mine.py (run through it: `python bench/mine.py --sections queries,synthetic`).

- queries: driver memory as the number of queries grows. Random unit vectors are written straight into the
  embedding cache, under the names `mine` looks up for a stand-in model, so the real `mine` pipeline (Ray executor:
  search tasks, per-query-shard merge, filter, sample, parquet output) runs on them without encoding anything. The
  queries grow 10x (default 20,000 -> 200,000) against a fixed corpus; each run's driver peak RSS is its process's
  VmHWM. Run with query shards (query_shard_size, default 20,000) and, for contrast, with one query shard holding
  every query (what the pipeline did before query sharding: all query embeddings + the whole merged top-k).
- synthetic: 2M x 384 random unit vectors written as shards by one process, then IVF per shard built and searched
  by Ray tasks from another: queries/s, peak RSS per search worker against shard size and corpus size.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import numpy as np

__all__ = ["add_arguments", "WORKERS", "SECTIONS"]


def add_arguments(p) -> None:
    p.add_argument("--query-counts", default="20000,200000", help="queries section: number of queries per run")
    p.add_argument("--query-shard", type=int, default=20_000, help="queries section: query_shard_size")
    p.add_argument("--query-corpus", type=int, default=100_000, help="queries section: corpus size")
    p.add_argument("--query-dim", type=int, default=64, help="queries section: embedding dimension")
    p.add_argument("--synthetic-rows", type=int, default=2_000_000)
    p.add_argument("--synthetic-dim", type=int, default=384)
    p.add_argument("--synthetic-shard", type=int, default=250_000)
    p.add_argument("--synthetic-queries", type=int, default=2_000)
    p.add_argument("--synthetic-nlist", type=int, default=None, help="default: 4*sqrt(shard rows)")
    p.add_argument("--synthetic-train", type=int, default=None, help="training sample per shard")
    p.add_argument("--synthetic-folder", default=None, help=argparse_suppress())
    p.add_argument("--queries-n", type=int, default=None, help=argparse_suppress())
    p.add_argument("--queries-shard-size", type=int, default=None, help=argparse_suppress())
    p.add_argument("--tmp-dir", default=None)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SyntheticModel:
    """Stands in for an embedding model whose embeddings are already cached: it has a fingerprint and nothing
    else, so a run that would have to encode fails loudly."""

    def named_parameters(self):
        return iter(())

    def encode_query(self, *_a, **_k):
        raise AssertionError("the synthetic run must find every embedding in the cache")

    encode_document = encode_query


def _unit(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _write_cache(texts, role, shard_size, cache_dir, d, seed):
    """Random unit vectors for `texts` under the cache names `mine` computes; one shard in memory at a time."""
    import pyarrow as pa

    from raypipe.mining.embed import embedding_table, model_fingerprint, plan_shards, write_atomic

    os.makedirs(cache_dir, exist_ok=True)
    arr = pa.array(texts, pa.string())
    paths, starts, stops = plan_shards(arr, role, None, None, model_fingerprint(SyntheticModel()), cache_dir,
                                       shard_size)
    rng = np.random.default_rng(seed)
    for path, a, b in zip(paths, starts, stops):
        write_atomic(embedding_table(_unit(rng, b - a, d)), path)


def worker_queries_gen(args) -> dict:
    n_q, n_c = args.queries_n, args.query_corpus
    cache = os.path.join(args.synthetic_folder, f"cache-{n_q}-{args.queries_shard_size}")
    _write_cache([f"d{i}" for i in range(n_c)], "document", 50_000, cache, args.query_dim, 0)
    _write_cache([f"q{i}" for i in range(n_q)], "query", args.queries_shard_size, cache, args.query_dim, 1)
    return {"cache": cache}


def worker_queries(args) -> dict:
    """The real pipeline on the cached synthetic embeddings (Ray executor), output written as parquet."""
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    from raypipe.mining import MiningOptions, mine

    n_q, n_c = args.queries_n, args.query_corpus
    pairs = {"query": [f"q{i}" for i in range(n_q)], "positive": [f"d{i % n_c}" for i in range(n_q)]}
    corpus = [f"d{i}" for i in range(n_c)]
    base = _rss_mb()  # Ray, raypipe and the input texts: what the driver holds before mining
    opts = MiningOptions(executor="ray", index="flat", shard_size=50_000, query_shard_size=args.queries_shard_size,
                         relative_margin=0.05, num_negatives=3, output_format="triplet", progress=False,
                         verbose=False)
    cache = os.path.join(args.synthetic_folder, f"cache-{n_q}-{args.queries_shard_size}")
    t0 = time.perf_counter()
    r = mine(pairs, SyntheticModel(), corpus=corpus, options=opts, cache_dir=cache,
             output_dir=os.path.join(args.synthetic_folder, f"out-{n_q}-{args.queries_shard_size}"))
    assert r.info["embedded_queries"] == 0 and r.info["embedded_documents"] == 0
    return {"queries": n_q, "corpus": n_c, "query_shard_size": args.queries_shard_size, "rows": r.info["rows"],
            "wall_s": time.perf_counter() - t0, "driver_rss_after_inputs_mb": base,
            "driver_peak_rss_mb": _rss_mb(), "query_shards": r.info["query_shards"]}


def section_queries(args, argv, run_worker) -> dict:
    folder = tempfile.mkdtemp(prefix="raypipe-queries-", dir=args.tmp_dir)
    out = []
    try:
        for n_q in [int(x) for x in args.query_counts.split(",")]:
            for shard in (args.query_shard, n_q):  # sharded, then one shard holding every query
                extra = ["--synthetic-folder", folder, "--queries-n", str(n_q), "--queries-shard-size", str(shard)]
                run_worker("queries_gen", argv + extra)
                res = run_worker("queries", argv + extra)
                res.pop("procs", None)
                out.append(res)
                print(f"queries {n_q:>8,} query_shard_size {shard:>8,}: driver peak RSS "
                      f"{res['driver_peak_rss_mb']:.0f} MB ({res['query_shards']} query shard(s), "
                      f"{res['wall_s']:.0f}s)", flush=True)
                shutil.rmtree(os.path.join(folder, f"cache-{n_q}-{shard}"), ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"runs": out}


def worker_synthetic_gen(args) -> dict:
    """Write random unit vectors as embedding shards (one shard in memory at a time) and a manifest; run in its own
    process so the search process's peak RSS never includes generation."""
    from raypipe.mining.embed import embedding_table, write_atomic

    rng = np.random.default_rng(0)
    n, d, s = args.synthetic_rows, args.synthetic_dim, args.synthetic_shard
    folder = tempfile.mkdtemp(prefix="raypipe-synth-", dir=args.tmp_dir)
    shards = []
    t0 = time.perf_counter()
    for start in range(0, n, s):
        x = _unit(rng, min(s, n - start), d)
        path = os.path.join(folder, f"document-{start}.parquet")
        write_atomic(embedding_table(x), path)
        shards.append([path, start, start + len(x)])
        del x
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(shards, f)
    return {"folder": folder, "write_s": time.perf_counter() - t0, "gen_peak_rss_mb": _rss_mb()}


def worker_synthetic(args) -> dict:
    """Search the shards written by worker_synthetic_gen: one IVF index per shard, built and searched by a Ray task,
    merged on this driver, which holds only the queries and the top-k."""
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    from raypipe.mining.embed import EmbeddingShards
    from raypipe.mining.index import IndexSpec
    from raypipe.mining.options import MiningOptions
    from raypipe.mining.runner import get_runner
    from raypipe.mining.search import search_all

    with open(os.path.join(args.synthetic_folder, "manifest.json")) as f:
        paths, starts, stops = zip(*json.load(f))
    n, d, s = args.synthetic_rows, args.synthetic_dim, args.synthetic_shard
    q = _unit(np.random.default_rng(1), args.synthetic_queries, d)
    t1 = time.perf_counter()
    spec = IndexSpec(kind="ivf", nlist=args.synthetic_nlist, train_sample=args.synthetic_train)
    runner = get_runner(MiningOptions(executor="ray", search_parallelism=2))
    scores, ids, _, info = search_all(q, EmbeddingShards(list(paths), list(starts), list(stops), sparse=False), 30,
                                      spec, runner)
    took = time.perf_counter() - t1
    assert (ids[:, 0] >= 0).all()
    return {"rows": n, "dim": d, "shard_rows": s, "shards": len(paths), "queries": len(q),
            "wall_s": took, "queries_per_s_end_to_end": len(q) / took, "index_build_s": info["build_s"],
            "shard_search_s": info["search_s"], "queries_per_s": len(q) / sum(info["search_s"]),
            "factories": sorted(set(info["factories"])), "worker_peak_rss_mb": info["peak_rss_mb"],
            "shard_mb": s * d * 4 / 2**20, "corpus_mb": n * d * 4 / 2**20, "driver_peak_rss_mb": _rss_mb()}


def section_synthetic(args, argv, run_worker) -> dict:
    gen = run_worker("synthetic_gen", argv)
    try:
        syn = run_worker("synthetic", argv + ["--synthetic-folder", gen["folder"]])
    finally:
        shutil.rmtree(gen["folder"], ignore_errors=True)
    syn.pop("procs", None)
    syn["write_s"], syn["gen_peak_rss_mb"] = gen["write_s"], gen["gen_peak_rss_mb"]
    print("synthetic:", json.dumps(syn, indent=1))
    print(f"synthetic {syn['rows']:,} x {syn['dim']}: {syn['queries_per_s']:.0f} queries/s (search only, one core, "
          f"whole corpus; {syn['queries_per_s_end_to_end']:.1f}/s end to end with IVF training); peak RSS per search "
          f"worker {max(syn['worker_peak_rss_mb']):.0f} MB for {syn['shard_mb']:.0f} MB shards "
          f"(corpus {syn['corpus_mb']:.0f} MB); search driver {syn['driver_peak_rss_mb']:.0f} MB")
    return syn


WORKERS = {"queries_gen": worker_queries_gen, "queries": worker_queries, "synthetic_gen": worker_synthetic_gen,
           "synthetic": worker_synthetic}
SECTIONS = {"queries": section_queries, "synthetic": section_synthetic}
