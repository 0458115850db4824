"""MarginMSELoss (Hofstätter et al., 2020): distil a teacher's score margins."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import (
    check_num_columns,
    check_same_batch,
    loss_name,
    require_labels,
    similarity_fct_name,
)
from raypipe.models.similarity import pairwise_dot_score


class MarginMSELoss(RaypipeLoss):
    """loss = MSE(s(q, p) − s(q, n_k), margin_k) over rows and negatives k.

    | Inputs                              | Labels                                                    |
    |-------------------------------------|-----------------------------------------------------------|
    | (query, positive, negative_1..n_k)  | teacher margins (B, k), or teacher scores [pos, negs] (B, k+1), or one margin (B,) when k = 1 |

    Cost: O(B·D·k). Reference: Hofstätter et al., "Improving Efficient Neural Ranking Models with
    Cross-Architecture Knowledge Distillation", arXiv:2010.02666.
    """

    citation = """
@misc{hofstätter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofstätter and Sophia Althammer and Michael Schröder and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""

    def __init__(self, model, similarity_fct=pairwise_dot_score) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.loss_fct = nn.MSELoss()

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=3,
            max_inputs=None,
            label=LABEL_REQUIRED,
            label_kind="float",
            label_shape="(batch, num_negatives) or (batch, num_negatives + 1) or (batch,)",
            model_kinds=("dense",),
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 3, None)
        require_labels(self, labels, "teacher margins (batch, num_negatives)")
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def _margins(self, labels: Tensor, batch: int, k: int) -> Tensor:
        labels = require_labels(self, labels, f"teacher margins ({batch}, {k})")
        if labels.shape == (batch, k + 1):  # scores [pos, neg_1..neg_k] -> margins
            labels = labels[:, :1] - labels[:, 1:]
        elif labels.shape == (batch,):
            labels = labels[:, None]
        if labels.shape != (batch, k):
            raise ValueError(
                f"{loss_name(self)} expects labels of shape ({batch}, {k}) (pos − neg margins) or ({batch}, {k + 1}) "
                f"(teacher scores [pos, negs]), but got {tuple(labels.shape)}. Fix: store one margin per negative "
                f"column, or the teacher's positive score followed by its negative scores."
            )
        return labels.detach()

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        check_num_columns(self, len(embeddings), 3, None)
        check_same_batch(self, embeddings)
        query, positive, negatives = embeddings[0], embeddings[1], embeddings[2:]
        margins = self._margins(labels, query.shape[0], len(negatives))
        pos_score = self.similarity_fct(query, positive)  # (B,)
        pred = torch.stack(
            [pos_score - self.similarity_fct(query, neg) for neg in negatives], dim=1
        )  # (B, k)
        return self.loss_fct(pred, margins.to(pred.dtype))

    def get_config_dict(self) -> dict:
        return {"similarity_fct": similarity_fct_name(self.similarity_fct)}


__all__ = ["MarginMSELoss"]
