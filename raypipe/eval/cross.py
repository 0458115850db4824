"""Cross-encoder evaluators: reranking (with the first-stage ranking's metrics), pair classification (binary or
multi-class) and score correlation. All score (query, document) pairs with ``model.predict``."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import average_precision_score, f1_score

from raypipe.atomic import atomic_open
from raypipe.eval.base import BaseEvaluator, append_csv_row, check_not_empty, check_same_length, epoch_text
from raypipe.eval.dedup import encode_unique
from raypipe.eval.metrics import (
    find_best_acc_and_threshold,
    find_best_f1_and_threshold,
    first_stage_metrics,
    rerank_metrics,
)
from raypipe.eval.rrf import reciprocal_rank_fusion

logger = logging.getLogger(__name__)


def _predict(model, pairs, batch_size: int, show_progress_bar: bool, prompt_name: str | None = None):
    kwargs = dict(batch_size=batch_size, convert_to_numpy=True, show_progress_bar=show_progress_bar)
    if prompt_name is not None:
        kwargs["prompt_name"] = prompt_name
    return np.asarray(model.predict([list(p) for p in pairs], **kwargs))


class CrossEncoderRerankingEvaluator(BaseEvaluator):
    """Rerank each sample's candidates with the cross-encoder.

    A sample is ``{"query", "positive": [...], "negative": [...]}`` or ``{"query", "positive": [...],
    "documents": [...]}`` where ``documents`` is a first-stage ranking (best first). For the latter the metrics of
    that given order are reported as ``base_map``, ``base_mrr@k``, ``base_ndcg@k``; positives missing from
    ``documents`` count as misses, and with ``always_rerank_positives`` they are added to the candidates.
    Metrics ``map``, ``mrr@k``, ``ndcg@k``; primary ``ndcg@k``. Cost: one ``predict`` call over all pairs.

    raypipe additions (off by default, so the metrics are sentence-transformers'): ``rrf_k`` also reports the
    reciprocal rank fusion of the first-stage order and the cross-encoder's (``rrf_map``, ``rrf_mrr@k``,
    ``rrf_ndcg@k``; each candidate scores 1/(rrf_k + first-stage rank) + 1/(rrf_k + reranked rank), a candidate
    the first stage did not return adds nothing for it): the usual way to keep a strong retriever's signal when
    the reranker alone is not better on every query, with no weight to tune. ``write_predictions`` writes one
    JSON line per sample (its candidates' relevance and cross-encoder scores, in candidate order) to
    ``<output_path>/<csv name>_predictions.jsonl``, for analysis without scoring again.
    """

    def __init__(
        self,
        samples: list[dict],
        at_k: int = 10,
        always_rerank_positives: bool = True,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        mrr_at_k: int | None = None,
        rrf_k: int | None = None,
        write_predictions: bool = False,
    ):
        super().__init__()
        if rrf_k is not None and (isinstance(rrf_k, bool) or not isinstance(rrf_k, int) or rrf_k < 0):
            raise ValueError(f"CrossEncoderRerankingEvaluator: rrf_k={rrf_k!r}; expected an integer >= 0 (60 is "
                             f"the usual value) or None (no fusion).")
        self.samples = list(samples.values()) if isinstance(samples, dict) else list(samples)
        check_not_empty(type(self).__name__, samples=self.samples)
        for i, sample in enumerate(self.samples):
            if (
                "query" not in sample
                or "positive" not in sample
                or (("negative" in sample) == ("documents" in sample))
            ):
                raise ValueError(
                    f"CrossEncoderRerankingEvaluator: sample {i} has keys {sorted(sample)}; each sample needs "
                    f"'query', 'positive' and exactly one of 'negative' / 'documents'."
                )
        self.at_k = mrr_at_k if mrr_at_k is not None else at_k
        self.always_rerank_positives = always_rerank_positives
        self.name = name
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.rrf_k, self.write_predictions = rrf_k, write_predictions
        self.csv_file = (
            "CrossEncoderRerankingEvaluator" + ("_" + name if name else "") + f"_results_@{self.at_k}.csv"
        )
        self.predictions_file = self.csv_file.replace(".csv", "_predictions.jsonl")
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{self.at_k}", f"NDCG@{self.at_k}"]
        self.primary_metric = f"ndcg@{self.at_k}"

    def _candidates(self, sample: dict) -> tuple[list[str], list[int], tuple | None]:
        positive = [sample["positive"]] if isinstance(sample["positive"], str) else list(sample["positive"])
        documents = sample.get("documents")
        if documents is None:
            negative = (
                [sample["negative"]] if isinstance(sample["negative"], str) else list(sample["negative"])
            )
            return positive + negative, [1] * len(positive) + [0] * len(negative), None
        base = first_stage_metrics(documents, positive, self.at_k)
        if self.always_rerank_positives:
            docs = positive + [d for d in documents if d not in positive]
            return docs, [1] * len(positive) + [0] * (len(docs) - len(positive)), base
        return list(documents), [int(d in positive) for d in documents], base

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("CrossEncoderRerankingEvaluator on the %s dataset%s", self.name, epoch_text(epoch, steps))
        base, pairs, plan = [], [], []
        for sample in self.samples:
            docs, is_relevant, base_metrics = self._candidates(sample)
            if base_metrics is not None:
                base.append(base_metrics)
            if sum(is_relevant) == 0:
                plan.append(None)  # nothing relevant to rank: scores 0
                continue
            plan.append((docs, is_relevant))
            pairs += [(sample["query"], d) for d in docs]
        # each distinct (query, document) pair is scored once: copies of a candidate tie exactly
        scores = (
            encode_unique(
                lambda unique: _predict(
                    model, unique, self.batch_size, self.show_progress_bar, self.prompt_name
                ),
                pairs,
            )
            if pairs
            else []
        )
        per_sample, fused, predictions, offset = [], [], [], 0
        for sample, entry in zip(self.samples, plan):
            if entry is None:
                per_sample.append((0.0, 0.0, 0.0))
                fused.append((0.0, 0.0, 0.0))
                continue
            docs, is_relevant = entry
            pred = scores[offset : offset + len(is_relevant)]
            offset += len(is_relevant)
            order = np.argsort(pred)[::-1]
            per_sample.append(rerank_metrics(is_relevant, order, pred, self.at_k))
            if self.rrf_k is not None and "documents" in sample:
                fused.append(self._fused_metrics(sample, [docs[i] for i in order]))
            if self.write_predictions:
                predictions.append({"query": sample["query"], "relevant": list(map(int, is_relevant)),
                                    "scores": [float(x) for x in pred]})
        metrics = self._mean_metrics("", per_sample)
        if base:
            metrics.update(self._mean_metrics("base_", base))
        if self.rrf_k is not None and base:
            metrics.update(self._mean_metrics("rrf_", fused))
        if self.write_predictions and output_path is not None:
            self._write_predictions(output_path, predictions)
        row = [metrics[m] for m in ("map", f"mrr@{self.at_k}", f"ndcg@{self.at_k}")]
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
        return metrics

    def _mean_metrics(self, prefix: str, rows: list[tuple]) -> dict:
        """{prefix}map, {prefix}mrr@k, {prefix}ndcg@k: the means of per-sample (mrr, ndcg, ap) rows."""
        mrr, ndcg, ap = (float(np.mean(col)) for col in zip(*rows))
        return {f"{prefix}map": ap, f"{prefix}mrr@{self.at_k}": mrr, f"{prefix}ndcg@{self.at_k}": ndcg}

    def _fused_metrics(self, sample: dict, reranked: list[str]) -> tuple[float, float, float]:
        """(mrr, ndcg, ap) of the RRF of the first-stage order and the cross-encoder's (`reranked`, best first)."""
        positive = [sample["positive"]] if isinstance(sample["positive"], str) else list(sample["positive"])
        fused = reciprocal_rank_fusion(list(sample["documents"]), reranked, self.rrf_k)
        return first_stage_metrics(fused, positive, self.at_k)

    def _write_predictions(self, output_path: str, predictions: list[dict]) -> None:
        os.makedirs(output_path, exist_ok=True)
        path = os.path.join(output_path, self.predictions_file)
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(p) + "\n" for p in predictions)

    def get_config_dict(self) -> dict:
        out = {"at_k": self.at_k}
        if self.samples and "documents" in self.samples[0]:
            out["always_rerank_positives"] = self.always_rerank_positives
        if self.rrf_k is not None:
            out["rrf_k"] = self.rrf_k
        return out


