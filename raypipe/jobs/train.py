"""The training job: `run(TrainConfig) -> TrainResult`.

1. On the driver, before Ray starts: the model is built (once: a fresh SPLADE head is warmed up and calibrated
   here, not on every worker), the loss is built from the catalogue, the datasets are validated against it, the
   training arguments and the evaluator are built; every problem goes into one ConfigError.
2. The initial model is saved under the run's storage folder (`<storage>/<name>/initial_model`), so every worker
   (on any node with that storage) starts from the same weights; a rerun loads it instead of building it again.
3. Ray starts (or is joined); the cluster is checked against the scaling section; the TorchTrainer runs.
4. The final checkpoint is exported: `<output.dir>/model` (sentence-transformers format), `log_history.json`,
   `metrics.json`, and `run.json`, which makes a rerun of a finished run say so and return.

A run is its name: the same `run.name` resumes it from its storage folder, whatever `output.dir` says. So the
run's config (without where outputs go, Ray and scaling) is recorded there as `run_config.json`, and a rerun
of that name with another model, loss, data, evaluator or arguments is refused before anything is built, listing
what differs (an older run folder without the file is taken as is). `run.json` keeps the same record, so a rerun
into a finished `output.dir` with another config is refused too instead of saying "already finished".
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from raypipe.atomic import write_json
from raypipe.config.base import ConfigError
from raypipe.config.paths import is_uri
from raypipe.config.train import TrainConfig
from raypipe.data.validation import validate_datasets
from raypipe.eval.build import build_evaluator
from raypipe.jobs.report import metrics_table
from raypipe.mining.embed import release_memory
from raypipe.registry import get_kind
from raypipe.storage import join, list_names, read_text, write_text
from raypipe.train.build import build_args, build_datasets, build_loss, build_model

__all__ = ["TrainResult", "run", "check_before_ray", "finished", "fingerprint", "claim_run", "TRAINING_STATE_FILES"]

logger = logging.getLogger(__name__)

RUN_CONFIG = "run_config.json"  # under <storage>/<run name>: the config the run was started with
# files of a checkpoint that are training state, not the model
TRAINING_STATE_FILES = ("optimizer.pt", "scheduler.pt", "trainer_state.json", "training_args.bin", "scaler.pt",
                        "raypipe_final.json")


@dataclass
class TrainResult:
    output_dir: str
    model_dir: str
    metrics: dict
    run_name: str
    seconds: float = 0.0
    already_finished: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = (f"Run {self.run_name!r} had already finished; nothing to do." if self.already_finished
                else f"Trained run {self.run_name!r} in {self.seconds:.1f}s.")
        return "\n".join([head, *self.notes, metrics_table(self.metrics), f"Model written to {self.model_dir}"])


def check_before_ray(cfg: TrainConfig, spec):
    """Build model, loss, datasets, arguments and evaluator on the driver; one ConfigError with every problem.
    Returns (model, (train_ds, eval_ds))."""
    problems: list[str] = []

    def attempt(what: str, fn):
        try:
            return fn()
        except ConfigError as err:
            problems.extend(err.problems)
        except (ValueError, FileNotFoundError, OSError) as err:
            problems.append(f"{what}: {err}")
        return None

    datasets = attempt("data", lambda: build_datasets(cfg))
    train_ds = datasets[0] if datasets else None
    saved = _saved_initial_model(cfg)
    if saved:  # a rerun of this run: skip the build (a fresh SPLADE head's fit takes minutes at full size)
        logger.info("Reusing the initial model an earlier attempt of run %r saved: %s", cfg.run_name, saved)
        model = attempt("model", lambda: spec.model_class(saved))
    else:
        texts = _documents(train_ds) if spec.name == "sparse" else None
        model = attempt("model", lambda: build_model(cfg.model, spec.name, texts))
    if model is not None:
        loss = attempt("loss", lambda: build_loss(cfg.loss, model, spec))
        if loss is None and cfg.loss is None:
            loss = spec.trainer_class.get_default_loss(None, model)
        if loss is not None and datasets:
            attempt("data.train", lambda: validate_datasets(datasets[0], loss, model, "train"))
            attempt("data.eval", lambda: validate_datasets(datasets[1], loss, model, "eval"))
    if cfg.evaluator is not None:
        attempt("evaluator", lambda: build_evaluator(cfg.evaluator, spec.name))
    with tempfile.TemporaryDirectory() as tmp:
        has_eval = cfg.evaluator is not None or cfg.data.eval is not None
        attempt("args", lambda: build_args(spec, cfg.args, tmp, use_gpu=cfg.scaling.use_gpu, has_eval=has_eval))
    if problems:
        raise ConfigError("train config", problems)
    return model, datasets


def fingerprint(cfg: TrainConfig) -> dict:
    """What makes a training run the same run: its model, loss, data, evaluator, arguments and name; not where
    outputs go, Ray, scaling (a resumed run may get other workers) or how failures are survived."""
    d = cfg.model_dump(mode="json", exclude={"ray", "output", "scaling", "run"})
    return {**d, "run": {"name": cfg.run_name}}


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(mine: dict, theirs: dict, prefix: str = "") -> list[str]:
    """Dotted keys where two nested configs differ, with both values: ['args.max_steps: 200 -> 500'] (theirs ->
    mine)."""
    out = []
    for key in sorted(set(mine) | set(theirs), key=str):
        old, new = theirs.get(key, "<unset>"), mine.get(key, "<unset>")
        if isinstance(old, dict) and isinstance(new, dict):
            out += differences(new, old, f"{prefix}{key}.")
        elif old != new:
            out.append(f"{prefix}{key}: {_short(old)} -> {_short(new)}")
    return out


def claim_run(root: str, name: str, mine: dict, *, what: str, started: bool, write: bool = False) -> None:
    """Refuse the storage folder `root` when `name` there records another config and the run it names has
    started (a ConfigError listing the differences); with `write`, record `mine` as the folder's config."""
    text = read_text(join(root, name))
    if text is not None and started:
        changed = differences(mine, json.loads(text))
        if changed:
            raise ConfigError(f"{what} config", [
                f"run.name={os.path.basename(root.rstrip('/'))!r}: a {what} run of that name with another config "
                f"exists in {root} (changed: {'; '.join(changed)}). Fix: rerun with that config to resume it, "
                f"set a new run.name to start anew, or delete that folder"])
    if write:
        write_text(join(root, name), json.dumps(mine, indent=2, sort_keys=True))


