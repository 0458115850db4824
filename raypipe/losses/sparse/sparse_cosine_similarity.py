"""SparseCosineSimilarityLoss: CosineSimilarityLoss on sparse embeddings (inside SpladeLoss / CSRLoss)."""

from __future__ import annotations

from torch import nn

from raypipe.losses.base import LossRequirements
from raypipe.losses.dense.cosine_similarity import CosineSimilarityLoss
from raypipe.losses.sparse._guard import StandaloneForwardGuard, set_cosine_similarity, sparse_requirements


class SparseCosineSimilarityLoss(StandaloneForwardGuard, CosineSimilarityLoss):
    """Regression of the cosine similarity onto a gold score; the math is CosineSimilarityLoss's::

        loss = loss_fct(cos_score_transformation(cos(u_i, v_i)), label_i)     (default: MSE)

    Sets the model's ``similarity_fn_name`` to "cosine". Base loss only: use inside :class:`SpladeLoss` or
    :class:`CSRLoss` (a standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | (sentence_A, sentence_B) pairs | float similarity score (e.g. in [0, 1]) |

    Cost: O(B·V). Citation: Reimers & Gurevych, 2019, "Sentence-BERT" (arXiv:1908.10084).
    """

    def __init__(
        self,
        model,
        loss_fct: nn.Module = nn.MSELoss(),  # noqa: B008 - same (stateless) defaults as sentence-transformers
        cos_score_transformation: nn.Module = nn.Identity(),  # noqa: B008
    ) -> None:
        set_cosine_similarity(model)
        super().__init__(model, loss_fct=loss_fct, cos_score_transformation=cos_score_transformation)

    def input_requirements(self) -> LossRequirements:
        return sparse_requirements(super().input_requirements())


__all__ = ["SparseCosineSimilarityLoss"]
