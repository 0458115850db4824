"""ContrastiveTensionLossInBatchNegatives (Carlsson et al., ICLR 2021): CT with in-batch negatives."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.dense._dense_checks import check_num_columns, similarity_fct_name
from raypipe.losses.dense.contrastive_tension import CT_CITATION
from raypipe.models.similarity import cos_sim


class ContrastiveTensionLossInBatchNegatives(RaypipeLoss):
    """Contrastive Tension with in-batch negatives: S = similarity_fct(model1(x), model2(x)) · exp(logit_scale)
    (B, B), logit_scale a trainable scalar initialized to ln(scale); loss = (CE(S, I) + CE(Sᵀ, I)) / 2.

    | Inputs        | Labels |
    |---------------|--------|
    | single text   | none   |

    model1 (a deep copy of `model`) and logit_scale belong to the loss: optimize the loss's parameters too.
    Cost: two forward passes, O(B²·D) for the scores.
    """

    citation = CT_CITATION

    def __init__(self, model, scale: float = 20.0, similarity_fct=cos_sim) -> None:
        super().__init__()
        self.model2 = model
        self.model1 = copy.deepcopy(model)
        self.similarity_fct = similarity_fct
        self.cross_entropy_loss = nn.CrossEntropyLoss()
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(scale))

    @property
    def model(self):
        return self.model2

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=1,
            max_inputs=1,
            model_kinds=("dense",),
            notes="optimize the loss's own parameters (model1, logit_scale) too",
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 1, 1)
        features = sentence_features[0]
        emb1 = self.model1(features)["sentence_embedding"]  # (B, D)
        emb2 = self.model2(features)["sentence_embedding"]  # (B, D)
        scores = self.similarity_fct(emb1, emb2) * self.logit_scale.exp()  # (B, B)
        target = torch.arange(scores.shape[0], device=scores.device)
        return (self.cross_entropy_loss(scores, target) + self.cross_entropy_loss(scores.T, target)) / 2

    def get_config_dict(self) -> dict:
        return {
            "scale": self.logit_scale.exp().item(),
            "similarity_fct": similarity_fct_name(self.similarity_fct),
        }


__all__ = ["ContrastiveTensionLossInBatchNegatives"]
