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

__all__ = ["MiningOptions", "Executor"]

logger = logging.getLogger(__name__)

Executor = Literal["auto", "local", "ray"]


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
    search_batch_size: int = Field(
        16384, ge=1, description="queries per FAISS search call (sentence-transformers: faiss_batch_size)")
    query_batch_size: int = Field(8192, ge=1, description="queries filtered, sampled and written at a time")
    shard_size: int = Field(
        50_000, ge=1, description="rows per embedding shard: the unit of caching, of one FAISS index and of "
                                  "one search task")
    index: IndexSpec = Field(default_factory=IndexSpec, description="the FAISS index of each corpus shard")
    executor: Executor = Field(
        "auto", description="auto: Ray when it is initialized or an address is configured, else local; "
                            "local: this process; ray: Ray Data actor pools and Ray tasks")
    num_actors: int = Field(1, ge=1, description="embedding / rescoring actors (executor ray)")
    num_gpus_per_actor: float = Field(0.0, ge=0, description="GPUs per embedding / rescoring actor")
    search_parallelism: int = Field(2, ge=1, description="corpus-shard search tasks in flight (executor ray)")
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