def _claim(cfg: TrainConfig, write: bool = False) -> None:
    root = join(cfg.storage_uri, cfg.run_name)
    started = any(n != RUN_CONFIG for n in list_names(root))
    claim_run(root, RUN_CONFIG, fingerprint(cfg), what="train", started=started, write=write)


def _release_driver_memory() -> None:
    """Hand the driver's freed build memory back to the OS before the (long) training: a full-size SPLADE build
    (MLM warm-up, calibration logits of (32, T, 30,522)) left ~340 MB of free pages in the C heap, held for
    hours and counted in the job's memory (measured: 949 -> 611 MB RSS)."""
    gc.collect()
    release_memory()


def _documents(ds, limit: int = 4096) -> list[str] | None:
    """Texts of the second column (the documents) for a fresh SPLADE head's warm-up."""
    if ds is None or len(ds.column_names) < 2:
        return None
    return [t for t in ds.select(range(min(limit, len(ds))))[ds.column_names[1]] if isinstance(t, str)]


def _saved_initial_model(cfg: TrainConfig) -> str | None:
    """The initial model a previous attempt of this run saved on local storage, if any (URIs: always rebuilt)."""
    target = cfg.initial_model_path
    return target if not is_uri(target) and os.path.exists(os.path.join(target, "modules.json")) else None


