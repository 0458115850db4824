"""The Ray runner's arithmetic without a Ray cluster: search slots from the nodes."""

from __future__ import annotations

import pytest

ray_runner = pytest.importorskip("raypipe.mining.ray_runner")


def _runner(monkeypatch, cpus_per_node: list[float], parallelism):
    nodes = [{"Alive": True, "Resources": {"CPU": c}} for c in cpus_per_node] + [{"Alive": False, "Resources": {}}]
    monkeypatch.setattr(ray_runner.ray, "nodes", lambda: nodes)
    r = ray_runner.RayRunner.__new__(ray_runner.RayRunner)  # no ensure_ray: nothing here talks to a cluster
    r.search_parallelism = parallelism
    return r


@pytest.mark.parametrize("cpus, parallelism, expected", [
    ([2.0], None, (1, 2.0)),          # one node: one task on all its CPUs (one worker process)
    ([8.0, 8.0, 8.0], None, (3, 8.0)),  # one task per node
    ([2.0], 2, (2, 1.0)),             # the old default: two single-threaded tasks
    ([4.0, 4.0], 1, (1, 4.0)),        # never more than one node's CPUs
    ([2.0], 4, (4, 1.0)),             # at least one CPU each
])
def test_search_slots_share_the_cpus(monkeypatch, cpus, parallelism, expected):
    assert _runner(monkeypatch, cpus, parallelism).search_slots() == expected


@pytest.mark.parametrize("total, actors, requested, expected", [
    (8_822, 1, None, 2_206),      # the 1,500 x 6,000 job on one actor: 4 calls, not 18 of 512
    (104_980, 1, None, 4_096),    # full size: the local runner's chunk
    (1_000, 1, None, 512),        # never under 8 x batch_size
    (104_980, 8, None, 3_281),    # 8 actors: still 4 calls each
    (8_822, 1, 300, 300),         # rows_per_call wins
])
def test_call_rows(total, actors, requested, expected):
    r = ray_runner.RayRunner.__new__(ray_runner.RayRunner)
    r.num_actors, r.rows_per_call = actors, requested
    assert r.call_rows(total, batch_size=64) == expected


@pytest.mark.parametrize("cpus", [1.0, 2.0])
def test_embedding_actor_threads(monkeypatch, cpus):
    """An embedding actor runs torch on the CPUs it reserved and tokenizes serially (the tokenizer's thread pool
    cost memory and bought no time next to the forward passes)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    for var in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"):  # restored after the test
        monkeypatch.setenv(var, "1024")
    threads: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    ray_runner._set_threads(cpus)
    assert (ray_runner.os.environ["TOKENIZERS_PARALLELISM"], threads) == ("false", [int(cpus)])
