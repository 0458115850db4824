"""The `evaluator:` section, shared by `raypipe train`, `eval`, `tune` and `run`: which evaluator, on which files.
The model kind decides the class (dense / sparse / cross variant of each type); see raypipe/train/build.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.paths import InputPath

__all__ = ["EvaluatorConfig"]

_NEEDS = {"retrieval": ("queries", "corpus", "qrels"), "reranking": ("data",), "similarity": ("data",),
          "classification": ("data",)}


class EvaluatorConfig(StrictModel):
    """retrieval: queries/corpus/qrels files (BEIR layout, see raypipe.data.beir); reranking: a file of
    (query, positive, negative_1..n) rows, e.g. a `raypipe mine` n-tuple output; similarity / classification: a file
    of (sentence1, sentence2, score | label) rows."""

    type: Literal["retrieval", "reranking", "similarity", "classification"] = Field(
        description="retrieval: IR metrics (nDCG@10, MRR@10, ...); reranking: MAP/MRR/nDCG of positives among "
                    "negatives; similarity: Spearman/Pearson with gold scores; classification: accuracy/F1/AP")
    name: str = Field("dev", description="evaluator name, the prefix of every metric (e.g. dev_cosine_ndcg@10)")
    queries: InputPath | None = Field(None, description="retrieval: queries file (query_id, query)")
    corpus: InputPath | None = Field(None, description="retrieval: corpus file (doc_id, text[, title])")
    qrels: InputPath | None = Field(None, description="retrieval: relevance file (query_id, doc_id[, score])")
    limit_queries: int | None = Field(None, ge=1, description="retrieval: only the first N queries (with qrels)")
    data: InputPath | None = Field(None, description="reranking / similarity / classification rows")
    limit: int | None = Field(None, ge=1, description="only the first N rows of `data`")
    batch_size: int = Field(32, ge=1, description="texts (or pairs) per encode / predict call")
    truncate_dims: list[int] | None = Field(
        None, description="dense retrieval: evaluate at each truncation dimension too (Matryoshka), metrics "
                          "prefixed NAME_dimD")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="extra keyword arguments of the evaluator class (e.g. at_k)")

    @model_validator(mode="after")
    def _files(self):
        missing = [f for f in _NEEDS[self.type] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"type={self.type!r} needs {', '.join(missing)}; give the file path(s)")
        return self
