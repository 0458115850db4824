"""`raypipe tune` config: a `raypipe train` config plus `search_space` (dotted keys of the train config mapped to
distributions) and `tune` (metric, scheduler, search algorithm, budget). Each trial is a train run of the train
config with the sampled values put in.

    search_space:
      loss.document_regularizer_weight: {loguniform: [1e-5, 1e-2]}
      loss.loss.scale: {choice: [20, 50]}
      loss.matryoshka_dims: {choice: [[128, 64, 32], [128, 32]]}    # any YAML value
      args.learning_rate: {grid: [1e-5, 3e-5]}
    tune: {metric: score, mode: max, num_samples: 2, scheduler: {type: asha, grace_period: 1}}

The search space is checked before any trial: every representative value of every entry (both bounds of a
range, every option of a choice or grid) is put into the train config, which is validated by pydantic; loss
parameters and training arguments are validated against their classes' annotations. Every problem is listed at
once. Cost: O(sum of representatives) validations of the train config (milliseconds).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.paths import OutputPath
from raypipe.config.search_space import (
    DISTRIBUTIONS,
    NOT_SWEPT,
    OBJECTIVE_ALIASES,
    Distribution,
    apply_values,
    entry_problems,
    flatten_space,
    parse_distribution,
    set_path,
    trial_train_raw,
)
from raypipe.config.train import TrainConfig

__all__ = ["TuneConfig", "TuneSection", "SchedulerSection", "TuneOutput", "Distribution", "DISTRIBUTIONS",
           "parse_distribution", "flatten_space", "set_path", "apply_values", "trial_train_raw", "OBJECTIVE_ALIASES"]


class SchedulerSection(StrictModel):
    """Ray Tune's trial scheduler: ASHA stops trials whose metric trails at a rung (asynchronous successive
    halving); FIFO runs every trial to its end."""

    type: Literal["asha", "fifo"] = Field("asha", description="asha: stop bad trials early; fifo: run every trial "
                                                              "to the end")
    grace_period: int = Field(1, ge=1, description="asha: reports (evaluations) every trial makes before it may be "
                                                   "stopped")
    reduction_factor: float = Field(2.0, gt=1, description="asha: at each rung only the best 1/reduction_factor "
                                                           "of the trials go on")
    max_t: int | None = Field(None, ge=1, description="asha: stop every trial after this many reports (null: no "
                                                      "limit; trials end with their training budget)")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value):
        return {"type": value} if isinstance(value, str) else value


class TuneSection(StrictModel):
    """What the sweep optimizes and how trials are chosen, stopped and run."""

    metric: str = Field("score", description="a metric every trial reports: score (the evaluator's primary "
                                             "metric), loss, eval_loss, or an evaluator metric such as "
                                             "debian-dev_dot_ndcg@10 (eval_ prefix optional); trials rank by "
                                             "their last report, completed trials before those stopped early")
    mode: Literal["max", "min"] = Field("max", description="whether a higher metric is better")
    num_samples: int = Field(1, ge=1, description="samples of the search space; a grid is run num_samples times, "
                                                  "each time with fresh samples of the other entries (Ray Tune)")
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection,
                                        description="asha (default) or fifo; a name or a section")
    search_alg: Literal["random", "grid", "optuna"] = Field(
        "random", description="random: grid entries crossed, others sampled; grid: only grid/choice entries, every "
                              "combination; optuna: Optuna's TPE (pip install 'raypipe[optuna]', no grid entries)")
    seed: int | None = Field(None, description="seed of the sampling (null: random)")
    max_concurrent_trials: int | None = Field(
        None, ge=1, description="trials at once (null: as many as the cluster fits; each worker gets "
                                "scaling.resources_per_worker, or in a sweep 1 CPU (+1 GPU with use_gpu) less its "
                                "share of the trial driver's 0.01 CPU)")
    time_budget_s: float | None = Field(None, gt=0, description="stop the sweep after this many seconds (running "
                                                                "trials are stopped; the best so far is kept)")
    constraints: dict[str, float] = Field(
        default_factory=dict, description="max_<metric> / min_<metric> bounds ranking trials: those within every "
                                          "bound rank first, e.g. {max_active_dims_per_doc: 128}; aliases "
                                          "active_dims_per_doc, active_dims_per_query, flops (sparse retrieval)")
    baseline: bool = Field(True, description="evaluate the starting model once before the sweep: the untrained "
                                             "reference in the summary and plots, and a check of tune.metric")

    @property
    def reported_metric(self) -> str:
        """The key trials report the metric under (evaluator metrics carry HF's eval_ prefix)."""
        m = self.metric
        return m if m in ("score", "loss") or m.startswith(("eval_", "train_")) else f"eval_{m}"


class TuneOutput(StrictModel):
    dir: OutputPath = Field("outputs/tune", description="trials.csv, best_model/ with best_config.yaml beside it, "
                                                        "plots/ and sweep.json go here")


class TuneConfig(TrainConfig):
    """Sweep loss and training hyperparameters with Ray Tune: every trial is a `raypipe train` run."""

    output: TuneOutput = Field(default_factory=TuneOutput)
    search_space: dict[str, Any] = Field(
        description="dotted keys of the train config -> {uniform|loguniform|randint: [low, high]} or "
                    "{choice|grid: [values]}, e.g. loss.document_regularizer_weight: {loguniform: [1e-5, 1e-2]}")
    tune: TuneSection = Field(default_factory=TuneSection)

    @field_validator("search_space", mode="before")
    @classmethod
    def _flatten(cls, value):
        return flatten_space(value) if isinstance(value, dict) else value

    def train_raw(self) -> dict:
        """The train part of the config as a plain dict (what a trial starts from)."""
        return self.model_dump(include=set(TrainConfig.model_fields))

    def distributions(self) -> dict[str, Distribution]:
        """The parsed search space (call after `check()` found no problem)."""
        return {path: parse_distribution(raw) for path, raw in self.search_space.items()}

    def num_trials(self) -> int:
        grid = 1
        for d in self.distributions().values():
            grid *= d.grid_size
        return grid * self.tune.num_samples

    def check(self) -> list[str]:
        """Every problem of the search space and the tune section (see the module docstring)."""
        problems, dists = [], {}
        if not self.search_space:
            problems.append("search_space: empty; name at least one train-config key to sweep, e.g. "
                            "args.learning_rate: {loguniform: [1e-5, 1e-4]}")
        for path, raw in self.search_space.items():
            key = f"search_space.{path}"
            try:
                dist = parse_distribution(raw)
            except ValueError as err:
                problems.append(f"{key}: {err}")
                continue
            if path.split(".")[0] in NOT_SWEPT:
                problems.append(f"{key}: not a sweepable key: {NOT_SWEPT[path.split('.')[0]]}")
                continue
            dists[path] = dist
        base = self.train_raw()
        for path, dist in dists.items():
            problems += entry_problems(base, path, dist.representatives)
        return problems + _tune_problems(self, dists)


def _tune_problems(cfg: TuneConfig, dists: dict[str, Distribution]) -> list[str]:
    t, out = cfg.tune, []
    sampled = [p for p, d in dists.items() if d.kind not in ("grid", "choice")]
    if t.search_alg == "grid" and sampled:
        out.append(f"tune.search_alg=grid takes only grid/choice entries, but {', '.join(sampled)} "
                   "are sampled ranges; make them grid entries or use search_alg: random")
    if t.search_alg == "optuna":
        grids = [p for p, d in dists.items() if d.kind == "grid"]
        if grids:
            out.append(f"tune.search_alg=optuna samples every entry; {', '.join(grids)} are grid entries: use "
                       "{choice: [...]} instead")
        if importlib.util.find_spec("optuna") is None:
            out.append("tune.search_alg=optuna needs Optuna: pip install 'raypipe[optuna]' (or use random)")
    m = t.reported_metric
    if m == "eval_loss" and cfg.data.eval is None:
        out.append("tune.metric=eval_loss needs data.eval (rows for the eval loss)")
    elif cfg.evaluator is None and (m == "score" or m.startswith("eval_") and m != "eval_loss"):
        out.append(f"tune.metric={t.metric} is an evaluator metric, but the config has no evaluator; add an "
                   "evaluator: section, or optimize loss / eval_loss (with data.eval) and mode: min")
    if cfg.ray.include_dashboard is False and (t.scheduler.type == "asha" or t.time_budget_s):
        out.append("ray.include_dashboard=false: a trial stopped early (ASHA, time budget) ends its Train run "
                   "abruptly, and Ray Train frees its workers through the dashboard's state API; leave "
                   "ray.include_dashboard null (or true), or use tune.scheduler: fifo without a time budget")
    if t.scheduler.max_t is not None and t.scheduler.grace_period > t.scheduler.max_t:
        out.append(f"tune.scheduler.grace_period={t.scheduler.grace_period} exceeds max_t={t.scheduler.max_t}")
    return out + _constraint_problems(cfg)


def _constraint_problems(cfg: TuneConfig) -> list[str]:
    out, ev = [], cfg.evaluator
    sparse_ir = ev is not None and ev.type == "retrieval" and cfg.model.kind == "sparse"
    for key in cfg.tune.constraints:
        bound, _, name = key.partition("_")
        if bound not in ("max", "min") or not name:
            out.append(f"tune.constraints.{key}: a constraint is max_<metric> or min_<metric>, e.g. "
                       "max_active_dims_per_doc: 128")
        elif name in OBJECTIVE_ALIASES and not sparse_ir:
            out.append(f"tune.constraints.{key}: {name} is measured by a sparse model's retrieval evaluator; this "
                       f"config has model.kind={cfg.model.kind} and evaluator.type="
                       f"{ev.type if ev else None}")
    return out
