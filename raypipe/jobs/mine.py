"""The mining job: `run(MineConfig) -> MineResult`. Loads the pairs and corpus the config names, resolves the
executor once, starts or joins Ray only when it is needed, and mines.

Models are handed on as `LazyModel`s (folder + kind) when they are local folders: on the Ray executor every
actor loads its own copy and this driver never imports torch nor holds the weights (~0.5 GB less driver memory on
the Debian job); on the local executor the runner loads them here once. A hub id (online) is loaded here."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from raypipe.config.mine import MineConfig
from raypipe.config.paths import resolve_path
from raypipe.mining import mine
from raypipe.mining.runner import resolve_executor
from raypipe.models.lazy import MODEL_CLASSES, LazyModel

__all__ = ["MineResult", "run", "build_mine_arguments"]


@dataclass
class MineResult:
    output_dir: str
    info: dict
    stats: dict
    stats_text: str
    output_format: str
    seconds: float

    def summary(self) -> str:
        i = self.info
        return "\n".join([
            self.stats_text,
            f"Mined {i['rows']:,} rows ({self.output_format}) for {i['queries']:,} queries against "
            f"{i['documents']:,} documents in {self.seconds:.1f}s on the {i['executor']} executor (newly embedded: "
            f"{i['embedded_documents']:,} documents, {i['embedded_queries']:,} queries; embedding cache: "
            f"{i['cache_dir']}).",
            f"Output written to {self.output_dir}",
        ])


def _read(path: str, limit: int | None, seed: int | None = None):
    """The table at `path`; with `seed`, its rows in a seeded random order; then its first `limit` rows."""
    table = pq.read_table(resolve_path(path))
    if seed is not None:
        table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    return table if limit is None else table.slice(0, limit)


def _model(path: str, kind: str):
    """A LazyModel for a local folder; a hub id (online) is loaded here, as before."""
    path = resolve_path(path)
    if os.path.isdir(path):
        return LazyModel(path, kind)
    from raypipe.registry import get_kind  # imports torch: only for models that are not local folders

    assert kind in MODEL_CLASSES
    return get_kind(kind).model_class(path)


def build_mine_arguments(cfg: MineConfig, executor: str) -> dict[str, Any]:
    """Keyword arguments of `raypipe.mining.mine` for this config (data read here; models as LazyModels)."""
    d = cfg.data
    model = _model(cfg.model.path, cfg.model.kind)
    ce = _model(cfg.cross_encoder, "cross") if cfg.cross_encoder else None
    options = cfg.mining.model_copy(update={"executor": executor, "verbose": False})
    return dict(dataset=_read(d.pairs, d.limit_pairs, d.pairs_seed), model=model,
                corpus=_read(d.corpus, d.limit_corpus) if d.corpus else None, cross_encoder=ce,
                anchor_column_name=d.anchor_column, positive_column_name=d.positive_column,
                corpus_column_name=d.corpus_column, options=options, output_dir=cfg.output.dir,
                cache_dir=cfg.output.cache_dir, overwrite=cfg.output.overwrite)


def run(cfg: MineConfig) -> MineResult:
    """Mine as the config says; Ray is started (or joined) only for the Ray executor."""
    executor = resolve_executor(cfg.mining.executor, cfg.ray.address)
    t0 = time.perf_counter()
    if executor == "ray":
        from raypipe.runtime import ray_runtime

        runtime = ray_runtime(cfg.ray)
    else:
        runtime = contextlib.nullcontext()
    with runtime:
        result = mine(**build_mine_arguments(cfg, executor))
    return MineResult(result.output_dir, result.info, result.stats, result.stats_text, cfg.mining.output_format,
                      time.perf_counter() - t0)
