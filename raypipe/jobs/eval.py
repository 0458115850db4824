"""The evaluation job: `run(EvalConfig) -> EvalResult`.

The metrics come from raypipe's evaluators (sentence-transformers' metric names and tie-breaking). With
`embedding.executor: ray` the corpus is embedded on a Ray Data actor pool through the mining runner (shards cached
under `embedding.cache_dir`, so a rerun embeds nothing; the whole corpus in one pass with one progress bar, ahead
of the evaluator's chunks) and cross-encoder pairs are scored on an actor pool; the evaluator itself still runs
here, folding the corpus chunk by chunk into a running top-k (memory O(queries x dim + chunk x dim), not O(corpus)).

Cross-encoder reranking of a first stage: the first-stage retriever's top-k per query (its own search, same
evaluator machinery) become each query's candidate list, in the retriever's order; the reranker's metrics come
with the first stage's as `base_*`. Positives the retriever missed count as misses (no positive is added).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from raypipe.atomic import write_json
from raypipe.config.eval import EvalConfig
from raypipe.config.paths import resolve_path
from raypipe.data.beir import load_beir
from raypipe.eval import CrossEncoderRerankingEvaluator, InformationRetrievalEvaluator
from raypipe.eval.build import EVALUATOR_CLASSES, build_evaluator
from raypipe.jobs.report import metrics_table
from raypipe.mining.embed import embed_all, is_sparse_model, load_shard
from raypipe.mining.options import MiningOptions
from raypipe.mining.progress import Progress
from raypipe.mining.runner import LocalRunner, get_runner, resolve_executor
from raypipe.registry import get_kind

__all__ = ["EvalResult", "run", "evaluate", "RunnerEncoder", "RunnerScorer"]


@dataclass
class EvalResult:
    metrics: dict
    output_file: str
    seconds: float
    executor: str

    def summary(self) -> str:
        return "\n".join([f"Evaluated in {self.seconds:.1f}s ({self.executor} executor).",
                          metrics_table(self.metrics), f"Metrics written to {self.output_file}"])


class RunnerEncoder:
    """A model whose `encode_document` runs on a mining runner (e.g. a Ray Data actor pool), with the embedding
    cache; everything else is the model's. Dense embeddings come back L2-normalized (cosine models only)."""

    def __init__(self, model, runner, cache_dir: str, batch_size: int, shard_size: int,
                 compute_dtype: str = "float32", progress: bool = False):
        if not is_sparse_model(model) and (getattr(model, "similarity_fn_name", None) or "cosine") != "cosine":
            raise ValueError(f"embedding.executor=ray embeds normalized vectors, but the model's similarity is "
                             f"{model.similarity_fn_name!r}; use embedding.executor=local for it.")
        self.model, self.runner, self.cache_dir = model, runner, cache_dir
        self.batch_size, self.shard_size = batch_size, shard_size
        self.compute_dtype, self.progress = compute_dtype, Progress(progress)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_document(self, texts, prompt=None, prompt_name=None, truncate_dim=None, **_):
        job = dict(texts=pa.array(list(texts), pa.string()), role="document", prompt=prompt, prompt_name=prompt_name)
        shards = embed_all([job], self.model, self.cache_dir, self.runner, batch_size=self.batch_size,
                           shard_size=self.shard_size, compute_dtype=self.compute_dtype, progress=self.progress)[0]
        parts = [load_shard(p) for p in shards.paths]
        if shards.sparse:
            import scipy.sparse as sp

            coo = sp.vstack(parts).tocoo()  # (N, vocab)
            idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
            return torch.sparse_coo_tensor(idx, torch.from_numpy(coo.data), coo.shape).coalesce()
        emb = torch.from_numpy(np.concatenate(parts))  # (N, D), unit rows
        if truncate_dim:
            emb = torch.nn.functional.normalize(emb[:, :truncate_dim], dim=-1)  # cosine of the truncated vectors
        return emb

    def prefetch(self, evaluator) -> None:
        """Embed every corpus chunk `evaluator` (an InformationRetrievalEvaluator) will ask for, in one runner
        call: one progress bar over the whole corpus instead of one per chunk, and the actors start once. Its
        chunk-by-chunk `encode_document` calls then read the cached shards (same texts, prompts and shard size,
        so the same cache keys). Memory: the corpus's distinct texts once more, as Arrow strings, for the call
        (the evaluator already holds them as Python strings); no embeddings are kept, they go to the cache."""
        jobs = [dict(texts=pa.array(list(t), pa.string()), role="document", prompt=evaluator.corpus_prompt,
                     prompt_name=evaluator.corpus_prompt_name) for t in evaluator.corpus_chunk_texts()]
        embed_all(jobs, self.model, self.cache_dir, self.runner, batch_size=self.batch_size,
                  shard_size=self.shard_size, compute_dtype=self.compute_dtype, progress=self.progress)


def _prefetch(corpus_model, evaluator) -> None:
    if isinstance(corpus_model, RunnerEncoder):
        corpus_model.prefetch(evaluator)


