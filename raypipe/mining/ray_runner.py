"""The Ray runner of the mining stages (the only mining module that imports Ray; see `runner.py`).

- embed: Ray Data `map_batches` over an actor pool; each actor gets the model once (object store).
- search: one Ray task per corpus shard, at most `search_parallelism` in flight; merged on the driver as they come.
- score_pairs: Ray Data `map_batches` of (query, candidate) pairs over a cross-encoder actor pool.
Ray Data actors are created with max_restarts=-1 / max_task_retries=-1, so a killed actor is replaced and its batch
retried; all three stages are deterministic, so a retried run gives identical output.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from raypipe.mining.embed import embedding_table, encode_texts, write_atomic
from raypipe.mining.rescore import pair_scores
from raypipe.mining.search import search_shard
from raypipe.runtime import ensure_ray

__all__ = ["RayRunner", "actor_cpus", "read_output"]


def _unwrap(handle):
    # models travel as {"ref": ObjectRef} so Ray does not resolve them into every argument copy
    return ray.get(handle["ref"])


class _Embedder:
    """Actor: holds the model; a batch may mix text sets, so it encodes per (role, prompt) group."""

    def __init__(self, handle, keys, batch_size):
        self.model = _unwrap(handle)
        self.keys, self.batch_size = keys, batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        kid = batch.column("key").to_numpy()
        for k in np.unique(kid):
            sel = batch.filter(pa.array(kid == k))
            emb = encode_texts(self.model, sel.column("text").to_pylist(), *self.keys[k], self.batch_size)
            t = embedding_table(emb)
            out.append(t.add_column(0, "task", sel.column("task")).add_column(1, "row", sel.column("row")))
        return pa.concat_tables(out)


class _Scorer:
    def __init__(self, handle, batch_size):
        self.model = _unwrap(handle)
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        s = pair_scores(self.model, batch.column("a").to_pylist(), batch.column("b").to_pylist(), self.batch_size)
        return pa.table({"pos": batch.column("pos"), "score": pa.array(s)})


def actor_cpus(num_actors: int, num_gpus: float) -> float:
    """CPUs to reserve per actor of a pool so the pool never takes every CPU of the cluster: Ray Data's read and
    repartition tasks need a CPU too, and a pool holding all of them deadlocks (e.g. 2 actors on 2 CPUs).
    GPU actors reserve 1 CPU as usual."""
    total = float(ray.cluster_resources().get("CPU", 1.0))
    spare = max(total - 1.0, 0.0)  # keep one whole CPU free for Ray Data's own (num_cpus=1) tasks
    if num_gpus or num_actors <= spare:
        return 1.0
    return round(spare / num_actors, 2)


def _task_rows(task: int, texts: pa.Array, key: int) -> pa.Table:
    """One shard's rows, longest text first: each actor batch then holds texts of similar length and pads little
    (random order pads every batch to its longest text; on Debian descriptions that cost 2.5x). Sorting stays within
    the shard so shards still complete one after another and the driver buffers only in-flight shards."""
    order = np.argsort(-pc.utf8_length(texts).to_numpy(zero_copy_only=False), kind="stable")
    return pa.table({
        "task": pa.array(np.full(len(texts), task, np.int32)),
        "row": pa.array(order.astype(np.int64)),
        "key": pa.array(np.full(len(texts), key, np.int32)),
        "text": pc.take(texts, pa.array(order)),
    })


def _collect_shards(ds, tasks) -> dict:
    """Write each shard file as soon as all its rows are back; returns the shards still incomplete."""
    pending: dict[int, list[pa.Table]] = {}
    got = np.zeros(len(tasks), np.int64)
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        tid = batch.column("task").to_numpy()
        for t in np.unique(tid):
            sel = batch.filter(pa.array(tid == t))
            pending.setdefault(int(t), []).append(sel)
            got[t] += sel.num_rows
            if got[t] == len(tasks[t][1]):
                table = pa.concat_tables(pending.pop(int(t))).sort_by("row").drop(["task", "row"])
                write_atomic(table, tasks[t][0])
    return pending


class RayRunner:
    """Runs embedding and rescoring on Ray Data actor pools and the search as Ray tasks."""

    name = "ray"

    def __init__(self, num_actors: int = 1, num_gpus_per_actor: float = 0.0, search_parallelism: int = 2):
        ensure_ray()
        self.num_actors, self.num_gpus, self.search_parallelism = num_actors, num_gpus_per_actor, search_parallelism

    def _pool(self, ds, fn, batch_size, args):
        return ds.map_batches(fn, batch_size=batch_size, batch_format="pyarrow",
                              compute=ray.data.ActorPoolStrategy(size=self.num_actors),
                              num_gpus=self.num_gpus or None,
                              num_cpus=actor_cpus(self.num_actors, self.num_gpus), fn_constructor_args=args)

    def embed(self, model, tasks, batch_size: int) -> None:
        """Embed shard tasks [(path, texts, (role, prompt, prompt_name))]; each shard file is written as soon as
        all its rows are back (rows arrive in order, so only in-flight shards are buffered)."""
        keys = sorted({t[2] for t in tasks}, key=repr)
        kidx = {k: i for i, k in enumerate(keys)}
        src = pa.concat_tables([_task_rows(i, t[1], kidx[t[2]]) for i, t in enumerate(tasks)])
        ds = ray.data.from_arrow(src).repartition(max(1, src.num_rows // max(batch_size * 4, 1)))
        ds = self._pool(ds, _Embedder, batch_size, ({"ref": ray.put(model)}, keys, batch_size))
        opts = ray.data.DataContext.get_current().execution_options
        previous, opts.preserve_order = opts.preserve_order, True  # in-order rows bound the driver's buffer
        try:
            pending = _collect_shards(ds, tasks)
        finally:
            opts.preserve_order = previous
        if pending:
            raise RuntimeError(f"embedding lost rows for {len(pending)} shard(s); rerun to resume from the cache.")

    def search(self, jobs, queries, k, spec, batch_size, pair_qid, pair_did, consume) -> None:
        task = ray.remote(num_cpus=1, max_retries=3)(search_shard)
        q_ref, pq_ref, pd_ref = ray.put(queries), ray.put(pair_qid), ray.put(pair_did)
        inflight, todo = [], list(jobs)
        while todo or inflight:
            while todo and len(inflight) < max(1, self.search_parallelism):
                path, start = todo.pop(0)
                inflight.append(task.remote(path, start, q_ref, k, spec, batch_size, pq_ref, pd_ref))
            done, inflight = ray.wait(inflight, num_returns=1)
            consume(ray.get(done[0]))

    def score_pairs(self, cross_encoder, a: pa.Array, b: pa.Array, batch_size: int) -> np.ndarray:
        """Scores (n,) float32 of pairs (a[i], b[i]) in input order."""
        n = len(b)
        src = pa.table({"pos": pa.array(np.arange(n)), "a": a.cast(pa.string()), "b": b})
        ds = ray.data.from_arrow(src).repartition(max(1, n // max(batch_size * 8, 1)))
        ds = self._pool(ds, _Scorer, batch_size * 8, ({"ref": ray.put(cross_encoder)}, batch_size))
        out = np.empty(n, np.float32)
        for t in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            out[t.column("pos").to_numpy()] = t.column("score").to_numpy()
        return out


def read_output(output_dir: str):
    """A mining output folder as a Ray Dataset."""
    return ray.data.read_parquet(output_dir, file_extensions=["parquet"])
