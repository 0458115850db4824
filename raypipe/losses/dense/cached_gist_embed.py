"""CachedGISTEmbedLoss: GISTEmbedLoss computed with GradCache, for any number of negative columns."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from raypipe.losses.base import LossRequirements, embed_columns
from raypipe.losses.dense._gradcache import (
    chunked_backward,
    gradcache_forward,
    validate_mini_batch_args,
)
from raypipe.losses.dense.cached_multiple_negatives_ranking import CITATION_GRADCACHE
from raypipe.losses.dense.gist_embed import (
    CITATION_GIST,
    GISTEmbedLoss,
    gather_gist,
    gist_chunk_loss,
    guide_features,
)


class CachedGISTEmbedLoss(GISTEmbedLoss):
    """GISTEmbedLoss (same formula and parameters) with GradCache, and any number of negative columns.

        drop candidate c if guide(a_i, c) > guide(a_i, p_i) - margin   (absolute; relative: - |g_pos|·margin)
        logits_i = [cos(a_i, p_j) | cos(a_i, a_j) | cos(p_i, p_j) | cos(a_i, n1_j) | ...] / temperature (filtered)
        loss = CE(logits_i, target = position of p_i)

    The model embeds every column in mini-batches (`mini_batch_size` rows or up to `mini_batch_num_tokens`
    non-padding tokens) without autograd and the guide embeds each mini-batch right after it (no grad; in the
    guide's own train/eval mode, as in sentence-transformers: `guide.eval()` gives a dropout-free filter). The loss
    is computed in chunks of `mini_batch_size` anchor rows and back-propagated to the cached embeddings, then
    `loss.backward()` replays each mini-batch with autograd under its saved RNG state.

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) | none |
    | (anchor, positive, negative) | none |
    | (anchor, positive, negative_1, ..., negative_n) | none |

    Memory: one mini-batch of activations + O(B · (1 + n) · D) cached embeddings + O(mini_batch_size · W · (3 + n))
    scores. Citations: Solatorio 2024 (GISTEmbed, arXiv:2402.16829); Gao et al. 2021 (GradCache,
    arXiv:2101.06983).
    """

    def __init__(
        self,
        model,
        guide,
        temperature: float = 0.01,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
        margin_strategy: str = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,
            guide,
            temperature=temperature,
            margin_strategy=margin_strategy,
            margin=margin,
            contrast_anchors=contrast_anchors,
            contrast_positives=contrast_positives,
            gather_across_devices=gather_across_devices,
        )
        validate_mini_batch_args(type(self).__name__, mini_batch_size, mini_batch_num_tokens)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    uses_gradient_cache = True
    citation = CITATION_GIST + CITATION_GRADCACHE

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=None,
            model_kinds=("dense",),
            notes="column 0 = anchor, 1 = positive, further columns = negatives; needs a guide model",
        )

    def guide_minibatch(self, features: dict[str, Tensor]) -> Tensor:
        """Guide embeddings (rows, D') of one model mini-batch, without grad: the same token ids, or the decoded
        text of these rows re-tokenized by the guide (padded to this mini-batch's longest row)."""
        with torch.no_grad():
            return embed_columns(self.guide, guide_features(self, [features]))[0]

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        self.input_requirements().check(len(sentence_features), has_label=False)
        # The guide embeds each model mini-batch right after the model's first (no-grad) pass over it, as in
        # sentence-transformers: with dropout active in the guide (a guide left in train mode) this keeps both
        # RNG streams aligned, and re-tokenization follows the model's mini-batches.
        return gradcache_forward(
            self.model,
            sentence_features,
            self.loss_on_cached_embeddings,
            mini_batch_size=self.mini_batch_size,
            mini_batch_num_tokens=self.mini_batch_num_tokens,
            show_progress_bar=self.show_progress_bar,
            companion_fn=self.guide_minibatch,
            loss_name=type(self).__name__,
        )

    def loss_on_cached_embeddings(self, embeddings: list[Tensor], guide_embeddings: list[Tensor]) -> Tensor:
        """Loss on full-batch embeddings, back-propagated into them in chunks of mini_batch_size anchor rows when
        they require grad; returns the detached value. GradCache's loss stage."""
        guides = [g.detach() for g in guide_embeddings]
        anchors_all, anchors_all_g, cands, cands_g, offset = gather_gist(self, embeddings, guides)
        local = embeddings[0].shape[0]

        def chunk(leaves: list[Tensor], begin: int, end: int) -> Tensor:
            anchors, anchors_all_leaf, *cand_leaves = leaves
            return gist_chunk_loss(
                self,
                anchors,
                guides[0],
                anchors_all_leaf,
                anchors_all_g,
                cand_leaves,
                cands_g,
                offset,
                begin,
                end,
            )

        with torch.enable_grad() if embeddings[0].requires_grad else torch.no_grad():
            return chunked_backward([embeddings[0], anchors_all, *cands], chunk, local, self.mini_batch_size)

    def get_config_dict(self) -> dict:
        config = super().get_config_dict()
        config["mini_batch_size"] = self.mini_batch_size
        config["mini_batch_num_tokens"] = self.mini_batch_num_tokens
        return config


__all__ = ["CachedGISTEmbedLoss"]