class CrossEncoderClassificationEvaluator(BaseEvaluator):
    """One-label models (binary): ``accuracy``, ``accuracy_threshold``, ``f1``, ``f1_threshold``, ``precision``,
    ``recall``, ``average_precision`` (primary). Several labels: ``f1_macro`` (primary), ``f1_micro``,
    ``f1_weighted`` of the argmax class."""

    BINARY_HEADERS = [
        "Accuracy",
        "Accuracy_Threshold",
        "F1",
        "F1_Threshold",
        "Precision",
        "Recall",
        "Average_Precision",
    ]

    def __init__(
        self,
        sentence_pairs: list[list[str]],
        labels: list[int],
        *,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ):
        super().__init__()
        check_same_length(type(self).__name__, sentence_pairs=sentence_pairs, labels=labels)
        check_not_empty(type(self).__name__, sentence_pairs=sentence_pairs)
        self.sentence_pairs, self.labels = list(sentence_pairs), np.asarray(labels)
        self.name, self.prompt_name = name, prompt_name
        self.batch_size, self.show_progress_bar, self.write_csv = batch_size, show_progress_bar, write_csv
        self.csv_file = "CrossEncoderClassificationEvaluator" + ("_" + name if name else "") + "_results.csv"

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info(
            "CrossEncoderClassificationEvaluator on the %s dataset%s", self.name, epoch_text(epoch, steps)
        )
        pred = _predict(model, self.sentence_pairs, self.batch_size, self.show_progress_bar, self.prompt_name)
        if getattr(model, "num_labels", 1) == 1:
            pred = pred.reshape(-1)
            acc, acc_t = find_best_acc_and_threshold(pred, self.labels, True)
            f1, precision, recall, f1_t = find_best_f1_and_threshold(pred, self.labels, True)
            ap = average_precision_score(self.labels, pred)
            metrics = {"accuracy": acc, "accuracy_threshold": acc_t, "f1": f1, "f1_threshold": f1_t,
                       "precision": precision, "recall": recall, "average_precision": ap}  # fmt: skip
            self.csv_headers = ["epoch", "steps", *self.BINARY_HEADERS]
            self.primary_metric = "average_precision"
        else:
            predicted = np.argmax(pred, axis=1)
            metrics = {
                f"f1_{avg}": f1_score(self.labels, predicted, average=avg)
                for avg in ("macro", "micro", "weighted")
            }
            self.csv_headers = ["epoch", "steps", "Macro_F1", "Micro_F1", "Weighted_F1"]
            self.primary_metric = "f1_macro"
        if self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics


