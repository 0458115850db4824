"""Collators: label detection, inputs by position, dataset_name handling, prompts, cross-encoder texts/lists."""

from __future__ import annotations

import pytest
import torch

from raypipe.data.collators import CrossEncoderDataCollator, EncoderDataCollator


def fake_tokenize(texts):
    # (B, 1) tensor holding each text's length, so tests can see which text went where
    return {"input_ids": torch.tensor([[len(t)] for t in texts]), "attention_mask": torch.ones(len(texts), 1)}


def test_first_label_column_and_positional_inputs():
    rows = [{"x": "abc", "q": "ab", "score": 0.5, "d": "abcd"}, {"x": "abc", "q": "a", "score": 1.0, "d": "abc"}]
    batch = EncoderDataCollator(fake_tokenize)(rows)
    assert torch.equal(batch["label"], torch.tensor([0.5, 1.0]))
    assert [f["input_ids"].flatten().tolist() for f in batch["features"]] == [[3, 3], [2, 1], [4, 3]]
    assert "dataset_name" not in batch


def test_dataset_name_and_nested_prompts():
    prompts = {"ds1": {"q": "query: "}, "ds2": "x"}
    rows = [{"q": "ab", "d": "cd", "dataset_name": "ds1"}]
    batch = EncoderDataCollator(fake_tokenize, prompts=prompts)(rows)
    assert batch["dataset_name"] == "ds1" and len(batch["features"]) == 2
    assert batch["features"][0]["input_ids"].item() == len("query: ab")
    assert batch["features"][0]["prompt_length"] == 0  # fake tokenizer: one token per text, minus the end token
    assert batch["features"][1]["input_ids"].item() == 2
    batch = EncoderDataCollator(fake_tokenize, prompts=prompts)([{"q": "ab", "dataset_name": "ds2"}])
    assert batch["features"][0]["input_ids"].item() == 3


def test_nested_prompts_without_dataset_name_raise():
    with pytest.raises(ValueError, match="nested dict keyed by dataset name"):
        EncoderDataCollator(fake_tokenize, prompts={"ds1": {"q": "p"}})([{"q": "a"}])


def test_column_prompts_and_string_prompt():
    batch = EncoderDataCollator(fake_tokenize, prompts={"q": "AB"})([{"q": "x", "d": "y"}])
    assert [f["input_ids"].item() for f in batch["features"]] == [3, 1]
    batch = EncoderDataCollator(fake_tokenize, prompts="AB")([{"q": "x", "d": "y"}])
    assert [f["input_ids"].item() for f in batch["features"]] == [3, 3]


def test_cross_collator_keeps_texts_and_listwise_labels():
    rows = [{"query": "q1", "docs": ["a", "b"], "labels": [1, 0]},
            {"query": "q2", "docs": ["c", "d", "e"], "labels": [0, 1, 0]}]
    batch = CrossEncoderDataCollator(prompts="find: ")(rows)
    assert batch["inputs"] == [["find: q1", "find: q2"], [["a", "b"], ["c", "d", "e"]]]
    assert batch["label"] == [[1, 0], [0, 1, 0]]
    batch = CrossEncoderDataCollator()([{"q": "a", "d": "b", "label": 1.0}])
    assert batch["inputs"] == [["a"], ["b"]] and torch.equal(batch["label"], torch.tensor([1.0]))


def test_cross_collator_rejects_per_column_prompts():
    with pytest.raises(ValueError, match="one prompt per dataset"):
        CrossEncoderDataCollator(prompts={"ds": {"query": "x"}})
