"""The sweep job: `run(TuneConfig) -> SweepResult`. Every trial is a `raypipe train` run on Ray Train V2, driven
by Ray Tune (raypipe/tune/).

1. Before Ray starts: the search space is checked (`TuneConfig.check`, every problem at once); the train part is
   checked as `raypipe train` checks it and the starting model is built once (a fresh SPLADE head is fitted
   here, not in every trial); every representative value of every entry is built (losses, training arguments,
   evaluators, datasets); the starting model is evaluated once (the baseline), which also checks `tune.metric`
   and the constraints against the metrics the evaluator really reports.
2. The starting model is saved at `<storage>/<run name>/initial_model`, shared by every trial. A sweep of the same
   name but another config is refused; the same config resumes (`Tuner.restore`).
3. Ray starts; a sweep that cannot fit one trial says so; Ray Tune runs the trials.
4. `<output.dir>`: trials.csv, best_model/ (sentence-transformers format) with best_config.yaml beside it,
   plots/*.png, sweep.json (a rerun of a finished sweep says so and returns).

Cost: the driver holds one model (during the checks) and one small record per trial report.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from raypipe.atomic import write_json
from raypipe.config.base import ConfigError
from raypipe.config.paths import is_uri
from raypipe.config.train import TrainConfig
from raypipe.config.tune import TuneConfig, apply_values
from raypipe.data.validation import validate_datasets
from raypipe.eval.build import build_evaluator
from raypipe.jobs.train import (
    TRAINING_STATE_FILES,
    _initial_model,
    _release_driver_memory,
    _replace_dir,
    claim_run,
)
from raypipe.jobs.train import check_before_ray as check_train
from raypipe.registry import get_kind
from raypipe.storage import join, list_names, read_text
from raypipe.train.build import build_args, build_datasets, build_loss
from raypipe.tune.outputs import MetricInfo, metric_info, objective_of, summary_table, write_outputs
from raypipe.tune.results import TrialRecord, rank_trials

__all__ = ["SweepResult", "Prepared", "run", "check_before_ray"]


@dataclass
class SweepResult:
    output_dir: str
    run_name: str
    records: list[TrialRecord]  # best first
    info: MetricInfo
    objective: object
    params: list[str]
    baseline: dict = field(default_factory=dict)
    best_model_dir: str | None = None
    seconds: float = 0.0
    already_finished: bool = False
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> TrialRecord | None:
        return self.records[0] if self.best_model_dir and self.records else None

    def summary(self) -> str:
        counts = {s: sum(r.status == s for r in self.records) for s in ("COMPLETED", "STOPPED", "ERROR", "PENDING")}
        done = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
        head = (f"Sweep {self.run_name!r} had already finished; nothing to do." if self.already_finished else
                f"Sweep {self.run_name!r}: {len(self.records)} trial(s) in {self.seconds:.1f}s"
                + (" (resumed)" if self.resumed else ""))
        lines = [head, f"Trials: {done}", *self.notes, *summary_table(self.records, self.objective, self.info,
                                                                     self.params, self.baseline)]
        if self.best:
            lines.append(f"Best: trial {self.best.trial_id} ({self.info.label} "
                         f"{self.best.value(self.info.metric):.4f}); model written to {self.best_model_dir} "
                         f"(its train config: {Path(self.output_dir) / 'best_config.yaml'})")
        lines.append(f"trials.csv and plots/ in {self.output_dir}")
        return "\n".join(lines)


@dataclass
class Prepared:
    train_cfg: TrainConfig
    model: object
    baseline: dict  # the starting model's metrics, keyed as trials report them
    primary: str | None  # the evaluator metric behind `score`
    full_dim: int | None


def check_before_ray(cfg: TuneConfig, spec) -> Prepared:
    """Every check that needs no Ray (see the module docstring, step 1); one ConfigError per stage."""
    problems = cfg.check()
    if problems:
        raise ConfigError("tune config", problems)
    train_cfg = TrainConfig.model_validate(cfg.train_raw())
    model, _ = check_train(train_cfg, spec)
    problems = _representative_problems(cfg, spec, model)
    baseline, primary = ({}, None)
    if cfg.tune.baseline and cfg.evaluator is not None and not problems:
        baseline, primary = _baseline(cfg, spec, model)
        problems += _metric_problems(cfg, baseline)
    if problems:
        raise ConfigError("tune config", problems)
    dim = getattr(model, "get_sentence_embedding_dimension", lambda: None)() if spec.name == "dense" else None
    return Prepared(train_cfg, model, baseline, primary, dim)


def _representative_problems(cfg: TuneConfig, spec, model) -> list[str]:
    """Build what each representative value changes (loss, arguments, evaluator, data): constructor-level
    problems no annotation shows. O(sum of representatives) cheap constructions (an evaluator reads its files)."""
    base, out = cfg.train_raw(), []
    for path, dist in cfg.distributions().items():
        for value in dist.representatives:
            trial = TrainConfig.model_validate(apply_values(base, {path: value}))
            try:
                _build_part(path.split(".")[0], trial, spec, model)
            except ConfigError as err:
                out += [f"search_space.{path}={value!r}: {p}" for p in err.problems]
            except (ValueError, TypeError, OSError) as err:
                out.append(f"search_space.{path}={value!r}: {err}")
    return list(dict.fromkeys(out))


def _build_part(section: str, cfg: TrainConfig, spec, model) -> None:
    has_eval = cfg.evaluator is not None or cfg.data.eval is not None
    if section in ("loss", "data"):
        loss = build_loss(cfg.loss, model, spec) or spec.trainer_class.get_default_loss(None, model)
        if section == "data":
            train_ds, eval_ds = build_datasets(cfg)
            validate_datasets(train_ds, loss, model, "train")
            validate_datasets(eval_ds, loss, model, "eval")
    elif section == "args":
        with tempfile.TemporaryDirectory() as tmp:
            build_args(spec, cfg.args, tmp, use_gpu=cfg.scaling.use_gpu, has_eval=has_eval)
    elif section == "evaluator" and cfg.evaluator is not None:
        build_evaluator(cfg.evaluator, spec.name)


def _baseline(cfg: TuneConfig, spec, model) -> tuple[dict, str | None]:
    """The starting model's metrics under the keys trials report (eval_..., score). One evaluation."""
    evaluator = build_evaluator(cfg.evaluator, spec.name)
    metrics = {f"eval_{k}": float(v) for k, v in evaluator(model).items() if isinstance(v, (int, float))}
    metrics["score"] = metrics.get(f"eval_{evaluator.primary_metric}")
    # a SequentialEvaluator's score (Matryoshka) is its last evaluator's primary metric
    inner = getattr(evaluator, "evaluators", [evaluator])[-1]
    return metrics, inner.primary_metric


