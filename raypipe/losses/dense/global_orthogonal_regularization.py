"""GlobalOrthogonalRegularizationLoss (Zhang et al., 2017): spread embeddings out over the sphere."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from raypipe.losses.base import LABEL_OPTIONAL, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import check_num_columns, loss_name, similarity_fct_name
from raypipe.models.similarity import cos_sim


class GlobalOrthogonalRegularizationLoss(RaypipeLoss):
    """Global orthogonal regularization. Per column, with S the (B, B) similarity matrix and M = B(B − 1)
    off-diagonal entries: mean_term = (Σ_{i≠j} S_ij / M)², second_moment = relu(Σ_{i≠j} S_ij² / M − 1/d).
    Returns {"gor_mean": mean_weight · agg(mean_term), "gor_second_moment": second_moment_weight · agg(second)},
    agg = mean or sum over columns (a term with weight 0/None is left out). Meant to be added to another loss.

    | Inputs            | Labels |
    |-------------------|--------|
    | any text columns  | any (ignored) |

    Cost: O(B²·D) time, O(B²) memory per column. Reference: Zhang et al., "Learning Spread-out Local Feature
    Descriptors", ICCV 2017 (arXiv:1708.06320).
    """

    citation = """
@misc{zhang2017learningspreadoutlocalfeature,
    title={Learning Spread-out Local Feature Descriptors},
    author={Xu Zhang and Felix X. Yu and Sanjiv Kumar and Shih-Fu Chang},
    year={2017},
    eprint={1708.06320},
    archivePrefix={arXiv},
    primaryClass={cs.CV},
    url={https://arxiv.org/abs/1708.06320},
}
"""

    def __init__(
        self,
        model,
        similarity_fct=cos_sim,
        mean_weight: float | None = 1.0,
        second_moment_weight: float | None = 1.0,
        aggregation: str = "mean",
    ) -> None:
        super().__init__()
        if not mean_weight and not second_moment_weight:
            raise ValueError(
                f"{loss_name(self)}: mean_weight={mean_weight!r} and second_moment_weight={second_moment_weight!r} "
                f"leave no term to compute. Fix: set at least one to a non-zero value."
            )
        if aggregation not in ("mean", "sum"):
            raise ValueError(
                f"{loss_name(self)}: aggregation={aggregation!r} is not supported; allowed: 'mean', 'sum'."
            )
        self.model = model
        self.similarity_fct = similarity_fct
        self.mean_weight = mean_weight
        self.second_moment_weight = second_moment_weight
        self.aggregation = aggregation

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=1,
            max_inputs=None,
            label=LABEL_OPTIONAL,
            model_kinds=("dense",),
            notes="labels are ignored; returns a dict of terms; combine it with a main loss",
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> dict:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 1, None)
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features))

    def compute_gor(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        """(B, D) -> (mean_term, second_moment_term), two scalars."""
        batch, dim = embeddings.shape
        sim = self.similarity_fct(embeddings, embeddings)  # (B, B)
        off_diag = ~torch.eye(batch, dtype=torch.bool, device=sim.device)
        sim = sim * off_diag
        num_off_diag = max(batch * (batch - 1), 1)
        mean_term = (sim.sum() / num_off_diag).pow(2)
        second_moment = torch.relu(sim.pow(2).sum() / num_off_diag - 1.0 / dim)
        return mean_term, second_moment

    def _aggregate(self, terms: list[Tensor]) -> Tensor:
        stacked = torch.stack(terms)
        return stacked.sum() if self.aggregation == "sum" else stacked.mean()

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> dict:
        check_num_columns(self, len(embeddings), 1, None)
        mean_terms, second_terms = zip(*(self.compute_gor(e) for e in embeddings))
        out = {}
        if self.mean_weight:
            out["gor_mean"] = self.mean_weight * self._aggregate(list(mean_terms))
        if self.second_moment_weight:
            out["gor_second_moment"] = self.second_moment_weight * self._aggregate(list(second_terms))
        return out

    def get_config_dict(self) -> dict:
        return {
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "mean_weight": self.mean_weight,
            "second_moment_weight": self.second_moment_weight,
            "aggregation": self.aggregation,
        }


__all__ = ["GlobalOrthogonalRegularizationLoss"]
