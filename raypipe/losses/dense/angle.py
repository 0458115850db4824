"""AnglELoss (Li & Li, 2023): CoSENT on the angle similarity in complex space."""

from __future__ import annotations

import torch
from torch import Tensor

from raypipe.losses.base import LABEL_OPTIONAL, LossRequirements
from raypipe.losses.dense._dense_checks import (
    check_num_columns,
    check_one_label_per_example,
    check_same_batch,
)
from raypipe.losses.dense.cosent import CoSENTLoss, cosent_from_scores
from raypipe.models.similarity import pairwise_angle_sim


class AnglELoss(CoSENTLoss):
    """AnglE: CoSENT with `pairwise_angle_sim` (|cos + sin| of the complex view of the normalized embeddings),
    which keeps gradients alive where cosine saturates.

    loss = log(1 + Σ_{label_i < label_j} exp(scale · (angle(u_i, v_i) − angle(u_j, v_j)))).

    | Inputs                                  | Labels                       |
    |-----------------------------------------|------------------------------|
    | (sentence_A, sentence_B) pairs          | float similarity score       |
    | (anchor, positive, negative_1..n)       | none (or per-row positive score) |

    With more than 2 columns, rows become (anchor, positive) pairs scored `label` (default 1) and
    (anchor, negative_k) pairs scored `1 − label`. Cost: O(n·D + n²) with n = B·(columns − 1).
    Reference: Li & Li, "AnglE-optimized Text Embeddings", arXiv:2309.12871.
    """

    citation = """
@misc{li2023angleoptimized,
    title={AnglE-optimized Text Embeddings},
    author={Xianming Li and Jing Li},
    year={2023},
    eprint={2309.12871},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}
"""

    def __init__(self, model, scale: float = 20.0) -> None:
        super().__init__(model, scale=scale, similarity_fct=pairwise_angle_sim)

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=None,
            label=LABEL_OPTIONAL,
            label_kind="float",
            label_shape="(batch,)",
            model_kinds=("dense",),
            notes="pairs need a float score; (anchor, positive, negatives...) need no label",
        )

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        check_num_columns(self, len(embeddings), 2, None)
        check_same_batch(self, embeddings)
        batch = embeddings[0].shape[0]
        if len(embeddings) == 2:
            labels = check_one_label_per_example(self, labels, batch)
            if labels.dtype == torch.bool:
                labels = labels.int()
            return cosent_from_scores(self.similarity_fct(embeddings[0], embeddings[1]), labels, self.scale)
        if labels is None:
            labels = torch.ones(batch, device=embeddings[0].device)
        labels = check_one_label_per_example(self, labels, batch)
        num_others = len(embeddings) - 1
        # rows: (a, p) for the whole batch, then (a, n_1), ..., (a, n_k); shapes (B·k, D)
        anchors = embeddings[0].repeat(num_others, 1)
        others = torch.cat(embeddings[1:], dim=0)
        pair_labels = torch.cat([labels, (1 - labels).repeat(num_others - 1)], dim=0)
        return cosent_from_scores(self.similarity_fct(anchors, others), pair_labels, self.scale)


__all__ = ["AnglELoss"]