def _metric_problems(cfg: TuneConfig, baseline: dict) -> list[str]:
    import difflib

    reported = set(baseline) | {"score", "loss"} | ({"eval_loss"} if cfg.data.eval is not None else set())
    objective, out = objective_of(cfg), []
    wanted = [("tune.metric", cfg.tune.metric, cfg.tune.reported_metric)]
    wanted += [(f"tune.constraints.{k}", k, objective.key(k.partition("_")[2])) for k in cfg.tune.constraints]
    for where, given, key in wanted:
        if key not in reported:
            close = difflib.get_close_matches(key, sorted(reported), n=3)
            out.append(f"{where}={given!r}: the trials do not report {key!r}"
                       + (f"; closest: {', '.join(close)}" if close else "")
                       + "; see the starting model's metrics in the error-free run, or docs/config.md")
    return out


def _fingerprint(cfg: TuneConfig) -> dict:
    """What makes a sweep the same sweep: everything but where outputs go, Ray, concurrency and time budget."""
    d = cfg.model_dump(mode="json", exclude={"ray", "output"})
    for k in ("max_concurrent_trials", "time_budget_s"):
        d["tune"].pop(k, None)
    return d


def _claim(root: str, cfg: TuneConfig, write: bool = False) -> None:
    """Refuse a sweep whose name an earlier sweep with another config took (and started); with `write`, record
    this sweep's config under its storage folder."""
    claim_run(root, "sweep_config.json", _fingerprint(cfg), what="tune", started=bool(list_names(join(root, "tune"))),
              write=write)


def _finished(out: Path, cfg: TuneConfig) -> SweepResult | None:
    marker = out / "sweep.json"
    if not marker.exists():
        return None
    info = json.loads(marker.read_text())
    if not (info.get("finished") and info.get("fingerprint") == _fingerprint(cfg)):
        return None
    records = [TrialRecord.from_dict(r) for r in info["records"]]
    return SweepResult(str(out), cfg.run_name, records, MetricInfo(**info["info"]), objective_of(cfg),
                       info["params"], info["baseline"], info.get("best_model_dir"), already_finished=True)


