"""What each Ray Train worker runs (Ray-facing): build the trainer from the config, train under DDP, report
checkpoints and metrics to Ray Train, resume from the latest checkpoint after a failure.

Reporting (`_RayReport`): at every HF save all ranks meet at a barrier (so rank 1 never reads a half-written
checkpoint and no rank races ahead), then rank 0 reports the checkpoint folder with the latest metrics and every
other rank reports the metrics alone — Ray Train V2 needs every rank to call `report` the same number of times.
The checkpoint is sentence-transformers' model folder plus HF's optimizer, scheduler, RNG and trainer state, so
`trainer.train(resume_from_checkpoint=...)` restores model, optimizer, scheduler, sampler position and step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import uuid

import ray
import ray.train
import torch
import torch.distributed as dist
import transformers
from transformers import TrainerCallback

from raypipe.atomic import atomic_open
from raypipe.config.train import TrainConfig
from raypipe.train.build import build_trainer, describe_batch
from raypipe.train.progress import use_line_progress

__all__ = ["train_loop", "FINAL_MARKER"]

logger = logging.getLogger(__name__)
FINAL_MARKER = "raypipe_final.json"  # in the checkpoint reported after the last step


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def _clean(metrics: dict) -> dict:
    """Plain floats only (Ray refuses tensors); NaN/inf dropped."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, torch.Tensor):
            v = v.item()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[k] = float(v)
    return out


class _RayReport(TrainerCallback):
    """Reports each HF checkpoint (rank 0) and the latest train/eval metrics (every rank) to Ray Train."""

    def __init__(self, primary_metric=None):
        self.primary_metric, self.train_logs, self.eval_metrics, self.last_eval_step = primary_metric, {}, {}, -1
        self.resumed_from_step: int | None = None  # reported, so a resume is visible in the final metrics

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.train_logs = {"loss": logs["loss"], **{k: v for k, v in logs.items() if k.endswith("_loss")}}

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.eval_metrics, self.last_eval_step = dict(metrics or {}), state.global_step

    def metrics(self, state) -> dict:
        m = {**self.train_logs, **self.eval_metrics, "step": state.global_step, "epoch": state.epoch or 0.0}
        if self.resumed_from_step is not None:
            m["resumed_from_step"] = self.resumed_from_step
        key = self.primary_metric() if callable(self.primary_metric) else None
        if key and f"eval_{key}" in self.eval_metrics:
            m["score"] = self.eval_metrics[f"eval_{key}"]
        return _clean(m)

    def on_save(self, args, state, control, **kwargs):
        _barrier()
        path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        report(self.metrics(state), path if state.is_world_process_zero else None, state.global_step)


def report(metrics: dict, folder: str | None, step: int, final: bool = False) -> None:
    ckpt = ray.train.Checkpoint.from_directory(folder) if folder else None
    name = f"checkpoint_{step:07d}{'_final' if final else ''}" if ckpt else None
    ray.train.report(metrics, checkpoint=ckpt, checkpoint_dir_name=name)


def _scratch(root: str) -> str:
    """A fresh local folder per attempt, the same on every rank of a node (HF writes checkpoints there first)."""
    tag = [uuid.uuid4().hex[:8]]
    if dist.is_available() and dist.is_initialized():
        dist.broadcast_object_list(tag, src=0)
    path = os.path.join(root, f"attempt-{tag[0]}")
    os.makedirs(path, exist_ok=True)
    return path


