"""Plain-text tables the jobs' `summary()` methods return (the CLI prints them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["table", "metrics_table", "NOISE_METRICS"]

# HF bookkeeping that says nothing about the model
NOISE_METRICS = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "total_flos", "final")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Columns left-aligned for text, right-aligned for numbers."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None) and i > 0
               for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def metrics_table(metrics: Mapping[str, float], columns: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """One metric per row: `metrics` alone (column "value"), or several runs side by side (`columns`)."""
    columns = dict(columns or {"value": metrics})
    keys = sorted({k for col in columns.values() for k, v in col.items()
                   if isinstance(v, (int, float)) and k not in NOISE_METRICS})
    rows = [[k, *(col.get(k, "") for col in columns.values())] for k in keys]
    return table(["metric", *columns], rows)
