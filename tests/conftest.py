"""Shared fixtures: offline mode, tiny random checkpoints (session-scoped, built once), an embedded Ray."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import pytest  # noqa: E402

from tests.fixtures.tiny_models import build_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """Plain HF BertModel checkpoint (dropout 0)."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_bert"), kind="encoder"))


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory):
    """Plain HF BertForMaskedLM checkpoint (dropout 0) -> SPLADE by default."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_mlm"), kind="mlm"))


@pytest.fixture(scope="session")
def tiny_cls_dir(tmp_path_factory):
    """Plain HF BertForSequenceClassification checkpoint with 1 label (dropout 0)."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_cls1"), kind="classifier", num_labels=1))


@pytest.fixture(scope="session")
def tiny_cls3_dir(tmp_path_factory):
    """Plain HF BertForSequenceClassification checkpoint with 3 labels (dropout 0)."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_cls3"), kind="classifier", num_labels=3))


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray for the whole session (init costs seconds on 2 cores)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _restore_raypipe_logger():
    """`raypipe.cli.main` sets the `raypipe` logger's level and adds its stderr handler; each test starts as the
    process did."""
    log = logging.getLogger("raypipe")
    level, handlers = log.level, list(log.handlers)
    yield
    log.setLevel(level)
    log.handlers[:] = handlers
