"""Shared plumbing for the CrossEncoder losses: input checks, pair scoring, config names.

Every cross-encoder loss receives raw text columns, builds (query, document) pairs, tokenizes them with
`model.tokenize(pairs)` and reads raw logits from `model(features)["scores"]` (P, num_labels). The math then runs on
those scores in each loss's `compute_loss_from_scores`, so it can be tested on plain tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from raypipe.losses.base import RaypipeLoss

# Module-level defaults so signatures can show the same defaults as sentence-transformers
# (`activation_fn=nn.Identity()`) without calling a constructor in the argument list. Both are parameter-free.
IDENTITY = nn.Identity()
SIGMOID = nn.Sigmoid()


def fullname(obj) -> str | None:
    """`package.module.ClassName` of an object (the name sentence-transformers writes into configs)."""
    if obj is None:
        return None
    klass = obj if isinstance(obj, type) else type(obj)
    if klass.__module__ == "builtins":
        return klass.__qualname__
    return f"{klass.__module__}.{klass.__qualname__}"


def model_device(model: nn.Module) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def model_num_labels(model: nn.Module) -> int | None:
    num_labels = getattr(model, "num_labels", None)
    return int(num_labels) if isinstance(num_labels, int) else None


def check_num_labels(loss_name: str, model: nn.Module, expected: int) -> None:
    """Raise when the model's `num_labels` differs from what the loss needs (checked at construction)."""
    got = model_num_labels(model)
    if got is not None and got != expected:
        raise ValueError(
            f"{loss_name} needs a CrossEncoder with num_labels == {expected}, but the model has num_labels == {got}. "
            f"Fix: load the model with num_labels={expected}, or choose a loss made for {got} labels "
            f"(CrossEntropyLoss for several classes)."
        )


def score_pairs(model: nn.Module, pairs: Sequence[tuple[str, str]], chunk_size: int | None = None) -> Tensor:
    """Raw logits (P, num_labels) for P (query, document) pairs, `chunk_size` pairs per forward pass.

    Peak activation memory grows with `chunk_size`; the returned logits keep every chunk's graph alive.
    """
    pairs = list(pairs)
    chunk_size = len(pairs) if not chunk_size or chunk_size <= 0 else chunk_size
    device = model_device(model)
    out = []
    for start in range(0, len(pairs), chunk_size):
        features = model.tokenize(pairs[start : start + chunk_size])
        features = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in features.items()}
        out.append(model(features)["scores"])
    scores = torch.cat(out, dim=0)
    if scores.dim() == 1:  # some heads return (P,) for a single label
        scores = scores.unsqueeze(1)
    return scores


def is_text(value) -> bool:
    return isinstance(value, str)


def check_text_columns(loss_name: str, inputs, min_cols: int, max_cols: int | None) -> list[list[str]]:
    """Pointwise/pairwise losses: every column a list of strings, all of the same length."""
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(
            f"{loss_name} expects `inputs` as a list of text columns, got {type(inputs).__name__}. "
            f"Fix: pass [queries, documents, ...]."
        )
    want = f"exactly {min_cols}" if min_cols == max_cols else f"at least {min_cols}"
    if len(inputs) < min_cols or (max_cols is not None and len(inputs) > max_cols):
        raise ValueError(
            f"{loss_name} expects {want} text columns (query, document{', ...' if max_cols != 2 else ''}), "
            f"but got {len(inputs)}. Fix: select/reorder the dataset columns (they are used by position)."
        )
    columns = [list(col) for col in inputs]
    for idx, col in enumerate(columns):
        bad = next((v for v in col if not is_text(v)), None)
        if bad is not None:
            hint = (
                " It looks like a listwise column (one list of documents per query): use a listwise loss "
                "(LambdaLoss, ListNetLoss, ...) or flatten it into one (query, document) pair per row."
                if isinstance(bad, (list, tuple))
                else ""
            )
            raise ValueError(
                f"{loss_name} is pointwise: column {idx} must hold one string per row, but it holds "
                f"{type(bad).__name__} values.{hint}"
            )
    lengths = {len(col) for col in columns}
    if len(lengths) != 1:
        raise ValueError(
            f"{loss_name}: all text columns must have the same length, got {[len(c) for c in columns]}."
        )
    return columns


def flat_labels(loss_name: str, labels, batch_size: int) -> Tensor:
    """Labels as a (B,) tensor; raises with the expected count."""
    if labels is None:
        raise ValueError(
            f"{loss_name} needs one label per row, but got labels=None. Fix: add a label column."
        )
    labels = torch.as_tensor(labels) if not isinstance(labels, Tensor) else labels
    if labels.numel() != batch_size:
        raise ValueError(
            f"{loss_name} expects {batch_size} labels (one per row), but got {labels.numel()} with shape "
            f"{tuple(labels.shape)}."
        )
    return labels.reshape(-1)


def single_logits(loss_name: str, scores: Tensor) -> Tensor:
    """(B,) or (B, 1) raw logits -> (B,); anything wider means the model has num_labels > 1."""
    if scores.dim() == 2 and scores.shape[1] != 1:
        raise ValueError(
            f"{loss_name} needs one logit per pair (num_labels == 1), but the model returned scores of shape "
            f"{tuple(scores.shape)}. Fix: use a model with num_labels=1, or CrossEntropyLoss for classes."
        )
    return scores.reshape(-1)


class CrossEncoderLoss(RaypipeLoss):
    """Base of raypipe's CrossEncoder losses: stores the model; subclasses add parameters and the math."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def score_pointwise(self, inputs: list[list[str]], labels=None, flat: bool = True) -> tuple[Tensor, object]:
        """Check a (query, document) column pair and, with flat=True, one label per row — both before any
        compute — then score it. Returns (raw logits (B, num_labels), labels)."""
        name = type(self).__name__
        first, second = check_text_columns(name, inputs, 2, 2)
        if flat:
            labels = flat_labels(name, labels, len(first))
        return score_pairs(self.model, list(zip(first, second))), labels


__all__ = [
    "IDENTITY",
    "SIGMOID",
    "CrossEncoderLoss",
    "check_num_labels",
    "check_text_columns",
    "flat_labels",
    "fullname",
    "model_device",
    "model_num_labels",
    "score_pairs",
    "single_logits",
]
