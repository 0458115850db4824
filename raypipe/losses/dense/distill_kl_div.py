"""DistillKLDivLoss: distil a teacher's score distribution over (positive, negatives) with a KL divergence."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import (
    check_same_batch,
    loss_name,
    require_labels,
    similarity_fct_name,
)
from raypipe.models.similarity import pairwise_dot_score


class DistillKLDivLoss(RaypipeLoss):
    """loss = T_s² · KL(softmax(teacher / T_t) ‖ softmax(student / T_s)), averaged over the batch ("batchmean"),
    where student_k = s(q, c_k) over the N = columns − 1 candidates (positive first, then negatives).
    `student_temperature` and `teacher_temperature` default to `temperature`.

    | Inputs                                 | Labels                              |
    |----------------------------------------|-------------------------------------|
    | (query, positive, negative_1..n), ≥ 3 columns | teacher scores (B, N) for the N candidates |

    Cost: O(B·D·N). Reference: Lin et al., "Distilling Dense Representations for Ranking using Tightly-Coupled
    Teachers", arXiv:2010.11386.
    """

    citation = """
@misc{lin2020distillingdenserepresentationsranking,
    title={Distilling Dense Representations for Ranking using Tightly-Coupled Teachers},
    author={Sheng-Chieh Lin and Jheng-Hong Yang and Jimmy Lin},
    year={2020},
    eprint={2010.11386},
    archivePrefix={arXiv},
    primaryClass={cs.IR},
    url={https://arxiv.org/abs/2010.11386},
}
"""

    def __init__(
        self,
        model,
        similarity_fct=pairwise_dot_score,
        temperature: float = 1.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.temperature = temperature
        self.student_temperature = temperature if student_temperature is None else student_temperature
        self.teacher_temperature = temperature if teacher_temperature is None else teacher_temperature
        for name in ("temperature", "student_temperature", "teacher_temperature"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise ValueError(
                    f"{loss_name(self)}: {name}={value!r} is not allowed; it must be a positive finite number. "
                    f"Fix: pass e.g. 1.0."
                )
        self.loss_fct = nn.KLDivLoss(reduction="batchmean")

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=3,
            max_inputs=None,
            label=LABEL_REQUIRED,
            label_kind="float",
            label_shape="(batch, num_columns - 1)",
            model_kinds=("dense",),
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        sentence_features = list(sentence_features)
        self._check_columns(len(sentence_features))
        require_labels(self, labels, "teacher scores (batch, num_candidates)")
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def _check_columns(self, num: int) -> None:
        if num < 3:
            raise ValueError(
                f"{loss_name(self)} expects at least 3 input columns (query, positive, negative_1, ...), but got "
                f"{num}. A softmax over a single candidate is constant, so the loss would be zero. "
                f"Fix: add at least one negative column."
            )

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        self._check_columns(len(embeddings))
        check_same_batch(self, embeddings)
        query, candidates = embeddings[0], embeddings[1:]
        batch, n_ways = query.shape[0], len(candidates)
        labels = require_labels(self, labels, f"teacher scores ({batch}, {n_ways})")
        if labels.shape != (batch, n_ways):
            raise ValueError(
                f"{loss_name(self)} expects teacher scores of shape ({batch}, {n_ways}) (one per candidate column), "
                f"but got {tuple(labels.shape)}. Fix: score the positive and every negative with the teacher."
            )
        student = torch.stack([self.similarity_fct(query, c) for c in candidates], dim=1)  # (B, N)
        student_log_probs = torch.log_softmax(student / self.student_temperature, dim=1)
        teacher_probs = torch.softmax(labels.detach().to(student.dtype) / self.teacher_temperature, dim=1)
        return self.loss_fct(student_log_probs, teacher_probs) * self.student_temperature**2

    def get_config_dict(self) -> dict:
        config = {"similarity_fct": similarity_fct_name(self.similarity_fct), "temperature": self.temperature}
        if self.student_temperature != self.temperature:
            config["student_temperature"] = self.student_temperature
        if self.teacher_temperature != self.temperature:
            config["teacher_temperature"] = self.teacher_temperature
        return config


__all__ = ["DistillKLDivLoss"]
