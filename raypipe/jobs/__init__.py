"""The jobs layer: each command is `run(config) -> result`, with no argparse and no printing. The CLI parses,
loads the command's config (every problem at once, before anything heavy), calls the job and prints
`result.summary()`; `raypipe run` chains jobs through their on-disk outputs.

`JOBS` names each command's config schema and job function by import path, so listing the commands imports
neither torch nor Ray.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Job", "JOBS", "get_job"]


@dataclass(frozen=True)
class Job:
    name: str
    help: str
    schema_path: str  # "module:Class" of the config schema
    run_path: str  # "module:function" of the job

    @staticmethod
    def _load(spec: str):
        module, attr = spec.split(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def schema(self):
        return self._load(self.schema_path)

    @property
    def run(self):
        return self._load(self.run_path)


JOBS: dict[str, Job] = {
    "mine": Job("mine", "mine hard negatives for (anchor, positive) pairs", "raypipe.config.mine:MineConfig",
                "raypipe.jobs.mine:run"),
    "eval": Job("eval", "evaluate a model (retrieval, reranking, similarity, classification; cross-encoder "
                        "reranking of a first stage's top-k)", "raypipe.config.eval:EvalConfig",
                "raypipe.jobs.eval:run"),
    "run": Job("run", "mine -> train -> eval as one job (before/after metrics)", "raypipe.config.run:RunConfig",
               "raypipe.jobs.run:run"),
    "train": Job("train", "train a dense, cross or sparse encoder on Ray Train (DDP, fault tolerant)",
                 "raypipe.config.train:TrainConfig", "raypipe.jobs.train:run"),
    "tune": Job("tune", "sweep loss and training hyperparameters with Ray Tune (ASHA early stopping, resumable)",
                "raypipe.config.tune:TuneConfig", "raypipe.jobs.tune:run"),
}


def get_job(name: str) -> Job:
    if name not in JOBS:
        raise ValueError(f"unknown command {name!r}; choose one of {sorted(JOBS)}.")
    return JOBS[name]