def _single_process() -> None:
    """One worker: leave the process group Ray Train set up, so transformers trains one plain process. Otherwise it
    sees LOCAL_RANK and wraps the model in DDP for a world of one: gradient buckets copied and all-reduced, and
    (sentence-transformers models are not PreTrainedModels) an unused-parameter search of the graph, every step."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK"):
        os.environ.pop(key, None)


def _write_pid(folder: str | None, rank: int) -> None:
    if folder:  # lets an operator (or a test) find, place and signal a worker
        os.makedirs(folder, exist_ok=True)
        info = {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(), "rank": rank}
        with atomic_open(os.path.join(folder, f"rank{rank}.json")) as f:
            json.dump(info, f)


def _finish(trainer, report_cb: _RayReport, train_metrics: dict, scratch: str) -> None:
    """After the last step: evaluate the final model if the run evaluates and its last evaluation is stale, save it
    with its trainer state, and report it (rank 0) with the final metrics."""
    state = trainer.state
    evaluates = str(trainer.args.eval_strategy) not in ("no", "IntervalStrategy.NO")
    if trainer.evaluator is not None and evaluates and report_cb.last_eval_step != state.global_step:
        trainer.evaluate()
    final = os.path.join(scratch, "final")
    metrics = {**report_cb.metrics(state), **_clean(train_metrics)}  # "step" is the global step
    if state.is_world_process_zero:
        trainer.save_model(final)
        state.save_to_json(os.path.join(final, "trainer_state.json"))
        with atomic_open(os.path.join(final, FINAL_MARKER)) as f:  # a restart reads it: whole or absent
            json.dump(metrics, f)  # all of it, so a restart after the end reports the same (score included)
    _barrier()
    report({**metrics, "final": 1.0}, final if state.is_world_process_zero else None, state.global_step, final=True)


def _report_finished(folder: str, rank: int) -> bool:
    """A restored checkpoint from after the last step (the run had finished): report it again as it was, rank 0
    with the checkpoint; returns False for any other checkpoint."""
    marker = os.path.join(folder, FINAL_MARKER)
    if not os.path.exists(marker):
        return False
    with open(marker) as f:
        done = json.load(f)
    step = int(done["step"] if "step" in done else done["global_step"])  # markers before 2026-12 had global_step
    report({**done, "final": 1.0}, folder if rank == 0 else None, step, final=True)
    return True


def _say(line: str) -> None:
    # Not print(): Ray Train V2 patches it in workers to log through the root logger and, where Ray has wrapped the
    # stream, to print as well, so a printed line reached the driver twice. One write, one line.
    sys.stderr.write(f"[raypipe] {line}\n")
    sys.stderr.flush()


def _checkpoint_step(folder: str) -> int:
    with open(os.path.join(folder, "trainer_state.json")) as f:
        return int(json.load(f)["global_step"])


def _quiet_worker_logs() -> None:
    """No line per `ray.train.report` (Ray Train V2 logs each report with its metrics dict at INFO, from loggers
    named by module or, in V2, by file path) and no tqdm bars from transformers' saves and loads (every checkpoint
    printed a 'Writing model shards' bar): LineProgress already says where training is."""
    train_dir = os.path.dirname(ray.train.__file__)
    for name in ["ray.train", *[n for n in list(logging.root.manager.loggerDict) if n.startswith(train_dir)]]:
        logging.getLogger(name).setLevel(logging.WARNING)
    transformers.utils.logging.disable_progress_bar()


def train_loop(loop: dict) -> None:
    """Ray Train's train_loop_per_worker. `loop`: config (TrainConfig as a dict), spec (registry entry), model_path
    (the initial model in sentence-transformers format), threads, scratch, tensorboard_dir, pid_dir."""
    cfg = TrainConfig.model_validate(loop["config"])
    spec, ctx = loop["spec"], ray.train.get_context()
    _quiet_worker_logs()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(max(1, int(loop["threads"])))
    if world == 1:
        _single_process()
    _write_pid(loop.get("pid_dir"), rank)
    if loop.get("tensorboard_dir"):
        os.environ["TENSORBOARD_LOGGING_DIR"] = loop["tensorboard_dir"]  # HF's TensorBoardCallback reads it
    device = ray.train.torch.get_device() if cfg.scaling.use_gpu else "cpu"
    model = spec.model_class(loop["model_path"], device=str(device))
    report_cb = _RayReport()
    trainer = build_trainer(cfg, spec, model, _scratch(loop["scratch"]), world_size=world, callbacks=[report_cb])
    report_cb.primary_metric = lambda: getattr(trainer.evaluator, "primary_metric", None)
    use_line_progress(trainer, write=_say)  # Ray forwards lines: a tqdm bar's redraws came out glued together
    if rank == 0:
        _say(describe_batch(trainer.args, world, trainer.loss))
    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        out = trainer.train()
        _finish(trainer, report_cb, out.metrics, trainer.args.output_dir)
        return
    with ckpt.as_directory() as folder:
        if _report_finished(folder, rank):
            return
        report_cb.resumed_from_step = _checkpoint_step(folder)
        if rank == 0:
            _say(f"resuming from {os.path.basename(folder)} (step {report_cb.resumed_from_step})")
        out = trainer.train(resume_from_checkpoint=folder)
    _finish(trainer, report_cb, out.metrics, trainer.args.output_dir)
