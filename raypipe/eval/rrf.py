"""ReciprocalRankFusionEvaluator: fuse a dense and a sparse ranking of the same queries with RRF and compare the
three rankings (no model is run: the rankings are given)."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from raypipe.atomic import atomic_open
from raypipe.eval.base import BaseEvaluator, append_csv_row, epoch_text
from raypipe.eval.metrics import first_stage_metrics

logger = logging.getLogger(__name__)


def reciprocal_rank_fusion(dense: list[str], sparse: list[str], rrf_k: int = 60) -> list[str]:
    """Documents ordered by 1/(rrf_k + dense rank) + 1/(rrf_k + sparse rank) (ranks from 1; a list a document
    is missing from adds nothing); ties keep first-seen order (dense list first)."""
    dense_rank = {d: r for r, d in enumerate(dense, start=1)}
    sparse_rank = {d: r for r, d in enumerate(sparse, start=1)}
    fused = {}
    for doc in dict.fromkeys([*dense_rank, *sparse_rank]):
        score = 0.0
        if doc in dense_rank:
            score += 1 / (rrf_k + dense_rank[doc])
        if doc in sparse_rank:
            score += 1 / (rrf_k + sparse_rank[doc])
        fused[doc] = score
    return sorted(fused, key=lambda d: fused[d], reverse=True)


class ReciprocalRankFusionEvaluator(BaseEvaluator):
    """Samples are ``{"query_id", "query", "positive": [...], "documents": [ranked ids or texts]}``, one list
    from a dense and one from a sparse retriever, aligned by ``query_id``.

    Metrics ``dense_map``, ``dense_mrr@k``, ``dense_ndcg@k``, ``sparse_*`` likewise, and the fused ``map``,
    ``mrr@k``, ``ndcg@k`` (primary ``ndcg@k``). Called as ``evaluator(model=None, output_path=None, ...)``; the model
    is ignored (the rankings are inputs). Cost O(total documents).
    """

    def __init__(
        self,
        dense_samples: list[dict],
        sparse_samples: list[dict],
        at_k: int = 10,
        rrf_k: int = 60,
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        write_predictions: bool = False,
    ):
        super().__init__()
        if len(dense_samples) != len(sparse_samples):
            raise ValueError(
                f"ReciprocalRankFusionEvaluator: dense_samples has {len(dense_samples)} entries but sparse_samples "
                f"has {len(sparse_samples)}. Fix: pass one dense and one sparse ranking per query, in the same order."
            )
        for i, (d, s) in enumerate(zip(dense_samples, sparse_samples)):
            if "query_id" not in d or "query_id" not in s:
                raise ValueError(
                    f"ReciprocalRankFusionEvaluator: sample {i} lacks 'query_id'. Fix: add it to both."
                )
            if d["query_id"] != s["query_id"]:
                raise ValueError(
                    f"ReciprocalRankFusionEvaluator: query_id mismatch at index {i}: dense {d['query_id']!r} vs "
                    f"sparse {s['query_id']!r}. Fix: order both sample lists by the same query ids."
                )
        self.dense_samples, self.sparse_samples = list(dense_samples), list(sparse_samples)
        self.at_k, self.rrf_k = at_k, rrf_k
        self.name = name
        self.batch_size, self.show_progress_bar = batch_size, show_progress_bar
        self.write_csv, self.write_predictions = write_csv, write_predictions
        suffix = "_" + name if name else ""
        self.csv_file = f"ReciprocalRankFusion_evaluation{suffix}_results.csv"
        self.predictions_file = f"ReciprocalRankFusion_evaluation{suffix}_predictions.jsonl"
        k = at_k
        self.csv_headers = ["epoch", "steps"] + [
            f"{kind}_{m}" for kind in ("Dense", "Sparse", "Fusion") for m in ("MAP", f"MRR@{k}", f"NDCG@{k}")
        ]
        self.primary_metric = f"ndcg@{at_k}"

    def __call__(self, model=None, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("ReciprocalRankFusionEvaluator on the %s dataset%s", self.name, epoch_text(epoch, steps))
        per = {"dense": [], "sparse": [], "fusion": []}
        predictions = []
        for dense, sparse in zip(self.dense_samples, self.sparse_samples):
            positive = [dense["positive"]] if isinstance(dense["positive"], str) else list(dense["positive"])
            fused = reciprocal_rank_fusion(list(dense["documents"]), list(sparse["documents"]), self.rrf_k)
            for kind, docs in (
                ("dense", dense["documents"]),
                ("sparse", sparse["documents"]),
                ("fusion", fused),
            ):
                per[kind].append(first_stage_metrics(list(docs), positive, self.at_k))
            if self.write_predictions:
                predictions.append({"query_id": dense["query_id"], "query": dense.get("query"),
                                    "positive": positive, "documents": fused})  # fmt: skip
        means = {
            kind: [float(np.mean(col)) for col in zip(*rows)] for kind, rows in per.items()
        }  # mrr, ndcg, ap
        k = self.at_k
        metrics = {}
        for kind, prefix in (("dense", "dense_"), ("sparse", "sparse_"), ("fusion", "")):
            mrr, ndcg, ap = means[kind]
            metrics.update({f"{prefix}map": ap, f"{prefix}mrr@{k}": mrr, f"{prefix}ndcg@{k}": ndcg})
        if output_path is not None:
            if self.write_csv:
                row = [
                    v for kind in ("dense", "sparse", "fusion") for v in (means[kind][2], *means[kind][:2])
                ]
                append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
            if self.write_predictions and predictions:
                os.makedirs(output_path, exist_ok=True)
                with atomic_open(os.path.join(output_path, self.predictions_file), "w", encoding="utf-8") as f:
                    f.writelines(json.dumps(p) + "\n" for p in predictions)
        return self.prefix_name_to_metrics(metrics, self.name)

    def get_config_dict(self) -> dict:
        return {"at_k": self.at_k, "rrf_k": self.rrf_k, "write_predictions": self.write_predictions}


__all__ = ["ReciprocalRankFusionEvaluator", "reciprocal_rank_fusion"]
