"""Wall time and memory of one whole command, every process it starts included (Ray's workers and daemons).

    python bench/job_memory.py [--json FILE] -- raypipe run pipelines/configs/mine-train-eval-debian-full.yaml

Runs the command as a subprocess and samples its process tree (bench/procs.py) every `--interval` seconds:
prints the wall time, the largest concurrent RSS of the whole tree (what the machine had to hold at once), the
summed per-process peaks of the job's own processes (driver + Ray workers running its code) and per-group CPU
seconds. The command's output passes through unchanged. Cost: one /proc read per process per sample.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procs import ProcessTreeMonitor, format_report  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    a = p.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("give the command after --")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    mon = ProcessTreeMonitor(proc.pid, interval=a.interval, full_every=1).start()  # PSS every sample, as before
    rc = proc.wait()
    rep = mon.stop()
    rep.update(command=cmd, wall_s=round(time.perf_counter() - start, 1), returncode=rc)
    print(f"\nwall {rep['wall_s']:.1f} s, exit code {rc}")
    print(format_report(" ".join(cmd)[:80], rep))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
