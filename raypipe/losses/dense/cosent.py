"""CoSENTLoss (Su, 2022): a pairwise ranking loss on similarity scores of (text, text, score) rows."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import (
    check_num_columns,
    check_one_label_per_example,
    check_same_batch,
    similarity_fct_name,
)
from raypipe.models.similarity import pairwise_cos_sim


def cosent_from_scores(scores: Tensor, labels: Tensor, scale: float) -> Tensor:
    """log(1 + Σ_{(i, j): label_i < label_j} exp(scale · (s_i − s_j))) for scores and labels of shape (n,).

    Every ordered pair whose similarity order contradicts its label order adds a term. Cost: O(n²) time and memory
    (the pair matrix); n is one batch of pairs, so this stays small.
    """
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    scores = scores * scale
    diff = scores[:, None] - scores[None, :]  # (n, n): s_i - s_j
    wrong_order = labels[:, None] < labels[None, :]  # (n, n): label_i < label_j
    diff = diff.masked_fill(~wrong_order, float("-inf"))
    # prepend the "1 +" term as exp(0)
    return torch.logsumexp(torch.cat((diff.new_zeros(1), diff.reshape(-1))), dim=0)


class CoSENTLoss(RaypipeLoss):
    """CoSENT: for all pairs of rows (i, j) whose gold score says j is more similar than i,
    penalize s_i > s_j:  loss = log(1 + Σ_{label_i < label_j} exp(scale · (s(u_i, v_i) − s(u_j, v_j)))).

    `similarity_fct` is a pairwise function (n, d), (n, d) -> (n,) (default cosine). Stronger than
    CosineSimilarityLoss on STS-style data because only the order of scores matters.

    | Inputs                  | Labels                      |
    |-------------------------|-----------------------------|
    | (sentence_A, sentence_B) pairs | float similarity score |

    Cost: O(B·D + B²). Reference: Jianlin Su, "CoSENT", https://kexue.fm/archives/8847.
    """

    citation = """
@online{kexuefm-8847,
    title={CoSENT: A more efficient sentence vector scheme than Sentence-BERT},
    author={Su Jianlin},
    year={2022},
    month={Jan},
    url={https://kexue.fm/archives/8847},
}
"""

    def __init__(self, model, scale: float = 20.0, similarity_fct=pairwise_cos_sim) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.similarity_fct = similarity_fct

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="float",
            label_shape="(batch,)",
            model_kinds=("dense",),
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        sentence_features = list(sentence_features)
        req = self.input_requirements()
        check_num_columns(self, len(sentence_features), req.min_inputs, req.max_inputs)
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        check_num_columns(self, len(embeddings), 2, 2)
        check_same_batch(self, embeddings)
        labels = check_one_label_per_example(self, labels, embeddings[0].shape[0])
        if labels.dtype == torch.bool:
            labels = labels.int()
        scores = self.similarity_fct(embeddings[0], embeddings[1])  # (B,)
        return cosent_from_scores(scores, labels, self.scale)

    def get_config_dict(self) -> dict:
        return {"scale": self.scale, "similarity_fct": similarity_fct_name(self.similarity_fct)}


__all__ = ["CoSENTLoss"]
