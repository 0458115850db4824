"""Sparse-encoder evaluators: the dense evaluators run on sparse embeddings, plus sparsity statistics
(mean active dimensions, sparsity ratio) and, for retrieval, the expected FLOPS of a query-document dot product.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from raypipe.eval.base import encode, extend_last_csv_row
from raypipe.eval.binary_classification import BinaryClassificationEvaluator
from raypipe.eval.dedup import encode_unique, take_rows_at
from raypipe.eval.embedding_similarity import EmbeddingSimilarityEvaluator
from raypipe.eval.information_retrieval import InformationRetrievalEvaluator
from raypipe.eval.reranking import RerankingEvaluator
from raypipe.models.similarity import cos_sim


def sparsity(model, embeddings: torch.Tensor) -> dict[str, float]:
    """{"active_dims": mean non-zeros per row, "sparsity_ratio": 1 - active_dims / D} for (N, D) embeddings.

    The mean is taken in float32, as sentence-transformers does, so the figures agree with its evaluators to
    ~1e-7 (``model`` is accepted for signature compatibility; its own ``sparsity`` may average in float64)."""
    emb = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    if emb.dim() == 1:
        emb = emb.unsqueeze(0)
    n, d = emb.shape
    if n == 0 or d == 0:
        return {"active_dims": 0.0, "sparsity_ratio": 1.0}
    per_row = torch.bincount(emb.indices()[0], minlength=n)  # (N,) stored non-zeros per row
    active = per_row.float().mean().item()
    return {"active_dims": active, "sparsity_ratio": 1.0 - active / d}


def count_vector(embeddings: torch.Tensor) -> torch.Tensor:
    """How many rows are non-zero in each dimension: (N, D) -> (D,) int64."""
    emb = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    return torch.bincount(emb.indices()[-1], minlength=emb.shape[-1])


def _encode_sparse(evaluator, model, texts, kind, **kwargs):
    return encode(
        model, texts, kind, batch_size=evaluator.batch_size, show_progress_bar=kwargs.pop("show_progress_bar", None),
        convert_to_sparse_tensor=True, save_to_cpu=True, max_active_dims=evaluator.max_active_dims,
        **(evaluator.dtype_kwargs() if hasattr(evaluator, "dtype_kwargs") else {}), **kwargs,
    )  # fmt: skip


def _mean_stats(stats: dict) -> dict[str, float]:
    return {key: sum(values) / len(values) for key, values in stats.items()}


class SparseInformationRetrievalEvaluator(InformationRetrievalEvaluator):
    """InformationRetrievalEvaluator for sparse encoders (default score function: the model's, i.e. dot).

    Adds ``query_active_dims``, ``query_sparsity_ratio``, ``corpus_active_dims``, ``corpus_sparsity_ratio``
    (corpus statistics weighted by chunk size) and ``avg_flops`` = mean-query-count-vector · mean-corpus-count
    vector (expected multiply-adds of one sparse dot product). Cost as the dense evaluator, on sparse
    chunks; the extra state is two (D,) count vectors.
    """

    def __init__(self, queries, corpus, relevant_docs, *args, max_active_dims: int | None = None, **kwargs):
        self.max_active_dims = max_active_dims
        self._reset_stats()
        kwargs.pop("truncate_dim", None)
        super().__init__(queries, corpus, relevant_docs, *args, **kwargs)

    def _reset_stats(self) -> None:
        self.sparsity_stats = {"query": defaultdict(list), "corpus": defaultdict(list)}
        self.count_vectors: dict[str, torch.Tensor] = {}
        self.count_lengths = {"query": [], "corpus": []}

    def _set_csv_headers(self) -> None:
        super()._set_csv_headers()
        if self.score_function_names:
            self.csv_headers += ["query_active_dims", "query_sparsity_ratio", "corpus_active_dims",
                                 "corpus_sparsity_ratio", "avg_flops"]  # fmt: skip

    def _record(self, model, embeddings, prefix: str) -> None:
        for key, value in sparsity(model, embeddings).items():
            self.sparsity_stats[prefix][key].append(value)
        counts = count_vector(embeddings)
        self.count_vectors[prefix] = (
            self.count_vectors[prefix] + counts if prefix in self.count_vectors else counts
        )
        self.count_lengths[prefix].append(len(embeddings))

    def embed_inputs(self, model, texts, encode_fn_name=None, prompt_name=None, prompt=None, **kwargs):
        emb = _encode_sparse(
            self, model, texts, encode_fn_name, prompt_name=prompt_name, prompt=prompt,
            show_progress_bar=self.show_progress_bar, **kwargs,
        )  # fmt: skip
        if encode_fn_name in ("query", None):
            self._record(model, emb, "query")
        return emb

    def _corpus_chunk_embedded(self, corpus_model, chunk, columns) -> None:
        # statistics over corpus entries, copies included (chunk holds each distinct text once)
        self._record(corpus_model, take_rows_at(chunk, columns), "corpus")

    def compute_all_metrics(self, model, corpus_model=None, corpus_embeddings=None, output_path=None):
        if corpus_embeddings is not None:
            corpus_embeddings = corpus_embeddings.cpu()
            self._record(corpus_model or model, corpus_embeddings, "corpus")
        return super().compute_all_metrics(model, corpus_model, corpus_embeddings, output_path)

    def _avg_flops(self) -> float:
        if "query" not in self.count_vectors or "corpus" not in self.count_vectors:
            return 0.0
        q = self.count_vectors["query"] / sum(self.count_lengths["query"])  # (D,) float
        c = self.count_vectors["corpus"] / sum(self.count_lengths["corpus"])
        return float(torch.dot(q, c))

    def __call__(self, model, output_path=None, epoch: int = -1, steps: int = -1, *args, **kwargs) -> dict:
        self._reset_stats()
        metrics = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        stats = {}
        for prefix in ("query", "corpus"):
            lengths = self.count_lengths[prefix]
            for key, values in self.sparsity_stats[prefix].items():
                if prefix == "query":
                    stats[f"{prefix}_{key}"] = sum(values) / len(values)
                else:  # chunks differ in size: weight each chunk's mean by its length
                    stats[f"{prefix}_{key}"] = sum(v * n for v, n in zip(values, lengths)) / sum(lengths)
        stats["avg_flops"] = self._avg_flops()
        metrics.update(self.prefix_name_to_metrics(stats, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if output_path is not None and self.write_csv:
            extend_last_csv_row(f"{output_path}/{self.csv_file}", stats.values())
        return metrics

    def get_config_dict(self) -> dict:
        out = super().get_config_dict()
        if self.max_active_dims is not None:
            out["max_active_dims"] = self.max_active_dims
        return out


class _PairSparsityMixin:
    """Shared by the sparse pair evaluators: encode sparse, record active dims / sparsity ratio per call."""

    def embed_inputs(self, model, sentences, **kwargs):
        emb = _encode_sparse(self, model, sentences, None, show_progress_bar=self.show_progress_bar, **kwargs)
        for key, value in sparsity(model, emb).items():
            self.sparsity_stats[key].append(value)
        return emb

    def _append_csv_headers(self, names) -> None:
        super()._append_csv_headers(names)
        if names:
            self.csv_headers += ["active_dims", "sparsity_ratio"]

    def __call__(self, model, output_path=None, epoch: int = -1, steps: int = -1) -> dict:
        self.sparsity_stats = defaultdict(list)
        metrics = super().__call__(model, output_path, epoch, steps)
        stats = _mean_stats(self.sparsity_stats)
        metrics.update(self.prefix_name_to_metrics(stats, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if output_path is not None and self.write_csv:
            extend_last_csv_row(
                f"{output_path}/{self.csv_file}", [stats["active_dims"], stats["sparsity_ratio"]]
            )
        return metrics

    def get_config_dict(self) -> dict:
        out = super().get_config_dict()
        out.pop("truncate_dim", None)
        if self.max_active_dims is not None:
            out["max_active_dims"] = self.max_active_dims
        return out


class SparseEmbeddingSimilarityEvaluator(_PairSparsityMixin, EmbeddingSimilarityEvaluator):
    """EmbeddingSimilarityEvaluator on sparse embeddings; adds ``active_dims`` and ``sparsity_ratio`` (mean over
    the two encode calls)."""

    def __init__(self, sentences1, sentences2, scores, *args, max_active_dims: int | None = None, **kwargs):
        self.max_active_dims = max_active_dims
        self.sparsity_stats = defaultdict(list)
        super().__init__(sentences1, sentences2, scores, *args, **kwargs)


class SparseBinaryClassificationEvaluator(_PairSparsityMixin, BinaryClassificationEvaluator):
    """BinaryClassificationEvaluator on sparse embeddings; adds ``active_dims`` and ``sparsity_ratio``."""

    def __init__(self, sentences1, sentences2, labels, *args, max_active_dims: int | None = None, **kwargs):
        self.max_active_dims = max_active_dims
        self.sparsity_stats = defaultdict(list)
        super().__init__(sentences1, sentences2, labels, *args, **kwargs)


class SparseRerankingEvaluator(RerankingEvaluator):
    """RerankingEvaluator on sparse embeddings (default similarity: cosine, as in sentence-transformers); adds
    ``query_active_dims``, ``query_sparsity_ratio``, ``corpus_active_dims``, ``corpus_sparsity_ratio``."""

    def __init__(self, samples, at_k: int = 10, name: str = "", write_csv: bool = True, similarity_fct=cos_sim,
                 batch_size: int = 64, show_progress_bar: bool = False, use_batched_encoding: bool = True,
                 max_active_dims: int | None = None, mrr_at_k: int | None = None):  # fmt: skip
        self.max_active_dims = max_active_dims
        self.sparsity_stats = defaultdict(list)
        super().__init__(samples, at_k=at_k, name=name, write_csv=write_csv, similarity_fct=similarity_fct,
                         batch_size=batch_size, show_progress_bar=show_progress_bar,
                         use_batched_encoding=use_batched_encoding, mrr_at_k=mrr_at_k)  # fmt: skip
        self.csv_headers += [
            "query_active_dims",
            "query_sparsity_ratio",
            "corpus_active_dims",
            "corpus_sparsity_ratio",
        ]

    def embed_inputs(self, model, sentences, encode_fn_name=None, show_progress_bar=None, **kwargs):
        # distinct texts once (copies of a candidate tie exactly); statistics over all rows, copies included
        emb = encode_unique(
            lambda texts: _encode_sparse(
                self, model, texts, encode_fn_name, show_progress_bar=show_progress_bar, **kwargs
            ),
            sentences,
        )
        prefix = "query" if encode_fn_name in ("query", None) else "corpus"
        for key, value in sparsity(model, emb).items():
            self.sparsity_stats[f"{prefix}_{key}"].append(value)
        return emb

    def __call__(self, model, output_path=None, epoch: int = -1, steps: int = -1) -> dict:
        self.sparsity_stats = defaultdict(list)
        metrics = super().__call__(model, output_path, epoch, steps)
        stats = _mean_stats(self.sparsity_stats)
        metrics.update(self.prefix_name_to_metrics(stats, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if output_path is not None and self.write_csv:
            extend_last_csv_row(f"{output_path}/{self.csv_file}", stats.values())
        return metrics

    def get_config_dict(self) -> dict:
        out = super().get_config_dict()
        if self.max_active_dims is not None:
            out["max_active_dims"] = self.max_active_dims
        return out


__all__ = [
    "SparseInformationRetrievalEvaluator",
    "SparseEmbeddingSimilarityEvaluator",
    "SparseBinaryClassificationEvaluator",
    "SparseRerankingEvaluator",
    "sparsity",
    "count_vector",
]
