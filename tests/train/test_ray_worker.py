"""The Ray Train worker's one-worker path, without a Ray cluster: a world of one trains as a plain process (no DDP
wrapper), though Ray Train set up a process group and the torch.distributed variables for it."""

from __future__ import annotations

import socket

import torch.distributed as dist

from raypipe.train.ray_worker import _single_process


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
