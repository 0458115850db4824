"""Where the mining stages run: the one place that chooses between this process and Ray.

A runner executes the three heavy stages over work the pure stage modules have planned:
- `embed(model, tasks, batch_size)`: encode text shards and write each shard file (atomic);
- `search(jobs, queries, k, spec, batch_size, pair_qid, pair_did, consume)`: search every corpus shard, passing
  each `ShardResult` to `consume` as it is done;
- `score_pairs(cross_encoder, a, b, batch_size)`: cross-encoder scores (n,) of pairs (a[i], b[i]).
`LocalRunner` runs them here; `raypipe.mining.ray_runner.RayRunner` on Ray Data actor pools and Ray tasks (the
only mining module that imports Ray, loaded only when executor resolves to "ray").
"""

from __future__ import annotations

import os
import sys

from raypipe.mining.embed import embedding_table, encode_texts, write_atomic
from raypipe.mining.options import MiningOptions
from raypipe.mining.rescore import pair_scores
from raypipe.mining.search import search_shard

__all__ = ["LocalRunner", "get_runner", "resolve_executor"]


def resolve_executor(executor: str, address: str | None = None) -> str:
    """"auto" -> "ray" when Ray is initialized in this process or a cluster address is configured (argument or
    RAY_ADDRESS), else "local". Checked without importing Ray."""
    if executor != "auto":
        return executor
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        return "ray"
    return "ray" if (address or os.environ.get("RAY_ADDRESS")) else "local"


class LocalRunner:
    """Runs every stage in this process, one shard after another."""

    name = "local"

    def embed(self, model, tasks, batch_size: int) -> None:
        for path, texts, (role, prompt, prompt_name) in tasks:
            emb = encode_texts(model, texts.to_pylist(), role, prompt, prompt_name, batch_size)
            write_atomic(embedding_table(emb), path)

    def search(self, jobs, queries, k, spec, batch_size, pair_qid, pair_did, consume) -> None:
        for path, start in jobs:
            consume(search_shard(path, start, queries, k, spec, batch_size, pair_qid, pair_did))

    def score_pairs(self, cross_encoder, a, b, batch_size: int):
        return pair_scores(cross_encoder, a.to_pylist(), b.to_pylist(), batch_size)


def get_runner(options: MiningOptions):
    """The runner for `options.executor` (after `resolve_executor`)."""
    executor = resolve_executor(options.executor)
    if executor == "local":
        return LocalRunner()
    from raypipe.mining.ray_runner import RayRunner

    return RayRunner(num_actors=options.num_actors, num_gpus_per_actor=options.num_gpus_per_actor,
                     search_parallelism=options.search_parallelism)
