"""What a finished sweep writes (pure, no Ray): which metrics the tables and plots show (`MetricInfo`), trials.csv,
the plots, and the summary table the CLI prints. Cost: O(trials x reports)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from raypipe.config.tune import TuneConfig
from raypipe.tune.plots import plot_metric_vs_dim, plot_metric_vs_step, plot_pareto
from raypipe.tune.results import (
    Objective,
    TrialRecord,
    dim_keys,
    efficiency_keys,
    format_value,
    param_labels,
    write_trials_csv,
)

__all__ = ["MetricInfo", "metric_info", "objective_of", "write_outputs", "summary_table"]


@dataclass(frozen=True)
class MetricInfo:
    """The ranking metric's reported key and label, and the keys of the efficiency (SPLADE) and per-dimension
    (Matryoshka) metrics shown beside it."""

    metric: str
    label: str
    evaluator: str | None = None
    efficiency: dict[str, str] = field(default_factory=dict)  # alias -> key
    dims: dict[int, str] = field(default_factory=dict)  # dimension -> key
    dims_label: str = ""

    def extra_columns(self, short: bool = False) -> dict[str, str]:
        """Header -> key of the metrics shown beside the ranking metric."""
        dims = {(f"dim{d}" if short else f"dim{d}_{self.dims_label}"): k for d, k in self.dims.items()}
        return {**self.efficiency, **dims}


def metric_info(cfg: TuneConfig, sample: dict, primary: str | None = None, full_dim: int | None = None) -> MetricInfo:
    """From the config and one report's keys (`sample`: the baseline's or a trial's). `primary`: the evaluator
    metric behind `score` (e.g. debian-dev_dim64_cosine_ndcg@10) when known."""
    metric, ev = cfg.tune.reported_metric, cfg.evaluator
    if ev is None:
        return MetricInfo(metric, metric)
    named = metric.removeprefix("eval_") if metric != "score" else primary
    label = named or "score"
    efficiency = {}
    if cfg.model.kind == "sparse" and ev.type == "retrieval":
        efficiency = {a: k for a, k in efficiency_keys(ev.name).items() if k in sample}
    dims, suffix = {}, None
    if ev.truncate_dims:
        suffix = _suffix(named, ev.name) or _first_dim_suffix(sample, ev.name)
        if suffix:
            dims = {d: k for d, k in dim_keys(ev.name, suffix, ev.truncate_dims, full_dim).items() if k in sample}
    return MetricInfo(metric, label, ev.name, efficiency, dims, suffix or "")


def _suffix(key: str | None, name: str) -> str | None:
    """debian-dev_dim64_cosine_ndcg@10 -> cosine_ndcg@10 (the metric without evaluator name and dimension)."""
    if not key or not key.startswith(f"{name}_"):
        return None
    return re.sub(r"^dim\d+_", "", key[len(name) + 1:]) or None


def _first_dim_suffix(sample: dict, name: str) -> str | None:
    found = sorted(m.group(1) for k in sample if (m := re.match(rf"eval_{re.escape(name)}_dim\d+_(.+)$", k)))
    return next((s for s in found if "ndcg" in s), found[0] if found else None)


def objective_of(cfg: TuneConfig) -> Objective:
    return Objective(cfg.tune.reported_metric, cfg.tune.mode, dict(cfg.tune.constraints),
                     cfg.evaluator.name if cfg.evaluator else None)


def write_outputs(out: str, ranked: list[TrialRecord], objective: Objective, info: MetricInfo,
                  params: list[str], baseline: dict, best: TrialRecord | None) -> dict:
    """trials.csv and plots/*.png under `out`; returns their paths."""
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    paths = {"trials_csv": write_trials_csv(os.path.join(out, "trials.csv"), ranked, objective, params,
                                            info.extra_columns()), "plots": []}
    best_id = best.trial_id if best else None
    plot = os.path.join(out, "plots")
    paths["plots"].append(plot_metric_vs_step(ranked, info.metric, info.label, os.path.join(plot, "metric_vs_step.png"),
                                              baseline=baseline.get(info.metric), best_id=best_id))
    doc = info.efficiency.get("active_dims_per_doc")
    if doc:
        bound = objective.constraints.get("max_active_dims_per_doc")
        base = (baseline[doc], baseline[info.metric]) if doc in baseline and info.metric in baseline else None
        paths["plots"].append(plot_pareto(ranked, doc, info.metric, os.path.join(plot, "pareto_active_dims.png"),
                                          x_label="active dims per document", y_label=info.label,
                                          maximize=objective.mode == "max", baseline=base, x_max=bound))
    if info.dims:
        base = {d: baseline[k] for d, k in info.dims.items() if k in baseline}
        paths["plots"].append(plot_metric_vs_dim(ranked, info.dims, f"{info.evaluator} {info.dims_label}",
                                                 os.path.join(plot, "metric_vs_dim.png"), baseline=base,
                                                 best_id=best_id))
    return paths


def summary_table(ranked: list[TrialRecord], objective: Objective, info: MetricInfo, params: list[str],
                  baseline: dict | None = None) -> list[str]:
    """The trials, best first, as aligned text rows (the untrained model last, when evaluated)."""
    labels = param_labels(params)
    extra = info.extra_columns(short=True)
    header = ["rank", "trial", "status", "iters", "step", *(labels[p] for p in params), info.label, *extra]
    rows = [header]
    for i, r in enumerate(ranked, 1):
        mark = "" if objective.feasible(r) else " (!)"
        rows.append([str(i), r.trial_id.split("_")[-1], r.status.lower() + mark, str(r.iterations),
                     str(r.step if r.step is not None else "-"), *(format_value(r.params.get(p)) for p in params),
                     _num(r.value(info.metric)), *(_num(r.value(k)) for k in extra.values())])
    if baseline:
        rows.append(["-", "untrained", "-", "-", "0", *("-" for _ in params), _num(baseline.get(info.metric)),
                     *(_num(baseline.get(k)) for k in extra.values())])
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _num(v) -> str:
    return "-" if v is None else f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
