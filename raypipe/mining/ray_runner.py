"""The Ray runner of the mining stages (with ray_pool.py, the only mining modules that import Ray; see `runner.py`).

- embed: a driver-fed actor pool (raypipe.mining.ray_pool); the driver cuts every shard's rows (longest first)
  into blocks of `rows_per_call` and keeps one call in flight per CPU actor (two per GPU actor). Each actor loads
  the model once -- from its folder for a `LazyModel`, else from the object store -- sets its torch threads to the
  CPUs it reserved, and re-sorts every call's rows by real token count into batches of batch_size. The driver
  spills the returned rows to disk and writes each shard file when its last row is in (raypipe.mining.collect). With
  `tokenize_workers`, CPU tokenizer actors run first and their token ids go straight to the embedding actors.
- search: one Ray task per (query shard, corpus shard), at most `search_parallelism` in flight (default one per
  node), each reserving an equal share of the CPUs and running FAISS on that many threads; the results are yielded
  as they come and merged on the driver (raypipe.mining.search). One multi-threaded task per node rather than one
  task per CPU: FAISS threads well, and every extra worker process holds its own query and corpus shard (on 2 CPUs
  and 46k x 60k: one worker, 2 threads, instead of two of 320 and 437 MB).
- score_pairs: (query, candidate) pairs in blocks over a cross-encoder actor pool.
Actors are created with max_restarts=-1 / max_task_retries=-1, so a killed actor is replaced and its calls
retried; all three stages are deterministic, so a retried run gives identical output. Pools live for one stage
call, so their CPU reservations are free for the search tasks that follow.

Where the time went before (1,500 x 6,000 Debian, 2 CPUs; see README Benchmarks): 64-row calls sorted by character
length padded ~20% more tokens than sorting by real token count (and ~32% more attention work); Ray Data's
repartition tasks needed a CPU kept free; and a Ray Data `map_batches` pool cost ~1.5x the in-process time on
1,500 texts where a plain actor fed the same blocks did not (bench/ray_embed_gap.py).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import replace

import numpy as np
import pyarrow as pa
import ray

from raypipe.mining.collect import ShardRows, blocks, collect_shards
from raypipe.mining.embed import (
    EmbedSettings,
    embedding_table,
    encode_texts,
    encode_token_ids,
    limit_kernel_cache,
    local_chunk,
    release_memory,
)
from raypipe.mining.ray_pool import ActorPool
from raypipe.mining.rescore import pair_scores
from raypipe.mining.search import run_search_task
from raypipe.mining.tokenize import encoded_from_table, is_tokenized, tokenize_table
from raypipe.models.lazy import LazyModel
from raypipe.runtime import apply_data_settings, ensure_ray

__all__ = ["RayRunner", "actor_cpus", "read_output"]


def _handle(model) -> dict:
    # a LazyModel travels as itself (a path); a model object once through the object store, as {"ref": ...} so Ray
    # does not resolve it into every argument copy
    return {"lazy": model} if isinstance(model, LazyModel) else {"ref": ray.put(model)}


def _set_threads(cpus: float) -> None:
    """Before the actor's first forward pass: torch threads = the CPUs this actor reserved (Ray sets
    OMP_NUM_THREADS the same way, but only before torch starts); the kernel caches capped; the tokenizer serial.
    A serial tokenizer costs nothing next to the forward passes, and its thread pool's buffers cost memory: MiniLM
    on the 8,192 longest Debian descriptions, 2 threads, bf16, 4,096-text calls, in-process: -85 MB peak RSS, same
    time. (The tokenization stage's actors, which only tokenize, keep the pool.)"""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    limit_kernel_cache()  # before the first forward pass (see embed.limit_kernel_cache)
    import torch

    torch.set_num_threads(max(1, int(cpus)))


def _load(handle: dict, cpus: float):
    _set_threads(cpus)
    model = handle["lazy"].load() if "lazy" in handle else ray.get(handle["ref"])
    import torch

    if torch.cuda.is_available() and getattr(model, "device", None) is not None and model.device.type == "cpu":
        model.to("cuda")  # a GPU actor got a model object that was pickled on the CPU
    return model


class _Embedder:
    """Actor: holds the model; a batch may mix text sets, so it encodes per (role, prompt) group, from texts or
    (after the tokenization stage) from token ids."""

    def __init__(self, handle, keys, settings: EmbedSettings, cpus: float):
        self.model = _load(handle, cpus)
        self.keys, self.settings = keys, settings

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        kid = batch.column("key").to_numpy()
        bs, dtype, cap = self.settings.batch_size, self.settings.compute_dtype, self.settings.max_batch_tokens
        for k in np.unique(kid):
            sel = batch.filter(pa.array(kid == k))
            if is_tokenized(sel):
                encoded, plen = encoded_from_table(sel)
                emb = encode_token_ids(self.model, encoded, plen, bs, dtype, cap)
            else:
                emb = encode_texts(self.model, sel.column("text").to_pylist(), *self.keys[k], bs, dtype, cap)
            t = embedding_table(emb)
            out.append(t.add_column(0, "task", sel.column("task")).add_column(1, "row", sel.column("row")))
        release_memory()
        return pa.concat_tables(out)


class _Tokenizer:
    """CPU actor of the tokenization stage: text -> token ids (raypipe.mining.tokenize)."""

    def __init__(self, tokenizer_handle, keys, cpus: float):
        os.environ["TOKENIZERS_PARALLELISM"] = "true" if cpus >= 2 else "false"
        h = tokenizer_handle
        self.tokenizer = h["lazy"].text_tokenizer() if "lazy" in h else h["tokenizer"]
        self.keys = keys

    def __call__(self, batch: pa.Table) -> pa.Table:
        return tokenize_table(self.tokenizer, batch, self.keys)


class _Scorer:
    def __init__(self, handle, batch_size, compute_dtype, max_batch_tokens, cpus: float):
        self.model = _load(handle, cpus)
        self.batch_size, self.compute_dtype, self.max_batch_tokens = batch_size, compute_dtype, max_batch_tokens

    def __call__(self, batch: pa.Table) -> pa.Table:
        s = pair_scores(self.model, batch.column("a").to_pylist(), batch.column("b").to_pylist(), self.batch_size,
                        self.compute_dtype, self.max_batch_tokens)
        return pa.table({"pos": batch.column("pos"), "score": pa.array(s)})


def actor_cpus(num_actors: int, num_gpus: float, other_workers: int = 0, requested: float | None = None) -> float:
    """CPUs each actor of a pool reserves (and runs torch threads on). GPU actors: 1. CPU actors: the cluster's
    CPUs shared by the pool and `other_workers` (e.g. tokenizer actors), at most one node's worth, whole CPUs when
    there are enough. Nothing is kept free: the pipeline runs no Ray Data tasks besides these actors."""
    if requested:
        return float(requested)
    if num_gpus:
        return 1.0
    total = float(ray.cluster_resources().get("CPU", 1.0))
    node = max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=total)
    share = min(total / max(num_actors + other_workers, 1), node)
    return float(math.floor(share)) if share >= 1 else round(share, 2)


