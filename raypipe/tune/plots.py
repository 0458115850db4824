"""PNG plots of a sweep (matplotlib, no display needed: figures are drawn on the Agg canvas, no global backend
is set). Every function takes TrialRecords and writes one file; cost O(trials x reports).

- `plot_metric_vs_step`: the metric against the training step, one line per trial (stopped trials dashed and
  crossed where they stopped, the best in bold), from the untrained model's value at step 0;
- `plot_pareto`: quality against cost (a SPLADE sweep: active dims per document), the Pareto front joined and
  marked, a bound drawn where a constraint sets one;
- `plot_metric_vs_dim`: the metric at each Matryoshka truncation dimension, one line per trial, the untrained
  model dashed.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from raypipe.tune.results import TrialRecord, format_value, param_labels, pareto_front

__all__ = ["plot_metric_vs_step", "plot_pareto", "plot_metric_vs_dim", "trial_label"]

_MAX_LEGEND = 12


def trial_label(rec: TrialRecord, labels: dict[str, str] | None = None) -> str:
    labels = labels or param_labels(list(rec.params))
    values = ", ".join(f"{labels.get(k, k)}={format_value(v)}" for k, v in rec.params.items())
    return f"{rec.trial_id.split('_')[-1]}: {values}" if values else rec.trial_id


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=(8.5, 5.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, ax, path: str, n: int) -> str:
    if n:
        ax.legend(fontsize=7, loc="best", ncol=1 if n <= _MAX_LEGEND else 2)
    fig.savefig(path)
    return path


def _points(rec: TrialRecord, x_key: str, y_key: str) -> list[tuple[float, float]]:
    pts = {}
    for row in rec.history:
        x, y = row.get(x_key), row.get(y_key)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            pts[float(x)] = float(y)  # a resumed trial may report a step twice: keep the later report
    return sorted(pts.items())


def plot_metric_vs_step(records: list[TrialRecord], metric: str, label: str, path: str, *,
                        baseline: float | None = None, best_id: str | None = None) -> str:
    """Metric vs training step per trial (the y label is `label`)."""
    fig, ax = _figure(f"{label} during training, per trial")
    labels = param_labels(sorted({k for r in records for k in r.params}))
    n = 0
    for rec in records:
        pts = _points(rec, "step", metric)
        if not pts:
            continue
        if baseline is not None:
            pts = [(0.0, baseline), *pts]
        xs, ys = zip(*pts)
        best = rec.trial_id == best_id
        style = "--" if rec.status == "STOPPED" else "-"
        (line,) = ax.plot(xs, ys, style, marker="o", ms=3, lw=2.6 if best else 1.2,
                          label=("best " if best else "") + trial_label(rec, labels) + f" [{rec.status.lower()}]")
        if rec.status == "STOPPED":
            ax.plot(xs[-1], ys[-1], "x", color=line.get_color(), ms=9, mew=2)
        n += 1
    ax.set_xlabel("training step")
    ax.set_ylabel(label)
    return _save(fig, ax, path, n)


def plot_pareto(records: list[TrialRecord], x_key: str, y_key: str, path: str, *, x_label: str, y_label: str,
                maximize: bool = True, baseline: tuple[float, float] | None = None,
                x_max: float | None = None) -> str:
    """Quality `y_key` against cost `x_key`, one point per trial, the Pareto front joined and ringed."""
    fig, ax = _figure(f"{y_label} vs {x_label}: the Pareto front")
    labels = param_labels(sorted({k for r in records for k in r.params}))
    rows = [(r, r.value(x_key), r.value(y_key)) for r in records]
    rows = [(r, x, y) for r, x, y in rows if x is not None and y is not None]
    front = pareto_front([(x, y) for _, x, y in rows], maximize_y=maximize)
    for i, (rec, x, y) in enumerate(rows):
        ax.scatter([x], [y], s=46, marker="o" if rec.status == "COMPLETED" else "s", zorder=3,
                   label=trial_label(rec, labels) + ("  (Pareto)" if i in front else "")
                   + ("" if rec.status == "COMPLETED" else f" [{rec.status.lower()}]"))
        ax.annotate(rec.trial_id.split("_")[-1], (x, y), textcoords="offset points", xytext=(6, 5), fontsize=7)
    if front:
        fx, fy = zip(*[(rows[i][1], rows[i][2]) for i in front])
        ax.plot(fx, fy, "-", color="black", lw=1, alpha=0.6, zorder=2)
        ax.scatter(fx, fy, s=170, facecolors="none", edgecolors="black", lw=1.4, zorder=4, label="Pareto front")
    if baseline is not None:
        ax.scatter([baseline[0]], [baseline[1]], marker="*", s=160, color="grey", zorder=3, label="untrained model")
    if x_max is not None:
        ax.axvline(x_max, color="red", ls=":", lw=1.2, label=f"constraint: {x_label} <= {format_value(x_max)}")
    ax.set_xlabel(f"{x_label} (lower is cheaper)")
    ax.set_ylabel(y_label)
    return _save(fig, ax, path, len(rows) + bool(front) + (baseline is not None) + (x_max is not None))


def plot_metric_vs_dim(records: list[TrialRecord], keys: dict[int, str], label: str, path: str, *,
                       baseline: dict[int, float] | None = None, best_id: str | None = None) -> str:
    """The metric at each truncation dimension (`keys`: dim -> reported key), one line per trial."""
    fig, ax = _figure(f"{label} at each embedding dimension")
    labels = param_labels(sorted({k for r in records for k in r.params}))
    n = 0
    for rec in records:
        pts = [(d, rec.value(k)) for d, k in keys.items() if rec.value(k) is not None]
        if not pts:
            continue
        xs, ys = zip(*pts)
        best = rec.trial_id == best_id
        ax.plot(xs, ys, "--" if rec.status == "STOPPED" else "-", marker="o", lw=2.6 if best else 1.2,
                label=("best " if best else "") + trial_label(rec, labels) + f" [{rec.status.lower()}]")
        n += 1
    if baseline:
        xs, ys = zip(*sorted(baseline.items()))
        ax.plot(xs, ys, ":", color="black", marker="s", lw=1.6, label="untrained model")
        n += 1
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(keys), [str(d) for d in keys])
    ax.set_xlabel("embedding dimension (truncated)")
    ax.set_ylabel(label)
    return _save(fig, ax, path, n)
