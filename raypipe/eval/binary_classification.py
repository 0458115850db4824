"""BinaryClassificationEvaluator: is a pair similar (label 1) or not (0)? Threshold the embedding similarity and
report the best accuracy / F1 (with their thresholds), precision, recall, average precision and MCC."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.metrics import average_precision_score, matthews_corrcoef

from raypipe.eval.base import (
    BaseEvaluator,
    append_csv_row,
    check_not_empty,
    check_same_length,
    check_similarity_names,
    encode,
    epoch_text,
    select_rows,
    similarity_value,
)
from raypipe.eval.metrics import find_best_acc_and_threshold, find_best_f1_and_threshold
from raypipe.models.similarity import SIMILARITY_NAMES, get_pairwise_similarity

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall", "ap", "mcc")
CSV_METRICS = ("accuracy", "accuracy_threshold", "f1", "precision", "recall", "f1_threshold", "ap", "mcc")


def pair_classification_metrics(scores: np.ndarray, labels: np.ndarray, greater_is_better: bool) -> dict:
    """All binary metrics for one score vector (n,). For distances pass greater_is_better=False."""
    acc, acc_threshold = find_best_acc_and_threshold(scores, labels, greater_is_better)
    f1, precision, recall, f1_threshold = find_best_f1_and_threshold(scores, labels, greater_is_better)
    ap = average_precision_score(labels, scores * (1 if greater_is_better else -1))
    predicted = scores >= f1_threshold if greater_is_better else scores <= f1_threshold
    mcc = matthews_corrcoef(labels, predicted)
    return dict(zip(METRICS, (acc, acc_threshold, f1, f1_threshold, precision, recall, ap, mcc)))


class BinaryClassificationEvaluator(BaseEvaluator):
    """Metrics per similarity function ``fn``: ``{fn}_accuracy``, ``{fn}_accuracy_threshold``, ``{fn}_f1``,
    ``{fn}_f1_threshold``, ``{fn}_precision``, ``{fn}_recall``, ``{fn}_ap``, ``{fn}_mcc`` (+ ``max_*`` with several
    functions). Primary ``{fn}_ap`` or ``max_ap``. Euclidean / Manhattan thresholds are on the distance (lower
    means similar). Each distinct sentence is embedded once. Cost O(n log n) after embedding.
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        labels: list[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[str] | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        check_same_length(owner, sentences1=sentences1, sentences2=sentences2, labels=labels)
        check_not_empty(owner, sentences1=sentences1)
        bad = sorted({repr(x) for x in labels if x not in (0, 1)})
        if bad:
            raise ValueError(f"{owner}: labels must be 0 or 1, got {bad[:5]}. Fix: binarize the labels.")
        self.sentences1, self.sentences2, self.labels = list(sentences1), list(sentences2), list(labels)
        self.similarity_fn_names = check_similarity_names(owner, similarity_fn_names, SIMILARITY_NAMES)
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.csv_file = "binary_classification_evaluation" + ("_" + name if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.similarity_fn_names)

    def _append_csv_headers(self, names: list[str]) -> None:
        self.csv_headers += [f"{fn}_{m}" for fn in names for m in CSV_METRICS]

    def embed_inputs(self, model, sentences, **kwargs):
        return encode(
            model, sentences, None, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True, truncate_dim=self.truncate_dim, **kwargs,
        )  # fmt: skip

    def compute_metrics(self, model) -> dict[str, dict[str, float]]:
        unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        emb = self.embed_inputs(model, unique)
        row_of = {s: i for i, s in enumerate(unique)}
        emb1 = select_rows(emb, [row_of[s] for s in self.sentences1])
        emb2 = select_rows(emb, [row_of[s] for s in self.sentences2])
        labels = np.asarray(self.labels)
        out = {}
        for fn in self.similarity_fn_names:
            sims = get_pairwise_similarity(fn)(emb1, emb2).detach().cpu().numpy()
            greater = fn in ("cosine", "dot")
            # distances for euclidean / manhattan (the similarities are negated distances)
            out[fn] = pair_classification_metrics(sims if greater else -sims, labels, greater)
        return out

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info(
            "Binary classification evaluation on the %s dataset%s", self.name, epoch_text(epoch, steps)
        )
        if not self.similarity_fn_names:
            self.similarity_fn_names = [
                similarity_value(getattr(model, "similarity_fn_name", None) or "cosine")
            ]
            self._append_csv_headers(self.similarity_fn_names)
        scores = self.compute_metrics(model)
        if self.write_csv:
            row = [scores[fn][m] for fn in self.similarity_fn_names for m in CSV_METRICS]
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
        metrics = {f"{fn}_{m}": v for fn, values in scores.items() for m, v in values.items()}
        if len(self.similarity_fn_names) > 1:
            metrics.update({f"max_{m}": max(scores[fn][m] for fn in scores) for m in METRICS})
            self.primary_metric = "max_ap"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_ap"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}


__all__ = ["BinaryClassificationEvaluator", "pair_classification_metrics"]
