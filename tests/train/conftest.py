"""Fixtures for the trainer tests: one torch thread (the test machine is shared; oversubscribed threads make tiny
models 50x slower), and small synthetic datasets."""

from __future__ import annotations

import random

import pytest

WORDS = "the cat dog car red blue green fast slow good bad big small man woman child play run".split()


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sentences(n: int, k: int, seed: int) -> list[str]:
    r = random.Random(seed)
    return [" ".join(r.choices(WORDS, k=k)) for _ in range(n)]


@pytest.fixture
def pair_dataset():
    from datasets import Dataset

    return Dataset.from_dict({"anchor": sentences(80, 5, 0), "positive": sentences(80, 6, 1)})


@pytest.fixture
def labeled_pair_dataset():
    from datasets import Dataset

    r = random.Random(2)
    return Dataset.from_dict({"query": sentences(80, 4, 3), "document": sentences(80, 7, 4),
                              "label": [float(r.random() > 0.5) for _ in range(80)]})


def train_args(cls, out, **kw):
    base = dict(output_dir=str(out), per_device_train_batch_size=4, max_steps=20, logging_steps=1, report_to="none",
                seed=42, save_strategy="no", learning_rate=1e-3, disable_tqdm=True)
    base.update(kw)
    return cls(**base)


def step_losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]
