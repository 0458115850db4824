"""Peak memory and CPU time of every process a benchmark job starts, read from /proc (Linux only, no psutil).

    mon = ProcessTreeMonitor(pid)      # the job's own process (a subprocess of the benchmark)
    mon.start(); ...; report = mon.stop()

A thread walks the process tree below `pid` every `interval` seconds and keeps, per process, its peak RSS
(VmHWM: the kernel's own high-water mark, so a peak between two samples is not missed while the process lives),
its CPU seconds (utime + stime) and every title it had (Ray sets `ray::<class or task>` as a worker runs). The tree
also gives the largest *concurrent* sum of RSS over all the job's processes. RSS counts a page once in every process
that maps it (the shared libraries of torch / Ray / pyarrow in every worker, and Ray's object store: a block the
driver puts and an actor reads is resident in both), so summed RSS over-counts a multi-process job; each process's
peak PSS (proportional set size from /proc/<pid>/smaps_rollup: a shared page split among the processes that map
it; sampled every 5 s, so a short peak can be missed) and the largest concurrent PSS sum of the job's processes
are reported beside it, with the peak shared-memory RSS (RssShmem: object store pages) per process.
Processes are grouped:

- driver: `pid` itself;
- worker: Ray worker processes that ran the job's code (`ray::<actor class or task>`), by what they ran;
- ray: Ray's own actors (Ray Data's _StatsActor, _AutoscalingCoordinatorActor, ActorLocationTracker; the
  dashboard and runtime-env agents) and idle workers Ray started but never used;
- daemon: gcs_server, raylet, log monitor (Ray's own processes).

Cost: per sample (every 0.5 s), one scan of /proc for the tree (~3.6 ms) and /proc/<pid>/{status,stat} of each of
its processes (~0.1 ms each); cmdline and smaps_rollup (PSS, ~3 ms per process) every `full_every`-th sample (5 s).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

__all__ = ["ProcessTreeMonitor", "summarize"]

_DAEMONS = ("gcs_server", "raylet", "dashboard", "log_monitor", "monitor.py", "runtime_env", "agent",
            "ray_client_server", "plasma")
# actors Ray (and Ray Data) start for themselves, not for the job's code
_RAY_OWN = ("_StatsActor", "_AutoscalingCoordinatorActor", "ActorLocationTracker", "DashboardAgent",
            "RuntimeEnvAgent", "AutoscalingRequester", "_QueueActor")


@dataclass
class _Proc:
    pid: int
    titles: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    peak_shmem_mb: float = 0.0
    cpu_s: float = 0.0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _read(pid: int, full: bool = True):
    """(title, VmHWM MiB, VmRSS MiB, cpu seconds, RssShmem MiB, PSS MiB) or None when the process is gone; with
    full=False the title is None and PSS 0 (the two reads that cost: smaps_rollup walks the page tables under the
    process's mmap lock)."""
    try:
        title = None
        if full:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    hwm = int(status.get("VmHWM", "0 kB").split()[0]) / 1024
    rss = int(status.get("VmRSS", "0 kB").split()[0]) / 1024
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    shmem = int(status.get("RssShmem", "0 kB").split()[0]) / 1024
    return title, hwm, rss, cpu, shmem, _pss_mb(pid) if full else 0.0


class ProcessTreeMonitor:
    """Samples the process tree below `root` on a thread until `stop()`."""

    def __init__(self, root: int, interval: float = 0.5, full_every: int = 10):
        self.root, self.interval, self.full_every, self._n = root, interval, max(1, full_every), 0
        self.procs: dict[int, _Proc] = {}
        self.peak_concurrent_mb = 0.0
        self.peak_concurrent_job_pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> ProcessTreeMonitor:
        self._thread.start()
        return self

    def _sample(self) -> None:
        """RSS, its high-water mark and CPU of every process each sample; titles and PSS every `full_every`-th
        sample (and for a process seen the first time). The monitor shares the job's cores: at one full sample
        every 0.25 s (~30 ms of CPU beside an embedded Ray and a 1 GB actor, smaps_rollup walking each process's
        page tables under its mmap lock) it took 10-16% of a core, more beside the Ray executor's dozen processes
        than beside the local executor's one (the Ray vs local ratio came out the same after); now ~1.5%."""
        full, self._n = self._n % self.full_every == 0, self._n + 1
        total = job_pss = 0.0
        for pid in _tree(self.root):
            new = pid not in self.procs
            got = _read(pid, full or new)
            if got is None:
                continue
            title, hwm, rss, cpu, shmem, pss = got
            p = self.procs.setdefault(pid, _Proc(pid))
            if title and (not p.titles or p.titles[-1] != title):
                p.titles.append(title)
            p.peak_rss_mb, p.cpu_s = max(p.peak_rss_mb, hwm), max(p.cpu_s, cpu)
            p.peak_pss_mb, p.peak_shmem_mb = max(p.peak_pss_mb, pss), max(p.peak_shmem_mb, shmem)
            total += rss
            job_pss += pss if _role(p, self.root)[0] in ("driver", "worker") else 0.0
        self.peak_concurrent_mb = max(self.peak_concurrent_mb, total)
        if full:
            self.peak_concurrent_job_pss_mb = max(self.peak_concurrent_job_pss_mb, job_pss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return summarize(self.procs, self.root, self.peak_concurrent_mb, self.peak_concurrent_job_pss_mb)


def _role(p: _Proc, root: int) -> tuple[str, str]:
    """(group, label): group is driver | worker | ray | daemon | other."""
    if p.pid == root:
        return "driver", "driver"
    joined = " ".join(p.titles)
    ray_titles = [t.split()[0] for t in p.titles if t.startswith("ray::")]
    if ray_titles:
        ran = sorted({t[5:].split(".")[0] for t in ray_titles if t != "ray::IDLE"})
        label = ",".join(ran) or "IDLE"
        own = not ran or all(r.startswith(_RAY_OWN) for r in ran)
        return ("ray" if own else "worker"), label
    if "default_worker.py" in joined or "setup_worker.py" in joined:
        return "ray", "starting"
    if any(d in joined for d in _DAEMONS):
        name = os.path.basename(joined.split()[0]) if joined else "?"
        if name.startswith("python"):
            name = os.path.basename(joined.split()[1]) if len(joined.split()) > 1 else name
        return "daemon", name
    return "other", os.path.basename(joined.split()[0]) if joined else "?"


def summarize(procs: dict[int, _Proc], root: int, peak_concurrent_mb: float = 0.0,
              peak_concurrent_job_pss_mb: float = 0.0) -> dict:
    """Per-process rows and per-group sums of peak RSS and CPU seconds."""
    rows, groups = [], {}
    for p in procs.values():
        group, label = _role(p, root)
        if group == "ray" and label in ("IDLE", "starting") and p.cpu_s < 0.5 and p.peak_rss_mb < 5:
            continue  # a worker that was forked and gone before it did anything
        rows.append({"pid": p.pid, "group": group, "label": label, "peak_rss_mb": round(p.peak_rss_mb, 1),
                     "peak_pss_mb": round(p.peak_pss_mb, 1), "peak_shmem_mb": round(p.peak_shmem_mb, 1),
                     "cpu_s": round(p.cpu_s, 2)})
        g = groups.setdefault(group, {"processes": 0, "peak_rss_mb_sum": 0.0, "cpu_s": 0.0})
        g["processes"] += 1
        g["peak_rss_mb_sum"] = round(g["peak_rss_mb_sum"] + p.peak_rss_mb, 1)
        g["cpu_s"] = round(g["cpu_s"] + p.cpu_s, 2)
    job = [r for r in rows if r["group"] in ("driver", "worker")]
    return {"processes": sorted(rows, key=lambda r: (r["group"], r["label"], r["pid"])), "groups": groups,
            "job_peak_rss_mb_sum": round(sum(r["peak_rss_mb"] for r in job), 1),
            "job_cpu_s": round(sum(r["cpu_s"] for r in job), 2),
            "job_peak_pss_mb_sum": round(sum(r["peak_pss_mb"] for r in job), 1),
            "peak_concurrent_job_pss_mb": round(peak_concurrent_job_pss_mb, 1),
            "peak_concurrent_rss_mb": round(peak_concurrent_mb, 1)}


def format_report(name: str, rep: dict) -> str:
    """A few lines: per-group sums, then every job process."""
    lines = [f"{name}: job processes' summed peak RSS {rep['job_peak_rss_mb_sum']:.0f} MB, CPU {rep['job_cpu_s']:.1f}"
             f" s; peak concurrent RSS (daemons included) {rep['peak_concurrent_rss_mb']:.0f} MB; summed peak PSS "
             f"{rep.get('job_peak_pss_mb_sum', 0):.0f} MB, peak concurrent PSS {rep.get('peak_concurrent_job_pss_mb', 0):.0f} MB"]
    for g, v in sorted(rep["groups"].items()):
        lines.append(f"  {g:<7} {v['processes']:>3} process(es)  peak RSS sum {v['peak_rss_mb_sum']:>8.0f} MB  "
                     f"CPU {v['cpu_s']:>7.1f} s")
    for r in rep["processes"]:
        if r["group"] in ("driver", "worker"):
            lines.append(f"    {r['group']:<7} {r['label'][:48]:<48} {r['peak_rss_mb']:>7.0f} MB (PSS "
                         f"{r.get('peak_pss_mb', 0):>5.0f}, shm {r.get('peak_shmem_mb', 0):>4.0f}) {r['cpu_s']:>7.1f} s")
    return "\n".join(lines)