class CrossEncoderCorrelationEvaluator(BaseEvaluator):
    """``pearson`` and ``spearman`` (primary) between gold ``scores`` and the model's predictions."""

    def __init__(
        self,
        sentence_pairs: list[list[str]],
        scores: list[float],
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ):
        super().__init__()
        check_same_length(type(self).__name__, sentence_pairs=sentence_pairs, scores=scores)
        check_not_empty(type(self).__name__, sentence_pairs=sentence_pairs)
        self.sentence_pairs, self.scores = list(sentence_pairs), list(scores)
        self.name, self.prompt_name = name, prompt_name
        self.batch_size, self.show_progress_bar, self.write_csv = batch_size, show_progress_bar, write_csv
        self.csv_file = "CrossEncoderCorrelationEvaluator" + ("_" + name if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "Pearson_Correlation", "Spearman_Correlation"]
        self.primary_metric = "spearman"

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info(
            "CrossEncoderCorrelationEvaluator on the %s dataset%s", self.name, epoch_text(epoch, steps)
        )
        pred = _predict(model, self.sentence_pairs, self.batch_size, self.show_progress_bar, self.prompt_name)
        pearson, spearman = (
            pearsonr(self.scores, pred.reshape(-1))[0],
            spearmanr(self.scores, pred.reshape(-1))[0],
        )
        if self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, pearson, spearman])
        metrics = self.prefix_name_to_metrics({"pearson": pearson, "spearman": spearman}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics


__all__ = [
    "CrossEncoderRerankingEvaluator",
    "CrossEncoderClassificationEvaluator",
    "CrossEncoderCorrelationEvaluator",
]
