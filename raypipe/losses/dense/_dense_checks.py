"""Input checks and small model helpers shared by the dense losses (private).

Every check raises a ValueError that names the loss, what it expects, what it got and how to fix it, so a wrong
dataset fails on its first batch with an actionable message instead of a shape error deep inside torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def loss_name(loss: object) -> str:
    return type(loss).__name__


def check_num_columns(loss: object, num: int, min_inputs: int, max_inputs: int | None) -> None:
    """Raise unless `min_inputs <= num <= max_inputs` (max None = unbounded)."""
    if num >= min_inputs and (max_inputs is None or num <= max_inputs):
        return
    if max_inputs is None:
        want = f"at least {min_inputs}"
    elif min_inputs == max_inputs:
        want = f"exactly {min_inputs}"
    else:
        want = f"{min_inputs} to {max_inputs}"
    raise ValueError(
        f"{loss_name(loss)} expects {want} input column(s), but got {num}. "
        f"Fix: select/reorder the dataset's text columns (they are used by position); "
        f"see {loss_name(loss)}.input_requirements()."
    )


def require_labels(loss: object, labels: Tensor | None, what: str) -> Tensor:
    if labels is None:
        raise ValueError(
            f"{loss_name(loss)} expects {what} as labels, but got labels=None. "
            f"Fix: add a label column named 'label', 'labels', 'score' or 'scores'."
        )
    if not isinstance(labels, Tensor):
        labels = torch.as_tensor(labels)
    return labels


def check_one_label_per_example(loss: object, labels: Tensor | None, batch_size: int) -> Tensor:
    """Labels must hold exactly one value per example; returns them flattened to (batch,)."""
    labels = require_labels(loss, labels, f"one value per example (shape ({batch_size},))")
    if labels.numel() != batch_size:
        raise ValueError(
            f"{loss_name(loss)} expects {batch_size} labels (one per example, shape ({batch_size},)), but got "
            f"{labels.numel()} labels with shape {tuple(labels.shape)}. "
            f"Fix: give every row a single scalar label."
        )
    return labels.reshape(-1)


def warn_if_not_binary(loss: object, labels: Tensor, consequence: str) -> None:
    """Warn once per loss instance when labels are not all 0/1 (a common data bug for the siamese losses)."""
    if getattr(loss, "_checked_binary_labels", False):
        return
    loss._checked_binary_labels = True
    if bool((labels.ne(0) & labels.ne(1)).any()):
        warnings.warn(
            f"{loss_name(loss)} expects binary labels (0 or 1), but got other values; {consequence}",
            UserWarning,
            stacklevel=4,
        )


def check_same_batch(loss: object, embeddings: Sequence[Tensor]) -> None:
    sizes = [int(e.shape[0]) for e in embeddings]
    if len(set(sizes)) > 1:
        raise ValueError(
            f"{loss_name(loss)} expects every input column to have the same batch size, but got {sizes}. "
            f"Fix: tokenize every column from the same rows."
        )


def embedding_dimension(model: nn.Module) -> int | None:
    """The model's sentence-embedding dimension (raypipe and sentence-transformers spell the getter differently)."""
    for getter in ("get_sentence_embedding_dimension", "get_embedding_dimension"):
        fn = getattr(model, getter, None)
        if callable(fn):
            try:
                dim = fn()
            except Exception:  # noqa: BLE001 - a model without a fixed dim answers None
                dim = None
            if dim is not None:
                return int(dim)
    return None


def model_device(model: nn.Module) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DistributedDataParallel (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    seen = 0
    while seen < 8:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model
        seen += 1
    return model


def similarity_fct_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def fullname(obj) -> str:
    """`module.ClassName` of an object, as sentence-transformers writes loss_fct in configs."""
    cls = type(obj)
    module = cls.__module__
    return cls.__name__ if module in (None, "builtins") else f"{module}.{cls.__name__}"


__all__: list[str] = []
