"""The sweep on Ray Tune (Ray-facing): the search space as Tune domains, the scheduler (ASHA on Tune's
training_iteration: one iteration per evaluation report) and the search algorithm, the trial trainable with its
resources, and `Tuner.restore` when the sweep's experiment folder exists (finished trials are kept, unfinished
and errored ones resumed). Results come back as TrialRecords.

ASHA stops a trial by ending its trial actor; the Train controller it owns dies with it and the workers are
freed for the next trial at once. Cost: the Tune driver holds one small result per report.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raypipe.config.tune import Distribution, TuneSection
from raypipe.storage import join, list_names
from raypipe.tune.plan import DRIVER_CPU
from raypipe.tune.results import TrialRecord, trial_status
from raypipe.tune.trial import TrialContext, decode_config, run_trial

__all__ = ["SweepRun", "param_space", "run_sweep", "experiment_path", "cluster_view"]

_NO_LIMIT = 10**6  # ASHA needs a max_t; trials normally end with their training budget long before


@dataclass(frozen=True)
class SweepRun:
    context: TrialContext
    tune: TuneSection
    root: str  # <storage>/<sweep name>
    max_concurrent: int


def experiment_path(root: str) -> str:
    return join(root, "tune")


def cluster_view() -> tuple[dict, list[dict]]:
    """(total resources, each alive node's resources) of the connected cluster."""
    nodes = [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]
    return dict(ray.cluster_resources()), nodes


def _domain(d: Distribution):
    options = list(range(len(d.values))) if d.encoded else list(d.values)
    if d.kind == "uniform":
        return tune.uniform(*d.values)
    if d.kind == "loguniform":
        return tune.loguniform(*d.values)
    if d.kind == "randint":
        return tune.randint(*d.values)
    return tune.choice(options) if d.kind == "choice" else tune.grid_search(options)


def param_space(distributions: dict[str, Distribution]) -> dict:
    return {path: _domain(d) for path, d in distributions.items()}


def _scheduler(t: TuneSection):
    s = t.scheduler
    if s.type == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", grace_period=s.grace_period,
                         reduction_factor=s.reduction_factor, max_t=s.max_t or _NO_LIMIT)


def _search_alg(t: TuneSection):
    if t.search_alg == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=t.seed)
    return BasicVariantGenerator(random_state=t.seed) if t.seed is not None else None


def _trial_dirname(trial) -> str:
    return trial.trial_id  # short (Ray's socket paths live under its folders) and the Train run's name


def _tuner(run: SweepRun, trainable):
    t = run.tune
    tune_config = tune.TuneConfig(
        metric=t.reported_metric, mode=t.mode, search_alg=_search_alg(t), scheduler=_scheduler(t),
        num_samples=t.num_samples, max_concurrent_trials=run.max_concurrent, time_budget_s=t.time_budget_s,
        trial_dirname_creator=_trial_dirname)
    run_config = tune.RunConfig(name="tune", storage_path=run.root, verbose=1,
                                failure_config=tune.FailureConfig(max_failures=0))
    return tune.Tuner(trainable, param_space=param_space(run.context.distributions), tune_config=tune_config,
                      run_config=run_config)


def run_sweep(run: SweepRun) -> tuple[list[TrialRecord], bool]:
    """Run (or resume) the sweep; returns (one record per trial, whether it was resumed).

    The Tune driver runs as a Ray task on this node whose environment names the cluster (RAY_ADDRESS), which every
    trial, Train controller and Train's placement-group cleaner inherit. A trial ASHA stops takes its Train
    controller with it; the cleaner then frees the trial's workers, finding the cluster by RAY_ADDRESS or else by
    the only Ray on the machine, which fails where several Ray instances share one (a dev box, a test suite) and
    would leave the workers' resources reserved until the sweep ends. If Ray kills the task (its memory monitor
    does under memory pressure), Ray retries it and the retry resumes the sweep (Tuner.restore)."""
    here = ray.get_runtime_context()
    task = ray.remote(num_cpus=0)(_sweep).options(
        runtime_env={"env_vars": {"RAY_ADDRESS": here.gcs_address}},
        scheduling_strategy=NodeAffinitySchedulingStrategy(here.get_node_id(), soft=False))
    return ray.get(task.remote(run))


def _sweep(run: SweepRun) -> tuple[list[TrialRecord], bool]:
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=run.context), {"CPU": DRIVER_CPU})
    path = experiment_path(run.root)
    restored = tune.Tuner.can_restore(path)
    if restored:
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = _tuner(run, trainable)
    grid = tuner.fit()
    return [_record(result, run.context) for result in grid], restored


# Tune's bookkeeping in every result, not a trial's metric
_BOOKKEEPING = {"pid", "timestamp", "time_since_restore", "iterations_since_restore", "time_this_iter_s", "done"}


def _numbers(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if k in _BOOKKEEPING:
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = float(v) if isinstance(v, float) else int(v)
    return out


def _record(result, ctx: TrialContext) -> TrialRecord:
    trial_id = os.path.basename(result.path.rstrip("/"))
    last = _numbers(result.metrics or {})
    if (result.metrics or {}).get("checkpoint_path"):
        last["checkpoint_path"] = str(result.metrics["checkpoint_path"])
    df = result.metrics_dataframe
    history = [] if df is None else [_numbers(row) for row in df.to_dict("records")]
    error = None
    if result.error is not None:
        error = f"{type(result.error).__name__}: {(str(result.error).strip().splitlines() or [''])[-1][:300]}"
    starts = len(list_names(join(ctx.trials_storage, trial_id, "starts")))
    return TrialRecord(trial_id, decode_config(result.config or {}, ctx.distributions),
                       trial_status(last, result.error is not None), last, history, starts, error)