class RunnerScorer:
    """A cross-encoder whose `predict` runs on a mining runner (e.g. a Ray Data actor pool), in `compute_dtype`."""

    def __init__(self, cross_encoder, runner, batch_size: int, compute_dtype: str = "float32",
                 progress: bool = False):
        self.model, self.runner, self.batch_size = cross_encoder, runner, batch_size
        self.compute_dtype, self.progress = compute_dtype, Progress(progress)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict(self, pairs, **_):
        a = pa.array([p[0] for p in pairs], pa.string())
        b = pa.array([p[1] for p in pairs], pa.string())
        with self.progress.bar("score pairs", total=len(b), unit="pair") as bar:
            return self.runner.score_pairs(self.model, a, b, self.batch_size, self.compute_dtype, bar)


def _cacheable(model) -> bool:
    """Cached corpus embeddings are stored L2-normalized (dense) or sparse: right for cosine and sparse models."""
    return is_sparse_model(model) or (getattr(model, "similarity_fn_name", None) or "cosine") == "cosine"


def _first_stage_samples(cfg: EvalConfig, first, corpus_model) -> list[dict]:
    """Each query with its relevant documents and the first stage's top_k documents, best first."""
    e = cfg.evaluator
    queries, corpus, relevant = load_beir(resolve_path(e.corpus), resolve_path(e.queries), resolve_path(e.qrels))
    cls = EVALUATOR_CLASSES[("retrieval", first.kind)]
    k = cfg.first_stage.top_k
    ev = cls(queries, corpus, relevant, batch_size=e.batch_size, accuracy_at_k=[1], precision_recall_at_k=[1],
             mrr_at_k=[1], ndcg_at_k=[1], map_at_k=[k], write_csv=False, compute_dtype=cfg.embedding.compute_dtype)
    if e.limit_queries:
        ev.queries_ids, ev.queries = ev.queries_ids[: e.limit_queries], ev.queries[: e.limit_queries]
    if not ev.score_functions:  # set per call by the evaluator; search() is called directly here
        ev.score_functions = {getattr(first, "similarity_fn_name", None) or "cosine": first.similarity}
    _prefetch(corpus_model, ev)
    hits = next(iter(ev.search(first, corpus_model or first).values()))[1]  # (Q, k) corpus indices
    return [{"query": q, "positive": [corpus[d] for d in sorted(relevant[qid])],
             "documents": [ev.corpus[i] for i in row]}
            for qid, q, row in zip(ev.queries_ids, ev.queries, hits.tolist())]


def evaluate(cfg: EvalConfig, runner=None) -> dict:
    """The metrics of `cfg` (runner None: everything in this process)."""
    e, out = cfg.evaluator, cfg.output.dir
    model = get_kind(cfg.model.kind).model_class(resolve_path(cfg.model.path))
    emb = cfg.embedding

    def corpus_model(m):
        """The corpus side through the embedding cache: on the Ray pool, or (local) in this process when a
        cache_dir is set and the vectors may be normalized; None: the model's own encode, uncached."""
        if runner is None and not (emb.cache_dir and _cacheable(m)):
            return None
        return RunnerEncoder(m, runner or LocalRunner(), emb.cache_dir or os.path.join(out, "cache"),
                             emb.batch_size, emb.shard_size, emb.compute_dtype, emb.progress)

    def scorer(m):
        if runner is None and emb.compute_dtype == "float32":
            return m  # the model's own predict, every argument honoured (its bar: the evaluator's)
        return RunnerScorer(m, runner or LocalRunner(), emb.batch_size, emb.compute_dtype, emb.progress)

    if cfg.first_stage is not None:
        first = get_kind(cfg.first_stage.model.kind).model_class(resolve_path(cfg.first_stage.model.path))
        samples = _first_stage_samples(cfg, first, corpus_model(first))
        params = {"show_progress_bar": emb.progress, **e.params}
        ev = CrossEncoderRerankingEvaluator(samples, always_rerank_positives=False, name=e.name,
                                            batch_size=e.batch_size, **params)
        return ev(scorer(model), output_path=out)
    ev = build_evaluator(e, cfg.model.kind, emb.compute_dtype, show_progress_bar=emb.progress)
    if cfg.model.kind == "cross":
        return ev(scorer(model), output_path=out)
    if isinstance(ev, InformationRetrievalEvaluator):
        encoder = corpus_model(model)
        _prefetch(encoder, ev)
        return ev(model, output_path=out, corpus_model=encoder)
    return ev(model, output_path=out)


def run(cfg: EvalConfig) -> EvalResult:
    """Evaluate as the config says; writes <output.dir>/<output.file> atomically."""
    import contextlib

    t0 = time.perf_counter()
    executor = resolve_executor(cfg.embedding.executor, cfg.ray.address)
    runtime = contextlib.nullcontext()
    if executor == "ray":
        from raypipe.runtime import ray_runtime

        runtime = ray_runtime(cfg.ray)
    with runtime:
        runner = None
        if executor == "ray":
            runner = get_runner(MiningOptions(executor="ray", num_actors=cfg.embedding.num_actors,
                                              num_gpus_per_actor=cfg.embedding.num_gpus_per_actor,
                                              compute_dtype=cfg.embedding.compute_dtype))
        metrics = evaluate(cfg, runner)
    path = Path(cfg.output.dir) / cfg.output.file
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"metrics": metrics, "config": cfg.model_dump()})
    return EvalResult(metrics, str(path), time.perf_counter() - t0, executor)