def _export_best(best: TrialRecord, root: str, out: Path) -> str:
    """The best trial's checkpoint -> <out>/best_model (model files only), its train config beside it."""
    ckpt = best.metrics["checkpoint_path"]
    if is_uri(ckpt):
        import pyarrow.fs as pafs

        with tempfile.TemporaryDirectory() as tmp:
            pafs.copy_files(ckpt, tmp)
            _replace_dir(tmp, out / "best_model", skip=TRAINING_STATE_FILES)
    else:
        _replace_dir(ckpt, out / "best_model", skip=TRAINING_STATE_FILES)
    config = read_text(join(root, "trials", best.trial_id, "train_config.yaml")) or ""
    head = (f"# The train config of trial {best.trial_id}, the best of sweep {root}; `raypipe train` on this file\n"
            "# exports its model again; change run.name (and output.dir) to train it anew.\n")
    (out / "best_config.yaml").write_text(head + config)
    return str(out / "best_model")


def _finish(cfg: TuneConfig, prep: Prepared, records: list[TrialRecord], root: str, out: Path) -> SweepResult:
    objective = objective_of(cfg)
    ranked = rank_trials(records, objective)
    sample = prep.baseline or next((r.metrics for r in ranked if r.metrics), {})
    info = metric_info(cfg, sample, prep.primary, prep.full_dim)
    params = list(cfg.search_space)
    best = next((r for r in ranked if r.value(objective.metric) is not None and r.metrics.get("checkpoint_path")),
                None)
    notes = [] if best else ["No trial reported the metric with a checkpoint: no best model; trials.csv has each "
                             "trial's status and error."]
    if best is not None and not objective.feasible(best):
        notes.append(f"No trial met the constraints ({'; '.join(objective.violations(best))} for the best); the "
                     "best model is the best trial by the metric alone.")
    out.mkdir(parents=True, exist_ok=True)
    model_dir = _export_best(best, root, out) if best else None
    if best is not None and best is not ranked[0]:
        ranked.remove(best)
        ranked.insert(0, best)
    write_outputs(str(out), ranked, objective, info, params, prep.baseline, best)
    result = SweepResult(str(out), cfg.run_name, ranked, info, objective, params, prep.baseline, model_dir,
                         notes=notes)
    return result


def _write_marker(result: SweepResult, cfg: TuneConfig, out: Path) -> None:
    write_json(out / "sweep.json", {
        "run_name": cfg.run_name, "finished": True, "fingerprint": _fingerprint(cfg), "seconds": result.seconds,
        "records": [r.to_dict() for r in result.records], "info": asdict(result.info), "params": result.params,
        "baseline": result.baseline, "best_model_dir": result.best_model_dir})


def run(cfg: TuneConfig) -> SweepResult:
    """Sweep as the config says (see the module docstring)."""
    out = Path(cfg.output.dir).absolute()
    done = _finished(out, cfg)
    if done:
        return done
    spec = get_kind(cfg.model.kind)
    t0 = time.perf_counter()
    prep = check_before_ray(cfg, spec)
    from raypipe.runtime import ray_runtime
    from raypipe.train.ray_driver import RayTrainPlan, check_cluster
    from raypipe.tune.driver import SweepRun, cluster_view, run_sweep
    from raypipe.tune.plan import fit_problems, plan_trials
    from raypipe.tune.trial import TrialContext

    root = join(prep.train_cfg.storage_uri, cfg.run_name)
    _claim(root, cfg)
    model_path = _initial_model(prep.train_cfg, prep.model)
    prep.model = None  # the driver needs no model while trials run
    _release_driver_memory()
    with ray_runtime(cfg.ray):
        total, nodes = cluster_view()
        plan = plan_trials(cfg.scaling, total, cfg.tune.max_concurrent_trials, cfg.num_trials())
        train_plan = RayTrainPlan(plan.num_workers, plan.resources_per_worker, plan.threads)
        problems = fit_problems(plan, total, nodes, cfg.scaling.placement_strategy)
        # the train job's own checks (shared storage on several nodes, STRICT_SPREAD); resources are planned above
        problems += [p for p in check_cluster(prep.train_cfg, train_plan) if not p.startswith("scaling: ")]
        if problems:
            raise ConfigError("tune config", problems)
        ctx = TrialContext(copy.deepcopy(prep.train_cfg.model_dump()), spec, model_path, train_plan,
                           join(root, "trials"), str(out / "trials"), cfg.distributions())
        _claim(root, cfg, write=True)
        records, resumed = run_sweep(SweepRun(ctx, cfg.tune, root, plan.max_concurrent))
    result = _finish(cfg, prep, records, root, out)
    result.seconds, result.resumed = time.perf_counter() - t0, resumed
    result.notes.insert(0, f"Resources: {plan.describe()}.")
    _write_marker(result, cfg, out)
    return result
