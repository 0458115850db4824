"""The statistics table printed after mining (same rows as sentence-transformers' verbose output)."""

from __future__ import annotations

import numpy as np

__all__ = ["score_stats", "format_stats"]

_ROWS = ("mean", "median", "std", "min", "25%", "50%", "75%", "max")


def _describe(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return {k: float("nan") for k in _ROWS} | {"count": 0}
    q = np.quantile(x, [0.25, 0.5, 0.75])
    return {"count": int(x.size), "mean": float(x.mean()), "median": float(np.median(x)),
            "std": float(x.std(ddof=1)) if x.size > 1 else float("nan"), "min": float(x.min()),
            "25%": float(q[0]), "50%": float(q[1]), "75%": float(q[2]), "max": float(x.max())}


def score_stats(positive: np.ndarray, negative: np.ndarray, difference: np.ndarray) -> dict:
    return {"positive": _describe(positive), "negative": _describe(negative), "difference": _describe(difference)}


def format_stats(stats: dict, skipped: dict[str, int], params: dict, missing: int, max_possible: int) -> str:
    fmt = "{:<6} {:>14} {:>14} {:>14}"
    lines = [fmt.format("Metric", "Positive", "Negative", "Difference"),
             fmt.format("Count", f"{stats['positive']['count']:,}", f"{stats['negative']['count']:,}", "")]
    for row in _ROWS:
        lines.append(fmt.format(row.capitalize(), *(f"{stats[c][row]:.4f}" for c in
                                                    ("positive", "negative", "difference"))))
    total = max(skipped.get("candidates", 0), 1)
    for name in ("absolute_margin", "relative_margin", "max_score", "min_score"):
        if skipped.get(name):
            lines.append(f"Skipped {skipped[name]:,} potential negatives ({skipped[name] / total:.2%}) due to the "
                         f"{name} of {params.get(name)}.")
    if missing > 0 and max_possible > 0:
        lines.append(f"Could not find enough negatives for {missing} samples ({missing / max_possible:.2%}). "
                     "Consider adjusting range_max, range_min, the margins or max_score.")
    return "\n".join(lines)
