"""CachedSpladeLoss: SpladeLoss computed with GradCache, for large batches at small-batch activation memory."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.dense._gradcache import gradcache_forward, validate_mini_batch_args
from raypipe.losses.sparse.splade import SpladeLoss


def split_total(total: Tensor, components: dict[str, Tensor]) -> dict[str, Tensor]:
    """Named terms that still sum to `total` while only `total` carries the gradient: the first term is rebuilt
    as `total - (sum of the other, detached, terms)`; the others are kept for logging only."""
    if not total.requires_grad or not components:
        return components
    first = next(iter(components))
    others = [value for key, value in components.items() if key != first]
    rest = torch.stack(others).sum() if others else torch.zeros_like(total)
    return {**components, first: total - rest}


class CachedSpladeLoss(SpladeLoss):
    """:class:`SpladeLoss` with GradCache (Gao et al., 2021): same value, same gradients, but the model only ever
    holds the activations of one mini-batch.

    1. Embed every column in mini-batches of ``mini_batch_size`` rows (or ``mini_batch_num_tokens`` tokens)
       without autograd.
    2. Compute the full SpladeLoss (base loss + weighted regularizers) on the cached (B, V) embeddings and
       back-propagate it to them.
    3. On ``backward()``, re-embed each mini-batch with autograd (same RNG state, so same dropout) and push the
       cached embedding gradients through the model.

    ``forward`` returns the same named terms as SpladeLoss; they sum to the total loss, which alone carries the
    gradient (the first term absorbs it; the others are detached values for logging).

    | Inputs | Labels |
    |---|---|
    | whatever the base loss takes (column 0 = queries, columns 1..n = documents) | as the base loss |

    Cost: two forward passes; activation memory O(mini_batch_size · seq_len); the loss stage itself is not chunked
    and holds the (B, V) embeddings per column plus the base loss's score matrix (O(B²) for ranking losses).

    Args: as SpladeLoss, plus
        mini_batch_size: rows per embedding mini-batch.
        mini_batch_num_tokens: if set, pack mini-batches by this many non-padding tokens instead.
        show_progress_bar: show a progress bar over the mini-batches.
    """

    citation = (
        """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}"""
        + SpladeLoss.citation
    )

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ):
        super().__init__(
            model,
            loss,
            document_regularizer_weight,
            query_regularizer_weight=query_regularizer_weight,
            document_regularizer=document_regularizer,
            query_regularizer=query_regularizer,
            document_regularizer_threshold=document_regularizer_threshold,
            query_regularizer_threshold=query_regularizer_threshold,
            use_document_regularizer_only=use_document_regularizer_only,
        )
        validate_mini_batch_args(type(self).__name__, mini_batch_size, mini_batch_num_tokens)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        components: dict[str, Tensor] = {}

        def total_loss(embeddings: list[Tensor]) -> Tensor:
            terms = self.compute_loss_from_embeddings(embeddings, labels)
            components.update({key: value.detach() for key, value in terms.items()})
            return torch.stack(list(terms.values())).sum()

        total = gradcache_forward(
            self.model,
            list(sentence_features),
            total_loss,
            mini_batch_size=self.mini_batch_size,
            mini_batch_num_tokens=self.mini_batch_num_tokens,
            show_progress_bar=self.show_progress_bar,
            loss_name=type(self).__name__,
        )
        return split_total(total, components)

    def get_config_dict(self) -> dict:
        config = super().get_config_dict()
        config["mini_batch_size"] = self.mini_batch_size
        config["mini_batch_num_tokens"] = self.mini_batch_num_tokens
        return config


__all__ = ["CachedSpladeLoss"]
