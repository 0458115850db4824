"""ContrastiveTensionLoss and its data loader (Carlsson et al., ICLR 2021)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_OPTIONAL, LossRequirements, RaypipeLoss
from raypipe.losses.dense._dense_checks import check_num_columns, check_one_label_per_example

CT_CITATION = """
@inproceedings{carlsson2021semantic,
    title={Semantic Re-tuning with Contrastive Tension},
    author={Fredrik Carlsson and Amaru Cuba Gyllensten and Evangelia Gogoulou and Erik Ylip{\\"a}{\\"a} Hellqvist and Magnus Sahlgren},
    booktitle={International Conference on Learning Representations},
    year={2021},
    url={https://openreview.net/forum?id=Ov_sMNau-PF}
}
"""


def identical_inputs(features1: dict[str, Tensor], features2: dict[str, Tensor]) -> Tensor:
    """(B,) float: 1 where both rows hold the same (unpadded) token ids, else 0."""
    ids1, ids2 = features1["input_ids"], features2["input_ids"]
    mask1, mask2 = features1.get("attention_mask"), features2.get("attention_mask")
    if mask1 is None or mask2 is None:
        if ids1.shape != ids2.shape:
            return torch.zeros(ids1.shape[0], device=ids1.device)
        return (ids1 == ids2).all(dim=1).float()
    same = [torch.equal(a[m], b[n]) for a, m, b, n in zip(ids1, mask1.bool(), ids2, mask2.bool())]
    return torch.tensor(same, dtype=torch.float, device=ids1.device)


class ContrastiveTensionLoss(RaypipeLoss):
    """Contrastive Tension: two copies of the model (model1 = a deep copy, trained too; model2 = `model`) score
    sentence pairs by a dot product, trained as a binary classifier of "same sentence or not":
    loss = Σ_i BCEWithLogits(⟨model1(x_i), model2(y_i)⟩, label_i)  (a sum over the batch).

    | Inputs                     | Labels                                                     |
    |----------------------------|------------------------------------------------------------|
    | (sentence_A, sentence_B)   | optional 1/0; when absent, 1 where both texts tokenize identically |

    Build batches with `ContrastiveTensionDataLoader` (one identical pair per `pos_neg_ratio` pairs).
    model1's parameters belong to the loss: the trainer must optimize the loss's parameters too.
    Cost: two forward passes, O(B·D) for the scores.
    """

    citation = CT_CITATION

    def __init__(self, model) -> None:
        super().__init__()
        self.model2 = model  # the model that is saved and used afterwards
        self.model1 = copy.deepcopy(model)
        self.criterion = nn.BCEWithLogitsLoss(reduction="sum")

    @property
    def model(self):
        return self.model2

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_OPTIONAL,
            label_kind="binary",
            label_shape="(batch,)",
            model_kinds=("dense",),
            notes="use ContrastiveTensionDataLoader; optimize the loss's own parameters (model1) too",
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 2, 2)
        features1, features2 = sentence_features
        reps1 = self.model1(features1)["sentence_embedding"]  # (B, D)
        reps2 = self.model2(features2)["sentence_embedding"]  # (B, D)
        scores = (reps1 * reps2).sum(dim=-1)  # (B,)
        if labels is None:
            labels = identical_inputs(features1, features2)
        labels = check_one_label_per_example(self, labels, scores.shape[0])
        return self.criterion(scores, labels.to(device=scores.device, dtype=scores.dtype))

    def get_config_dict(self) -> dict:
        return {}


@dataclass
class ContrastiveTensionExample:
    """One pair from ContrastiveTensionDataLoader: `texts` = [s1, s2], `label` = 1 if s1 is s2 else 0."""

    texts: list[str] = field(default_factory=list)
    label: int = 0


class ContrastiveTensionDataLoader:
    """Batches for ContrastiveTensionLoss from a list of unlabeled sentences.

    Each epoch shuffles a copy of `sentences` (with Python's `random`, so `random.seed` makes it reproducible)
    and cuts them into `batch_size` pairs: pair k of a batch is (s, s) with label 1 when k % pos_neg_ratio == 0,
    else (s, s') with label 0, each sentence used once. len() = number of full batches.
    Yields lists of `ContrastiveTensionExample` (or `collate_fn(batch)` when set). Memory: one list of sentences.
    """

    def __init__(self, sentences, batch_size, pos_neg_ratio=8):
        if pos_neg_ratio <= 0 or batch_size <= 0 or batch_size % pos_neg_ratio != 0:
            raise ValueError(
                f"ContrastiveTensionDataLoader expects batch_size divisible by pos_neg_ratio (both > 0), but got "
                f"batch_size={batch_size}, pos_neg_ratio={pos_neg_ratio}. Fix: e.g. batch_size=16, pos_neg_ratio=8."
            )
        self.sentences = list(sentences)
        self.batch_size = batch_size
        self.pos_neg_ratio = pos_neg_ratio
        self.collate_fn = None

    def __len__(self) -> int:
        sentences_per_batch = 2 * self.batch_size - self.batch_size // self.pos_neg_ratio
        return len(self.sentences) // sentences_per_batch

    def __iter__(self):
        order = list(self.sentences)
        random.shuffle(order)
        stream = iter(order)
        for _ in range(len(self)):
            batch = []
            for k in range(self.batch_size):
                first = next(stream)
                positive = k % self.pos_neg_ratio == 0
                second = first if positive else next(stream)
                batch.append(ContrastiveTensionExample(texts=[first, second], label=int(positive)))
            yield self.collate_fn(batch) if self.collate_fn is not None else batch

    def as_columns(self) -> dict[str, list]:
        """One epoch as dataset columns {"sentence1", "sentence2", "label"}, in batch order (train it without
        shuffling and with this batch_size, so every batch keeps its positive/negative ratio)."""
        out = {"sentence1": [], "sentence2": [], "label": []}
        for batch in self:
            for ex in batch:
                out["sentence1"].append(ex.texts[0])
                out["sentence2"].append(ex.texts[1])
                out["label"].append(ex.label)
        return out


__all__ = [
    "ContrastiveTensionLoss",
    "ContrastiveTensionDataLoader",
    "ContrastiveTensionExample",
]
