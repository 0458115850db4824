"""CosineSimilarityLoss: regress cos(u, v) onto a gold similarity score."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import (
    check_num_columns,
    check_one_label_per_example,
    check_same_batch,
    fullname,
)


class CosineSimilarityLoss(RaypipeLoss):
    """loss = loss_fct(cos_score_transformation(cos(u, v)), label), by default the MSE between cos(u, v) and
    the gold score. Prefer CoSENTLoss/AnglELoss, which usually train better on the same data.

    | Inputs                  | Labels                          |
    |-------------------------|---------------------------------|
    | (sentence_A, sentence_B) pairs | float similarity score (e.g. in [0, 1]) |

    Cost: O(B·D). Reference: Reimers & Gurevych, "Sentence-BERT", EMNLP 2019.
    """

    citation = """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""

    def __init__(
        self,
        model,
        loss_fct: nn.Module = nn.MSELoss(),  # noqa: B008 - same (stateless) defaults as sentence-transformers
        cos_score_transformation: nn.Module = nn.Identity(),  # noqa: B008
    ) -> None:
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct
        self.cos_score_transformation = cos_score_transformation

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
        check_num_columns(self, len(sentence_features), 2, 2)
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        check_num_columns(self, len(embeddings), 2, 2)
        check_same_batch(self, embeddings)
        labels = check_one_label_per_example(self, labels, embeddings[0].shape[0])
        cos = torch.cosine_similarity(embeddings[0], embeddings[1])  # (B,)
        return self.loss_fct(self.cos_score_transformation(cos), labels.float())

    def get_config_dict(self) -> dict:
        return {
            "loss_fct": fullname(self.loss_fct),
            "cos_score_transformation": fullname(self.cos_score_transformation),
        }


__all__ = ["CosineSimilarityLoss"]
