"""Training throughput on Ray Train vs in-process, at one global batch: raypipe's trainer in this process, Ray Train
(`raypipe.train.fit`) with 1 and with N workers (per-device batch = global / N), and sentence-transformers' trainer.
Same model, loss (MultipleNegativesRankingLoss), data, global batch, steps and seed. Prints samples/s of each
(HF's `train_samples_per_second`, measured inside the training process, so Ray's start-up is not counted; its
per-step overhead is) and the ratios to the in-process trainer.

Runs are interleaved (in-process, Ray 1, Ray N, sentence-transformers, then again) `--repeats` times so machine
load hits all alike; the best run of each is reported, and the median over rounds of each ratio within its round.
Targets on a 2-core CPU: Ray 1 worker >= 0.9x in-process, 2 workers >= 0.85x.

    python bench/train_scaling.py [--model minilm|tiny|PATH] [--steps 40] [--global-batch 32] [--workers 2]
                                  [--repeats 3] [--use-gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.train_throughput import make_dataset, model_path  # noqa: E402


def train_config(a, path: str, data: str, out: str, workers: int, name: str) -> dict:
    per_device = a.global_batch // workers
    return {"model": {"kind": "dense", "path": path}, "loss": {"name": "MultipleNegativesRankingLoss"},
            "data": {"train": data},
            "args": {"per_device_train_batch_size": per_device, "max_steps": a.steps, "learning_rate": 2e-5,
                     "seed": 0, "save_strategy": "no", "report_to": "none", "disable_tqdm": True,
                     "logging_steps": a.steps},
            "scaling": {"num_workers": workers, "use_gpu": a.use_gpu},
            "run": {"name": name, "storage_path": os.path.join(out, "storage"), "max_failures": 0},
            "output": {"dir": os.path.join(out, name)}, "ray": {"log_to_driver": False}}


def run_in_process(a, path, data, out) -> float:
    from raypipe.config.train import TrainConfig
    from raypipe.registry import get_kind
    from raypipe.train.build import build_trainer

    cfg = TrainConfig.model_validate(train_config(a, path, data, out, 1, "inproc"))
    spec = get_kind("dense")
    device = "cuda" if a.use_gpu else "cpu"
    trainer = build_trainer(cfg, spec, spec.model_class(path, device=device), os.path.join(out, "inproc-hf"))
    return trainer.train().metrics["train_samples_per_second"]


def run_ray(a, path, data, out, workers: int, tag: str) -> float:
    from raypipe.train import fit

    result = fit(train_config(a, path, data, out, workers, f"ray{workers}-{tag}"))
    return result.metrics["train_samples_per_second"]


def run_st(a, path, ds, out) -> float:
    import sentence_transformers as st
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = st.SentenceTransformer(path, device="cuda" if a.use_gpu else "cpu")
    args = st.SentenceTransformerTrainingArguments(
        output_dir=os.path.join(out, "st"), per_device_train_batch_size=a.global_batch, max_steps=a.steps,
        learning_rate=2e-5, seed=0, save_strategy="no", report_to="none", disable_tqdm=True, logging_steps=a.steps)
    trainer = st.SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                            loss=MultipleNegativesRankingLoss(model))
    return trainer.train().metrics["train_samples_per_second"]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="minilm")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--global-batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--use-gpu", action="store_true", help="one GPU per worker (and for the in-process runs)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import ray

    tmp = tempfile.mkdtemp(prefix="rp-scaling-")
    path = model_path(a.model, tmp)
    ds = make_dataset(a.global_batch * a.steps)
    data = os.path.join(tmp, "pairs.parquet")
    ds.to_parquet(data)
    ray.init(include_dashboard=False, log_to_driver=False)
    rounds: list[dict[str, float]] = []
    names = ["raypipe in-process", "Ray Train 1 worker", f"Ray Train {a.workers} workers", "sentence-transformers"]
    for r in range(a.repeats):
        runs = [lambda: run_in_process(a, path, data, tmp), lambda r=r: run_ray(a, path, data, tmp, 1, str(r)),
                lambda r=r: run_ray(a, path, data, tmp, a.workers, str(r)), lambda: run_st(a, path, ds, tmp)]
        rounds.append({})
        for name, fn in zip(names, runs):
            rounds[-1][name] = fn()
            print(f"repeat {r + 1}: {name:<24} {rounds[-1][name]:8.1f} samples/s", flush=True)
    ray.shutdown()
    best = {name: max(rd[name] for rd in rounds) for name in names}
    # the machine is noisy: the best run of each, and the ratio within each round (runs minutes apart) too
    per_round = {name: statistics.median(rd[name] / rd[names[0]] for rd in rounds) for name in names}
    print(f"\n{'trainer':<24} {'samples/s':>10} {'vs in-process':>14} {'median per-round ratio':>23}")
    for name in names:
        print(f"{name:<24} {best[name]:>10.1f} {best[name] / best[names[0]]:>14.2f} {per_round[name]:>23.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"best": best, "rounds": rounds}, f, indent=2)
    return best


if __name__ == "__main__":
    main()
