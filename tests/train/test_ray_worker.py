"""The Ray Train worker's one-worker path, without a Ray cluster: a world of one trains as a plain process (no DDP
wrapper), though Ray Train set up a process group and the torch.distributed variables for it."""

from __future__ import annotations

import os
import socket

import torch.distributed as dist

from raypipe.train.ray_worker import _quiet_worker_logs, _single_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_worker_leaves_the_process_group_and_trains_without_ddp(monkeypatch, tmp_path):
    from transformers.training_args import ParallelMode

    from raypipe.train import SentenceTransformerTrainingArguments

    env = {"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1", "NODE_RANK": "0"}
    for key, value in env.items():  # what Ray Train sets on a worker
        monkeypatch.setenv(key, value)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        _single_process()
        assert not dist.is_initialized()
        args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
        assert args.parallel_mode != ParallelMode.DISTRIBUTED and args.world_size == 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_worker_line_is_written_once_even_where_ray_train_patches_print(monkeypatch, capsys):
    """Ray Train V2 replaces print() in its workers with one that logs and, where Ray wrapped the stream, prints
    too: the batch line reached the driver twice. _say writes to the stream itself."""
    import builtins

    from raypipe.train.ray_worker import _say

    printed = []
    monkeypatch.setattr(builtins, "print", lambda *a, **k: printed.append(a))
    _say("per-device batch 64")
    assert printed == []
    assert capsys.readouterr().err == "[raypipe] per-device batch 64\n"


def test_a_finished_run_restarted_reports_its_final_metrics_again(monkeypatch, tmp_path):
    """The final checkpoint's marker keeps the whole final report (eval metrics and the checkpoint score): a run
    restarted after its last step reports it unchanged, so Ray's best-checkpoint ranking still has its score."""
    from types import SimpleNamespace

    from raypipe.train import ray_worker

    reports = []
    monkeypatch.setattr(ray_worker, "report", lambda m, folder, step, final=False: reports.append((m, folder, step)))
    cb = ray_worker._RayReport(primary_metric=lambda: "dev_ndcg@10")
    state = SimpleNamespace(global_step=20, epoch=1.0, is_world_process_zero=True,
                            save_to_json=lambda path: open(path, "w").write("{}"))
    cb.on_log(None, state, None, logs={"loss": 0.5})
    cb.on_evaluate(None, state, None, metrics={"eval_dev_ndcg@10": 0.9})
    trainer = SimpleNamespace(state=state, args=SimpleNamespace(eval_strategy="steps"), evaluator=object(),
                              save_model=os.makedirs)
    ray_worker._finish(trainer, cb, {"train_loss": 0.6}, str(tmp_path))
    first, folder, step = reports[0]
    assert first["score"] == 0.9 and first["eval_dev_ndcg@10"] == 0.9 and first["final"] == 1.0 and step == 20
    assert ray_worker._report_finished(folder, rank=1) and reports[1] == (first, None, 20)  # rank 1: no checkpoint
    assert not ray_worker._report_finished(str(tmp_path), rank=0)  # a checkpoint from before the end
    old = tmp_path / "old"  # a marker written before it kept the whole report
    old.mkdir()
    (old / ray_worker.FINAL_MARKER).write_text('{"global_step": 7, "train_loss": 1.0}')
    assert ray_worker._report_finished(str(old), rank=0) and reports[-1][2] == 7


def test_worker_logs_lose_ray_trains_report_lines_and_transformers_bars(monkeypatch):
    import logging

    import ray.train
    import transformers

    monkeypatch.setattr(transformers.utils.logging, "disable_progress_bar", lambda: calls.append("bars off"))
    calls = []
    by_path = logging.getLogger(os.path.join(os.path.dirname(ray.train.__file__), "v2", "report_context.py"))
    levels = {lg: lg.level for lg in (by_path, logging.getLogger("ray.train"))}
    try:
        _quiet_worker_logs()
        assert all(lg.level == logging.WARNING for lg in levels) and calls == ["bars off"]
    finally:
        for lg, level in levels.items():
            lg.setLevel(level)
