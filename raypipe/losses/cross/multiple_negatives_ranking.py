"""MultipleNegativesRankingLoss for CrossEncoders: pick the positive among sampled in-batch and hard negatives."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raypipe.losses.base import LABEL_NONE, LossRequirements
from raypipe.losses.cross._common import (
    SIGMOID,
    CrossEncoderLoss,
    check_num_labels,
    check_text_columns,
    fullname,
    score_pairs,
)


class MultipleNegativesRankingLoss(CrossEncoderLoss):
    """In-batch negatives (InfoNCE) for a CrossEncoder.

    For anchor a_b the candidates are its positive p_b, `num_negatives` documents sampled uniformly without
    replacement from the *other* rows' positives and hard negatives (all of them when `num_negatives` is None or
    at least their number (B-1)·(1+h)), and its own h hard negatives. With s the raw logit of (a_b, candidate):

        z_bj = scale · act(s_bj),   loss = mean_b CE(z_b, target = 0 (the positive))

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (anchor, positive) pairs | none | 1 |
    | (anchor, positive, negative_1, ..., negative_h) | none | 1 |

    Cost: B·(1 + n + h) model pairs per step, n = min(num_negatives, (B-1)(1+h)); with num_negatives=None that
    is quadratic in B. One forward pass of B pairs per candidate column; all graphs stay alive until backward
    (CachedMultipleNegativesRankingLoss bounds that memory).

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        num_negatives: in-batch negatives sampled per anchor (torch.multinomial, global RNG); None = all.
        scale: multiplier of the activated logits (inverse temperature).
        activation_fn: applied to the logits before scaling (default sigmoid); None = identity.

    Reference: Henderson et al., Efficient Natural Language Response Suggestion for Smart Reply, section 4.4.
    """

    citation = """
@misc{henderson2017efficient,
    title={Efficient Natural Language Response Suggestion for Smart Reply},
    author={Matthew Henderson and Rami Al-Rfou and Brian Strope and Yun-hsuan Sung and Laszlo Lukacs and Ruiqi Guo
        and Sanjiv Kumar and Balint Miklos and Ray Kurzweil},
    year={2017},
    eprint={1705.00652},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}
"""

    def __init__(
        self,
        model: nn.Module,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation_fn: nn.Module | None = SIGMOID,
    ) -> None:
        super().__init__(model)
        if num_negatives is not None and (not isinstance(num_negatives, int) or num_negatives < 0):
            raise ValueError(
                f"{type(self).__name__}: num_negatives must be None (all in-batch negatives) or an int >= 0, "
                f"got {num_negatives!r}."
            )
        self.num_negatives = num_negatives
        self.scale = scale
        self.activation_fn = activation_fn
        check_num_labels(type(self).__name__, model, 1)

    def sample_negative_indices(self, batch_size: int, num_columns: int) -> Tensor:
        """(B, n) indices into the column-major flattened candidates [col_0 rows..., col_1 rows..., ...].

        Row b never gets index c·B + b (its own positive or hard negatives). Uniform sampling without replacement
        when num_negatives is below the (B-1)·num_columns valid candidates, else all of them in index order.
        """
        own = torch.eye(batch_size, dtype=torch.bool).repeat(1, num_columns)  # (B, B·C): True = own candidate
        valid = (batch_size - 1) * num_columns
        if self.num_negatives is not None and self.num_negatives < valid:
            if self.num_negatives == 0:
                return torch.empty(batch_size, 0, dtype=torch.long)
            return torch.multinomial((~own).float(), self.num_negatives)
        candidates = torch.arange(batch_size * num_columns).expand(batch_size, -1)
        return candidates[~own].reshape(batch_size, valid)

    def build_pair_columns(self, inputs: list[list[str]]) -> list[list[tuple[str, str]]]:
        """Pair columns in score order: [(a, positive)], then n in-batch negatives, then h hard negatives."""
        columns = check_text_columns(type(self).__name__, inputs, 2, None)
        anchors, candidates = columns[0], columns[1:]
        flat = [doc for col in candidates for doc in col]
        neg_idx = self.sample_negative_indices(len(anchors), len(candidates))  # (B, n)
        sampled = [[flat[i] for i in row] for row in neg_idx.T.tolist()]  # n columns of B docs
        return [list(zip(anchors, docs)) for docs in [candidates[0], *sampled, *candidates[1:]]]

    def forward(self, inputs: list[list[str]], labels: Tensor | None = None) -> Tensor:
        pair_columns = self.build_pair_columns(inputs)
        # One forward pass per candidate column (B pairs each) -> (B, 1 + n + h).
        scores = torch.cat([score_pairs(self.model, pairs) for pairs in pair_columns], dim=1)
        return self.compute_loss_from_scores(scores)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor | None = None) -> Tensor:
        """scores: raw logits (B, 1 + n + h), column 0 the positive. `labels` is ignored (target is column 0)."""
        logits = self.activation_fn(scores) if self.activation_fn is not None else scores
        if self.scale:
            logits = logits * self.scale
        target = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        return F.cross_entropy(logits, target)

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=None,
            label=LABEL_NONE,
            num_labels=1,
            model_kinds=("cross",),
            notes="needs >= 2 rows per batch for in-batch negatives; avoid duplicate positives in a batch",
        )

    def get_config_dict(self) -> dict:
        return {
            "scale": self.scale,
            "num_negatives": self.num_negatives,
            "activation_fn": fullname(self.activation_fn),
        }


__all__ = ["MultipleNegativesRankingLoss"]
