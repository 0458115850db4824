"""The pipeline job: `run(RunConfig) -> RunResult`, mine -> train -> eval, chained through their on-disk outputs
under `<output.dir>` (see raypipe/config/run.py). Ray is started (or joined) once for the whole run.

A stage whose output is complete is skipped on rerun: `mined/` (committed atomically with its stats file), the
trained model (the train job's `run.json`; an interrupted training resumes from its last checkpoint), and each
evaluation (`eval-base.json` for the model training started from, `eval.json` for the trained one, each
recording the checkpoint it evaluated).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from raypipe.config.run import RunConfig
from raypipe.jobs import eval as eval_job
from raypipe.jobs import mine as mine_job
from raypipe.jobs import train as train_job
from raypipe.jobs.report import NOISE_METRICS, table

__all__ = ["RunResult", "run"]


@dataclass
class RunResult:
    output_dir: str
    stages: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, ran | skipped, seconds)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    def summary(self) -> str:
        keys = sorted(k for k in self.after if k in self.before and isinstance(self.after[k], float)
                      and k not in NOISE_METRICS)
        rows = [[k, self.before[k], self.after[k], self.after[k] - self.before[k]] for k in keys]
        return "\n".join([table(["stage", "status", "seconds"], [list(s) for s in self.stages]), "",
                          table(["metric", "base model", "trained", "change"], rows), "",
                          f"Outputs under {self.output_dir}: mined/, model/, eval.json, eval-base.json"])


def _timed(result: RunResult, stage: str, fn, done: bool):
    t0 = time.perf_counter()
    out = None if done else fn()
    result.stages.append((stage, "skipped (done)" if done else "ran", f"{time.perf_counter() - t0:.1f}"))
    return out


def _evaluated(path: Path, model_dir: str) -> dict | None:
    """The metrics of an earlier evaluation of the same model, if any."""
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    return info["metrics"] if info.get("config", {}).get("model", {}).get("path") == model_dir else None


def _evaluate(cfg: RunConfig, model_dir: str, file: str, result: RunResult, stage: str) -> dict:
    out = Path(cfg.output.dir)
    ev = cfg.eval.model_copy(update={"model": cfg.eval.model.model_copy(update={"path": model_dir}),
                                     "output": cfg.eval.output.model_copy(update={"file": file})})
    done = _evaluated(out / file, model_dir)
    res = _timed(result, stage, lambda: eval_job.run(ev), done is not None)
    return done if res is None else res.metrics


def run(cfg: RunConfig) -> RunResult:
    """Mine -> train -> eval (see the module docstring)."""
    out = Path(cfg.output.dir)
    result = RunResult(str(out.absolute()))
    from raypipe.runtime import ray_runtime

    initial = cfg.train.initial_model_path  # what training started from: the fair "before"
    trained = str((out / "model").absolute())
    mined = (out / "mined" / "_mining_stats.json").exists()
    done = (mined and train_job.finished(cfg.train) and _evaluated(out / "eval-base.json", initial) is not None
            and _evaluated(out / "eval.json", trained) is not None)
    # one Ray for every stage (training runs on Ray Train); none at all when everything is done
    with contextlib.nullcontext() if done else ray_runtime(cfg.ray):
        _timed(result, "mine", lambda: mine_job.run(cfg.mine), mined)
        _timed(result, "train", lambda: train_job.run(cfg.train), train_job.finished(cfg.train))
        result.before = _evaluate(cfg, initial, "eval-base.json", result, "eval (base model)")
        result.after = _evaluate(cfg, trained, "eval.json", result, "eval (trained)")
    return result
