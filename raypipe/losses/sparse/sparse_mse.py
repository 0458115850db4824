"""SparseMSELoss: MSE distillation of sparse embeddings onto teacher embeddings (usable standalone)."""

from __future__ import annotations

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.mse import MSELoss
from raypipe.losses.sparse._guard import sparse_requirements


class SparseMSELoss(MSELoss):
    """MSE between the student's sparse embeddings and pre-computed teacher embeddings; the math is MSELoss's::

        loss = mean over columns c of mean((student_c − teacher)²)

    The only ``Sparse*`` loss usable on its own (it has no need for SpladeLoss's regularizers when the teacher is
    itself sparse), though it also works as SpladeLoss's base loss.

    | Inputs | Labels |
    |---|---|
    | text column(s), e.g. (source) or (source, translation) | teacher embeddings (B, V) |

    Cost: O(columns · B · V). Citation: Reimers & Gurevych, 2020, "Making Monolingual Sentence Embeddings
    Multilingual using Knowledge Distillation" (arXiv:2004.09813).
    """

    def __init__(self, model) -> None:
        super().__init__(model)

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements(), standalone=True)


__all__ = ["SparseMSELoss"]
