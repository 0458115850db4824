"""The Ray runners of the mining stages (the only mining module that imports Ray).

- embed: Ray Data `map_batches` over an actor pool; each actor loads the model once.
- search: one Ray task per corpus shard, at most `parallelism` in flight; results merged on the driver as they come.
- rescore: Ray Data `map_batches` of (query, candidate) pairs over a cross-encoder actor pool.
Ray Data actors are created with max_restarts=-1 / max_task_retries=-1, so a killed actor is replaced and its batch
retried; all three stages are deterministic, so a retried run gives identical output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["embed_shards_ray", "search_shards_ray", "rescore_ray", "ensure_ray"]


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to `address`, or start an embedded Ray when none is running."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)


def _load_model(model: Any, kind: str):
    import ray

    if isinstance(model, dict) and "ref" in model:  # wrapped so Ray does not resolve it into every arg copy
        return ray.get(model["ref"])
    if isinstance(model, str):
        import raypipe

        return getattr(raypipe, kind)(model)
    return model


class _Embedder:
    """Actor: loads the model once; a batch may mix text sets, so it encodes per (role, prompt) group."""

    def __init__(self, model, kind, keys, batch_size):
        self.model = _load_model(model, kind)
        self.keys, self.batch_size = keys, batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        from raypipe.mining.embed import _emb_table, encode_texts

        out = []
        kid = batch.column("key").to_numpy()
        for k in np.unique(kid):
            sel = batch.filter(pa.array(kid == k))
            emb = encode_texts(self.model, sel.column("text").to_pylist(), *self.keys[k], self.batch_size)
            out.append(_emb_table(emb).add_column(0, "task", sel.column("task")).add_column(1, "row",
                                                                                            sel.column("row")))
        return pa.concat_tables(out)


def actor_cpus(num_actors: int, num_gpus: float) -> float:
    """CPUs to reserve per actor of a pool so the pool never takes every CPU of the cluster: Ray Data's read and
    repartition tasks need a CPU too, and a pool holding all of them deadlocks (e.g. 2 actors on 2 CPUs).
    GPU actors reserve 1 CPU as usual."""
    import ray

    total = float(ray.cluster_resources().get("CPU", 1.0))
    spare = max(total - 1.0, 0.0)  # keep one whole CPU free for Ray Data's own (num_cpus=1) tasks
    if num_gpus or num_actors <= spare:
        return 1.0
    return round(spare / num_actors, 2)


def embed_shards_ray(model, tasks, batch_size, *, num_actors: int = 1, num_gpus: float = 0.0) -> None:
    """Embed shard tasks [(path, texts, (role, prompt, prompt_name))] on an actor pool; each shard file is written
    as soon as all its rows are back (rows arrive in order, so only in-flight shards are buffered)."""
    import ray

    from raypipe.mining.embed import is_sparse_model

    ensure_ray()
    kind = "SparseEncoder" if not isinstance(model, str) and is_sparse_model(model) else "SentenceTransformer"
    handle = model if isinstance(model, str) else {"ref": ray.put(model)}
    keys = sorted({t[2] for t in tasks}, key=repr)
    kidx = {k: i for i, k in enumerate(keys)}
    src = pa.concat_tables([_task_rows(i, t[1], kidx[t[2]]) for i, t in enumerate(tasks)])
    opts = ray.data.DataContext.get_current().execution_options
    previous, opts.preserve_order = opts.preserve_order, True  # in-order rows bound the driver's buffer
    try:
        pending = _collect_shards(_ds_for(src, handle, kind, keys, batch_size, num_actors, num_gpus), tasks)
    finally:
        opts.preserve_order = previous
    if pending:
        raise RuntimeError(f"embedding lost rows for {len(pending)} shard(s); rerun to resume from the cache.")


def _task_rows(task: int, texts: pa.Array, key: int) -> pa.Table:
    """One shard's rows, longest text first: each actor batch then holds texts of similar length and pads little
    (random order pads every batch to its longest text; on Debian descriptions that cost 2.5x). Sorting stays within
    the shard so shards still complete one after another and the driver buffers only in-flight shards."""
    import pyarrow.compute as pc

    order = np.argsort(-pc.utf8_length(texts).to_numpy(zero_copy_only=False), kind="stable")
    return pa.table({
        "task": pa.array(np.full(len(texts), task, np.int32)),
        "row": pa.array(order.astype(np.int64)),
        "key": pa.array(np.full(len(texts), key, np.int32)),
        "text": pc.take(texts, pa.array(order)),
    })


def _ds_for(src, handle, kind, keys, batch_size, num_actors, num_gpus):
    import ray

    ds = ray.data.from_arrow(src).repartition(max(1, src.num_rows // max(batch_size * 4, 1)))
    return ds.map_batches(_Embedder, batch_size=batch_size, batch_format="pyarrow",
                          compute=ray.data.ActorPoolStrategy(size=num_actors), num_gpus=num_gpus or None,
                          num_cpus=actor_cpus(num_actors, num_gpus),
                          fn_constructor_args=(handle, kind, keys, batch_size))


def _collect_shards(ds, tasks) -> dict:
    """Write each shard file as soon as all its rows are back; returns the shards still incomplete."""
    from raypipe.mining.embed import write_atomic

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


def search_shards_ray(jobs, queries, k, spec, batch_size, pair_qid, pair_did, parallelism, consume) -> None:
    import ray

    from raypipe.mining.search import search_shard

    ensure_ray()
    task = ray.remote(num_cpus=1, max_retries=3)(search_shard)
    q_ref = ray.put(queries)
    pq_ref, pd_ref = ray.put(pair_qid), ray.put(pair_did)
    inflight, todo = [], list(jobs)
    while todo or inflight:
        while todo and len(inflight) < max(1, parallelism):
            path, start = todo.pop(0)
            inflight.append(task.remote(path, start, q_ref, k, spec, batch_size, pq_ref, pd_ref))
        done, inflight = ray.wait(inflight, num_returns=1)
        consume(ray.get(done[0]))


class _Scorer:
    def __init__(self, model, batch_size):
        self.model = _load_model(model, "CrossEncoder")
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        pairs = list(zip(batch.column("a").to_pylist(), batch.column("b").to_pylist()))
        s = np.asarray(self.model.predict(pairs, batch_size=self.batch_size, convert_to_numpy=True,
                                          show_progress_bar=False), np.float32).reshape(len(pairs), -1)[:, 0]
        return pa.table({"pos": batch.column("pos"), "score": pa.array(s)})


def rescore_ray(a: list[str] | pa.Array, b: pa.Array, cross_encoder, batch_size: int, num_actors: int = 1,
                num_gpus: float = 0.0) -> np.ndarray:
    """Score pairs (a[i], b[i]) with a cross-encoder actor pool; returns (n,) float32 in input order."""
    import ray

    ensure_ray()
    handle = cross_encoder if isinstance(cross_encoder, str) else {"ref": ray.put(cross_encoder)}
    n = len(b)
    src = pa.table({"pos": pa.array(np.arange(n)), "a": pa.array(a, pa.string()), "b": b})
    ds = ray.data.from_arrow(src).repartition(max(1, n // max(batch_size * 8, 1)))
    ds = ds.map_batches(_Scorer, batch_size=batch_size * 8, batch_format="pyarrow",
                        compute=ray.data.ActorPoolStrategy(size=num_actors), num_gpus=num_gpus or None,
                        num_cpus=actor_cpus(num_actors, num_gpus),
                        fn_constructor_args=(handle, batch_size))
    out = np.empty(n, np.float32)
    for t in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        out[t.column("pos").to_numpy()] = t.column("score").to_numpy()
    return out
