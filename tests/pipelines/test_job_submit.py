"""`ray job submit` end to end: a real head on this machine (`ray start --head --block`, bound to 127.0.0.1, its
own ports and temp dir, no token auth), the tiny pipeline submitted with the repository as working dir and the
shipped runtime env, SUCCEEDED, the exported model checked; only the head this test started is stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.fixtures.ray_procs import stop_ray as _stop_ray

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
RAY = os.path.join(os.path.dirname(sys.executable), "ray")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wait_http(url: str, timeout: float = 180.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def test_ray_job_submit_runs_the_pipeline():
    tmp = tempfile.mkdtemp(prefix="rpj-")
    gcs, dash, agent, client = _free_ports(4)
    env = dict(os.environ, RAY_AUTH_MODE="disabled", HF_HUB_OFFLINE="1")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={gcs}", "--node-ip-address=127.0.0.1",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
         f"--dashboard-agent-listen-port={agent}", f"--ray-client-server-port={client}", f"--temp-dir={tmp}",
         "--num-cpus=2", "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = Path(tmp) / "run-out"
    runtime_env = yaml.safe_load((ROOT / "pipelines" / "runtime-env.yaml").read_text())
    runtime_env["env_vars"]["HF_HUB_OFFLINE"] = "1"
    try:
        _wait_http(f"http://127.0.0.1:{dash}/api/version")
        submit = subprocess.run(
            [RAY, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", str(ROOT),
             "--runtime-env-json", json.dumps(runtime_env), "--",
             sys.executable, "-m", "raypipe.cli", "run", "pipelines/configs/mine-train-eval-tiny-cpu.yaml",
             f"output.dir={out}"],
            env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
        assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-2000:]
        assert "succeeded" in submit.stdout.lower()  # "Job ... succeeded" (status SUCCEEDED)
        assert "base model" in submit.stdout and "trained" in submit.stdout  # the before/after table
        from raypipe.models import SentenceTransformer

        emb = SentenceTransformer(str(out / "model")).encode(["apt package manager"])
        assert emb.shape == (1, 32)
        assert json.loads((out / "eval.json").read_text())["metrics"]
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        _stop_ray(tmp)
