"""RerankingEvaluator: a bi-encoder re-orders each query's given positives and negatives; MAP, MRR@k, nDCG@k."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from raypipe.eval.base import BaseEvaluator, append_csv_row, encode, epoch_text, take_rows
from raypipe.eval.dedup import encode_unique
from raypipe.eval.metrics import rerank_metrics
from raypipe.models.similarity import cos_sim

logger = logging.getLogger(__name__)


def normalize_samples(samples, owner: str) -> list[dict]:
    """Samples as a list of {"query": str, "positive": [str], "negative": [str]}; a dict of samples is taken by
    value and single strings become one-element lists. Samples with no positive or no negative are dropped."""
    if isinstance(samples, dict):
        samples = list(samples.values())
    out = []
    for i, sample in enumerate(samples):
        missing = [key for key in ("query", "positive", "negative") if key not in sample]
        if missing:
            raise ValueError(
                f"{owner}: sample {i} lacks {missing}; each sample needs 'query', 'positive' and 'negative'. "
                f"Fix: e.g. {{'query': q, 'positive': [p1], 'negative': [n1, n2]}}."
            )
        pos = [sample["positive"]] if isinstance(sample["positive"], str) else list(sample["positive"])
        neg = [sample["negative"]] if isinstance(sample["negative"], str) else list(sample["negative"])
        if pos and neg:
            out.append({**sample, "positive": pos, "negative": neg})
    if not out:
        raise ValueError(
            f"{owner}: no sample has both a positive and a negative. Fix: pass at least one such sample."
        )
    return out


class RerankingEvaluator(BaseEvaluator):
    """For each sample, score ``similarity_fct(query, doc)`` for its positives + negatives and rank them.

    Metrics ``map``, ``mrr@{at_k}``, ``ndcg@{at_k}`` (means over samples); primary ``ndcg@{at_k}``.
    With ``use_batched_encoding`` all queries and all documents are embedded in two calls (memory O(total docs
    · D)); otherwise one sample at a time (memory O(docs per sample · D)).
    """

    csv_prefix = "RerankingEvaluator"

    def __init__(
        self,
        samples: list[dict],
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable = cos_sim,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        use_batched_encoding: bool = True,
        truncate_dim: int | None = None,
        mrr_at_k: int | None = None,
    ):
        super().__init__()
        self.samples = normalize_samples(samples, type(self).__name__)
        self.at_k = mrr_at_k if mrr_at_k is not None else at_k
        self.name = name
        self.similarity_fct = similarity_fct
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.use_batched_encoding = use_batched_encoding
        self.truncate_dim = truncate_dim
        self.write_csv = write_csv
        self.csv_file = self.csv_prefix + ("_" + name if name else "") + f"_results_@{self.at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{self.at_k}", f"NDCG@{self.at_k}"]
        self.primary_metric = f"ndcg@{self.at_k}"

    def embed_inputs(self, model, sentences, encode_fn_name=None, show_progress_bar=None, **kwargs):
        """(N, D) embeddings; each distinct text is embedded once, so copies of a candidate tie exactly and are
        ordered by the ranking's tie rule rather than by the rounding of the batch they landed in."""
        return encode_unique(
            lambda texts: encode(
                model,
                texts,
                encode_fn_name,
                batch_size=self.batch_size,
                show_progress_bar=show_progress_bar,
                convert_to_tensor=True,
                truncate_dim=self.truncate_dim,
                **kwargs,
            ),  # fmt: skip
            sentences,
        )

    def _sample_metrics(self, query_emb, docs_emb, num_pos: int, num_neg: int):
        scores = self.similarity_fct(query_emb, docs_emb)  # (1, n) or (n,)
        if scores.dim() > 1:
            scores = scores[0]
        ranking = torch.argsort(-scores)
        is_relevant = [1] * num_pos + [0] * num_neg
        return rerank_metrics(is_relevant, ranking.tolist(), scores.cpu().tolist(), self.at_k)

    def compute_metrics(self, model) -> dict[str, float]:
        per_sample = []
        if self.use_batched_encoding:
            queries = self.embed_inputs(
                model, [s["query"] for s in self.samples], "query", self.show_progress_bar
            )
            docs = [d for s in self.samples for d in (*s["positive"], *s["negative"])]
            doc_emb = self.embed_inputs(model, docs, "document", self.show_progress_bar)
            offset = 0
            for i, s in enumerate(self.samples):
                n = len(s["positive"]) + len(s["negative"])
                q = take_rows(queries, i, i + 1)
                per_sample.append(
                    self._sample_metrics(
                        q, take_rows(doc_emb, offset, offset + n), len(s["positive"]), len(s["negative"])
                    )
                )
                offset += n
        else:
            for s in self.samples:
                q = self.embed_inputs(model, [s["query"]], "query", False)
                d = self.embed_inputs(model, [*s["positive"], *s["negative"]], "document", False)
                per_sample.append(self._sample_metrics(q, d, len(s["positive"]), len(s["negative"])))
        mrr, ndcg, ap = (float(np.mean(col)) for col in zip(*per_sample))
        return {"map": ap, "mrr": mrr, "ndcg": ndcg}

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("%s on the %s dataset%s", type(self).__name__, self.name, epoch_text(epoch, steps))
        scores = self.compute_metrics(model)
        if self.write_csv:
            row = [epoch, steps, scores["map"], scores["mrr"], scores["ndcg"]]
            append_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = {
            "map": scores["map"],
            f"mrr@{self.at_k}": scores["mrr"],
            f"ndcg@{self.at_k}": scores["ndcg"],
        }
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict:
        out = {"at_k": self.at_k}
        if self.truncate_dim is not None:
            out["truncate_dim"] = self.truncate_dim
        return out


__all__ = ["RerankingEvaluator", "normalize_samples"]
