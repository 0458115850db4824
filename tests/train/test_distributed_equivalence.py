"""The training math under DDP, without Ray: 2 CPU processes (gloo) on per-device batch 4 take the same 10 steps
as 1 process on batch 8 — same per-step losses within 1e-4 — for dense MNRL (in-batch negatives gathered across
processes), cross-encoder BCE and SpladeLoss(SparseMultipleNegativesRankingLoss) (FLOPS over the global batch).
Both sides build their trainers with `raypipe.train.build.build_trainer`, as the Ray Train workers do."""

from __future__ import annotations

import json
import os
import socket
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch.multiprocessing as mp

STEPS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _configs(models: dict, data: dict, per_device: int) -> dict:
    args = {"per_device_train_batch_size": per_device, "max_steps": STEPS, "learning_rate": 1e-3, "seed": 7,
            "save_strategy": "no", "report_to": "none", "disable_tqdm": True, "dataloader_drop_last": True}
    pairs = {"path": data["pairs"], "columns": ["query", "positive"], "limit": 160}
    return {
        "dense": {"model": {"kind": "dense", "path": models["dense"]}, "data": {"train": pairs}, "args": args,
                  "loss": {"name": "MultipleNegativesRankingLoss"}},
        "cross": {"model": {"kind": "cross", "path": models["cross"]}, "data": {"train": data["labeled"]},
                  "args": args, "loss": {"name": "BinaryCrossEntropyLoss"}},
        "sparse": {"model": {"kind": "sparse", "path": models["sparse"]}, "data": {"train": pairs}, "args": args,
                   "loss": {"name": "SpladeLoss", "document_regularizer_weight": 3e-3, "query_regularizer_weight": 5e-3,
                            "loss": {"name": "SparseMultipleNegativesRankingLoss"}}},
    }


def _train_all(configs: dict, out_dir: str, world: int) -> dict:
    import torch

    from raypipe.config.train import TrainConfig
    from raypipe.registry import get_kind
    from raypipe.train.build import build_trainer

    torch.set_num_threads(1)
    losses = {}
    for kind, raw in configs.items():
        cfg = TrainConfig.model_validate(raw)
        spec = get_kind(kind)
        trainer = build_trainer(cfg, spec, spec.model_class(cfg.model.path, device="cpu"),
                                os.path.join(out_dir, kind), world_size=world)
        trainer.train()
        losses[kind] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses


def _worker(rank: int, world: int, port: int, configs: dict, out_dir: str) -> None:
    import torch.distributed as dist

    # Each rank's stdout/stderr go to its own file, so a crash in C++ (which leaves no Python traceback for
    # mp.spawn to report) still shows its last words in the test's failure message.
    log = os.open(os.path.join(out_dir, f"rank{rank}.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world), HF_HUB_OFFLINE="1",
                      TOKENIZERS_PARALLELISM="false")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    losses = _train_all(configs, out_dir, world)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(losses, f)
    # Leave together: a rank that tears gloo down while its peer is still finishing can abort the peer (SIGABRT
    # from gloo's transport thread, seen once in CI).
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: its native-thread destructors (gloo, OpenMP) are not what this test is about.
    os._exit(0)


def _spawn(world: int, configs: dict, out_dir) -> None:
    try:
        mp.spawn(_worker, args=(world, _free_port(), configs, str(out_dir)), nprocs=world, join=True)
    except mp.ProcessExitedException as e:
        tails = {r: (out_dir / f"rank{r}.log").read_text(errors="replace")[-3000:]
                 for r in range(world) if (out_dir / f"rank{r}.log").exists()}
        pytest.fail(f"{e}; the ranks' last output: {tails}")


@pytest.fixture
def equivalence_data(tmp_path):
    from importlib import resources

    pairs = str(resources.files("raypipe") / "resources" / "debian_sample" / "train-pairs.parquet")
    t = pq.read_table(pairs).slice(0, 80).to_pydict()
    q, p = t["query"], t["positive"]
    labeled = tmp_path / "labeled.parquet"
    pq.write_table(pa.table({"query": q + q, "document": p + p[1:] + p[:1], "label": [1.0] * 80 + [0.0] * 80}),
                   labeled)
    return {"pairs": pairs, "labeled": str(labeled)}


def test_two_processes_equal_one_on_the_global_batch(tiny_bert_dir, tiny_cls_dir, tiny_mlm_dir, equivalence_data,
                                                     tmp_path):
    models = {"dense": tiny_bert_dir, "cross": tiny_cls_dir, "sparse": tiny_mlm_dir}
    single = _train_all(_configs(models, equivalence_data, 8), str(tmp_path / "one"), world=1)
    out = tmp_path / "two"
    out.mkdir()
    _spawn(2, _configs(models, equivalence_data, 4), out)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    for kind in models:
        assert len(single[kind]) == STEPS and ranks[0][kind] == ranks[1][kind], kind  # logged global means
        assert ranks[0][kind] == pytest.approx(single[kind], abs=1e-4), kind
