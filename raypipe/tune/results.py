"""Sweep results without Ray: one `TrialRecord` per trial, the objective (metric, mode, constraints), ranking,
the Pareto front of quality against cost, and `trials.csv`.

A trial's status comes from what it reported: COMPLETED (its final report arrived), STOPPED (it reported but was
stopped early: by ASHA or the time budget), ERROR, or PENDING (it never reported). Cost: ranking and the front
are O(n log n) in trials; the CSV is O(trials x metrics).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from typing import Any

from raypipe.atomic import atomic_open
from raypipe.config.tune import OBJECTIVE_ALIASES

__all__ = ["TrialRecord", "Objective", "trial_status", "rank_trials", "pareto_front", "write_trials_csv",
           "param_labels", "format_value", "dim_keys", "efficiency_keys"]


def trial_status(metrics: dict, errored: bool) -> str:
    if errored:
        return "ERROR"
    if metrics.get("final"):
        return "COMPLETED"
    return "STOPPED" if "step" in metrics else "PENDING"


@dataclass
class TrialRecord:
    trial_id: str
    params: dict[str, Any]  # dotted key -> sampled value
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)  # the last report (numbers, checkpoint_path)
    history: list[dict] = field(default_factory=list)  # every report, in order
    starts: int = 1  # times the trial's driver started (more than 1: resumed after an interruption)
    error: str | None = None

    @property
    def iterations(self) -> int:
        return int(self.metrics.get("training_iteration", len(self.history)) or 0)

    @property
    def step(self) -> int | None:
        s = self.metrics.get("step")
        return None if s is None else int(s)

    def value(self, key: str) -> float | None:
        v = self.metrics.get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    def to_dict(self) -> dict:
        return {"trial_id": self.trial_id, "params": self.params, "status": self.status, "metrics": self.metrics,
                "history": self.history, "starts": self.starts, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict) -> TrialRecord:
        return cls(**d)


def efficiency_keys(evaluator_name: str) -> dict[str, str]:
    """Alias -> reported key of a sparse retrieval evaluator's cost metrics."""
    return {alias: f"eval_{evaluator_name}_{suffix}" for alias, suffix in OBJECTIVE_ALIASES.items()}


def dim_keys(evaluator_name: str, suffix: str, dims: list[int], full_dim: int | None) -> dict[int, str]:
    """Truncation dimension -> reported key of one metric (Matryoshka evaluation: NAME_dimD_<suffix>); the full
    dimension is the untruncated evaluator's NAME_<suffix>."""
    out = {d: f"eval_{evaluator_name}_dim{d}_{suffix}" for d in dims}
    if full_dim:
        out[full_dim] = f"eval_{evaluator_name}_{suffix}"
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Objective:
    """What ranks trials: `metric` (a reported key) in `mode`, then `constraints` ({max_x | min_x: bound})."""

    metric: str
    mode: str = "max"
    constraints: dict = field(default_factory=dict)
    evaluator_name: str | None = None

    def key(self, name: str) -> str:
        """The reported key of a constraint's metric name (an alias, a metric with or without eval_)."""
        if self.evaluator_name and name in OBJECTIVE_ALIASES:
            return efficiency_keys(self.evaluator_name)[name]
        return name if name in ("score", "loss") or name.startswith(("eval_", "train_")) else f"eval_{name}"

    def violations(self, rec: TrialRecord) -> list[str]:
        out = []
        for bound_key, bound in self.constraints.items():
            kind, _, name = bound_key.partition("_")
            v = rec.value(self.key(name))
            if v is None or (v > bound if kind == "max" else v < bound):
                out.append(f"{name}={'?' if v is None else format_value(v)} {'>' if kind == 'max' else '<'} "
                           f"{format_value(bound)}")
        return out

    def feasible(self, rec: TrialRecord) -> bool:
        return not self.violations(rec)


def rank_trials(records: list[TrialRecord], objective: Objective) -> list[TrialRecord]:
    """Best first: trials with the metric before those without, trials within every constraint before the
    others, completed trials before those stopped early (a stopped trial's last report is from less training, and
    ASHA judged it worse than its peers there), then by the last reported metric (ties: the earlier trial)."""
    sign = -1.0 if objective.mode == "max" else 1.0

    def key(item):
        i, rec = item
        v = rec.value(objective.metric)
        return (v is None, not objective.feasible(rec), rec.status != "COMPLETED", sign * v if v is not None else 0.0,
                i)

    return [rec for _, rec in sorted(enumerate(records), key=key)]


def pareto_front(points: list[tuple[float, float]], maximize_y: bool = True) -> list[int]:
    """Indices of the points no other point beats on both cost x (lower is better) and quality y, by x."""
    sign = 1.0 if maximize_y else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front, best = [], -math.inf
    for i in order:
        y = sign * points[i][1]
        if y > best:
            front.append(i)
            best = y
    return front


def format_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.4g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def param_labels(keys: list[str]) -> dict[str, str]:
    """Short column labels for dotted keys: the last part, or more parts where the last ones collide."""
    out = {}
    for k in keys:
        parts = k.split(".")
        n = 1
        while n < len(parts) and sum(1 for o in keys if o.split(".")[-n:] == parts[-n:]) > 1:
            n += 1
        out[k] = ".".join(parts[-n:])
    return out


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return format_value(v)


def write_trials_csv(path: str, ranked: list[TrialRecord], objective: Objective, params: list[str],
                     extra: dict[str, str] | None = None) -> str:
    """One row per trial, best first: rank, id, status, iterations, last step, starts, sampled values, the
    metric, feasibility, `extra` ({header: reported key}: efficiency or per-dimension metrics), then every other
    reported number. Written atomically."""
    extra = extra or {}
    shown = {objective.metric, *extra.values()}
    others = sorted({k for r in ranked for k, v in r.metrics.items() if isinstance(v, (int, float))
                     and k not in shown and k not in ("step", "training_iteration", "final")})
    header = ["rank", "trial_id", "status", "iterations", "step", "starts", *params, objective.metric,
              "feasible", *extra, *others, "checkpoint_path", "error"]
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, r in enumerate(ranked, 1):
            w.writerow([i, r.trial_id, r.status, r.iterations, r.step, r.starts,
                        *(_cell(r.params.get(p)) for p in params), _cell(r.value(objective.metric)),
                        objective.feasible(r), *(_cell(r.value(k)) for k in extra.values()),
                        *(_cell(r.value(k)) for k in others), r.metrics.get("checkpoint_path", ""), r.error or ""])
    return path