def _initial_model(cfg: TrainConfig, model) -> str:
    """Save the model every worker starts from under the run folder (once; reused by reruns)."""
    target = cfg.initial_model_path
    if is_uri(target):
        import pyarrow.fs as pafs

        fs, path = pafs.FileSystem.from_uri(target)
        if fs.get_file_info(f"{path}/modules.json").type == pafs.FileType.NotFound:
            with tempfile.TemporaryDirectory() as tmp:
                model.save(tmp)
                pafs.copy_files(tmp, target)
        return target
    if _saved_initial_model(cfg) is None:
        model.save(target)
    return target


def finished(cfg: TrainConfig) -> bool:
    """Whether this config's run has finished and exported its model (with this config: another one is not done,
    and `run` says why)."""
    done = _finished(Path(cfg.output.dir).absolute(), cfg.run_name)
    return done is not None and not _changed(cfg, done)


def _changed(cfg: TrainConfig, done: dict) -> list[str]:
    """What differs between `cfg` and the config a finished run's marker records (nothing for older markers)."""
    return differences(fingerprint(cfg), done.get("fingerprint") or fingerprint(cfg))


def _finished(out: Path, run_name: str) -> dict | None:
    marker = out / "run.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("run_name") == run_name and info.get("finished") and (out / "model").exists():
            return info
    return None


def _replace_dir(src: str, dst: Path, skip=()) -> None:
    tmp = Path(f"{dst}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=lambda d, names: [n for n in names if n in skip or n.startswith("rng_state")])
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def export(result, cfg: TrainConfig, out: Path, extra: dict) -> dict:
    """Final checkpoint -> <out>/model, log_history.json, metrics.json, run.json (each written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    with result.checkpoint.as_directory() as folder:
        _replace_dir(folder, out / "model", skip=TRAINING_STATE_FILES)
        state = json.loads(Path(folder, "trainer_state.json").read_text())
    metrics = {**{k: v for k, v in (result.metrics or {}).items() if k != "final"}, **extra}
    write_json(out / "log_history.json", state.get("log_history", []))
    write_json(out / "metrics.json", metrics)
    write_json(out / "run.json", {"run_name": cfg.run_name, "finished": True, "checkpoint": result.checkpoint.path,
                                  "config": cfg.model_dump(), "fingerprint": fingerprint(cfg)})
    return metrics


def run(cfg: TrainConfig) -> TrainResult:
    """Train as the config says (see the module docstring)."""
    out = Path(cfg.output.dir).absolute()
    done = _finished(out, cfg.run_name)
    if done:
        changed = _changed(cfg, done)
        if changed:
            raise ConfigError("train config", [
                f"output.dir={cfg.output.dir!r} holds run {cfg.run_name!r}, finished with another config (changed: "
                f"{'; '.join(changed)}). Fix: set a new run.name and output.dir to train anew, or delete {out}"])
        metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else {}
        return TrainResult(str(out), str(out / "model"), metrics, cfg.run_name, already_finished=True)
    spec = get_kind(cfg.model.kind)
    t0 = time.perf_counter()
    _claim(cfg)  # before the build: a rerun reuses the saved initial model, which another config must not get
    model, _ = check_before_ray(cfg, spec)
    _claim(cfg, write=True)
    from raypipe.runtime import ray_runtime
    from raypipe.train.ray_driver import check_cluster, fit_on_ray, plan_resources

    model_path = _initial_model(cfg, model)
    del model
    _release_driver_memory()
    with ray_runtime(cfg.ray):
        plan = plan_resources(cfg)
        problems = check_cluster(cfg, plan)
        if problems:
            raise ConfigError("train config", problems)
        result = fit_on_ray(cfg, spec, model_path, plan, status_dir=str(out / ".run"))
    seconds = time.perf_counter() - t0
    metrics = export(result, cfg, out, {"world_size": plan.num_workers, "wall_s": seconds})
    return TrainResult(str(out), str(out / "model"), metrics, cfg.run_name, seconds)
