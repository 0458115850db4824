"""MarginMSELoss: distil a teacher's score margins between a positive and negative documents."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements
from raypipe.losses.cross._common import (
    IDENTITY,
    CrossEncoderLoss,
    check_num_labels,
    check_text_columns,
    fullname,
    score_pairs,
)


class MarginMSELoss(CrossEncoderLoss):
    """MSE between the student's margins act(s(q, p)) - act(s(q, n_i)) and the gold margins.

    loss = mean_{b,i} (act(s(q_b, p_b)) - act(s(q_b, n_bi)) - m_bi)^2, where the gold margins m (B, k) are given
    directly, or derived from gold scores (B, k+1) as m_bi = g_b0 - g_bi. The "positive" and "negatives" need not be
    relevant / irrelevant: only the margin matters.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, doc_1, doc_2) | gold margin g(q, doc_1) - g(q, doc_2) | 1 |
    | (query, doc_1, doc_2) | [g(q, doc_1), g(q, doc_2)] | 1 |
    | (query, positive, negative_1, ..., negative_k) | k margins, or k+1 gold scores | 1 |

    Cost: (k+1) forward passes of B pairs; memory grows linearly with B·(k+1).

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        activation_fn: applied to every logit before taking margins (default identity).
        **kwargs: extra arguments of `torch.nn.functional.mse_loss` (`reduction`).
    """

    citation = """
@misc{hofstatter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofst{\\"a}tter and Sophia Althammer and Michael Schr{\\"o}der and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""

    def __init__(self, model: nn.Module, activation_fn: nn.Module = IDENTITY, **kwargs) -> None:
        super().__init__(model)
        self.activation_fn = activation_fn
        self.mse_kwargs = kwargs
        check_num_labels(type(self).__name__, model, 1)

    def forward(self, inputs: list[list[str]], labels: Tensor | list[Tensor]) -> Tensor:
        columns = check_text_columns(type(self).__name__, inputs, 3, None)
        queries = columns[0]
        # One forward pass per document column keeps peak memory at B pairs. Each: (B, 1).
        scores = torch.cat([score_pairs(self.model, list(zip(queries, docs))) for docs in columns[1:]], dim=1)
        return self.compute_loss_from_scores(scores, labels)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor | list[Tensor]) -> Tensor:
        """scores: raw logits (B, 1 + k), column 0 the positive; labels: (B,), (B, k) margins or (B, k + 1) scores."""
        margins = self._gold_margins(labels, scores.shape[0], scores.shape[1] - 1).to(scores.device)
        logits = self.activation_fn(scores)
        student = logits[:, :1] - logits[:, 1:]  # (B, k)
        return F.mse_loss(student, margins.detach().float(), **self.mse_kwargs)

    @staticmethod
    def _gold_margins(labels, batch: int, num_neg: int) -> Tensor:
        if labels is None:
            raise ValueError(
                "MarginMSELoss needs gold margins or gold scores as labels, but got labels=None."
            )
        if isinstance(labels, (list, tuple)):
            labels = torch.stack([torch.as_tensor(x) for x in labels])
        labels = torch.as_tensor(labels)
        if labels.shape == (batch, num_neg + 1):  # gold scores -> margins against the positive
            labels = labels[:, :1] - labels[:, 1:]
        if labels.shape == (batch,):
            labels = labels.unsqueeze(1)
        if labels.shape != (batch, num_neg):
            raise ValueError(
                f"MarginMSELoss: labels of shape {tuple(labels.shape)} do not fit {num_neg} negative column(s) and "
                f"batch {batch}. Expected ({batch}, {num_neg}) margins g(q,pos) - g(q,neg_i), or ({batch}, "
                f"{num_neg + 1}) gold scores [g(q,pos), g(q,neg_1), ...]."
            )
        return labels

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=3,
            max_inputs=None,
            label=LABEL_REQUIRED,
            label_kind="vector",
            label_shape="(batch,), (batch, num_negatives) margins or (batch, num_negatives + 1) scores",
            num_labels=1,
            model_kinds=("cross",),
        )

    def get_config_dict(self) -> dict:
        return {"activation_fn": fullname(self.activation_fn)}


__all__ = ["MarginMSELoss"]
