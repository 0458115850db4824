"""`raypipe tune` on Ray Tune + Ray Train V2 (few tests: a tiny trial costs ~30-60 s on 2 cores). Each sweep is a
`raypipe tune` subprocess with its own embedded Ray (own temp dir), so a test can kill the sweep's driver as a
crash would, and stops only the Ray processes it started.

- a 4-trial ASHA SPLADE sweep: at least one trial is stopped early (fewer iterations in trials.csv), the best
  model loads in sentence-transformers with the same outputs, plots and the best trial's config are written, a
  rerun says the sweep is finished;
- the sweep's driver SIGKILLed after its first trial finished: the same command resumes it, the finished trial is
  not started again, the interrupted one resumes its Train run from its checkpoint;
- a sweep that cannot fit one trial says so before any trial starts.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raypipe.config.base import parse_yaml
from tests.fixtures.ray_procs import ray_workdir, stop_ray, wait_for

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
SPLADE = ROOT / "pipelines" / "configs" / "tune-splade-tiny-cpu.yaml"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S="180")


def _config(work: Path, name: str, space: dict, tune: dict, **args) -> Path:
    raw = parse_yaml(SPLADE.read_text())
    raw.update(search_space=space, tune={**raw["tune"], **tune}, output={"dir": str(work / name)})
    raw["run"] = {"name": name, "storage_path": str(work / "storage")}
    raw["args"].update(args)
    raw["evaluator"]["limit_queries"] = 30
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _start(work: Path, cfg: Path, ray_tmp: str, *overrides: str) -> subprocess.Popen:
    log = open(work / f"{cfg.stem}.log", "a")
    return subprocess.Popen([sys.executable, "pipelines/tune.py", str(cfg), f"ray.temp_dir={ray_tmp}", *overrides],
                            cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)


def _run(work: Path, cfg: Path, ray_tmp: str, timeout: float = 900) -> str:
    proc = _start(work, cfg, ray_tmp)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        stop_ray(ray_tmp)
    log = (work / f"{cfg.stem}.log").read_text()
    assert rc == 0, log[-4000:]
    return log


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader(open(out / "trials.csv")))


def _trial_statuses(work: Path, name: str) -> dict:
    """Trial id -> status in the newest experiment state Tune has written."""
    files = sorted(glob.glob(str(work / "storage" / name / "tune" / "experiment_state-*.json")))
    if not files:
        return {}
    try:
        data = json.loads(Path(files[-1]).read_text())
    except (json.JSONDecodeError, OSError):  # being rewritten
        return {}
    states = [json.loads(t[0]) for t in data["trial_data"]]
    return {s["trial_id"]: s["status"] for s in states}


def _registered_checkpoint(run_dir: Path) -> str | None:
    """The newest checkpoint in the Train run's checkpoint manager snapshot (what a restart resumes from)."""
    try:
        state = json.loads((run_dir / "checkpoint_manager_snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or being rewritten
        return None
    return (state.get("latest_checkpoint_result") or {}).get("checkpoint_dir_name")


@pytest.fixture(scope="module")
def work():
    with ray_workdir("rpu-") as tmp:
        yield tmp


def test_asha_sweep_stops_a_trial_early_and_exports_a_best_model(work):
    from sentence_transformers import SparseEncoder as STSparse

    from raypipe.config.train import TrainConfig
    from raypipe.models import SparseEncoder

    # one weight that barely regularizes and one that prunes hard, each twice (identically seeded): whatever
    # order the trials reach a rung in, a trial of the worse weight meets a better or equal one there first
    cfg = _config(work, "asha", {"loss.document_regularizer_weight": {"grid": [1e-4, 3e-2]}},
                  {"num_samples": 2, "constraints": {}}, max_steps=30, eval_steps=10)
    log = _run(work, cfg, str(work / "ray-a"))
    out = work / "asha"
    rows = _rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows} <= {"COMPLETED", "STOPPED"}, rows
    done = [int(r["iterations"]) for r in rows if r["status"] == "COMPLETED"]
    stopped = [int(r["iterations"]) for r in rows if r["status"] == "STOPPED"]
    assert stopped and done and max(stopped) < max(done), rows  # 3 evaluations + the final report
    assert all(r["eval_debian-dev_dot_map@100"] and r["active_dims_per_doc"] for r in rows)
    assert "Trials:" in log and "Best: trial" in log
    for plot in ("metric_vs_step.png", "pareto_active_dims.png"):
        assert (out / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    best = rows[0]
    assert best["status"] == "COMPLETED"
    trial_cfg = TrainConfig.model_validate(parse_yaml((out / "best_config.yaml").read_text()))
    assert trial_cfg.loss.model_dump()["document_regularizer_weight"] == float(
        best["loss.document_regularizer_weight"])
    texts = ["apt package manager", "Python bindings for GTK"]
    ours = SparseEncoder(str(out / "best_model")).encode(texts, convert_to_tensor=True).to_dense()
    theirs = STSparse(str(out / "best_model"), device="cpu").encode(texts, convert_to_tensor=True).to_dense()
    assert (ours - theirs).abs().max() < 1e-5
    again = subprocess.run([sys.executable, "-m", "raypipe.cli", "tune", str(cfg), f"ray.temp_dir={work}/ray-x"],
                           cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "had already finished" in again.stdout, again.stderr[-2000:]


def test_a_sweep_whose_driver_died_resumes_without_rerunning_finished_trials(work):
    cfg = _config(work, "resume", {"loss.document_regularizer_weight": {"grid": [1e-4, 3e-2]}},
                  {"scheduler": "fifo", "max_concurrent_trials": 1, "constraints": {}}, max_steps=30, eval_steps=10)
    ray_tmp = str(work / "ray-b")
    proc = _start(work, cfg, ray_tmp)
    first = wait_for(lambda: [t for t, s in _trial_statuses(work, "resume").items() if s == "TERMINATED"], 600)[0]
    assert first.endswith("_00000")  # one trial at a time, in order
    second = first.replace("_00000", "_00001")
    # the second trial has a checkpoint Ray Train has registered (a folder alone may still be uploading, and the
    # rerun would rightly start that run over): the rerun must continue its Train run, not start it again
    wait_for(lambda: _registered_checkpoint(work / "storage" / "resume" / "trials" / second), 600)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    stop_ray(ray_tmp)
    assert not (work / "resume" / "trials.csv").exists()
    log = _run(work, cfg, str(work / "ray-c"))
    assert "(resumed)" in log
    rows = {r["trial_id"]: r for r in _rows(work / "resume")}
    assert set(rows) == {first, second} and all(r["status"] == "COMPLETED" for r in rows.values())
    assert rows[first]["starts"] == "1"  # finished before the crash: not run again
    assert rows[second]["starts"] == "2" and float(rows[second]["resumed_from_step"]) >= 10
    assert rows[second]["step"] == "30"


def test_a_sweep_that_cannot_fit_one_trial_says_so_before_starting(work):
    cfg = _config(work, "toobig", {"loss.document_regularizer_weight": {"grid": [1e-4]}}, {"constraints": {}})
    ray_tmp = str(work / "ray-d")
    proc = subprocess.run([sys.executable, "-m", "raypipe.cli", "tune", str(cfg), f"ray.temp_dir={ray_tmp}",
                           "scaling.num_workers=3"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    stop_ray(ray_tmp)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "cannot fit even one trial" in proc.stderr and "3 worker(s)" in proc.stderr
    assert not (work / "storage" / "toobig" / "tune").exists()
