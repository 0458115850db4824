"""Scoring SPLADE embeddings: the retrieval evaluator's query x corpus-chunk product, sparse-aware vs densified.

Run:  python bench/sparse_scores.py [--queries 5786 --docs 50000 --query-dims 34 --doc-dims 69 --repeats 2]

Random sparse COO embeddings shaped like the full Debian SPLADE evaluation (5,786 dev queries with ~34 active
terms against a 50,000-document corpus chunk with ~69, vocabulary 30,522). Each way runs in its own process (peak
RSS is per process), alternating; prints seconds and peak RSS per way and the ratios. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VOCAB = 30522


def _one(way: str, q: int, n: int, kq: int, kd: int) -> dict:
    import torch

    from raypipe.models.similarity import _as_2d_tensor, dot_score

    def rand_sparse(rows: int, k: int):
        r = torch.arange(rows).repeat_interleave(k)
        c = torch.randint(0, VOCAB, (rows * k,))
        return torch.sparse_coo_tensor(torch.stack([r, c]), torch.rand(rows * k), (rows, VOCAB)).coalesce()

    torch.manual_seed(0)
    a, b = rand_sparse(q, kq), rand_sparse(n, kd)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if way == "densified":  # what dot_score did before: both sides made dense (n, 30,522)
        scores = _as_2d_tensor(a) @ _as_2d_tensor(b).T
    else:
        scores = dot_score(a, b)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"s": seconds, "peak_mb": peak / 1024, "extra_mb": (peak - base) / 1024, "sum": float(scores.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=5786)
    ap.add_argument("--docs", type=int, default=50000)
    ap.add_argument("--query-dims", type=int, default=34)
    ap.add_argument("--doc-dims", type=int, default=69)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.queries, args.docs, args.query_dims, args.doc_dims)))
        return
    results: dict[str, list[dict]] = {"densified": [], "sparse-aware": []}
    for _ in range(args.repeats):
        for way in results:
            cmd = [sys.executable, __file__, "--one", way, "--queries", str(args.queries), "--docs", str(args.docs),
                   "--query-dims", str(args.query_dims), "--doc-dims", str(args.doc_dims)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results[way].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.queries} queries x {args.docs} documents, {args.query_dims} / {args.doc_dims} active terms, "
          f"vocabulary {VOCAB}, best of {args.repeats}")
    print(f"{'way':<14}{'seconds':>10}{'peak RSS MB':>14}{'added MB':>11}")
    best = {w: min(r, key=lambda x: x["s"]) for w, r in results.items()}
    for way, r in best.items():
        print(f"{way:<14}{r['s']:>10.2f}{max(x['peak_mb'] for x in results[way]):>14.0f}"
              f"{max(x['extra_mb'] for x in results[way]):>11.0f}")
    d, s = best["densified"], best["sparse-aware"]
    print(f"sparse-aware: {d['s'] / s['s']:.2f}x the speed, {s['extra_mb'] / max(d['extra_mb'], 1):.3f}x the added "
          f"memory; score sums {d['sum']:.6g} / {s['sum']:.6g}")


if __name__ == "__main__":
    main()
