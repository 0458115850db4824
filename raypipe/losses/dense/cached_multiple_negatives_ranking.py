"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss computed with GradCache."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from raypipe.losses.dense._gradcache import chunked_backward, gradcache_forward, validate_mini_batch_args
from raypipe.losses.dense.multiple_negatives_ranking import (
    MultipleNegativesRankingLoss,
    gather_columns,
    mnrl_chunk_loss,
)
from raypipe.models.similarity import cos_sim

CITATION_GRADCACHE = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


class CachedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss (same formula, parameters and inputs) with a memory cost that does not grow
    with the batch's model activations.

        loss = -mean_i [ scale·s(q_i, p_i) - logsumexp_j scale·s(q_i, d_j) ]   (+ the optional directions)

    GradCache (Gao et al. 2021): embed every column in mini-batches of `mini_batch_size` rows (or greedily up to
    `mini_batch_num_tokens` non-padding tokens) without autograd, compute the loss on the cached embeddings
    (score rows chunked by `mini_batch_size`) and back-propagate it to them, then on `loss.backward()` re-run each
    mini-batch with autograd under its saved RNG state and push the cached gradients through the model.

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) | none |
    | (anchor, positive, negative) | none |
    | (anchor, positive, negative_1, ..., negative_n) | none |

    Memory: activations of one mini-batch + O(B · (1 + n) · D) embeddings + O(mini_batch_size · W · (1 + n))
    scores; time: about 2 forward passes + 1 backward. The loss equals the non-cached one (float rounding aside).

    Citation: Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"
    (arXiv:2101.06983).
    """

    def __init__(
        self,
        model,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        directions: tuple[str, ...] = ("query_to_doc",),
        partition_mode: str = "joint",
        show_progress_bar: bool = False,
        hardness_mode: str | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=directions,
            partition_mode=partition_mode,
            hardness_mode=hardness_mode,
            hardness_strength=hardness_strength,
        )
        validate_mini_batch_args(type(self).__name__, mini_batch_size, mini_batch_num_tokens)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    uses_gradient_cache = True

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        self._check_columns(len(sentence_features))
        return gradcache_forward(
            self.model,
            sentence_features,
            lambda embeddings: self.loss_on_cached_embeddings(embeddings, labels),
            mini_batch_size=self.mini_batch_size,
            mini_batch_num_tokens=self.mini_batch_num_tokens,
            show_progress_bar=self.show_progress_bar,
            loss_name=type(self).__name__,
        )

    def loss_on_cached_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss on full-batch embeddings, back-propagated chunk by chunk (mini_batch_size score rows at a time)
        into `embeddings` when they require grad; returns the detached value. Used as GradCache's loss stage."""
        queries, docs, offset = gather_columns(embeddings, self.gather_across_devices)
        local = embeddings[0].shape[0]

        def chunk(leaves: list[Tensor], begin: int, end: int) -> Tensor:
            return mnrl_chunk_loss(self, leaves[0], leaves[1:], offset, local, begin, end)

        with torch.enable_grad() if embeddings[0].requires_grad else torch.no_grad():
            return chunked_backward([queries, *docs], chunk, local, self.mini_batch_size)

    def get_config_dict(self) -> dict:
        config = super().get_config_dict()
        config["mini_batch_size"] = self.mini_batch_size
        config["mini_batch_num_tokens"] = self.mini_batch_num_tokens
        return config

    @property
    def citation(self) -> str:
        return CITATION_GRADCACHE


__all__ = ["CachedMultipleNegativesRankingLoss"]
