"""GISTEmbedLoss: in-batch negatives filtered by a guide model, sentence-transformers compatible."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.dense._distributed import all_gather_with_grad, all_gather_with_offset
from raypipe.losses.merged_columns import embed_columns_merged
from raypipe.models.similarity import cos_sim

MARGIN_STRATEGIES = ("absolute", "relative")

CITATION_GIST = """
@misc{solatorio2024gistembed,
    title={GISTEmbed: Guided In-sample Selection of Training Negatives for Text Embedding Fine-tuning},
    author={Aivin V. Solatorio},
    year={2024},
    eprint={2402.16829},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


def _tokenizer(model):
    return getattr(model, "tokenizer", None) or model[0].tokenizer


def _max_seq_length(model) -> int | None:
    value = getattr(model, "max_seq_length", None)
    return value if value is not None else getattr(model[0], "max_seq_length", None)


def _device(model) -> torch.device:
    return next(model.parameters()).device


def validate_gist_args(loss_name: str, model, guide, temperature: float, margin_strategy: str) -> None:
    if margin_strategy not in MARGIN_STRATEGIES:
        raise ValueError(
            f"{loss_name}: margin_strategy={margin_strategy!r} is invalid; allowed: {MARGIN_STRATEGIES}. "
            f"Fix: use 'absolute' (guide_sim > guide_pos - margin) or 'relative'."
        )
    if not temperature > 0:
        raise ValueError(
            f"{loss_name}: temperature={temperature!r} must be > 0. Fix: use e.g. temperature=0.01."
        )
    for name, m in (("model", model), ("guide", guide)):
        try:
            tok = _tokenizer(m)
        except (AttributeError, TypeError, IndexError):
            tok = None
        if tok is None or not hasattr(tok, "batch_decode"):
            raise ValueError(
                f"{loss_name}: the {name} has no Hugging Face tokenizer (model.tokenizer); both the model and the "
                f"guide need one. Fix: pass SentenceTransformer models built on a transformers checkpoint."
            )


def must_retokenize(model, guide) -> bool:
    """The guide needs its own tokenization if its vocabulary differs or it accepts fewer tokens."""
    guide_len, model_len = _max_seq_length(guide), _max_seq_length(model)
    shorter = guide_len is not None and model_len is not None and guide_len < model_len
    return _tokenizer(model).get_vocab() != _tokenizer(guide).get_vocab() or shorter


def guide_features(loss, sentence_features: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
    """Features for the guide: copies of the model's, or the decoded texts re-tokenized by the guide."""
    if not loss.must_retokenize:
        return [dict(f) for f in sentence_features]
    out, device = [], _device(loss.guide)
    for features in sentence_features:
        texts = _tokenizer(loss.model).batch_decode(features["input_ids"], skip_special_tokens=True)
        out.append({k: v.to(device) for k, v in loss.guide.tokenize(texts).items()})
    return out


def guide_cos(x: Tensor, y: Tensor) -> Tensor:
    """(n, m) cosine similarities of guide embeddings x (n, D') and y (m, D'), as a broadcast elementwise cosine.

    The guide filter `guide_sim > guide_pos - margin` is a hard threshold, and guides whose embeddings are nearly
    parallel (e.g. CLS pooling of a barely trained encoder, or duplicate texts) put many candidates within float
    rounding of the threshold. Normalize-then-matmul (`cos_sim`) and the broadcast cosine round differently, so the
    guide similarities use the broadcast cosine that sentence-transformers uses, for the same keep/drop decisions.
    Memory: a transient (n, m, D') product, without autograd (guide embeddings are detached).
    """
    return F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1)


def gist_chunk_loss(cfg, anchors, anchors_g, anchors_all, anchors_all_g, cands, cands_g, offset, begin, end):
    """Loss contribution of local anchor rows begin:end: sum of CE terms / number of local rows.

    anchors/anchors_g: (B, D) local anchors (model / guide); anchors_all(_g): (W, D) anchors of all processes, used
    when contrast_anchors; cands/cands_g: lists of (W, D) gathered columns, [positives, negatives_1, ...].
    Global row of local row r is offset + r. Memory: O((end - begin) · W · (columns + 1)).
    """
    rows = torch.arange(end - begin, device=anchors.device)
    own = offset + begin + rows  # (c,) global index of each row, i.e. the target column in the (a, p) block
    a, a_g = anchors[begin:end], anchors_g[begin:end]
    guide_ap = guide_cos(a_g, cands_g[0])  # (c, W)
    guide_pos = guide_ap[rows, own].unsqueeze(1)  # (c, 1)
    if cfg.margin_strategy == "absolute":
        threshold = guide_pos - cfg.margin
    else:
        threshold = guide_pos - guide_pos.abs() * cfg.margin

    def filtered(sim: Tensor, guide_sim: Tensor, protect_positive: bool = False) -> Tensor:
        # candidates the guide rates above the positive (minus margin) are likely false negatives: drop them
        drop = guide_sim > threshold
        if protect_positive:
            drop[rows, own] = False
        return sim.masked_fill(drop, -torch.inf)

    scores = [filtered(cos_sim(a, cands[0]), guide_ap, protect_positive=True)]
    if cfg.contrast_anchors:
        scores.append(filtered(cos_sim(a, anchors_all), guide_cos(a_g, anchors_all_g)))
    if cfg.contrast_positives:
        scores.append(filtered(cos_sim(cands[0][own], cands[0]), guide_cos(cands_g[0][own], cands_g[0])))
    for neg, neg_g in zip(cands[1:], cands_g[1:]):
        scores.append(filtered(cos_sim(a, neg), guide_cos(a_g, neg_g)))
    logits = torch.cat(scores, dim=1) / cfg.temperature  # (c, W · (1 + [aa] + [pp] + n))
    return F.cross_entropy(logits, own, reduction="sum") / anchors.shape[0]


def gather_gist(cfg, embeddings: list[Tensor], guides: list[Tensor]):
    """(anchors_all, anchors_all_g, cands, cands_g, offset), gathered across processes if configured.

    Guide embeddings carry no gradient; model candidates are gathered with gradients."""
    anchors, anchors_g = embeddings[0], guides[0]
    if not cfg.gather_across_devices:
        return anchors, anchors_g, list(embeddings[1:]), list(guides[1:]), 0
    cands, offset = [], 0
    for e in embeddings[1:]:
        gathered, offset = all_gather_with_offset(e)
        cands.append(gathered)
    cands_g = [all_gather_with_grad(g) for g in guides[1:]]
    anchors_all, anchors_all_g = anchors, anchors_g
    if cfg.contrast_anchors:
        anchors_all, anchors_all_g = all_gather_with_grad(anchors), all_gather_with_grad(anchors_g)
    return anchors_all, anchors_all_g, cands, cands_g, offset


class GISTEmbedLoss(RaypipeLoss):
    """Guided in-batch negatives (GISTEmbed). Every candidate that the frozen `guide` model scores above the
    anchor-positive guide similarity (minus a margin) is treated as a false negative and removed (-inf):

        absolute: drop if g(a_i, c) > g(a_i, p_i) - margin;  relative: drop if g(a_i, c) > g(a_i, p_i)·(1 - margin)
        (for a positive guide score; the threshold is g_pos - |g_pos|·margin)
        logits_i = [cos(a_i, p_j) | cos(a_i, a_j) | cos(p_i, p_j) | cos(a_i, n_j)] / temperature   (filtered)
        loss = CE(logits_i, target = position of p_i)

    The anchor-anchor and positive-positive blocks are optional (`contrast_anchors`, `contrast_positives`). The guide
    reads the same tokens, or re-tokenized text when its vocabulary differs or its max_seq_length is shorter.
    As in sentence-transformers v6: the model embeds first, then the guide, each with the anchor column alone and
    the other columns in one merged forward (`raypipe.losses.merged_columns`); the guide runs in its own train/eval
    mode (`guide.eval()` for a dropout-free filter); guide similarities use the broadcast cosine (`guide_cos`). So
    with dropout on, and for guides whose similarities sit within rounding of the threshold, the kept candidates
    are the ones sentence-transformers keeps.
    With `gather_across_devices=True` positives, negatives and (deviation from sentence-transformers, which keeps
    them local) anchors for the anchor-anchor block are gathered, so the loss equals the single-process loss on the
    concatenated batch.

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) | none |
    | (anchor, positive, negative) | none |

    Cost: O(B · W · 4 · D) time, O(B · W · 4) memory; plus one guide forward (no grad) per column.

    Citation: Solatorio 2024, GISTEmbed (arXiv:2402.16829).
    """

    def __init__(
        self,
        model,
        guide,
        temperature: float = 0.01,
        margin_strategy: str = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        validate_gist_args(type(self).__name__, model, guide, temperature, margin_strategy)
        self.model = model
        self.guide = guide
        self.temperature = temperature
        self.margin_strategy = margin_strategy
        self.margin = margin
        self.contrast_anchors = contrast_anchors
        self.contrast_positives = contrast_positives
        self.gather_across_devices = gather_across_devices
        self.must_retokenize = must_retokenize(model, guide)

    citation = CITATION_GIST

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=3,
            model_kinds=("dense",),
            notes="column 0 = anchor, 1 = positive, optional 2 = negative; needs a guide model",
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        self.input_requirements().check(len(sentence_features), has_label=False)
        # Guide inputs are taken before the model runs (it may write outputs into the dicts it is given). Order as
        # in sentence-transformers: the model embeds first, then the guide, each with the anchor column alone and
        # the candidate columns in one merged forward, so dropout (in the model, or in a guide left in train mode)
        # draws the same masks from the same RNG stream.
        guide_inputs = guide_features(self, sentence_features)
        embeddings = embed_columns_merged(self.model, sentence_features)
        with torch.no_grad():
            guides = embed_columns_merged(self.guide, guide_inputs)
        return self.compute_loss_from_embeddings(embeddings, labels, guide_embeddings=guides)

    def compute_loss_from_embeddings(
        self,
        embeddings: list[Tensor],
        labels: Tensor | None = None,
        guide_embeddings: list[Tensor] | None = None,
    ) -> Tensor:
        """embeddings / guide_embeddings: per column (B, D) from the model / (B, D') from the guide."""
        self.input_requirements().check(len(embeddings), has_label=False)
        if guide_embeddings is None or len(guide_embeddings) != len(embeddings):
            raise ValueError(
                f"{type(self).__name__}.compute_loss_from_embeddings needs guide_embeddings, one per input column "
                f"({len(embeddings)}), but got {None if guide_embeddings is None else len(guide_embeddings)}. "
                f"Fix: embed the same columns with the guide model (no grad) and pass them."
            )
        guides = [g.detach() for g in guide_embeddings]
        anchors_all, anchors_all_g, cands, cands_g, offset = gather_gist(self, embeddings, guides)
        local = embeddings[0].shape[0]
        return gist_chunk_loss(
            self, embeddings[0], guides[0], anchors_all, anchors_all_g, cands, cands_g, offset, 0, local
        )

    def get_config_dict(self) -> dict:
        return {
            "guide": self.guide,
            "temperature": self.temperature,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
            "gather_across_devices": self.gather_across_devices,
        }


__all__ = ["GISTEmbedLoss"]
