"""`raypipe eval` config: evaluate a model with an evaluator (dense or sparse retrieval, reranking, similarity,
classification), or rerank a first stage's top-k with a cross-encoder. The corpus can be embedded on a Ray Data
actor pool (`embedding.executor: ray`) when it is too large for one process.

    model: {kind: dense, path: outputs/train-dense/model}
    evaluator: {type: retrieval, queries: ..., corpus: ..., qrels: ...}
    first_stage: null                 # cross-encoders: {model: {kind: dense, path: ...}, top_k: 100}
    embedding: {executor: auto, num_actors: 2}
    output: {dir: outputs/eval}       # eval.json is written here
"""

from __future__ import annotations

from pydantic import Field, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.common import ModelRef
from raypipe.config.evaluator import EvaluatorConfig
from raypipe.config.paths import OutputPath
from raypipe.config.runtime import RayConfig
from raypipe.mining.options import ComputeDtype, Executor

__all__ = ["EvalConfig", "FirstStage", "EmbeddingSection", "EvalOutput"]


class FirstStage(StrictModel):
    """The retriever whose top-k a cross-encoder reranks."""

    model: ModelRef = Field(description="a dense or sparse model")
    top_k: int = Field(100, ge=1, description="candidates per query handed to the cross-encoder")


class EmbeddingSection(StrictModel):
    """Where corpus documents are embedded and cross-encoder pairs scored."""

    executor: Executor = Field("auto", description="local: this process; ray: a Ray Data actor pool (corpus "
                                                   "embedding, cross-encoder scoring); auto: ray when Ray is up")
    num_actors: int = Field(1, ge=1, description="actors of the pool (executor ray)")
    num_gpus_per_actor: float = Field(0.0, ge=0, description="GPUs per actor")
    batch_size: int = Field(32, ge=1, description="texts per encode call on an actor")
    shard_size: int = Field(50_000, ge=1, description="documents per cached embedding shard")
    cache_dir: OutputPath | None = Field(
        None, description="corpus embedding cache, reused by any later evaluation of the same model, dtype and "
                          "documents (cosine and sparse models); null: none on the local executor, "
                          "<output.dir>/cache on Ray; raypipe run: <output.dir>/cache/eval-embeddings")
    compute_dtype: ComputeDtype = Field(
        "float32", description="precision queries, corpus and cross-encoder pairs are computed in: float32 (the "
                               "metrics equal sentence-transformers'), bfloat16 (faster on CPUs with bf16 "
                               "instructions and on GPUs), float16 (GPUs only), auto (bfloat16 where supported)")
    progress: bool = Field(True, description="one progress bar per stage (corpus embedding, pair scoring) on "
                                             "stderr")


    @model_validator(mode="after")
    def _float16_needs_gpus(self):
        if self.compute_dtype == "float16" and self.executor == "ray" and not self.num_gpus_per_actor:
            raise ValueError("compute_dtype='float16' needs GPU actors (num_gpus_per_actor > 0): CPU autocast in "
                             "float16 is slower than float32; use 'bfloat16' or 'auto' on CPUs")
        return self


class EvalOutput(StrictModel):
    dir: OutputPath = Field("outputs/eval", description="eval.json (metrics and what produced them) goes here")
    file: str = Field("eval.json", description="name of the metrics file in dir")


class EvalConfig(StrictModel):
    """Evaluate a model; metric names as sentence-transformers' evaluators."""

    model: ModelRef = Field(description="the model to evaluate")
    evaluator: EvaluatorConfig
    first_stage: FirstStage | None = Field(None, description="cross-encoders: rerank this retriever's top-k")
    embedding: EmbeddingSection = Field(default_factory=EmbeddingSection)
    output: EvalOutput = Field(default_factory=EvalOutput)
    ray: RayConfig = Field(default_factory=RayConfig)

    @model_validator(mode="after")
    def _combination(self):
        rerank = self.model.kind == "cross" and self.evaluator.type == "retrieval"
        if rerank and self.first_stage is None:
            raise ValueError("a cross-encoder with evaluator.type='retrieval' needs first_stage (the retriever "
                             "whose top-k it reranks); or use evaluator.type='reranking'")
        if self.first_stage is not None and (self.model.kind != "cross" or self.evaluator.type != "retrieval"):
            raise ValueError("first_stage is for a cross-encoder (model.kind='cross') with evaluator.type="
                             "'retrieval'; remove it")
        if self.first_stage is not None and self.first_stage.model.kind == "cross":
            raise ValueError("first_stage.model.kind must be dense or sparse")
        return self
