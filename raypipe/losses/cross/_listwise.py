"""Shared forward pass of the listwise CrossEncoder losses: (query, [documents]) rows with per-document labels.

Rows may be ragged (different numbers of documents per query). Scores and labels are scattered into padded
(B, N) matrices, N = the longest list, with a boolean mask of the real entries; each loss fills the padded slots
with values that make them inert in its own formula.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements
from raypipe.losses.cross._common import (
    CrossEncoderLoss,
    check_num_labels,
    fullname,
    is_text,
    score_pairs,
)


def pad_rows(flat: Tensor, counts: list[int], fill: float = 0.0) -> tuple[Tensor, Tensor]:
    """Scatter a flat (sum(counts),) tensor into a (B, max(counts)) matrix; returns (matrix, mask)."""
    batch, width = len(counts), max(counts) if counts else 0
    rows = torch.repeat_interleave(torch.arange(batch), torch.tensor(counts, dtype=torch.long)).to(
        flat.device
    )
    cols = torch.cat([torch.arange(c) for c in counts]).to(flat.device) if counts else rows
    matrix = torch.full((batch, width), fill, dtype=flat.dtype, device=flat.device)
    matrix = matrix.index_put((rows, cols), flat)  # out of place: keeps the autograd graph of `flat`
    mask = torch.zeros((batch, width), dtype=torch.bool, device=flat.device)
    mask[rows, cols] = True
    return matrix, mask


def check_listwise_inputs(loss_name: str, inputs, labels) -> tuple[list[str], list[list[str]], list[Tensor]]:
    """Validate [queries, documents_lists] + per-query label lists; returns them with labels as 1-D tensors."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        got = len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__
        raise ValueError(
            f"{loss_name} is listwise: it expects exactly 2 input columns, [queries, documents] with one list of "
            f"documents per query, but got {got}. Fix: group each query's documents into one list column."
        )
    queries, docs_list = list(inputs[0]), list(inputs[1])
    if any(not is_text(q) for q in queries):
        raise ValueError(f"{loss_name}: column 0 must hold one query string per row.")
    if len(queries) != len(docs_list):
        raise ValueError(f"{loss_name}: {len(queries)} queries but {len(docs_list)} document lists.")
    for docs in docs_list:
        if is_text(docs) or not isinstance(docs, (list, tuple)):
            raise ValueError(
                f"{loss_name} is listwise: column 1 must hold a list of documents per query, but it holds "
                f"{type(docs).__name__} values (pairs?). Fix: group documents per query, or use a pointwise loss "
                f"such as BinaryCrossEntropyLoss for (query, document, label) rows."
            )
        if any(not is_text(d) for d in docs):
            raise ValueError(f"{loss_name}: every document in a document list must be a string.")
    counts = [len(docs) for docs in docs_list]
    if sum(counts) == 0:
        raise ValueError(f"{loss_name}: the batch has no documents at all (every document list is empty).")
    label_rows = _label_rows(loss_name, labels, counts)
    return queries, [list(d) for d in docs_list], label_rows


def _label_rows(loss_name: str, labels, counts: list[int]) -> list[Tensor]:
    expected = "a list with one list of per-document labels for each query"
    if labels is None:
        raise ValueError(f"{loss_name} needs {expected}, but got labels=None.")
    if isinstance(labels, Tensor):
        # A dense (B, N) tensor is accepted when no row is ragged; a (B,) tensor is a pointwise label column.
        if labels.dim() == 2 and labels.shape[0] == len(counts) and all(c == labels.shape[1] for c in counts):
            return list(labels.unbind(0))
        raise ValueError(
            f"{loss_name} needs {expected}, but got a tensor of shape {tuple(labels.shape)} (one value per "
            f"query?). Fix: give each query a list of labels, one per document."
        )
    rows = [torch.as_tensor(row).reshape(-1) for row in labels]
    if [len(r) for r in rows] != counts:
        raise ValueError(
            f"{loss_name}: documents per query {counts} do not match labels per query {[len(r) for r in rows]}."
        )
    return rows


class ListwiseCrossEncoderLoss(CrossEncoderLoss):
    """Base of LambdaLoss, ListNetLoss, PListMLELoss and ADRMSELoss: pairs -> logits -> padded matrices.

    Cost: one model pair per (query, document); `mini_batch_size` pairs per forward pass (None: the number of
    queries; <= 0: all pairs at once). Chunking bounds peak activation memory per pass only; every chunk's graph
    stays alive until backward (no GradCache). The loss math itself is O(B·N) or O(B·N²) for pairwise losses.
    """

    def __init__(
        self, model: nn.Module, activation_fn: nn.Module | None, mini_batch_size: int | None
    ) -> None:
        super().__init__(model)
        self.activation_fn = activation_fn if activation_fn is not None else nn.Identity()
        self.mini_batch_size = mini_batch_size
        check_num_labels(type(self).__name__, model, 1)

    def forward(self, inputs: list, labels: list[Tensor]) -> Tensor:
        queries, docs_list, label_rows = check_listwise_inputs(type(self).__name__, inputs, labels)
        pairs = [(q, d) for q, docs in zip(queries, docs_list) for d in docs]
        chunk = self.mini_batch_size or len(queries)
        logits = score_pairs(self.model, pairs, chunk if chunk > 0 else len(pairs))  # (P, num_labels)
        if logits.shape[1] != 1:
            raise ValueError(
                f"{type(self).__name__} needs one logit per pair (num_labels == 1), got scores of shape "
                f"{tuple(logits.shape)}."
            )
        counts = [len(docs) for docs in docs_list]
        scores, mask = pad_rows(logits.reshape(-1).float(), counts)
        label_matrix, _ = pad_rows(torch.cat(label_rows).float().to(scores.device), counts)
        return self.compute_loss_from_scores(scores, label_matrix, mask)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """scores: raw logits (B, N); labels: (B, N); mask: (B, N) bool, True = real document (None = all)."""
        raise NotImplementedError

    def _activated(self, scores: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """act(scores) as float32 plus a full mask; padded values are replaced by each loss afterwards."""
        if mask is None:
            mask = torch.ones_like(scores, dtype=torch.bool)
        return self.activation_fn(scores.float()), mask.to(scores.device)

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="list",
            label_shape="list of (num_docs_i,) per query; ragged allowed",
            listwise=True,
            num_labels=1,
            model_kinds=("cross",),
            notes="column 0: query string; column 1: list of documents; labels: one relevance per document",
        )

    def get_config_dict(self) -> dict:
        return {"activation_fn": fullname(self.activation_fn), "mini_batch_size": self.mini_batch_size}


__all__ = ["ListwiseCrossEncoderLoss", "check_listwise_inputs", "pad_rows"]
