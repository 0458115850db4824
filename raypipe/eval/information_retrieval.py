"""InformationRetrievalEvaluator: embed queries and a corpus, retrieve the top hits of each query and report
accuracy / precision / recall / MRR / nDCG / MAP at the requested cut-offs (sentence-transformers' metric names).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from raypipe.atomic import atomic_open
from raypipe.eval.base import BaseEvaluator, append_csv_row, encode, epoch_text, similarity_value, take_rows
from raypipe.eval.dedup import UniqueChunks
from raypipe.eval.metrics import retrieval_metrics
from raypipe.eval.topk import RunningTopK, corpus_id_ranks
from raypipe.models.precision import check_compute_dtype

logger = logging.getLogger(__name__)

METRIC_ORDER = ("accuracy@k", "precision@k", "recall@k", "ndcg@k", "mrr@k", "map@k")


def _check_k_list(param: str, values) -> list[int]:
    values = list(values) if values is not None else []
    if not values or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in values):
        raise ValueError(
            f"InformationRetrievalEvaluator: {param}={values!r} must be a non-empty list of positive integers. "
            f"Fix: e.g. {param}=[10]."
        )
    return values


def _preview(ids) -> str:
    ids = sorted(map(str, ids))
    return repr(ids[:5]) + (f" (and {len(ids) - 5} more)" if len(ids) > 5 else "")


def _validate_inputs(queries: Mapping, corpus: Mapping, relevant_docs: Mapping) -> None:
    owner = "InformationRetrievalEvaluator"
    if len(corpus) == 0:
        raise ValueError(
            f"{owner}: corpus is empty. Fix: pass a dict {{doc_id: text}} with at least one document."
        )
    if len(queries) == 0:
        raise ValueError(
            f"{owner}: queries is empty. Fix: pass a dict {{query_id: text}} with at least one query."
        )
    unknown_queries = [qid for qid in relevant_docs if qid not in queries]
    if unknown_queries:
        raise ValueError(
            f"{owner}: relevant_docs names {len(unknown_queries)} query id(s) missing from queries: "
            f"{_preview(unknown_queries)}. Fix: drop those qrels or add the queries "
            f"(raypipe.data.beir.filter_qrels does the former)."
        )
    unknown_docs = {cid for docs in relevant_docs.values() for cid in docs if cid not in corpus}
    if unknown_docs:
        raise ValueError(
            f"{owner}: relevant_docs names {len(unknown_docs)} document id(s) missing from corpus: "
            f"{_preview(unknown_docs)}. Fix: add those documents to the corpus or drop those qrels "
            f"(raypipe.data.beir.filter_qrels does the latter)."
        )
    if not any(len(relevant_docs.get(qid, ())) for qid in queries):
        raise ValueError(
            f"{owner}: no query has a relevant document in relevant_docs, so there is nothing to evaluate. "
            f"Fix: pass relevant_docs as {{query_id: set(doc_ids)}} for (some of) the query ids in queries."
        )


class InformationRetrievalEvaluator(BaseEvaluator):
    """Retrieval metrics of a bi-encoder over ``corpus`` for ``queries`` with binary ``relevant_docs``.

    Queries without relevant documents are skipped (as in sentence-transformers). The corpus is embedded
    ``corpus_chunk_size`` documents at a time; each chunk is scored against blocks of ``query_chunk_size`` queries
    (None: all at once, as sentence-transformers does) and folded into a running top-k per query, ties broken by
    ascending corpus id. The block bounds the score matrix: 5,786 queries x 50,000 documents at once took ~1.2 GB
    per float32 copy (a few copies live at once while the top-k is folded); 1,024 at a time take ~0.2 GB each.
    ``compute_dtype`` (float32 | bfloat16 | float16 | auto) is the precision queries and corpus are embedded in
    (raypipe.models.precision); float32, the default, gives sentence-transformers' metrics exactly.

    Cost: time O(Q·N·D) for scoring plus embedding all Q + N texts; memory O(Q·D + C·D + B·C + Q·k) for
    C = corpus_chunk_size and B = min(Q, query_chunk_size) — the score matrix grows with neither the corpus size N
    nor the number of queries Q.

    Metrics (per score function ``fn``): ``{fn}_accuracy@k``, ``{fn}_precision@k``, ``{fn}_recall@k``,
    ``{fn}_ndcg@k``, ``{fn}_mrr@k``, ``{fn}_map@k``; primary ``{fn}_ndcg@{max(ndcg_at_k)}`` for
    ``main_score_function`` or else the best score function. All prefixed with ``{name}_`` when named.
    """

    def __init__(
        self,
        queries: dict[str, str],
        corpus: dict[str, str],
        relevant_docs: dict[str, set[str]],
        corpus_chunk_size: int = 50000,
        mrr_at_k: list[int] = (10,),
        ndcg_at_k: list[int] = (10,),
        accuracy_at_k: list[int] = (1, 3, 5, 10),
        precision_recall_at_k: list[int] = (1, 3, 5, 10),
        map_at_k: list[int] = (100,),
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
        query_chunk_size: int | None = 1024,
        compute_dtype: str = "float32",
    ) -> None:
        super().__init__()
        self.compute_dtype = check_compute_dtype(compute_dtype)
        _validate_inputs(queries, corpus, relevant_docs)
        for param, value in (
            ("corpus_chunk_size", corpus_chunk_size),
            ("query_chunk_size", query_chunk_size),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"InformationRetrievalEvaluator: {param}={value!r} must be a positive integer."
                )
        self.relevant_docs = {qid: set(docs) for qid, docs in relevant_docs.items()}
        self.queries_ids = [qid for qid in queries if len(self.relevant_docs.get(qid, ())) > 0]
        self.queries = [queries[qid] for qid in self.queries_ids]
        self.corpus_ids = list(corpus.keys())
        self.corpus = [corpus[cid] for cid in self.corpus_ids]
        self.corpus_chunk_size = corpus_chunk_size
        self.query_chunk_size = query_chunk_size
        self.mrr_at_k = _check_k_list("mrr_at_k", mrr_at_k)
        self.ndcg_at_k = _check_k_list("ndcg_at_k", ndcg_at_k)
        self.accuracy_at_k = _check_k_list("accuracy_at_k", accuracy_at_k)
        self.precision_recall_at_k = _check_k_list("precision_recall_at_k", precision_recall_at_k)
        self.map_at_k = _check_k_list("map_at_k", map_at_k)
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.query_prompt, self.query_prompt_name = query_prompt, query_prompt_name
        self.corpus_prompt, self.corpus_prompt_name = corpus_prompt, corpus_prompt_name
        self.score_functions = score_functions
        self._score_functions_from_model = score_functions is None
        self.score_function_names = sorted(score_functions) if score_functions else []
        self.main_score_function = similarity_value(main_score_function)
        self.write_predictions = write_predictions
        suffix = "_" + name if name else ""
        self.csv_file = f"Information-Retrieval_evaluation{suffix}_results.csv"
        self.predictions_file = f"Information-Retrieval_evaluation{suffix}_predictions.jsonl"
        self._set_csv_headers()
        self._id_ranks: Tensor | None = None
        self._unique_corpus: UniqueChunks | None = None

    # ---------------------------------------------------------------- CSV
    def _set_csv_headers(self) -> None:
        self.csv_headers = ["epoch", "steps"]
        for fn in self.score_function_names:
            self.csv_headers += [f"{fn}-Accuracy@{k}" for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                self.csv_headers += [f"{fn}-Precision@{k}", f"{fn}-Recall@{k}"]
            self.csv_headers += [f"{fn}-MRR@{k}" for k in self.mrr_at_k]
            self.csv_headers += [f"{fn}-NDCG@{k}" for k in self.ndcg_at_k]
            self.csv_headers += [f"{fn}-MAP@{k}" for k in self.map_at_k]

    def _csv_row(self, scores: dict, epoch: int, steps: int) -> list:
        row: list = [epoch, steps]
        for fn in self.score_function_names:
            s = scores[fn]
            row += [s["accuracy@k"][k] for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                row += [s["precision@k"][k], s["recall@k"][k]]
            row += [s["mrr@k"][k] for k in self.mrr_at_k]
            row += [s["ndcg@k"][k] for k in self.ndcg_at_k]
            row += [s["map@k"][k] for k in self.map_at_k]
        return row

    # ---------------------------------------------------------------- main entry
    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1, *args, **kwargs
    ):
        logger.info(
            "Information Retrieval Evaluation on the %s dataset%s:", self.name, epoch_text(epoch, steps)
        )
        if self._score_functions_from_model:
            # resolved per call, so one evaluator reused across models labels each with its own similarity
            fn_name = similarity_value(getattr(model, "similarity_fn_name", None) or "cosine")
            if self.score_function_names != [fn_name]:
                self.score_function_names = [fn_name]
                self._set_csv_headers()
                self.primary_metric = None
            self.score_functions = {fn_name: model.similarity}
        scores = self.compute_all_metrics(model, *args, output_path=output_path, **kwargs)
        if self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, self._csv_row(scores, epoch, steps))
        if not self.primary_metric:
            k = max(self.ndcg_at_k)
            fn = self.main_score_function or max(
                self.score_function_names, key=lambda n: scores[n]["ndcg@k"][k]
            )
            self.primary_metric = f"{fn}_ndcg@{k}"
        metrics = {
            f"{fn}_{metric.replace('@k', f'@{k}')}": value
            for fn, per_metric in scores.items()
            for metric in METRIC_ORDER
            for k, value in per_metric[metric].items()
        }
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def max_k(self) -> int:
        return max(
            *self.mrr_at_k, *self.ndcg_at_k, *self.accuracy_at_k, *self.precision_recall_at_k, *self.map_at_k
        )

    def compute_all_metrics(
        self, model, corpus_model=None, corpus_embeddings: Tensor | None = None, output_path=None
    ):
        """{score function name: {"accuracy@k": {k: v}, ...}}. ``corpus_embeddings`` (N, D) skips corpus encoding."""
        hits = self.search(model, corpus_model or model, corpus_embeddings)
        if self.write_predictions and output_path is not None:
            self._write_predictions(hits, output_path)
        relevant = [self.relevant_docs[qid] for qid in self.queries_ids]
        out = {}
        for fn in self.score_functions:
            ranked = [[self.corpus_ids[i] for i in row] for row in hits[fn][1].tolist()]
            out[fn] = retrieval_metrics(
                ranked, relevant, self.accuracy_at_k, self.precision_recall_at_k,
                self.mrr_at_k, self.ndcg_at_k, self.map_at_k,
            )  # fmt: skip
        return out

    def search(self, model, corpus_model, corpus_embeddings=None) -> dict[str, tuple[Tensor, Tensor]]:
        """Top ``max_k`` hits per query: {fn: (scores (Q, k), corpus indices (Q, k))}, best first.

        Ties are ordered by ascending corpus id (sentence-transformers' rule). Each distinct corpus text is embedded
        and scored once and its scores are shared by all its copies, so duplicate documents are exact ties whatever
        batch they would have been embedded in (see ``raypipe.eval.dedup``)."""
        if self._id_ranks is None:
            self._id_ranks = corpus_id_ranks(self.corpus_ids)
        query_emb = self.embed_inputs(model, self.queries, "query", self.query_prompt_name, self.query_prompt)
        n_q = len(self.queries)
        q_block = self.query_chunk_size or max(n_q, 1)
        blocks = [(s, min(s + q_block, n_q)) for s in range(0, n_q, q_block)]
        topks = {
            fn: [RunningTopK(e - s, self.max_k, self._id_ranks) for s, e in blocks]
            for fn in self.score_functions
        }
        for chunk, entries, columns in self._corpus_chunks(corpus_model, corpus_embeddings):
            for fn, score_fn in self.score_functions.items():
                for (qs, qe), topk in zip(blocks, topks[fn]):
                    q = query_emb if len(blocks) == 1 else take_rows(query_emb, qs, qe)
                    with torch.no_grad():
                        scores = score_fn(q, chunk)  # (Q_block, C) scores of the chunk's distinct texts
                    scores = scores.to_dense() if scores.is_sparse else scores
                    topk.update_at(scores[:, columns.to(scores.device)], entries)  # (Q_block, M) per entry
            del chunk
        return {
            fn: tuple(torch.cat(parts, dim=0) for parts in zip(*(t.result() for t in topks[fn])))
            for fn in self.score_functions
        }

    def _corpus_chunks(self, corpus_model, corpus_embeddings=None):
        """Yield (embeddings (C, D), entries (M,), columns (M,)): corpus entry `entries[j]` has embedding row
        `columns[j]`. Given embeddings are used as they are, `corpus_chunk_size` rows at a time; otherwise
        `corpus_chunk_size` distinct texts are embedded at a time and every copy of them is covered at once."""
        if corpus_embeddings is not None:
            for start in range(0, len(self.corpus), self.corpus_chunk_size):
                end = min(start + self.corpus_chunk_size, len(self.corpus))
                rows = torch.arange(start, end, dtype=torch.long)
                yield take_rows(corpus_embeddings, start, end), rows, rows - start
            return
        unique = self._unique_chunks()
        for start in range(0, len(unique), self.corpus_chunk_size):
            end = min(start + self.corpus_chunk_size, len(unique))
            chunk = self.embed_inputs(
                corpus_model,
                unique.unique[start:end],
                "document",
                self.corpus_prompt_name,
                self.corpus_prompt,
            )
            entries, columns = unique.cover(start, end)
            self._corpus_chunk_embedded(corpus_model, chunk, columns)
            yield chunk, entries, columns

    def _unique_chunks(self) -> UniqueChunks:
        if self._unique_corpus is None:
            self._unique_corpus = UniqueChunks(self.corpus)
        return self._unique_corpus

    def corpus_chunk_texts(self) -> list[list[str]]:
        """The distinct corpus texts of each chunk `search` embeds, in order: for a caller that embeds them all
        ahead in one pass (one progress bar, workers started once) into a cache that the chunk-by-chunk encode
        calls then read. Memory: references to the corpus's strings, no copies."""
        unique = self._unique_chunks().unique
        return [unique[s : s + self.corpus_chunk_size] for s in range(0, len(unique), self.corpus_chunk_size)]

    def _corpus_chunk_embedded(self, corpus_model, chunk, columns: Tensor) -> None:
        """Hook for subclasses: `chunk` (C, D) embeddings of distinct texts, `columns` (M,) one row per entry."""

    def embed_inputs(self, model, texts, encode_fn_name=None, prompt_name=None, prompt=None, **kwargs):
        return encode(
            model, texts, encode_fn_name, prompt_name=prompt_name, prompt=prompt, batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar, convert_to_tensor=True, truncate_dim=self.truncate_dim,
            **self.dtype_kwargs(), **kwargs,
        )  # fmt: skip

    def dtype_kwargs(self) -> dict:
        # float32 is not passed, so models whose encode has no compute_dtype parameter keep working
        return {} if self.compute_dtype == "float32" else {"compute_dtype": self.compute_dtype}

    def _write_predictions(self, hits: dict, output_path: str) -> None:
        os.makedirs(output_path, exist_ok=True)
        for fn, (values, indices) in hits.items():
            path = os.path.join(output_path, self.predictions_file.replace(".jsonl", f"_{fn}.jsonl"))
            with atomic_open(path, "w", encoding="utf-8") as f:
                for qid, query, vals, idx in zip(
                    self.queries_ids, self.queries, values.tolist(), indices.tolist()
                ):
                    results = [{"corpus_id": self.corpus_ids[i], "score": v} for v, i in zip(vals, idx)]
                    f.write(json.dumps({"query_id": qid, "query": query, "results": results}) + "\n")

    def get_config_dict(self) -> dict:
        keys = ("truncate_dim", "query_prompt", "query_prompt_name", "corpus_prompt", "corpus_prompt_name")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}


__all__ = ["InformationRetrievalEvaluator"]
