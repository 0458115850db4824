"""One trial (Ray-facing): Ray Tune's function trainable, a small driver that runs the trial's `raypipe train` job
on Ray Train V2 (the pattern of Ray's "Hyperparameter Tuning with Ray Tune" guide: a driver function per trial,
`TuneReportCallback` forwarding every report of rank 0 to Tune).

The Train run is named by the trial id under `<sweep>/trials`, so a trial restarted after the sweep's driver died
resumes its Train run from the latest checkpoint, and one whose run had finished only reports its final
checkpoint again. Each start leaves a file under `<trial>/starts/` (trials.csv counts them). Cost: the driver
holds the config; the workers hold the model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import yaml
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from raypipe.config.train import TrainConfig
from raypipe.config.tune import Distribution, trial_train_raw
from raypipe.storage import join, write_text
from raypipe.train.ray_driver import RayTrainPlan, fit_on_ray

__all__ = ["TrialContext", "run_trial", "decode_config"]


@dataclass(frozen=True)
class TrialContext:
    """What every trial shares (sent once through the object store by `tune.with_parameters`)."""

    base: dict  # the train config dict
    spec: object  # the registry entry of the model kind (pickled by name)
    model_path: str  # the starting model, built once by the sweep's driver
    plan: RayTrainPlan
    trials_storage: str  # <storage>/<sweep>/trials
    output_root: str  # <output.dir>/trials
    distributions: dict[str, Distribution]


def _plain(v):
    """numpy scalars (Tune samples with numpy) -> Python values, so configs validate and dump as YAML."""
    return v.item() if hasattr(v, "item") and not isinstance(v, (list, dict, str)) else v


def decode_config(config: dict, distributions: dict[str, Distribution]) -> dict:
    """Tune's sampled config -> {dotted key: value} (non-scalar options travel as their index)."""
    return {p: _plain(d.decode(_plain(config[p]))) for p, d in distributions.items() if p in config}


def run_trial(config: dict, context: TrialContext) -> None:
    """Ray Tune's trainable: put the sampled values into the train config and run it on Ray Train."""
    trial_id = tune.get_context().get_trial_id()
    values = decode_config(config, context.distributions)
    raw = trial_train_raw(context.base, values, trial_id, context.trials_storage,
                          os.path.join(context.output_root, trial_id))
    cfg = TrainConfig.model_validate(raw)
    run_dir = join(context.trials_storage, trial_id)
    write_text(join(run_dir, "train_config.yaml"), yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    write_text(join(run_dir, "starts", f"{time.time():.3f}-{os.getpid()}.json"),
               json.dumps({"time": time.time(), "pid": os.getpid(), "values": values}, default=str))
    fit_on_ray(cfg, context.spec, context.model_path, context.plan, callbacks=[TuneReportCallback()])
