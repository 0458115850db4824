"""Training arguments: transformers.TrainingArguments plus prompts, batch samplers and per-parameter learning rates."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments
from transformers.training_args import ParallelMode

from raypipe.data.samplers import BatchSamplers, MultiDatasetBatchSamplers

logger = logging.getLogger(__name__)


def _parse_json_dict(name: str, value, allow_plain_string: bool):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        if allow_plain_string:
            return value  # one prompt for every column
        raise ValueError(
            f"{name}={value!r:.80} is not a dict or a JSON dict string. "
            f'Fix: pass e.g. {name}={{"regex": 1e-4}} or the JSON string \'{{"regex": 1e-4}}\'.'
        ) from None


def _as_enum(name: str, value, enum_cls):
    if isinstance(value, enum_cls) or callable(value) and not isinstance(value, str):
        return value  # a custom sampler class/factory
    try:
        return enum_cls(value.lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = [e.value for e in enum_cls]
        raise ValueError(f"{name}={value!r} is not one of {allowed}. Fix: pass one of those.") from None


@dataclass(kw_only=True)
class SentenceTransformerTrainingArguments(TrainingArguments):
    """transformers.TrainingArguments (fp16/bf16, optimizers, schedulers, warmup, gradient accumulation,
    eval/save strategies, load_best_model_at_end, report_to, ...) plus:

    Args:
        prompts: one prompt for every input column, {column: prompt}, {dataset: prompt} or
            {dataset: {column: prompt}}; prepended to the texts during training (and evaluation loss).
        batch_sampler: "batch_sampler" (random), "no_duplicates", "no_duplicates_hashed", "group_by_label",
            or a sampler class/factory `(dataset, batch_size, drop_last, valid_label_columns, generator, seed)`.
        multi_dataset_batch_sampler: "proportional" (default) or "round_robin" for a DatasetDict.
        learning_rate_mapping: {parameter-name regex: learning rate}; matching parameters get their own rate.

    `prediction_loss_only` is forced to True (evaluators give the metrics) and `ddp_broadcast_buffers` to False
    (BERT's position-id buffers would otherwise be broadcast in place during the backward pass).
    """

    prompts: Any = field(default=None, metadata={"help": "str | {column: prompt} | {dataset: {column: prompt}}"})
    batch_sampler: Any = field(default=BatchSamplers.BATCH_SAMPLER, metadata={"help": "a BatchSamplers value"})
    multi_dataset_batch_sampler: Any = field(
        default=MultiDatasetBatchSamplers.PROPORTIONAL, metadata={"help": "a MultiDatasetBatchSamplers value"}
    )
    learning_rate_mapping: Any = field(default=None, metadata={"help": "{parameter regex: learning rate}"})

    def __post_init__(self):
        super().__post_init__()
        self.batch_sampler = _as_enum("batch_sampler", self.batch_sampler, BatchSamplers)
        self.multi_dataset_batch_sampler = _as_enum(
            "multi_dataset_batch_sampler", self.multi_dataset_batch_sampler, MultiDatasetBatchSamplers
        )
        self.prompts = _parse_json_dict("prompts", self.prompts, allow_plain_string=True)
        mapping = _parse_json_dict("learning_rate_mapping", self.learning_rate_mapping, allow_plain_string=False)
        self.learning_rate_mapping = dict(mapping or {})
        for pattern, lr in self.learning_rate_mapping.items():
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr < 0:
                raise ValueError(
                    f"learning_rate_mapping[{pattern!r}]={lr!r} must be a number >= 0. Fix: e.g. {{{pattern!r}: 1e-4}}."
                )
        self.prediction_loss_only = True
        self.ddp_broadcast_buffers = False
        if self.parallel_mode == ParallelMode.DISTRIBUTED and not self.dataloader_drop_last:
            # an uneven last batch leaves one rank waiting in all-reduce for a step the others never take
            logger.warning("DDP training: setting dataloader_drop_last=True so every rank runs the same steps.")
            self.dataloader_drop_last = True

    def to_dict(self) -> dict:
        out = super().to_dict()
        for key in ("batch_sampler", "multi_dataset_batch_sampler"):
            value = getattr(self, key)
            out[key] = value.value if hasattr(value, "value") else getattr(value, "__name__", str(value))
        return out


@dataclass(kw_only=True)
class CrossEncoderTrainingArguments(SentenceTransformerTrainingArguments):
    """As SentenceTransformerTrainingArguments; prompts are one string or {dataset: prompt} (prepended to the
    query of each pair)."""


@dataclass(kw_only=True)
class SparseEncoderTrainingArguments(SentenceTransformerTrainingArguments):
    """As SentenceTransformerTrainingArguments, for SparseEncoder training."""


__all__ = [
    "BatchSamplers",
    "CrossEncoderTrainingArguments",
    "MultiDatasetBatchSamplers",
    "SentenceTransformerTrainingArguments",
    "SparseEncoderTrainingArguments",
]
