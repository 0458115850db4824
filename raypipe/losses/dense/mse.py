"""MSELoss: regress the student's embeddings onto teacher embeddings (multilingual distillation)."""

from __future__ import annotations

from raypipe.losses.dense.embed_distill import EmbedDistillLoss


class MSELoss(EmbedDistillLoss):
    """MSE between student and teacher embeddings: loss = mean over columns of mean((s_c − t)²)
    (EmbedDistillLoss with distance_metric="mse"); an optional learnable projection maps the student to the
    teacher's dimension.

    | Inputs          | Labels                                        |
    |-----------------|-----------------------------------------------|
    | text column(s) (e.g. source, translation) | teacher embedding of the source (B, d) |

    Cost: O(B·D·columns). Reference: Reimers & Gurevych, "Making Monolingual Sentence Embeddings Multilingual
    using Knowledge Distillation", EMNLP 2020.
    """

    citation = """
@inproceedings{reimers-2020-multilingual-sentence-bert,
    title = "Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2020",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/2004.09813",
}
"""

    def __init__(self, model, projection_dim: int | None = None) -> None:
        super().__init__(model, distance_metric="mse", projection_dim=projection_dim)

    def get_config_dict(self) -> dict:
        return {"projection_dim": self.projection_dim}


__all__ = ["MSELoss"]
