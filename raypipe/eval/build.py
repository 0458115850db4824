"""Build an evaluator from an `evaluator:` config section for a model kind: the dense, sparse or cross-encoder
variant of each evaluator type, with its data read from the files the config names.

| type | dense | sparse | cross |
|---|---|---|---|
| retrieval | InformationRetrievalEvaluator | SparseInformationRetrievalEvaluator | - (use reranking) |
| reranking | RerankingEvaluator | SparseRerankingEvaluator | CrossEncoderRerankingEvaluator |
| similarity | EmbeddingSimilarityEvaluator | SparseEmbeddingSimilarityEvaluator | CrossEncoderCorrelationEvaluator |
| classification | BinaryClassificationEvaluator | SparseBinaryClassificationEvaluator | CrossEncoderClassificationEvaluator |

Data is read once, O(rows) memory (evaluation sets are small next to training sets).
"""

from __future__ import annotations

from raypipe.config.evaluator import EvaluatorConfig
from raypipe.config.paths import resolve_path
from raypipe.data.beir import load_beir, read_table
from raypipe.eval import (
    BinaryClassificationEvaluator,
    CrossEncoderClassificationEvaluator,
    CrossEncoderCorrelationEvaluator,
    CrossEncoderRerankingEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    RerankingEvaluator,
    SequentialEvaluator,
    SparseBinaryClassificationEvaluator,
    SparseEmbeddingSimilarityEvaluator,
    SparseInformationRetrievalEvaluator,
    SparseRerankingEvaluator,
)

__all__ = ["build_evaluator", "EVALUATOR_CLASSES"]

EVALUATOR_CLASSES = {
    ("retrieval", "dense"): InformationRetrievalEvaluator,
    ("retrieval", "sparse"): SparseInformationRetrievalEvaluator,
    ("reranking", "dense"): RerankingEvaluator,
    ("reranking", "sparse"): SparseRerankingEvaluator,
    ("reranking", "cross"): CrossEncoderRerankingEvaluator,
    ("similarity", "dense"): EmbeddingSimilarityEvaluator,
    ("similarity", "sparse"): SparseEmbeddingSimilarityEvaluator,
    ("similarity", "cross"): CrossEncoderCorrelationEvaluator,
    ("classification", "dense"): BinaryClassificationEvaluator,
    ("classification", "sparse"): SparseBinaryClassificationEvaluator,
    ("classification", "cross"): CrossEncoderClassificationEvaluator,
}


def _rows(cfg: EvaluatorConfig):
    table = read_table(resolve_path(cfg.data))
    return table.slice(0, cfg.limit) if cfg.limit else table


def _retrieval(cls, cfg: EvaluatorConfig, compute_dtype: str, show_progress_bar: bool):
    queries, corpus, relevant = load_beir(resolve_path(cfg.corpus), resolve_path(cfg.queries),
                                          resolve_path(cfg.qrels))
    if cfg.limit_queries:
        keep = [q for q in queries if q in relevant][: cfg.limit_queries]
        queries, relevant = {q: queries[q] for q in keep}, {q: relevant[q] for q in keep}
    kw = {"name": cfg.name, "batch_size": cfg.batch_size, "show_progress_bar": show_progress_bar, **cfg.params}
    if compute_dtype != "float32":  # only the retrieval evaluators embed with a compute dtype
        kw["compute_dtype"] = compute_dtype
    if not cfg.truncate_dims:
        return cls(queries, corpus, relevant, **kw)
    # Matryoshka: one evaluator per truncation dimension (plus the full one), metrics prefixed NAME_dimD
    evs = [cls(queries, corpus, relevant, **kw)]
    evs += [cls(queries, corpus, relevant, **{**kw, "name": f"{cfg.name}_dim{d}", "truncate_dim": d})
            for d in cfg.truncate_dims]
    return SequentialEvaluator(evs)


def _reranking_samples(table) -> list[dict]:
    """(query, positive, negative[_1..n]) rows -> [{query, positive: [p], negative: [n...]}]."""
    cols = table.column_names
    if len(cols) < 3:
        raise ValueError(f"reranking data needs (query, positive, negative_1, ...) columns, got {cols}.")
    q, p, negs = cols[0], cols[1], [c for c in cols[2:] if c.startswith("negative")] or cols[2:3]
    data = table.select([q, p, *negs]).to_pydict()
    out = []
    for i, query in enumerate(data[q]):
        pos = data[p][i]
        neg = [n for c in negs for n in (data[c][i] if isinstance(data[c][i], list) else [data[c][i]])]
        out.append({"query": query, "positive": pos if isinstance(pos, list) else [pos], "negative": neg})
    return out


def _pairs(table, what: str):
    cols = table.column_names
    if len(cols) < 3:
        raise ValueError(f"{what} data needs (sentence1, sentence2, score) columns, got {cols}.")
    d = table.select(cols[:3]).to_pydict()
    return d[cols[0]], d[cols[1]], d[cols[2]]


def build_evaluator(cfg: EvaluatorConfig, kind: str, compute_dtype: str = "float32", show_progress_bar: bool = False):
    """The evaluator for `cfg` and a model of `kind` (dense | sparse | cross); retrieval evaluators embed queries
    and corpus in `compute_dtype` (raypipe.models.precision). `show_progress_bar` is the evaluators' own (a bar
    per encode / predict call); `cfg.params` may still set it."""
    cls = EVALUATOR_CLASSES.get((cfg.type, kind))
    if cls is None:
        raise ValueError(f"evaluator.type={cfg.type!r} has no {kind} variant; for a cross-encoder use "
                         "'reranking', 'similarity' or 'classification'.")
    if cfg.type == "retrieval":
        return _retrieval(cls, cfg, compute_dtype, show_progress_bar)
    kw = {"name": cfg.name, "batch_size": cfg.batch_size, "show_progress_bar": show_progress_bar, **cfg.params}
    if cfg.type == "reranking":
        return cls(_reranking_samples(_rows(cfg)), **kw)
    a, b, y = _pairs(_rows(cfg), cfg.type)
    if kind == "cross":
        return cls([[x, z] for x, z in zip(a, b)], y, **kw)
    return cls(a, b, y, **kw)
