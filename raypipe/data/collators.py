"""Data collators: turn a list of dataset rows into one training batch.

Column rules (as sentence-transformers): a `dataset_name` column names the source dataset (multi-dataset training);
the first column named `label`, `labels`, `score` or `scores` is the label; every other column is an input, used
by position (column 0 = anchor/query, 1 = positive/document, ...).

Batch layout produced here and read by raypipe's trainers::

    {"features": [tokenized column 0, tokenized column 1, ...],   # dense/sparse: dicts of (B, T) tensors
     "inputs":   [texts of column 0, texts of column 1, ...],      # cross-encoder: raw texts (lists for listwise)
     "label": (B,) / (B, k) tensor, or list of lists (listwise), absent when the dataset has no label,
     "dataset_name": str (multi-dataset only)}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from raypipe.data.validation import VALID_LABEL_COLUMNS, split_columns

Prompts = str | Mapping[str, str] | Mapping[str, Mapping[str, str]] | None


def _labels_tensor(values: list) -> torch.Tensor | list:
    if isinstance(values[0], torch.Tensor):
        return torch.stack(values)
    if isinstance(values[0], (list, tuple)):
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            return [list(v) for v in values]  # ragged (listwise): the loss pads
    return torch.tensor(values)


def resolve_prompts(prompts: Prompts, dataset_name: str | None) -> str | Mapping[str, str] | None:
    """The prompts that apply to one batch: a per-dataset entry when the batch's dataset has one."""
    if not prompts or isinstance(prompts, str):
        return prompts or None
    if dataset_name is not None and dataset_name in prompts:
        return prompts[dataset_name]
    if any(isinstance(v, Mapping) for v in prompts.values()):
        if dataset_name is None:
            raise ValueError(
                f"prompts is a nested dict keyed by dataset name ({list(prompts)}), but the training data is a "
                f"single Dataset. Fix: pass a DatasetDict with those names, or a flat {{column: prompt}} dict."
            )
        return None  # this dataset has no prompts
    return prompts


def prompt_for_column(prompts: str | Mapping[str, str] | None, column: str) -> str | None:
    if isinstance(prompts, str):
        return prompts
    if isinstance(prompts, Mapping):
        value = prompts.get(column)
        return value if isinstance(value, str) else None
    return None


def _name_last(batch: dict[str, Any]) -> dict[str, Any]:
    if "dataset_name" in batch:
        batch["dataset_name"] = batch.pop("dataset_name")  # keep a tensor-holding key first
    return batch


class _BaseCollator:
    def __init__(self, valid_label_columns=VALID_LABEL_COLUMNS, prompts: Prompts = None):
        self.valid_label_columns = tuple(valid_label_columns)
        self.prompts = prompts

    def _start(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
        if not rows:
            raise ValueError("The collator got an empty list of rows. Fix: check the batch sampler yields rows.")
        # Key order matters: accelerate's find_batch_size reads the FIRST key, so a tensor (the label) goes first.
        batch: dict[str, Any] = {}
        columns = list(rows[0].keys())
        label_col, inputs = split_columns(columns, self.valid_label_columns)
        if label_col is not None:
            batch["label"] = _labels_tensor([r[label_col] for r in rows])
        if "dataset_name" in columns:
            batch["dataset_name"] = rows[0]["dataset_name"]
        return batch, inputs


class EncoderDataCollator(_BaseCollator):
    """Collator for SentenceTransformer and SparseEncoder: tokenizes each input column separately.

    Args:
        tokenize_fn: `model.tokenize` (texts -> dict of (B, T) tensors).
        valid_label_columns: names that mark the label column (the first present wins).
        prompts: a string for every column, {column: prompt}, {dataset: prompt} or {dataset: {column: prompt}}.
            The prompt is prepended to the text; `prompt_length` (its token count without the closing special
            token) is added to the features so pooling with include_prompt=False can skip it.
        prompt_length_fn: prompt -> token count; default tokenizes the prompt with `tokenize_fn`.
    """

    def __init__(self, tokenize_fn: Callable, valid_label_columns=VALID_LABEL_COLUMNS, prompts: Prompts = None,
                 prompt_length_fn: Callable[[str], int] | None = None):
        super().__init__(valid_label_columns, prompts)
        self.tokenize_fn = tokenize_fn
        self.prompt_length_fn = prompt_length_fn
        self._prompt_lengths: dict[str, int] = {}

    def _prompt_length(self, prompt: str) -> int:
        if prompt not in self._prompt_lengths:
            if self.prompt_length_fn is not None:
                self._prompt_lengths[prompt] = int(self.prompt_length_fn(prompt))
            else:
                self._prompt_lengths[prompt] = int(self.tokenize_fn([prompt])["input_ids"].shape[-1] - 1)
        return self._prompt_lengths[prompt]

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch, inputs = self._start(rows)
        prompts = resolve_prompts(self.prompts, batch.get("dataset_name"))
        features = []
        for col in inputs:
            texts = [r[col] for r in rows]
            prompt = prompt_for_column(prompts, col)
            if prompt:
                texts = [prompt + t for t in texts]
            feats = dict(self.tokenize_fn(texts))
            if prompt:
                feats["prompt_length"] = self._prompt_length(prompt)
            features.append(feats)
        batch["features"] = features
        return _name_last(batch)


class CrossEncoderDataCollator(_BaseCollator):
    """Collator for CrossEncoder: keeps the raw texts (the loss builds and tokenizes the pairs), so listwise
    columns (one list of documents per query) and their label lists pass through unchanged.

    prompts: one string for every batch, or {dataset: prompt}; it is prepended to the query column (column 0).
    Per-column prompts are rejected: a pair is tokenized as one sequence.
    """

    def __init__(self, valid_label_columns=VALID_LABEL_COLUMNS, prompts: Prompts = None):
        super().__init__(valid_label_columns, prompts)
        if isinstance(prompts, Mapping) and any(isinstance(v, Mapping) for v in prompts.values()):
            raise ValueError(
                f"CrossEncoder training takes one prompt per dataset, got nested per-column prompts {dict(prompts)}. "
                f"Fix: pass prompts='...' or prompts={{dataset_name: '...'}}."
            )

    def _prompt(self, dataset_name: str | None) -> str | None:
        if isinstance(self.prompts, str):
            return self.prompts
        if isinstance(self.prompts, Mapping) and dataset_name is not None:
            return self.prompts.get(dataset_name)
        if isinstance(self.prompts, Mapping) and self.prompts:
            raise ValueError(
                f"prompts={dict(self.prompts)} is keyed by dataset name, but the batch has no dataset name. Fix: "
                f"pass a DatasetDict with those names, or prompts='...' for every batch."
            )
        return None

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch, inputs = self._start(rows)
        prompt = self._prompt(batch.get("dataset_name"))
        columns = []
        for pos, col in enumerate(inputs):
            texts = [r[col] for r in rows]
            if prompt and pos == 0:
                texts = [prompt + t for t in texts]
            columns.append(texts)
        batch["inputs"] = columns
        if "label" in batch and isinstance(rows[0].get(self._label_name(rows[0])), (list, tuple)):
            batch["label"] = [list(r[self._label_name(r)]) for r in rows]  # listwise: one list per query
        return _name_last(batch)

    def _label_name(self, row: dict) -> str | None:
        return next((c for c in self.valid_label_columns if c in row), None)


__all__ = [
    "CrossEncoderDataCollator",
    "EncoderDataCollator",
    "Prompts",
    "prompt_for_column",
    "resolve_prompts",
]
