"""Training data plumbing: dataset validation before compute, collators and batch samplers.

(`raypipe.data.beir` is imported from its own module: `from raypipe.data.beir import ...`.)
"""

from raypipe.data.collators import CrossEncoderDataCollator, EncoderDataCollator
from raypipe.data.samplers import (
    BatchSamplers,
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetBatchSamplers,
    NoDuplicatesBatchSampler,
    NoDuplicatesHashedBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
)
from raypipe.data.validation import DatasetValidationError, dataset_problems, validate_datasets

__all__ = [
    "BatchSamplers",
    "CrossEncoderDataCollator",
    "DatasetValidationError",
    "DefaultBatchSampler",
    "EncoderDataCollator",
    "GroupByLabelBatchSampler",
    "MultiDatasetBatchSamplers",
    "NoDuplicatesBatchSampler",
    "NoDuplicatesHashedBatchSampler",
    "ProportionalBatchSampler",
    "RoundRobinBatchSampler",
    "dataset_problems",
    "validate_datasets",
]
