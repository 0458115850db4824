"""SoftmaxLoss (Sentence-BERT's NLI objective): a linear classifier on [u; v; |u − v|; u * v]."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from raypipe.losses.base import LABEL_REQUIRED, LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._dense_checks import check_num_columns, loss_name, model_device, require_labels


def _renamed_kwarg(old: str, new: str):
    """Accept `old=` (the name up to sentence-transformers v5.3) as `new=`, with a FutureWarning."""

    def decorate(init):
        @functools.wraps(init)
        def wrapper(self, *args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise ValueError(f"SoftmaxLoss: pass only one of {old!r} (deprecated) and {new!r}.")
                warnings.warn(
                    f"SoftmaxLoss: `{old}` is deprecated; use `{new}`.", FutureWarning, stacklevel=2
                )
                kwargs[new] = kwargs.pop(old)
            return init(self, *args, **kwargs)

        return wrapper

    return decorate


class SoftmaxLoss(RaypipeLoss):
    """loss = loss_fct(W · [u; v; |u − v|; u * v] + b, y), where the concatenated parts are chosen by the
    `concatenation_*` flags and W is a trainable (num_parts · embedding_dimension, num_labels) classifier owned by
    the loss (the trainer must add the loss's parameters to the optimizer).

    | Inputs                          | Labels              |
    |---------------------------------|---------------------|
    | (sentence_A, sentence_B) pairs  | class index (int) in [0, num_labels) |

    Without labels, `forward` returns (embeddings, logits). Cost: O(B·D·num_labels).
    Reference: Reimers & Gurevych, "Sentence-BERT", EMNLP 2019.
    """

    citation = """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""

    @_renamed_kwarg("sentence_embedding_dimension", "embedding_dimension")
    def __init__(
        self,
        model,
        embedding_dimension: int,
        num_labels: int,
        concatenation_sent_rep: bool = True,
        concatenation_sent_difference: bool = True,
        concatenation_sent_multiplication: bool = False,
        loss_fct: Callable = nn.CrossEntropyLoss(),  # noqa: B008 - stateless default, as sentence-transformers
    ) -> None:
        super().__init__()
        self.model = model
        self.num_labels = num_labels
        self.concatenation_sent_rep = concatenation_sent_rep
        self.concatenation_sent_difference = concatenation_sent_difference
        self.concatenation_sent_multiplication = concatenation_sent_multiplication
        num_parts = (
            2 * concatenation_sent_rep + concatenation_sent_difference + concatenation_sent_multiplication
        )
        if num_parts == 0:
            raise ValueError(
                "SoftmaxLoss: all of concatenation_sent_rep, concatenation_sent_difference and "
                "concatenation_sent_multiplication are False, so the classifier gets no input. Fix: enable one."
            )
        self.classifier = nn.Linear(num_parts * embedding_dimension, num_labels, device=model_device(model))
        self.loss_fct = loss_fct

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=2,
            label=LABEL_REQUIRED,
            label_kind="int",
            label_shape="(batch,)",
            model_kinds=("dense",),
            notes=f"class labels in [0, {self.num_labels})",
        )

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None
    ) -> Tensor | tuple[list[Tensor], Tensor]:
        sentence_features = list(sentence_features)
        check_num_columns(self, len(sentence_features), 2, 2)
        reps = embed_columns(self.model, sentence_features)
        logits = self.logits(reps)
        if labels is None:
            return reps, logits
        return self._loss_from_logits(logits, labels)

    def logits(self, embeddings: list[Tensor]) -> Tensor:
        """[u; v; |u − v|; u * v] (per the flags), (B, parts·D) -> classifier logits (B, num_labels)."""
        u, v = embeddings
        parts = []
        if self.concatenation_sent_rep:
            parts += [u, v]
        if self.concatenation_sent_difference:
            parts.append(torch.abs(u - v))
        if self.concatenation_sent_multiplication:
            parts.append(u * v)
        features = torch.cat(parts, dim=1).to(self.classifier.weight.dtype)
        if features.shape[1] != self.classifier.in_features:
            raise ValueError(
                f"{loss_name(self)} was built for {self.classifier.in_features // (len(parts) or 1)}-dim embeddings, "
                f"but got {u.shape[1]}-dim ones. Fix: pass embedding_dimension={u.shape[1]}."
            )
        return self.classifier(features)

    def _loss_from_logits(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self.num_labels == 1 or labels.shape != logits.shape:
            labels = labels.reshape(-1)
        if labels.shape[0] != logits.shape[0]:
            raise ValueError(
                f"{loss_name(self)} expects one class label per pair ({logits.shape[0]}), but got labels of shape "
                f"{tuple(labels.shape)}. Fix: give every row one integer label."
            )
        return self.loss_fct(logits, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        check_num_columns(self, len(embeddings), 2, 2)
        labels = require_labels(self, labels, "class indices (batch,)")
        return self._loss_from_logits(self.logits(embeddings), labels)

    def get_config_dict(self) -> dict:
        return {
            "num_labels": self.num_labels,
            "concatenation_sent_rep": self.concatenation_sent_rep,
            "concatenation_sent_difference": self.concatenation_sent_difference,
            "concatenation_sent_multiplication": self.concatenation_sent_multiplication,
        }


__all__ = ["SoftmaxLoss"]
