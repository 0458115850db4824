"""MSELoss: regress a CrossEncoder's logit onto a teacher score (distillation)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements
from raypipe.losses.cross._common import (
    IDENTITY,
    CrossEncoderLoss,
    check_num_labels,
    fullname,
    single_logits,
)


class MSELoss(CrossEncoderLoss):
    """Mean squared error between act(logit) and a target score.

    loss = mean_i (act(s_i) - y_i)^2, s_i the raw logit of pair i and y_i e.g. a teacher CrossEncoder's score.
    Mind the scales: a teacher that outputs sigmoid probabilities wants `activation_fn=nn.Sigmoid()`.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (sentence_A, sentence_B) pairs | float score | 1 |

    Cost: one forward pass over B pairs; memory grows linearly with the batch.

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        activation_fn: applied to the logits before the loss (default identity).
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

    def forward(self, inputs: list[list[str]], labels: Tensor) -> Tensor:
        scores, labels = self.score_pointwise(inputs, labels)  # scores (B, 1), labels (B,)
        return self.compute_loss_from_scores(scores, labels)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor) -> Tensor:
        """scores: raw logits (B,) or (B, 1); labels: (B,) target scores (no gradient flows into them)."""
        logits = self.activation_fn(single_logits(type(self).__name__, scores))
        target = labels.detach().reshape(-1).to(device=logits.device, dtype=torch.float32)
        return F.mse_loss(logits, target, **self.mse_kwargs)

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="float",
            label_shape="(batch,)",
            num_labels=1,
            model_kinds=("cross",),
        )

    def get_config_dict(self) -> dict:
        return {"activation_fn": fullname(self.activation_fn)}


__all__ = ["MSELoss"]