# Characters per embedding call when rows_per_call is not set. An actor's peak RSS grows with the text one call
# encodes before its malloc_trim (heap fragmentation between the batches' activations), so long texts go in fewer
# rows: the full Debian job, bf16, 1 actor, in calls of 4,096 / 2,048 / 1,024 rows: actor peak 1,402 / 1,274 /
# 1,229 MB, job 270 / 285 / 293 s; at 2^19 characters (~1,400 Debian descriptions, 45 document calls; the 46,037
# short queries still in 12 calls of 4,096) and with the serial tokenizer (_set_threads): 1,172 MB, 292 s.
CALL_CHARS = 1 << 19


class RayRunner:
    """Runs embedding and rescoring on Ray actor pools and the search as Ray tasks."""

    name = "ray"

    def __init__(self, num_actors: int = 1, num_gpus_per_actor: float = 0.0, search_parallelism: int | None = None,
                 cpus_per_actor: float | None = None, tokenize_workers: int = 0, rows_per_call: int | None = None):
        ensure_ray()
        self.num_actors, self.num_gpus, self.search_parallelism = num_actors, num_gpus_per_actor, search_parallelism
        self.cpus_per_actor, self.tokenize_workers, self.rows_per_call = cpus_per_actor, tokenize_workers, rows_per_call

    def _pool(self, fn, args, num_gpus, cpus, size) -> ActorPool:
        in_flight = 2 if num_gpus else 1  # CPU actors: one call each, so the last calls spread over all
        return ActorPool(fn, (*args, cpus), size, num_cpus=cpus, num_gpus=num_gpus, in_flight=in_flight)

    def call_rows(self, total: int, batch_size: int) -> int:
        """Rows per actor call (`rows_per_call`, else): the local runner's chunk (max(64 x batch_size, 4096)), but
        at least 4 calls per actor so the last calls spread over the pool, and never under 8 x batch_size. Every
        call costs beyond its batches, part of it re-growing the heap the last call's malloc_trim returned: MiniLM
        on 2,500 Debian descriptions, 2 threads, float32, in-process, 2 rounds interleaved: 512-row calls 40.7 s
        (38.5 s without the trims), one 2,500-row call 35.7 s. Without `rows_per_call`, a call also stops at
        CALL_CHARS characters (see there)."""
        if self.rows_per_call:
            return self.rows_per_call
        per_actor = math.ceil(total / (4 * max(1, self.num_actors)))
        return max(8 * batch_size, min(local_chunk(batch_size), per_actor))

    def _tokenizer_handle(self, model) -> dict:
        if isinstance(model, LazyModel):
            return {"lazy": model}
        if not hasattr(model, "text_tokenizer"):
            raise ValueError(f"tokenize_workers={self.tokenize_workers} needs a raypipe SentenceTransformer or "
                             f"SparseEncoder (it uses model.text_tokenizer()), got {type(model).__name__}. Fix: set "
                             "tokenize_workers=0 (the embedding actors tokenize themselves).")
        return {"tokenizer": model.text_tokenizer()}  # small (the tokenizer, no weights): pickled with the actors

    def embed(self, model, tasks, settings: EmbedSettings, bar=None) -> None:
        """Embed shard tasks [(path, texts, (role, prompt, prompt_name))]; each shard file is written as soon as
        all its rows are back; rows are spilled to disk as they come (raypipe.mining.collect), so the driver holds
        one block of results, not a shard."""
        keys = sorted({t[2] for t in tasks}, key=repr)
        kidx = {k: i for i, k in enumerate(keys)}
        rows = self.call_rows(sum(len(t[1]) for t in tasks), settings.batch_size)
        tok = self.tokenize_workers
        tok_handle = self._tokenizer_handle(model) if tok else None  # checked before any actor starts
        chars = None if self.rows_per_call else CALL_CHARS  # an explicit rows_per_call is taken as it is
        todo = blocks((ShardRows(i, t[1], kidx[t[2]]) for i, t in enumerate(tasks)), rows, chars)
        cpus = actor_cpus(self.num_actors, self.num_gpus, tok if not self.num_gpus else 0, self.cpus_per_actor)
        with contextlib.ExitStack() as stack:
            pre = (stack.enter_context(self._pool(_Tokenizer, (tok_handle, keys), 0, 1.0 if self.num_gpus else cpus,
                                                  tok)) if tok else None)
            pool = stack.enter_context(self._pool(_Embedder, (_handle(model), keys, settings), self.num_gpus, cpus,
                                                  self.num_actors))
            pending = collect_shards(pool.map_unordered(todo, pre=pre), tasks, bar)
        if pending:
            raise RuntimeError(f"embedding lost rows for {len(pending)} shard(s); rerun to resume from the cache.")

    def search_slots(self) -> tuple[int, float]:
        """(tasks in flight, CPUs per task): `search_parallelism` (default: the alive nodes with CPUs) sharing the
        cluster's CPUs, whole CPUs, at most one node's worth each."""
        nodes = [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
        nodes = [c for c in nodes if c > 0] or [1.0]
        slots = self.search_parallelism or len(nodes)
        return slots, float(max(1, min(max(nodes), math.floor(sum(nodes) / slots))))

    def search(self, tasks):
        """Yield (task index, ShardResult) as the tasks finish, at most `search_parallelism` in flight."""
        slots, cpus = self.search_slots()
        remote = ray.remote(num_cpus=cpus, max_retries=3)(_search)
        shared: dict[int, ray.ObjectRef] = {}  # an in-memory query matrix goes to the object store once
        inflight: dict = {}
        todo = list(enumerate(tasks))[::-1]
        while todo or inflight:
            while todo and len(inflight) < slots:
                i, t = todo.pop()
                if isinstance(t.query_path, np.ndarray):
                    ref = shared.setdefault(id(t.query_path), ray.put(t.query_path))
                    t = replace(t, query_path=None)
                    inflight[remote.remote(t, ref, int(cpus))] = i
                else:
                    inflight[remote.remote(t, None, int(cpus))] = i
            done, _ = ray.wait(list(inflight), num_returns=1)
            yield inflight.pop(done[0]), ray.get(done[0])

    def score_pairs(self, cross_encoder, a: pa.Array, b: pa.Array, batch_size: int, compute_dtype: str = "float32",
                    bar=None, max_batch_tokens: int | None = None) -> np.ndarray:
        """Scores (n,) float32 of pairs (a[i], b[i]) in input order."""
        n = len(b)
        rows = self.call_rows(n, batch_size)
        src = pa.table({"pos": pa.array(np.arange(n)), "a": a.cast(pa.string()), "b": b})
        cpus = actor_cpus(self.num_actors, self.num_gpus, 0, self.cpus_per_actor)
        out = np.empty(n, np.float32)
        args = (_handle(cross_encoder), batch_size, compute_dtype, max_batch_tokens)
        with self._pool(_Scorer, args, self.num_gpus, cpus, self.num_actors) as pool:
            for t in pool.map_unordered(_slices(src, rows)):
                out[t.column("pos").to_numpy()] = t.column("score").to_numpy()
                if bar is not None:
                    bar.update(t.num_rows)
        return out


def _slices(table: pa.Table, rows: int):
    return (table.slice(s, rows) for s in range(0, table.num_rows, rows))


def _search(task, queries_ref, threads: int):
    import faiss

    faiss.omp_set_num_threads(threads)  # the CPUs this task reserved (a reused worker may have started for fewer)
    if queries_ref is not None:
        task = replace(task, query_path=queries_ref)  # resolved by Ray: the matrix itself
    return run_search_task(task)


def read_output(output_dir: str):
    """A mining output folder as a Ray Dataset."""
    apply_data_settings()
    return ray.data.read_parquet(output_dir, file_extensions=["parquet"])
