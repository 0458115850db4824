"""Metric math shared by the evaluators: threshold search for pair classification, per-query ranking metrics
(MRR / nDCG / AP for reranking) and the retrieval metrics at several cut-offs (accuracy, precision, recall, MRR,
nDCG, MAP). Definitions follow sentence-transformers so that numbers are comparable with what it prints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, ndcg_score


def _sorted_scores(scores, labels, greater_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    order = np.argsort(scores, kind="stable")
    if greater_is_better:
        order = order[::-1]
    return scores[order], labels[order]


def _group_ends(sorted_scores: np.ndarray) -> np.ndarray:
    """Indices of the last element of each run of equal scores: a threshold can only fall between runs."""
    n = len(sorted_scores)
    is_end = np.ones(n, dtype=bool)
    if n > 1:
        is_end[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    return np.nonzero(is_end)[0]


def _threshold_after(sorted_scores: np.ndarray, i: int):
    """Midpoint between run end ``i`` and the next score (in the scores' dtype); the score itself when last or
    when the midpoint rounds onto the next score."""
    if i == len(sorted_scores) - 1:
        return sorted_scores[i]
    mid = (sorted_scores[i] + sorted_scores[i + 1]) / 2
    return sorted_scores[i] if mid == sorted_scores[i + 1] else mid


def find_best_acc_and_threshold(scores, labels, greater_is_better: bool = True) -> tuple[float, float]:
    """Best accuracy of ``predict positive iff score is on the good side of t`` over all thresholds t.

    Starts from "predict all negative" (threshold just beyond the best score). O(n log n).
    """
    if len(scores) != len(labels):
        raise ValueError(
            f"scores has {len(scores)} entries but labels has {len(labels)}. Fix: pass one per pair."
        )
    s, y = _sorted_scores(scores, labels, greater_is_better)
    n = len(s)
    total_neg = int(np.sum(y == 0))
    if n == 0:
        return 0.0, -1.0
    dtype = np.result_type(s.dtype, np.float16)
    best_threshold = np.nextafter(s[0], np.inf if greater_is_better else -np.inf, dtype=dtype)
    ends = _group_ends(s)
    # numerator of accuracy when cutting after each run: positives kept + negatives still rejected (integers,
    # so that comparing cut points is exact)
    correct = np.cumsum(y == 1)[ends] + (total_neg - np.cumsum(y == 0)[ends])
    best = int(np.argmax(correct))
    if correct[best] > total_neg:
        return float(correct[best] / n), _threshold_after(s, int(ends[best]))
    return total_neg / n, best_threshold


def find_best_f1_and_threshold(
    scores, labels, greater_is_better: bool = True
) -> tuple[float, float, float, float]:
    """Best F1 over thresholds; returns (f1, precision, recall, threshold). O(n log n)."""
    if len(scores) != len(labels):
        raise ValueError(
            f"scores has {len(scores)} entries but labels has {len(labels)}. Fix: pass one per pair."
        )
    s, y = _sorted_scores(scores, labels, greater_is_better)
    if len(s) == 0:
        return 0.0, 0.0, 0.0, 0
    ends = _group_ends(s)
    n_correct = np.cumsum(y == 1)[ends].astype(np.float64)
    n_extract = (ends + 1).astype(np.float64)
    total_pos = float(np.sum(y))
    valid = n_correct > 0
    if not valid.any():
        return 0.0, 0.0, 0.0, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = n_correct / n_extract
        recall = n_correct / total_pos
        f1 = np.where(valid, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0, 0.0, 0
    return float(f1[best]), float(precision[best]), float(recall[best]), _threshold_after(s, int(ends[best]))


def rerank_metrics(is_relevant: Sequence[int], ranking: Sequence[int], pred_scores, at_k: int):
    """(MRR@k, nDCG@k, AP) for one query. ``ranking`` is the doc order (best first) used for MRR; nDCG and AP
    are computed from the scores (ties averaged, as scikit-learn does)."""
    mrr = 0.0
    for rank, index in enumerate(list(ranking)[:at_k]):
        if is_relevant[int(index)]:
            mrr = 1.0 / (rank + 1)
            break
    ndcg = ndcg_score([list(is_relevant)], [list(pred_scores)], k=at_k)
    ap = average_precision_score(list(is_relevant), list(pred_scores))
    return mrr, ndcg, ap


def first_stage_metrics(documents: Sequence[str], positives: Sequence[str], at_k: int):
    """Metrics of a given document order (e.g. a first-stage retriever's). Positives missing from the list are
    appended at the end, so recall shortfalls lower the scores; a list with no positive scores 0."""
    is_relevant = [int(doc in positives) for doc in documents]
    if sum(is_relevant) == 0:
        return 0.0, 0.0, 0.0
    is_relevant += [1] * (len(positives) - sum(is_relevant))
    scores = np.arange(len(is_relevant), 0, -1)
    ranking = np.argsort(scores)[::-1]
    return rerank_metrics(is_relevant, ranking, scores, at_k)


def _dcg(relevances: Sequence[int], k: int) -> float:
    return float(sum(rel / np.log2(i + 2) for i, rel in enumerate(relevances[:k])))


def retrieval_metrics(
    ranked_ids: Sequence[Sequence[str]],
    relevant: Sequence[set],
    accuracy_at_k: Sequence[int],
    precision_recall_at_k: Sequence[int],
    mrr_at_k: Sequence[int],
    ndcg_at_k: Sequence[int],
    map_at_k: Sequence[int],
) -> dict[str, dict[int, float]]:
    """Mean retrieval metrics over queries, binary relevance.

    ranked_ids[i]: corpus ids for query i, best first (at least max k long when the corpus allows);
    relevant[i]: the set of relevant ids (non-empty). MAP@k divides by min(k, #relevant).
    Cost: O(#queries * max_k).
    """
    n = len(ranked_ids)
    hits = {k: 0 for k in accuracy_at_k}
    precisions = {k: [] for k in precision_recall_at_k}
    recalls = {k: [] for k in precision_recall_at_k}
    mrr = {k: 0.0 for k in mrr_at_k}
    ndcg = {k: [] for k in ndcg_at_k}
    aps = {k: [] for k in map_at_k}
    for ids, rel in zip(ranked_ids, relevant):
        flags = [1 if cid in rel else 0 for cid in ids]
        for k in accuracy_at_k:
            hits[k] += 1 if any(flags[:k]) else 0
        for k in precision_recall_at_k:
            n_correct = sum(flags[:k])
            precisions[k].append(n_correct / k)
            recalls[k].append(n_correct / len(rel))
        for k in mrr_at_k:
            first = next((r for r, f in enumerate(flags[:k]) if f), None)
            mrr[k] += 0.0 if first is None else 1.0 / (first + 1)
        for k in ndcg_at_k:
            ndcg[k].append(_dcg(flags, k) / _dcg([1] * len(rel), k))
        for k in map_at_k:
            n_correct, total = 0, 0.0
            for r, f in enumerate(flags[:k]):
                if f:
                    n_correct += 1
                    total += n_correct / (r + 1)
            aps[k].append(total / min(k, len(rel)))
    return {
        "accuracy@k": {k: hits[k] / n for k in accuracy_at_k},
        "precision@k": {k: float(np.mean(precisions[k])) for k in precision_recall_at_k},
        "recall@k": {k: float(np.mean(recalls[k])) for k in precision_recall_at_k},
        "ndcg@k": {k: float(np.mean(ndcg[k])) for k in ndcg_at_k},
        "mrr@k": {k: mrr[k] / n for k in mrr_at_k},
        "map@k": {k: float(np.mean(aps[k])) for k in map_at_k},
    }


__all__ = [
    "find_best_acc_and_threshold",
    "find_best_f1_and_threshold",
    "rerank_metrics",
    "first_stage_metrics",
    "retrieval_metrics",
]
