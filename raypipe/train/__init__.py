"""Trainers for the three encoder types, built on transformers.Trainer (DDP-ready, no global state)."""

from raypipe.data.samplers import BatchSamplers, MultiDatasetBatchSamplers
from raypipe.train.arguments import (
    CrossEncoderTrainingArguments,
    SentenceTransformerTrainingArguments,
    SparseEncoderTrainingArguments,
)
from raypipe.train.base import RaypipeTrainer
from raypipe.train.trainers import CrossEncoderTrainer, SentenceTransformerTrainer, SparseEncoderTrainer


def fit(config):
    """Train on Ray as `raypipe train` does: `config` is a TrainConfig, a dict or a YAML path. Returns the
    TrainResult (output folder, model folder, final metrics)."""
    import importlib

    from raypipe.config.base import load_config
    from raypipe.config.train import TrainConfig

    if not isinstance(config, TrainConfig):
        config = load_config(TrainConfig, config) if isinstance(config, str) else load_config(TrainConfig,
                                                                                             raw=config)
    # the job sits above this package (it uses the registry); resolved at call time, not imported at load time
    return importlib.import_module("raypipe.jobs.train").run(config)


__all__ = [
    "fit",
    "BatchSamplers",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "MultiDatasetBatchSamplers",
    "RaypipeTrainer",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
]
