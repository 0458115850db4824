"""MegaBatchMarginLoss (Wieting & Gimpel 2018), sentence-transformers compatible."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.base import LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._gradcache import chunked_backward, gradcache_forward, validate_mini_batch_args
from raypipe.models.similarity import cos_sim

CITATION_PARANMT = """
@inproceedings{wieting-gimpel-2018-paranmt,
    title = "{P}ara{NMT}-50{M}: Pushing the Limits of Paraphrastic Sentence Embeddings with Millions of Machine Translations",
    author = "Wieting, John and Gimpel, Kevin",
    booktitle = "Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)",
    month = jul,
    year = "2018",
    address = "Melbourne, Australia",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/P18-1042",
    doi = "10.18653/v1/P18-1042",
    pages = "451--462",
}
"""


class MegaBatchMarginLoss(RaypipeLoss):
    """Margin loss with the hardest in-batch negative (mined from the other positives of a large "mega" batch):

        loss = (1/B) Σ_i [ relu(positive_margin - cos(a_i, p_i)) + relu(max_{j≠i} cos(a_i, p_j) - negative_margin) ]

    With `use_mini_batched_version=True` (default) it runs with GradCache: columns are embedded in mini-batches of
    `mini_batch_size` rows (or up to `mini_batch_num_tokens` tokens) without autograd, the loss is back-propagated to
    the cached embeddings in chunks of `mini_batch_size` anchor rows, and the model forward is replayed per
    mini-batch on `loss.backward()`. The value is the same either way.

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) | none |

    Memory: mini-batched: one mini-batch of activations + O(B · D) embeddings + O(mini_batch_size · B) scores;
    otherwise activations of the whole batch + O(B²) scores.

    Citation: Wieting & Gimpel 2018, ParaNMT-50M (ACL, P18-1042).
    """

    def __init__(
        self,
        model,
        positive_margin: float = 0.8,
        negative_margin: float = 0.3,
        use_mini_batched_version: bool = True,
        mini_batch_size: int = 50,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__()
        validate_mini_batch_args(type(self).__name__, mini_batch_size, mini_batch_num_tokens)
        self.model = model
        self.positive_margin = positive_margin
        self.negative_margin = negative_margin
        self.use_mini_batched_version = use_mini_batched_version
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self.uses_gradient_cache = use_mini_batched_version

    citation = CITATION_PARANMT

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            model_kinds=("dense",),
            notes="hard negatives are mined from the other positives in the batch; explicit negatives are not used",
        )

    def _chunk_loss(self, anchors: Tensor, positives: Tensor, begin: int, end: int) -> Tensor:
        """Sum of the per-row terms for anchor rows begin:end, divided by the batch size. Scores: (c, B)."""
        rows = torch.arange(end - begin, device=anchors.device)
        scores = cos_sim(anchors[begin:end], positives)
        positive = scores[rows, rows + begin]
        hardest = scores.clone()
        hardest[rows, rows + begin] = -torch.inf
        hardest = hardest.max(dim=1).values
        terms = F.relu(self.positive_margin - positive) + F.relu(hardest - self.negative_margin)
        return terms.sum() / anchors.shape[0]

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """embeddings: [anchors (B, D), positives (B, D)]; differentiable, O(B²) memory."""
        self.input_requirements().check(len(embeddings), has_label=False)
        anchors, positives = embeddings
        return self._chunk_loss(anchors, positives, 0, anchors.shape[0])

    def loss_on_cached_embeddings(self, embeddings: list[Tensor]) -> Tensor:
        """GradCache loss stage: chunked over anchor rows, back-propagated into `embeddings` when they need grad."""

        def chunk(leaves: list[Tensor], begin: int, end: int) -> Tensor:
            return self._chunk_loss(leaves[0], leaves[1], begin, end)

        with torch.enable_grad() if embeddings[0].requires_grad else torch.no_grad():
            return chunked_backward(embeddings, chunk, embeddings[0].shape[0], self.mini_batch_size)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        self.input_requirements().check(len(sentence_features), has_label=False)
        if not self.use_mini_batched_version:
            return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)
        return gradcache_forward(
            self.model,
            sentence_features,
            self.loss_on_cached_embeddings,
            mini_batch_size=self.mini_batch_size,
            mini_batch_num_tokens=self.mini_batch_num_tokens,
            show_progress_bar=self.show_progress_bar,
            loss_name=type(self).__name__,
        )

    def get_config_dict(self) -> dict:
        return {
            "positive_margin": self.positive_margin,
            "negative_margin": self.negative_margin,
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
        }


__all__ = ["MegaBatchMarginLoss"]
