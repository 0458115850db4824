"""The Ray Train V2 driver (Ray-facing): a `TorchTrainer` whose workers each build model, loss, arguments and
raypipe trainer from the config (`ray_worker.train_loop`), train under DDP (gloo on CPU, NCCL on GPU), report
sentence-transformers checkpoints, and are replaced on failure (`FailureConfig(max_failures)`), resuming from the
latest checkpoint. The same (storage_path, run name) resumes a run whose driver died.

Cost: the driver holds only the config; each worker memory-maps the datasets and holds one model replica.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import tempfile
import threading
from dataclasses import dataclass

import ray
import ray.train
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from raypipe.config.paths import absolute_paths, is_uri
from raypipe.config.train import TrainConfig
from raypipe.train.ray_worker import train_loop

__all__ = ["RayTrainPlan", "plan_resources", "check_cluster", "fit_on_ray"]


@dataclass(frozen=True)
class RayTrainPlan:
    """Resources of one training run: per-worker resources, torch threads per worker."""

    num_workers: int
    resources_per_worker: dict
    threads: int


def plan_resources(cfg: TrainConfig, cluster: dict | None = None) -> RayTrainPlan:
    """Per-worker resources: as configured, else {GPU: 1, CPU: 1} with use_gpu, else the cluster's CPUs split
    evenly (so 1 worker on a 2-CPU machine gets both, like the in-process trainer)."""
    s = cfg.scaling
    cluster = cluster if cluster is not None else dict(ray.cluster_resources())
    res = dict(s.resources_per_worker or {})
    if not res:
        res = {"CPU": 1.0, "GPU": 1.0} if s.use_gpu else {
            "CPU": float(max(1, math.floor(cluster.get("CPU", 1) / s.num_workers)))}
    res.setdefault("CPU", 1.0)
    if s.use_gpu:
        res.setdefault("GPU", 1.0)
    return RayTrainPlan(s.num_workers, res, max(1, int(res["CPU"])))


def check_cluster(cfg: TrainConfig, plan: RayTrainPlan) -> list[str]:
    """Problems that would leave the run pending forever or lose checkpoints, found before it starts."""
    total, problems = dict(ray.cluster_resources()), []
    for name, per in plan.resources_per_worker.items():
        need, have = per * plan.num_workers, total.get(name, 0.0)
        if need > have + 1e-9:
            problems.append(f"scaling: {plan.num_workers} worker(s) x {per:g} {name} = {need:g} {name}, but the "
                            f"cluster has {have:g}; lower scaling.num_workers or scaling.resources_per_worker"
                            + (" or set scaling.use_gpu=false" if name == "GPU" else ""))
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if cfg.scaling.placement_strategy == "STRICT_SPREAD" and len(nodes) < plan.num_workers:
        problems.append(f"scaling.placement_strategy=STRICT_SPREAD needs {plan.num_workers} nodes, the cluster has "
                        f"{len(nodes)}")
    if len(nodes) > 1 and not is_uri(cfg.run.storage_path) and not cfg.run.storage_shared:
        problems.append(f"run.storage_path={cfg.run.storage_path!r} is a local folder but the cluster has "
                        f"{len(nodes)} nodes: checkpoints must reach shared storage. Use a URI (s3://..., gs://...) "
                        "or an NFS folder with run.storage_shared=true")
    return problems


def _scored(cfg: TrainConfig) -> bool:
    """Whether every checkpoint comes with an evaluation (an evaluator that runs during training)."""
    return cfg.evaluator is not None and str(cfg.args.get("eval_strategy", "steps")) != "no"


def _checkpoint_config(cfg: TrainConfig, scored: bool) -> CheckpointConfig:
    c = cfg.run.checkpoints
    metric = c.metric or ("score" if scored else None)
    return CheckpointConfig(num_to_keep=c.num_to_keep, checkpoint_score_attribute=metric,
                            checkpoint_score_order=c.mode)


@contextlib.contextmanager
def _restored_sigint():
    """Ray Train's fit() installs a SIGINT handler (abort the run) and leaves it installed after the run, so a
    Ctrl+C in a later stage (raypipe run's evaluations) only logged "aborting the training run": put ours back."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)


def fit_on_ray(cfg: TrainConfig, spec, model_path: str, plan: RayTrainPlan, *, callbacks=(), status_dir=None):
    """Run the TorchTrainer; returns Ray Train's Result (raises if the run failed). Relative paths of the config
    are made absolute here: Ray Train workers do not run in the driver's working directory."""
    cfg = absolute_paths(cfg)
    storage = cfg.storage_uri
    tb = None if is_uri(storage) else os.path.join(storage, cfg.run_name, "tensorboard")
    loop = {"config": cfg.model_dump(), "spec": spec, "model_path": model_path, "threads": plan.threads,
            "scratch": os.path.join(tempfile.gettempdir(), "raypipe-train", cfg.run_name), "tensorboard_dir": tb,
            "pid_dir": os.path.join(status_dir, "workers") if status_dir else None}
    trainer = TorchTrainer(
        train_loop, train_loop_config=loop,
        scaling_config=ScalingConfig(num_workers=plan.num_workers, use_gpu=cfg.scaling.use_gpu,
                                     resources_per_worker=plan.resources_per_worker,
                                     placement_strategy=cfg.scaling.placement_strategy),
        run_config=RunConfig(name=cfg.run_name, storage_path=storage,
                             failure_config=FailureConfig(max_failures=cfg.run.max_failures),
                             checkpoint_config=_checkpoint_config(cfg, _scored(cfg)),
                             callbacks=list(callbacks) or None))
    with _restored_sigint():
        result = trainer.fit()
    if result.error is not None:
        raise result.error
    return result
