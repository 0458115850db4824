"""SpladeLoss: a ranking/distillation loss plus FLOPS-style sparsity regularizers on queries and documents."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

import torch
from torch import Tensor, nn

from raypipe.losses.base import LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.sparse.flops import FlopsLoss

logger = logging.getLogger(__name__)


def _check_weight(name: str, value, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        allowed = "a float >= 0 or None" if allow_none else "a float >= 0"
        raise ValueError(
            f"SpladeLoss: {name} must be {allowed}, got {value!r}. "
            f"Fix: pass e.g. {name}=3e-5 (typical SPLADE values are 1e-5 to 1e-3)."
        )


class SpladeLoss(RaypipeLoss):
    """SPLADE training objective (Formal et al., 2022): base loss + weighted sparsity regularizers.

    With column 0 the queries Q (B, V) and columns 1..n the documents D (n·B, V)::

        loss = base_loss(Q, D_1..D_n, labels)
             + document_regularizer_weight · R_d(cat(D_1..D_n))
             + query_regularizer_weight    · R_q(Q)                 (only if query_regularizer_weight is not None)

    R_d and R_q default to :class:`FlopsLoss` (with ``document/query_regularizer_threshold``). With
    ``use_document_regularizer_only=True`` every column is a document, R_d is applied to ``cat(all columns)`` and
    the query term is dropped (for symmetric data such as document pairs).

    ``forward`` returns a dict of named terms, summed by the trainer and logged separately:
    ``{"base_loss" (or the base loss's own dict keys), "document_regularizer_loss", "query_regularizer_loss"}``.
    Both weights are plain attributes, so :class:`SpladeRegularizerWeightScheduler` can ramp them up.

    | Inputs | Labels |
    |---|---|
    | whatever the base loss takes (column 0 = queries, columns 1..n = documents) | as the base loss |

    Cost: one forward per column; the regularizers are O(total rows · V) on top of the base loss.

    Args:
        model: a SparseEncoder.
        loss: the base loss; must implement ``compute_loss_from_embeddings(embeddings, labels)``
            (e.g. :class:`SparseMultipleNegativesRankingLoss`, :class:`SparseMarginMSELoss`).
        document_regularizer_weight: lambda_d, required.
        query_regularizer_weight: lambda_q; None disables query regularization (inference-free setups).
        document_regularizer / query_regularizer: custom regularizers (anything with
            ``compute_loss_from_embeddings(tensor)``), default FlopsLoss.
        document_regularizer_threshold / query_regularizer_threshold: L0 threshold of the default FlopsLoss.
        use_document_regularizer_only: treat every column as a document (forces the query weight to None).
    """

    citation = """
@misc{formal2022distillationhardnegativesampling,
      title={From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More Effective},
      author={Thibault Formal and Carlos Lassance and Benjamin Piwowarski and Stéphane Clinchant},
      year={2022},
      eprint={2205.04733},
      archivePrefix={arXiv},
      primaryClass={cs.IR},
      url={https://arxiv.org/abs/2205.04733},
}
"""

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
    ):
        super().__init__()
        if not callable(getattr(loss, "compute_loss_from_embeddings", None)):
            raise ValueError(
                f"SpladeLoss: loss must implement compute_loss_from_embeddings(embeddings, labels), but "
                f"{type(loss).__name__} does not. Fix: use a sparse base loss such as "
                f"SparseMultipleNegativesRankingLoss(model) or SparseMarginMSELoss(model)."
            )
        _check_weight("document_regularizer_weight", document_regularizer_weight, allow_none=False)
        _check_weight("query_regularizer_weight", query_regularizer_weight, allow_none=True)
        self.model = model
        self.loss = loss
        self.document_regularizer_weight = document_regularizer_weight
        self.use_document_regularizer_only = use_document_regularizer_only
        if document_regularizer is None:
            document_regularizer = FlopsLoss(model, threshold=document_regularizer_threshold)
        self.document_regularizer = document_regularizer
        if query_regularizer is None and not use_document_regularizer_only:
            query_regularizer = FlopsLoss(model, threshold=query_regularizer_threshold)
        self.query_regularizer = query_regularizer
        if use_document_regularizer_only and query_regularizer_weight is not None:
            logger.warning(
                "SpladeLoss: query_regularizer_weight=%r is ignored because use_document_regularizer_only=True "
                "(every column is regularized as a document). Pass query_regularizer_weight=None to silence this.",
                query_regularizer_weight,
            )
            query_regularizer_weight = None
        elif query_regularizer_weight is None and not use_document_regularizer_only:
            logger.warning(
                "SpladeLoss: query_regularizer_weight is None, so queries are not regularized. That is fine for an "
                "inference-free setup; otherwise pass query_regularizer_weight > 0 (e.g. 5e-5)."
            )
        self.query_regularizer_weight = query_regularizer_weight

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        embeddings = embed_columns(self.model, sentence_features)
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """embeddings: one (B, V) tensor per input column. Returns the named (already weighted) terms."""
        embeddings = list(embeddings)
        if not self.use_document_regularizer_only and len(embeddings) < 2:
            raise ValueError(
                f"SpladeLoss expects at least 2 input columns (query, document[, ...]) but got {len(embeddings)}. "
                f"Fix: add a document column, or pass use_document_regularizer_only=True for single-column data."
            )
        losses: dict[str, Tensor] = {}
        base = self.loss.compute_loss_from_embeddings(embeddings, labels)
        if isinstance(base, dict):
            losses.update(base)
        else:
            losses["base_loss"] = base
        # Documents: columns 1..n, or every column when all inputs are documents. (n·B, V)
        docs = torch.cat(embeddings if self.use_document_regularizer_only else embeddings[1:])
        losses["document_regularizer_loss"] = (
            self.document_regularizer.compute_loss_from_embeddings(docs) * self.document_regularizer_weight
        )
        if self.query_regularizer_weight is not None:
            query = self.query_regularizer.compute_loss_from_embeddings(embeddings[0])
            losses["query_regularizer_loss"] = query * self.query_regularizer_weight
        return losses

    def input_requirements(self) -> LossRequirements:
        inner_fn = getattr(self.loss, "input_requirements", None)
        inner = inner_fn() if callable(inner_fn) else LossRequirements(loss_name=type(self.loss).__name__)
        min_inputs = inner.min_inputs if self.use_document_regularizer_only else max(inner.min_inputs, 2)
        notes = "column 0 = queries, columns 1..n = documents"
        if self.use_document_regularizer_only:
            notes = "every column is regularized as a document"
        return replace(
            inner,
            loss_name=f"{type(self).__name__}({inner.loss_name})",
            min_inputs=min_inputs,
            model_kinds=("sparse",),
            notes="; ".join(n for n in (inner.notes, notes) if n),
        )

    def get_config_dict(self) -> dict:
        config = {
            "loss": type(self.loss).__name__,
            "document_regularizer_weight": self.document_regularizer_weight,
        }
        if self.query_regularizer_weight is not None:
            config["query_regularizer_weight"] = self.query_regularizer_weight
        for role in ("document", "query"):
            reg = getattr(self, f"{role}_regularizer", None)
            if reg is None:
                continue
            if not isinstance(reg, FlopsLoss):
                config[f"{role}_regularizer"] = type(reg).__name__
            if getattr(reg, "threshold", None) is not None:
                config[f"{role}_regularizer_threshold"] = reg.threshold
        if self.use_document_regularizer_only:
            config["use_document_regularizer_only"] = True
        return config


__all__ = ["SpladeLoss"]
