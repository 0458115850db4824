"""Trainers for the three encoder types, built on transformers.Trainer (DDP-ready, no global state)."""

from raypipe.data.samplers import BatchSamplers, MultiDatasetBatchSamplers
from raypipe.train.arguments import (
    CrossEncoderTrainingArguments,
    SentenceTransformerTrainingArguments,
    SparseEncoderTrainingArguments,
)
from raypipe.train.base import RaypipeTrainer
from raypipe.train.trainers import CrossEncoderTrainer, SentenceTransformerTrainer, SparseEncoderTrainer

__all__ = [
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
