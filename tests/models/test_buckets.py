"""Length buckets (raypipe/models/buckets.py): the split plan, and that a split forward pass gives the same outputs
and gradients as one call, for the three transformer tasks."""

from __future__ import annotations

import random

import pytest
import torch

from raypipe.models.buckets import plan_buckets
from raypipe.models.transformer import Transformer

WORDS = "debian package python data tool server client library plugin web font game kernel driver".split()


def texts(n: int, seed: int = 0) -> list[str]:
    r = random.Random(seed)
    return [" ".join(r.choices(WORDS, k=r.choice([1, 2, 3, 20, 40]))) for _ in range(n)]


def right_mask(lengths: list[int], width: int) -> torch.Tensor:
    return (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()  # (B, T)


def test_plan_covers_every_row_once_with_its_sub_batch_width():
    lengths = [3, 60, 5, 4, 58, 2, 7, 61] * 4
    plan = plan_buckets(right_mask(lengths, 64), min_rows=4)
    assert plan is not None and len(plan) > 1
    rows = torch.cat([r for r, _ in plan]).tolist()
    assert sorted(rows) == list(range(len(lengths)))
    for r, width in plan:
        assert width == max(lengths[i] for i in r.tolist())


@pytest.mark.parametrize("case", ["uniform", "small", "left-padded", "off"])
def test_plan_none_when_splitting_cannot_pay(case):
    lengths, min_rows = [3, 60] * 16, 4
    mask = right_mask(lengths, 64)
    if case == "uniform":
        mask = right_mask([50] * 32, 64)
    elif case == "small":
        min_rows = 32
    elif case == "left-padded":
        mask = mask.flip(1)
    elif case == "off":
        min_rows = 0
    assert plan_buckets(mask, min_rows) is None


def _outputs(module: Transformer, batch: list, min_rows: int, key: str):
    module.min_bucket_rows = min_rows
    module.zero_grad()
    features = module(module.tokenize(batch))
    out = features[key]
    if out.dim() == 3:  # the loss sees real tokens only, as pooling does
        out = out * features["attention_mask"][..., None]
    out.float().pow(2).mean().backward()
    grads = [p.grad.clone() for p in module.parameters() if p.grad is not None]
    return out.detach(), grads, features


@pytest.mark.parametrize("task,fixture,key", [
    ("feature-extraction", "tiny_bert_dir", "token_embeddings"),
    ("fill-mask", "tiny_mlm_dir", "token_embeddings"),
    ("sequence-classification", "tiny_cls_dir", "scores"),
])
def test_split_forward_equals_one_call(request, task, fixture, key):
    module = Transformer(str(request.getfixturevalue(fixture)), transformer_task=task)
    module.train()  # tiny checkpoints have no dropout, so train mode is deterministic
    batch = texts(32) if task != "sequence-classification" else list(zip(texts(32), texts(32, seed=1)))
    assert plan_buckets(module.tokenize(batch)["attention_mask"], 4) is not None  # the case really splits
    one, one_grads, _ = _outputs(module, batch, 0, key)
    split, split_grads, _ = _outputs(module, batch, 4, key)
    assert split.shape == one.shape
    mask = module.tokenize(batch)["attention_mask"]
    if key == "token_embeddings":  # padded positions may differ; they are masked everywhere downstream
        one, split = one * mask[..., None], split * mask[..., None]
    torch.testing.assert_close(split, one, atol=1e-5, rtol=1e-4)
    assert len(split_grads) == len(one_grads)
    for a, b in zip(split_grads, one_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_split_forward_keeps_every_layers_hidden_states(tiny_bert_dir):
    module = Transformer(str(tiny_bert_dir))
    module.auto_model.config.output_hidden_states = True
    batch = texts(32)
    mask = module.tokenize(batch)["attention_mask"][..., None]
    module.min_bucket_rows = 0
    one = module(module.tokenize(batch))["all_layer_embeddings"]
    module.min_bucket_rows = 4
    split = module(module.tokenize(batch))["all_layer_embeddings"]
    assert len(split) == len(one)
    for a, b in zip(split, one):
        torch.testing.assert_close(a * mask, b * mask, atol=1e-5, rtol=1e-4)
