"""Batch samplers: exact __len__, seeding by epoch, no duplicate texts per batch, group-by-label constraints,
multi-dataset interleaving."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch
from datasets import Dataset

from raypipe.data.samplers import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
    NoDuplicatesHashedBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
    stable_hash,
)


def _dup_dataset(n=103, vocab=30, seed=0):
    """Pairs drawn from a small vocabulary, so many texts repeat across rows."""
    r = random.Random(seed)
    return Dataset.from_dict({"anchor": [f"t{r.randrange(vocab)}" for _ in range(n)],
                              "positive": [f"t{r.randrange(vocab)}" for _ in range(n)],
                              "label": [r.random() for _ in range(n)]})


@pytest.mark.parametrize("cls", [NoDuplicatesBatchSampler, NoDuplicatesHashedBatchSampler])
@pytest.mark.parametrize("drop_last", [True, False])
def test_no_duplicates_len_exact_and_batches_clean(cls, drop_last):
    ds = _dup_dataset()
    sampler = cls(ds, batch_size=8, drop_last=drop_last, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        for batch in batches:
            texts = [ds[i]["anchor"] for i in batch] + [ds[i]["positive"] for i in batch]
            # a row may hold the same text twice itself; across rows no text repeats
            per_row = [{ds[i]["anchor"], ds[i]["positive"]} for i in batch]
            assert sum(len(s) for s in per_row) == len(set().union(*per_row)), texts
            if drop_last:
                assert len(batch) == 8
        flat = [i for b in batches for i in b]
        assert len(flat) == len(set(flat))  # no row twice in an epoch
        if not drop_last:
            assert sorted(flat) == list(range(len(ds)))


def test_no_duplicates_label_column_ignored():
    ds = Dataset.from_dict({"a": ["x", "y", "z", "w"], "b": ["p", "q", "r", "s"], "label": [1, 1, 1, 1]})
    sampler = NoDuplicatesBatchSampler(ds, batch_size=4, drop_last=True)
    assert len(sampler) == 1 and sorted(next(iter(sampler))) == [0, 1, 2, 3]


def test_default_sampler_seeded_by_epoch_and_matches_randperm():
    ds = Dataset.from_dict({"a": [str(i) for i in range(10)]})
    sampler = DefaultBatchSampler(ds, batch_size=4, drop_last=False, seed=42)
    g = torch.Generator().manual_seed(42)
    expected = torch.randperm(10, generator=g).tolist()
    assert [i for b in sampler for i in b] == expected
    assert len(sampler) == 3
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # resume: the same epoch replays the same order


def test_group_by_label_constraints():
    r = random.Random(0)
    ds = Dataset.from_dict({"text": [f"s{i}" for i in range(60)], "label": [r.randrange(5) for _ in range(60)]})
    sampler = GroupByLabelBatchSampler(ds, batch_size=8, drop_last=True, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        assert len(batch) == 8
        counts = Counter(ds[i]["label"] for i in batch)
        assert all(c >= 2 for c in counts.values()), counts


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 6 - 1}, "even batch_size"),
    ({"batch_size": 2}, "even batch_size"),
])
def test_group_by_label_batch_size_errors(kwargs, match):
    ds = Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 0, 1, 1]})
    with pytest.raises(ValueError, match=match):
        GroupByLabelBatchSampler(ds, drop_last=True, **kwargs)


def test_group_by_label_needs_two_labels_and_a_label_column():
    with pytest.raises(ValueError, match="at least 2 labels"):
        GroupByLabelBatchSampler(Dataset.from_dict({"t": ["a", "b", "c"], "label": [0, 0, 1]}), batch_size=4)
    with pytest.raises(ValueError, match="needs a label column"):
        GroupByLabelBatchSampler(Dataset.from_dict({"t": ["a", "b"]}), batch_size=4)


def _two_datasets():
    a = Dataset.from_dict({"x": [f"a{i}" for i in range(12)]})
    b = Dataset.from_dict({"x": [f"b{i}" for i in range(30)]})
    return a, b


def test_round_robin_and_proportional():
    a, b = _two_datasets()
    samplers = [DefaultBatchSampler(a, 4, True), DefaultBatchSampler(b, 4, True)]  # 3 and 7 batches
    rr = RoundRobinBatchSampler(torch.utils.data.ConcatDataset([a, b]), samplers)
    batches = list(rr)
    assert len(batches) == len(rr) == 6
    assert [all(i < 12 for i in bt) for bt in batches] == [True, False] * 3
    prop = ProportionalBatchSampler(torch.utils.data.ConcatDataset([a, b]), samplers, seed=5)
    batches = list(prop)
    assert len(batches) == len(prop) == 10
    assert sum(all(i < 12 for i in bt) for bt in batches) == 3  # each batch from one dataset
    assert all(all(i < 12 for i in bt) or all(i >= 12 for i in bt) for bt in batches)
    flat = sorted(i for bt in batches for i in bt)
    assert flat == sorted(set(flat))


def test_stable_hash_is_deterministic():
    assert stable_hash("debian") == stable_hash("debian") != stable_hash("ubuntu")


def test_batch_size_validation():
    with pytest.raises(ValueError, match="batch_size"):
        DefaultBatchSampler(Dataset.from_dict({"a": ["x"]}), batch_size=0)


def test_ddp_trim_to_world_size(monkeypatch):
    """Under torch.distributed with drop_last, the plan is cut to a multiple of the world size, so ranks that take
    every world_size-th batch all run the same number of steps."""
    import raypipe.data.samplers as samplers

    monkeypatch.setattr(samplers, "_world_size", lambda: 3)
    ds = _dup_dataset(n=100)
    for cls in (DefaultBatchSampler, NoDuplicatesBatchSampler):
        sampler = cls(ds, batch_size=8, drop_last=True)
        assert len(sampler) % 3 == 0 and len(list(sampler)) == len(sampler)
