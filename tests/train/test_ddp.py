"""DDP on CPU (torchrun, 2 processes, gloo, a free port): both ranks run the same number of steps (no hang), the
evaluator runs on rank 0 only while both ranks log its metrics, and the replicas end with identical state dicts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes(tiny_bert_dir, tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           os.path.join(root, "tests", "train", "ddp_worker.py"), tiny_bert_dir, str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.load(open(tmp_path / f"rank{r}.json")) for r in (0, 1)]
    assert results[0]["world"] == 2
    assert results[0]["steps"] == results[1]["steps"] > 0
    assert results[0]["evaluator_calls"] > 0 and results[1]["evaluator_calls"] == 0
    assert results[0]["evals"] == results[1]["evals"] > 0
    states = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert states[0].keys() == states[1].keys() and len(states[0]) > 10
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
