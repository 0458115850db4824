"""A driver-fed pool of Ray actors for the mining stages (imports Ray; used by `ray_runner.py` only).

Why not Ray Data `map_batches`: on one 2-CPU node, embedding 1,500 Debian descriptions through a 1-actor Ray Data
pool took 40.6 s against 27.0 s in-process, while the same `_Embedder` in a plain actor fed the same blocks took
27.3 s (`bench/ray_embed_gap.py`); Ray Data starts its executor, coordinator and stats actors and a fresh actor
pool for every dataset it runs (once per embed call and once per rescored query shard). The blocks here are
already cut by the driver (longest texts first), so the pool needs no repartitioning: the driver keeps
`in_flight` calls per actor, gives each new block to the least busy actor, and yields results as they finish.

Fault tolerance is Ray's own: actors are created with max_restarts=-1 and max_task_retries=-1, so a killed actor
is restarted and its calls are retried; the stages are deterministic, so a retried call returns the same rows.
An optional `pre` pool (the tokenizer actors) feeds every block's output straight into the main pool's call as
an object ref: the token ids travel actor to actor through the object store, never through the driver.
Cost: O(blocks) driver work; the driver holds at most size x in_flight blocks and results.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import ray

__all__ = ["ActorPool"]


class _Stage:
    """Actor body: builds the stage callable once (model load, threads) and applies it to each block."""

    def __init__(self, cls, args: tuple):
        self.fn = cls(*args)

    def call(self, block):
        return self.fn(block)


class ActorPool:
    """`size` actors of `cls(*args)`, each reserving num_cpus / num_gpus. Use as a context manager (or call close())
    so the actors and their reservations go when the stage ends."""

    def __init__(self, cls, args: tuple, size: int, num_cpus: float, num_gpus: float = 0.0, in_flight: int = 1):
        remote = ray.remote(_Stage).options(num_cpus=num_cpus, num_gpus=num_gpus or None, max_restarts=-1,
                                            max_task_retries=-1)
        self.actors = [remote.remote(cls, args) for _ in range(max(1, size))]
        # kept so object refs inside args (a model put in the object store) outlive a restarted actor's __init__
        self.args = args
        self.in_flight = max(1, in_flight)  # calls per actor when this is the main pool (a `pre` pool: round robin)
        self._rr = 0  # round-robin position when this pool is the `pre` stage

    def __enter__(self) -> ActorPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []

    def _submit_pre(self, block):
        actor = self.actors[self._rr % len(self.actors)]
        self._rr += 1
        return actor.call.remote(block)

    def map_unordered(self, blocks: Iterable, pre: ActorPool | None = None) -> Iterator:
        """Yield every block's result as it finishes (blocks are submitted in order, so with in-order input the
        output is nearly in order: at most size x in_flight blocks are out of place)."""
        busy = [0] * len(self.actors)
        owner: dict = {}  # ObjectRef -> actor index
        todo = iter(blocks)
        exhausted = False
        while True:
            while not exhausted and len(owner) < len(self.actors) * self.in_flight:
                block = next(todo, None)
                if block is None:
                    exhausted = True
                    break
                i = min(range(len(busy)), key=busy.__getitem__)
                arg = pre._submit_pre(block) if pre is not None else block
                owner[self.actors[i].call.remote(arg)] = i
                busy[i] += 1
            if not owner:
                return
            done, _ = ray.wait(list(owner), num_returns=1)
            busy[owner.pop(done[0])] -= 1
            yield ray.get(done[0])
