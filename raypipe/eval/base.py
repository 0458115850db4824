"""Shared evaluator plumbing: the base class, metric-name prefixing, CSV appending and input validation.

Every evaluator is called as ``evaluator(model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]`` and
exposes ``primary_metric`` (the key in that dict used for model selection) and ``greater_is_better``.
Metric keys follow sentence-transformers: ``{name}_{metric}`` when the evaluator has a name, else ``{metric}``.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from raypipe.atomic import atomic_open

logger = logging.getLogger(__name__)


class BaseEvaluator:
    """Base class: subclasses implement ``__call__`` and set ``primary_metric``."""

    def __init__(self) -> None:
        self.greater_is_better = True
        self.primary_metric: str | None = None

    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        raise NotImplementedError

    def prefix_name_to_metrics(self, metrics: dict[str, Any], name: str) -> dict[str, Any]:
        """Turn ``{metric: v}`` into ``{name_metric: float(v)}`` and prefix ``primary_metric`` the same way."""
        metrics = {key: _maybe_float(value) for key, value in metrics.items()}
        if not name:
            return metrics
        if self.primary_metric is not None and not self.primary_metric.startswith(name + "_"):
            self.primary_metric = f"{name}_{self.primary_metric}"
        return {f"{name}_{key}": value for key, value in metrics.items()}

    def store_metrics_in_model_card_data(
        self, model, metrics: dict[str, Any], epoch: int = 0, step: int = 0
    ) -> None:
        # Models that keep model-card data (sentence-transformers-style) get the metrics too; others are skipped.
        card = getattr(model, "model_card_data", None)
        if card is not None and hasattr(card, "set_evaluation_metrics"):
            try:
                card.set_evaluation_metrics(self, metrics, epoch, step)
            except Exception as exc:  # the card is cosmetic: never fail an evaluation because of it
                logger.debug("could not store metrics in model card: %s", exc)

    @property
    def description(self) -> str:
        """``BinaryClassificationEvaluator`` -> ``Binary Classification``."""
        class_name = type(self).__name__
        class_name = class_name.split("Evaluator")[0]
        return re.sub(r"([a-z])([A-Z])", r"\g<1> \g<2>", class_name)

    def get_config_dict(self) -> dict[str, Any]:
        return {}


def _maybe_float(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def epoch_text(epoch: int, steps: int) -> str:
    if epoch == -1:
        return ""
    return f" after epoch {epoch}" if steps == -1 else f" in epoch {epoch} after {steps} steps"


def append_csv_row(
    output_path: str | None, csv_file: str, headers: Sequence[str], row: Sequence[Any]
) -> None:
    """Append ``row`` to ``output_path/csv_file``, writing ``headers`` first when the file is new."""
    if output_path is None:
        return
    os.makedirs(output_path, exist_ok=True)
    csv_path = os.path.join(output_path, csv_file)
    exists = os.path.isfile(csv_path)
    with open(csv_path, newline="", mode="a" if exists else "w", encoding="utf-8") as f:
        writer = csv.writer(f)
        if not exists:
            writer.writerow(list(headers))
        writer.writerow(list(row))


def extend_last_csv_row(csv_path: str, values: Iterable[Any]) -> None:
    """Append ``values`` to the last data row of an existing CSV (used for the sparse statistics columns)."""
    if not os.path.isfile(csv_path):
        return
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return
    rows[-1].extend(values)
    with atomic_open(csv_path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def check_same_length(owner: str, **columns: Sequence[Any]) -> None:
    """Raise a ValueError naming every column and its length when the lengths differ."""
    lengths = {key: len(value) for key, value in columns.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{key} has {n}" for key, n in lengths.items())
        raise ValueError(
            f"{owner}: the input lists must have the same length, but {described}. "
            f"Fix: pass one entry per example in every list."
        )


def check_not_empty(owner: str, **columns: Sequence[Any]) -> None:
    for key, value in columns.items():
        if len(value) == 0:
            raise ValueError(f"{owner}: {key} is empty. Fix: pass at least one example.")


def check_similarity_names(owner: str, names: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    names = list(names or [])
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(
            f"{owner}: similarity_fn_names={names!r} contains unsupported {unknown!r}; allowed: {list(allowed)}. "
            f"Fix: pass a subset of the allowed names (or None to use the model's similarity_fn_name)."
        )
    return names


def encode(model, texts, kind: str | None = None, **kwargs):
    """Embed ``texts`` with ``model.encode_query`` / ``encode_document`` (kind "query" / "document", falling back
    to ``encode`` for models without them) or ``model.encode`` (kind None). Keyword arguments that are None are
    not passed, so models whose encode lacks e.g. ``prompt_name`` still work when it is unused."""
    fn = getattr(model, f"encode_{kind}", None) if kind else None
    fn = fn or model.encode
    return fn(texts, **{key: value for key, value in kwargs.items() if value is not None})


def take_rows(embeddings, start: int, end: int):
    """Rows [start, end) of a dense array/tensor or a sparse COO tensor (which does not support slicing)."""
    import torch

    if isinstance(embeddings, torch.Tensor) and embeddings.is_sparse:
        return embeddings.index_select(0, torch.arange(start, end, device=embeddings.device))
    return embeddings[start:end]


def select_rows(embeddings, rows: Sequence[int]):
    """embeddings[rows] for a dense array/tensor or a sparse COO tensor."""
    import torch

    if isinstance(embeddings, torch.Tensor) and embeddings.is_sparse:
        return embeddings.index_select(
            0, torch.tensor(list(rows), dtype=torch.long, device=embeddings.device)
        )
    return embeddings[list(rows)]


def similarity_value(fn) -> str | None:
    """Accept a string or an enum-like (``.value``) similarity name; return the plain string or None."""
    if fn is None:
        return None
    value = getattr(fn, "value", fn)
    aliases = {"cos_sim": "cosine", "dot_score": "dot", "dot_product": "dot"}
    return aliases.get(str(value), str(value))


__all__ = [
    "BaseEvaluator",
    "append_csv_row",
    "extend_last_csv_row",
    "check_same_length",
    "check_not_empty",
    "check_similarity_names",
    "encode",
    "epoch_text",
    "take_rows",
    "select_rows",
    "similarity_value",
]
