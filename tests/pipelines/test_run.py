"""`raypipe run`: the parts are joined through output.dir, a bad config in any part is one error before Ray starts,
and a run whose training was killed resumes on rerun with the finished stages skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from raypipe.cli import main
from raypipe.config import ConfigError, load_config
from raypipe.config.run import RunConfig
from tests.fixtures.ray_procs import stop_ray as _stop_ray
from tests.fixtures.ray_procs import wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "pipelines" / "configs" / "mine-train-eval-tiny-cpu.yaml"


def test_parts_are_joined_through_the_output_folder(monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(RunConfig, TINY, ["output.dir=/tmp/rp-join", "mine.output.dir=/elsewhere"])
    assert cfg.mine.output.dir == "/tmp/rp-join/mined"  # joined keys win
    assert cfg.train.data.train.path == "/tmp/rp-join/mined" and cfg.train.data.train.exclude == ["scores"]
    assert cfg.train.output.dir == "/tmp/rp-join" and cfg.train.run.storage_path == "/tmp/rp-join/ray_results"
    assert cfg.eval.model.path == "/tmp/rp-join/model" and cfg.eval.model.kind == "dense"
    assert cfg.eval.evaluator == cfg.train.evaluator and cfg.eval.output.file == "eval.json"
    assert cfg.eval.embedding.cache_dir == "/tmp/rp-join/cache/eval-embeddings"  # later evaluations reuse it
    assert cfg.mine.ray == cfg.train.ray == cfg.eval.ray == cfg.ray


def test_bad_parts_listed_at_once_before_ray(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    rc = main(["run", str(TINY), "mine.mining.num_negatives=0", "train.scaling.num_workers=0", "train.bogus=1",
               "eval.evaluator.type=nonsense", f"output.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert rc == 2 and "4 config error(s)" in err
    for key in ("mine.mining.num_negatives", "train.scaling.num_workers", "train.bogus", "eval.evaluator.type"):
        assert key in err, err
    assert "ray" not in sys.modules
    with pytest.raises(ConfigError, match="mine.data.pairs"):
        load_config(RunConfig, TINY, ["mine.data.pairs=/no/such.parquet"])


@pytest.mark.ray
def test_killed_training_resumes_and_finished_stages_are_skipped():
    work = Path(tempfile.mkdtemp(prefix="rpr-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    args = [sys.executable, "pipelines/mine_train_eval.py", str(TINY), f"output.dir={work / 'out'}",
            "train.args.max_steps=60", "train.args.eval_steps=10"]
    first = subprocess.Popen([*args, f"ray.temp_dir={work / 'ray-1'}"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: list((work / "out" / "ray_results" / "mine-train-eval-tiny").glob("checkpoint_0000020")))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        _stop_ray(str(work / "ray-1"))
    assert (work / "out" / "mined" / "_mining_stats.json").exists() and not (work / "out" / "model").exists()
    rerun = subprocess.run([*args, f"ray.temp_dir={work / 'ray-2'}"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=900)
    _stop_ray(str(work / "ray-2"))
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "mine               skipped (done)" in rerun.stdout and "train              ran" in rerun.stdout
    assert json.loads((work / "out" / "metrics.json").read_text())["resumed_from_step"] >= 10
    assert (work / "out" / "eval.json").exists() and (work / "out" / "eval-base.json").exists()
    assert "base model" in rerun.stdout
