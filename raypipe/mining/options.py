"""Every mining knob, once: `MiningOptions` is the `mining:` section of the YAML config, what `mine(...)` takes, and
what `mine_hard_negatives(...)` builds from its keyword arguments (names as sentence-transformers' where they
exist). `docs/config.md` is generated from these field descriptions."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, field_validator, model_validator

from raypipe.config.base import StrictModel
from raypipe.mining.formats import OUTPUT_FORMATS
from raypipe.mining.index import IndexSpec

__all__ = ["MiningOptions", "Executor", "ComputeDtype"]

logger = logging.getLogger(__name__)

Executor = Literal["auto", "local", "ray"]
ComputeDtype = Literal["float32", "bfloat16", "float16", "auto"]  # raypipe.models.precision.COMPUTE_DTYPES


class MiningOptions(StrictModel):
    """Knobs of the mining pipeline (read -> embed -> index/search -> rescore -> filter -> sample -> write)."""

    num_negatives: int = Field(3, ge=1, description="negatives per (anchor, positive) pair")
    range_min: int = Field(0, ge=0, description="skip the range_min most similar candidates")
    range_max: int | None = Field(
        None, ge=1, description="consider candidates up to this rank (null: range_min + num_negatives, or "
                                "+ 10 * num_negatives when a margin or max_score filters, plus max positives)")
    max_score: float | None = Field(None, description="drop candidates scoring above this")
    min_score: float | None = Field(None, description="drop candidates scoring below this")
    absolute_margin: float | None = Field(None, description="drop candidates with score + margin > positive score")
    relative_margin: float | None = Field(
        None, description="drop candidates above positive * (1 - margin) (NV-Retriever TopK-PercPos)")
    sampling_strategy: Literal["top", "random"] = Field("top", description="take the top candidates or sample")
    seed: int = Field(0, description="seed of random sampling (independent of batching)")
    query_prompt_name: str | None = Field(None, description="model prompt name for queries")
    query_prompt: str | None = Field(None, description="prompt text prepended to queries")
    corpus_prompt_name: str | None = Field(None, description="model prompt name for documents")
    corpus_prompt: str | None = Field(None, description="prompt text prepended to documents")
    include_positives: bool = Field(False, description="keep positives among the candidates (forces n-tuple)")
    output_format: Literal["triplet", "n-tuple", "labeled-pair", "labeled-list"] = Field(
        "triplet", description="shape of the output rows")
    output_scores: bool = Field(False, description="add the similarity scores to the output")
    batch_size: int = Field(32, ge=1, description="texts per encode call (and cross-encoder batch)")
    max_batch_tokens: int | None = Field(
        4096, ge=1, description="cap on an encode batch's padded tokens (rows x longest row): long texts go in "
                                "smaller batches, so an embedding process's activation memory stays bounded "
                                "(MiniLM, 64 x 256 tokens: +515 MB, 16 x 256: +182 MB; no slower on CPUs); null: "
                                "batch_size rows whatever their length, as sentence-transformers. GPU actors: raise "
                                "it (e.g. 65536) or null")
    search_batch_size: int = Field(
        16384, ge=1, description="queries per FAISS search call (sentence-transformers: faiss_batch_size)")
    query_batch_size: int = Field(8192, ge=1, description="queries filtered, sampled and written at a time")
    shard_size: int = Field(
        50_000, ge=1, description="documents per embedding shard: the unit of caching, of one FAISS index and of "
                                  "one search task")
    query_shard_size: int = Field(
        50_000, ge=1, description="queries per embedding shard: the unit of caching, search, merge, rescoring and "
                                  "writing, so the driver holds one shard's top-k, never all queries'")
    compute_dtype: ComputeDtype = Field(
        "float32", description="precision the embedding model and the cross-encoder compute in: float32 (exact, "
                               "as sentence-transformers), bfloat16 (~2x faster on CPUs with bf16 instructions "
                               "and on GPUs), float16 (GPU actors only), auto (bfloat16 where the hardware has it, "
                               "else float32); embeddings are stored in float32 either way")
    index: IndexSpec = Field(default_factory=IndexSpec, description="the FAISS index of each corpus shard")
    executor: Executor = Field(
        "auto", description="auto: Ray when it is initialized or an address is configured, else local; "
                            "local: this process; ray: Ray Data actor pools and Ray tasks")
    num_actors: int = Field(1, ge=1, description="embedding / rescoring actors (executor ray)")
    num_gpus_per_actor: float = Field(0.0, ge=0, description="GPUs per embedding / rescoring actor")
    cpus_per_actor: float | None = Field(
        None, gt=0, description="CPUs each embedding / rescoring actor reserves, and its torch threads (null: CPU "
                                "actors share the CPUs of a node, at least 1 each if there are enough; GPU actors 1)")
    rows_per_call: int | None = Field(
        None, ge=1, description="texts (or pairs) per call of an embedding / rescoring actor, sorted there by real "
                                "token count into batches of batch_size (null: the local executor's chunk, "
                                "max(64 x batch_size, 4096), but at least 4 calls per actor and at least 8 x "
                                "batch_size rows; embedding calls also stop at 2^19 characters, so long texts go in fewer rows)")
    tokenize_workers: int = Field(
        0, ge=0, description="executor ray: CPU actors that tokenize in their own stage and send token ids to the "
                             "embedding actors (for GPU actors, which would otherwise idle while tokenizing); 0: "
                             "each embedding actor tokenizes its texts itself")
    search_parallelism: int | None = Field(
        None, ge=1, description="corpus-shard search tasks in flight (executor ray), each reserving the cluster's "
                                "CPUs / this (at most a node's) and running FAISS on that many threads (null: one "
                                "task per alive node: one worker process, and one shard pair in memory, per node)")
    progress: bool = Field(True, description="show one progress bar per stage (embed, search, rescore) on stderr")
    verbose: bool = Field(True, description="print the statistics table (mine_hard_negatives)")

    @field_validator("index", mode="before")
    @classmethod
    def _index_kind(cls, value):
        return {"kind": value} if isinstance(value, str) else value  # index: flat  ==  index: {kind: flat}

    @model_validator(mode="after")
    def _ranges(self):
        errs = []
        if self.range_max is not None and self.range_min >= self.range_max:
            errs.append(f"range_min={self.range_min} must be smaller than range_max={self.range_max}; "
                        "decrease range_min or increase range_max")
        elif self.range_max is not None and self.num_negatives > self.range_max - self.range_min:
            errs.append(f"num_negatives={self.num_negatives} exceeds the {self.range_max - self.range_min} "
                        "candidates in [range_min, range_max); decrease num_negatives or widen the range")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            errs.append(f"min_score={self.min_score} is above max_score={self.max_score}")
        if self.compute_dtype == "float16" and self.executor == "ray" and not self.num_gpus_per_actor:
            errs.append("compute_dtype='float16' needs GPU actors (num_gpus_per_actor > 0): CPU autocast in float16 "
                        "is slower than float32; use compute_dtype='bfloat16' or 'auto' on CPUs")
        if errs:
            raise ValueError("; ".join(errs))
        return self

    def resolved(self, max_positives: int, has_cross_encoder: bool) -> MiningOptions:
        """A copy with range_max filled in (and include_positives' n-tuple); checks what needs the data."""
        o = self.model_copy()
        if o.include_positives and o.output_format != "n-tuple":
            logger.warning("include_positives=True: output_format is set to 'n-tuple' to keep the ranking order.")
            o.output_format = "n-tuple"
        assert o.output_format in OUTPUT_FORMATS
        if o.range_max is None:
            wide = (o.absolute_margin is not None or o.relative_margin is not None or o.max_score is not None
                    or (has_cross_encoder and o.min_score is not None))
            span = 10 * o.num_negatives if wide else o.num_negatives
            o.range_max = o.range_min + span + max_positives
        return o
