"""One forward pass for the candidate columns of a loss, as sentence-transformers v6 embeds them.

sentence-transformers v6 embeds column 0 (the anchor) on its own and the remaining columns (positives and
negatives) in one forward of the column-major concatenation, each column right-padded to the widest one. The
embeddings are the same as per-column forwards up to float rounding, but with dropout on the model draws one set
of masks for the merged (n_cols · B, T_max) batch instead of one set per column, and a guide that runs after it
sees a different RNG state. Losses that must reproduce sentence-transformers under dropout (GIST, where the guide
filter is a hard threshold) embed through `embed_columns_merged`; the others keep one forward per column
(`raypipe.losses.base.embed_columns`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Features = dict[str, object]


def _rows(features: Features) -> int | None:
    for key in ("input_ids", "attention_mask"):
        value = features.get(key)
        if isinstance(value, Tensor) and value.ndim >= 2:
            return value.shape[0]
    return None


def _merge_tensor(values: list[Tensor], rows: int) -> Tensor | None:
    """Row-concatenation of per-column tensors (B, T_c, ...) right-padded with 0 to T_max; None if impossible."""
    first = values[0]
    if any(v.ndim != first.ndim or v.ndim == 0 or v.shape[0] != rows for v in values):
        return None
    if first.ndim >= 2:
        if any(v.shape[2:] != first.shape[2:] for v in values):
            return None
        width = max(v.shape[1] for v in values)
        if any(v.shape[1] != width for v in values):
            # only token ids / masks pad safely: padded positions have attention_mask 0
            if first.is_floating_point() or first.is_complex():
                return None
            values = [F.pad(v, [0, 0] * (v.ndim - 2) + [0, width - v.shape[1]]) for v in values]
    return torch.cat(values, dim=0)


def _same_value(values: list[object]) -> bool:
    first = values[0]
    try:
        if isinstance(first, Tensor):
            return all(isinstance(v, Tensor) and torch.equal(v, first) for v in values[1:])
        return all(not bool(v != first) for v in values[1:])
    except (RuntimeError, ValueError, TypeError):
        return False


def merge_column_features(features_list: Sequence[Features]) -> Features | None:
    """The columns as one batch: every per-row tensor concatenated column-major into (n_cols · B, T_max, ...),
    batch-level values (e.g. `prompt_length`) kept once if all columns agree. None when the columns differ in
    keys, shapes or batch-level values, so the caller falls back to one forward per column."""
    first = features_list[0]
    rows = _rows(first)
    if rows is None or any(set(f) != set(first) for f in features_list[1:]):
        return None
    merged: Features = {}
    for key, value in first.items():
        values = [f[key] for f in features_list]
        if isinstance(value, Tensor) and key != "prompt_length":
            if not all(isinstance(v, Tensor) for v in values):
                return None
            tensor = _merge_tensor(values, rows)
            if tensor is None:
                return None
            merged[key] = tensor
        elif _same_value(values):
            merged[key] = value
        else:
            return None
    return merged


def embed_columns_merged(model: nn.Module, features_list: Sequence[Features]) -> list[Tensor]:
    """Per column (B, D) `sentence_embedding`: column 0 in its own forward, columns 1..n in one merged forward
    when they merge (else one forward each). Forward order: anchor, then candidates, as in sentence-transformers.
    The given dicts are not modified (the model sees shallow copies or the merged dict)."""
    features_list = [dict(f) for f in features_list]
    if not features_list:
        return []
    out = [model(features_list[0])["sentence_embedding"]]
    candidates = features_list[1:]
    merged = merge_column_features(candidates) if len(candidates) > 1 else None
    if merged is None:
        return out + [model(f)["sentence_embedding"] for f in candidates]
    embeddings = model(merged)["sentence_embedding"]  # (n_cand · B, D), column-major
    return out + list(embeddings.reshape(len(candidates), -1, *embeddings.shape[1:]).unbind(0))


__all__ = ["merge_column_features", "embed_columns_merged"]
