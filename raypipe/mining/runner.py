"""Where the mining stages run: the one place that chooses between this process and Ray.

A runner executes the three heavy stages over work the pure stage modules have planned:
- `embed(model, tasks, settings, bar)`: encode text shards (`EmbedSettings`: batch size, compute dtype, token
  cap) and write each shard file (atomic), counting texts on the progress `bar`;
- `search(tasks)`: run `SearchTask`s (one query shard x one corpus shard each), yielding (task index,
  `ShardResult`) as each finishes;
- `score_pairs(cross_encoder, a, b, batch_size, compute_dtype, bar, max_batch_tokens)`: cross-encoder scores (n,)
  of pairs (a[i], b[i]).
`model` / `cross_encoder` may be loaded models or `raypipe.models.lazy.LazyModel`s (loaded where they run).
`LocalRunner` runs them here; `raypipe.mining.ray_runner.RayRunner` on Ray actor pools (`ray_pool.py`) and Ray
tasks (the only mining modules that import Ray, loaded only when executor resolves to "ray").
"""

from __future__ import annotations

import os
import sys

import numpy as np
import scipy.sparse as sp

from raypipe.mining.embed import (
    EmbedSettings,
    embedding_table,
    encode_texts,
    local_chunk,
    release_memory,
    write_atomic,
)
from raypipe.mining.options import MiningOptions
from raypipe.mining.rescore import pair_scores
from raypipe.mining.search import run_search_task
from raypipe.models.lazy import load_model

__all__ = ["LocalRunner", "get_runner", "resolve_executor", "local_chunk"]


def resolve_executor(executor: str, address: str | None = None) -> str:
    """"auto" -> "ray" when Ray is initialized in this process or a cluster address is configured (argument or
    RAY_ADDRESS), else "local". Checked without importing Ray."""
    if executor != "auto":
        return executor
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        return "ray"
    return "ray" if (address or os.environ.get("RAY_ADDRESS")) else "local"


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


class LocalRunner:
    """Runs every stage in this process, one shard after another."""

    name = "local"

    def embed(self, model, tasks, settings: EmbedSettings, bar=None) -> None:
        model, bar = load_model(model), bar or _NoBar()
        step = local_chunk(settings.batch_size)
        for path, texts, (role, prompt, prompt_name) in tasks:
            parts = []
            for s in range(0, max(len(texts), 1), step):
                chunk = texts.slice(s, step).to_pylist()
                parts.append(encode_texts(model, chunk, role, prompt, prompt_name, settings.batch_size,
                                          settings.compute_dtype, settings.max_batch_tokens))
                release_memory()
                bar.update(len(chunk))
            emb = sp.vstack(parts).tocsr() if sp.issparse(parts[0]) else np.concatenate(parts)
            write_atomic(embedding_table(emb), path)

    def search(self, tasks):
        for i, task in enumerate(tasks):
            yield i, run_search_task(task)

    def score_pairs(self, cross_encoder, a, b, batch_size: int, compute_dtype: str = "float32", bar=None,
                    max_batch_tokens: int | None = None):
        model, bar = load_model(cross_encoder), bar or _NoBar()
        step = local_chunk(batch_size)
        out = []
        for s in range(0, len(b), step):
            out.append(pair_scores(model, a.slice(s, step).to_pylist(), b.slice(s, step).to_pylist(), batch_size,
                                   compute_dtype, max_batch_tokens))
            bar.update(len(out[-1]))
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def get_runner(options: MiningOptions):
    """The runner for `options.executor` (after `resolve_executor`)."""
    executor = resolve_executor(options.executor)
    if executor == "local":
        return LocalRunner()
    from raypipe.mining.ray_runner import RayRunner

    return RayRunner(num_actors=options.num_actors, num_gpus_per_actor=options.num_gpus_per_actor,
                     search_parallelism=options.search_parallelism, cpus_per_actor=options.cpus_per_actor,
                     tokenize_workers=options.tokenize_workers, rows_per_call=options.rows_per_call)
