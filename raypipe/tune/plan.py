"""Resources of a sweep (pure arithmetic, no Ray): what one trial takes, how many the cluster fits at once, and
the problems that would leave a sweep pending forever, found before it starts.

A trial is a small driver (Tune's trial actor, `DRIVER_CPU` CPU) that runs a Ray Train job; the Train workers are
placed by Ray Train outside the trial's own placement group, so a trial needs driver + workers x per-worker.
Cost: O(resources x nodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from raypipe.config.train import ScalingSection

__all__ = ["DRIVER_CPU", "TrialPlan", "plan_trials", "fit_problems"]

DRIVER_CPU = 0.01  # Ray refuses 0; the trial driver only waits on its Train run
_EPS = 1e-6


@dataclass(frozen=True)
class TrialPlan:
    num_workers: int
    resources_per_worker: dict
    threads: int  # torch threads per worker
    per_trial: dict  # the driver plus every worker
    fits: int  # trials the cluster holds at once
    max_concurrent: int  # trials the sweep runs at once

    def describe(self) -> str:
        per = ", ".join(f"{v:g} {k}" for k, v in sorted(self.per_trial.items()))
        return (f"{self.max_concurrent} trial(s) at once (the cluster fits {self.fits}); each trial takes {per}: "
                f"its driver {DRIVER_CPU:g} CPU + {self.num_workers} worker(s) x "
                + ", ".join(f"{v:g} {k}" for k, v in sorted(self.resources_per_worker.items())))


def _floor4(x: float) -> float:
    return math.floor(x * 1e4 + _EPS) / 1e4  # Ray accounts resources in units of 1e-4


def _per_worker(s: ScalingSection) -> dict:
    """As configured, else one CPU (+ one GPU with use_gpu) less the worker's share of the trial driver's CPU,
    so that trials sit side by side on whole CPUs (2 one-worker trials on 2 CPUs)."""
    if s.resources_per_worker:
        res = {k: float(v) for k, v in s.resources_per_worker.items()}
        res.setdefault("CPU", 1.0)
    else:
        res = {"CPU": _floor4(1.0 - DRIVER_CPU / s.num_workers)}
    if s.use_gpu:
        res.setdefault("GPU", 1.0)
    return res


def plan_trials(scaling: ScalingSection, cluster: dict, max_concurrent: int | None, num_trials: int) -> TrialPlan:
    """The plan for trials of `scaling` on a cluster with total resources `cluster` ({CPU: 2.0, ...})."""
    res = _per_worker(scaling)
    per_trial = {k: v * scaling.num_workers for k, v in res.items()}
    per_trial["CPU"] = per_trial.get("CPU", 0.0) + DRIVER_CPU
    fits = min((math.floor(cluster.get(k, 0.0) / v + _EPS) for k, v in per_trial.items() if v > 0), default=0)
    concurrent = min(max_concurrent or fits, max(1, num_trials)) if fits else 0
    return TrialPlan(scaling.num_workers, res, max(1, int(res["CPU"])), per_trial, fits, concurrent)


def fit_problems(plan: TrialPlan, cluster: dict, nodes: list[dict], placement: str = "PACK") -> list[str]:
    """Why not even one trial can run (an empty list if one can): too few resources in the cluster, or a worker
    (with STRICT_PACK: every worker) larger than any node."""
    out = []
    if plan.fits < 1:
        need = ", ".join(f"{v:g} {k}" for k, v in sorted(plan.per_trial.items()))
        have = ", ".join(f"{cluster.get(k, 0.0):g} {k}" for k in sorted(plan.per_trial))
        cpu_fix = _floor4((cluster.get("CPU", 0.0) - DRIVER_CPU) / plan.num_workers)
        fix = (f"lower scaling.num_workers, or set scaling.resources_per_worker.CPU to at most {cpu_fix:g}"
               if cpu_fix > 0 else "use a larger cluster")
        out.append(f"the cluster cannot fit even one trial: each trial needs {need} (its driver {DRIVER_CPU:g} "
                   f"CPU + {plan.num_workers} worker(s) x {_fmt(plan.resources_per_worker)}), the cluster has "
                   f"{have}; {fix}")
    largest = {k: max((n.get(k, 0.0) for n in nodes), default=0.0) for k in plan.resources_per_worker}
    group = plan.num_workers if placement == "STRICT_PACK" else 1
    for name, per in plan.resources_per_worker.items():
        if nodes and per * group > largest[name] + _EPS:
            what = f"{group} workers together (STRICT_PACK)" if group > 1 else "one worker"
            out.append(f"scaling: {what} need(s) {per * group:g} {name}, but the largest node has "
                       f"{largest[name]:g}; lower scaling.resources_per_worker.{name} or use another "
                       "placement_strategy")
    return out


def _fmt(res: dict) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in sorted(res.items()))
