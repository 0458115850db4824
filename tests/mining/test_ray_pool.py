"""The driver-fed actor pool the Ray mining stages run on: every block's result comes back once, a `pre` pool's
output goes into the main pool's calls, and closing the pool frees its CPU reservations (so the search tasks
that follow can run)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ray


class _AddOne:
    def __init__(self, step: int, cpus: float):
        self.step = step

    def __call__(self, block: list[int]) -> list[int]:
        return [x + self.step for x in block]


def test_pool_maps_every_block_once_and_chains_and_frees_cpus(ray_local):
    from raypipe.mining.ray_pool import ActorPool

    blocks = [[i, i + 100] for i in range(9)]
    with ActorPool(_AddOne, (10, 0.5), 2, num_cpus=0.5, in_flight=2) as pre, \
            ActorPool(_AddOne, (1, 0.5), 2, num_cpus=0.5) as pool:
        out = list(pool.map_unordered(blocks, pre=pre))
    assert sorted(map(tuple, out)) == [(i + 11, i + 111) for i in range(9)]
    plain = ActorPool(_AddOne, (1, 0.5), 1, num_cpus=0.5)
    assert sorted(map(tuple, plain.map_unordered(blocks))) == [(i + 1, i + 101) for i in range(9)]
    plain.close()

    @ray_local.remote(num_cpus=2)
    def needs_both_cpus():
        return 1

    # the closed pools' reservations are free again: a task wanting every CPU of the test cluster runs
    assert ray_local.get(needs_both_cpus.remote(), timeout=60) == 1
