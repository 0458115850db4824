"""raypipe.models.splade_pooling: token-chunked pooling gives the one-chunk result."""

from __future__ import annotations

import pytest
import torch

from raypipe.models import splade_pooling
from raypipe.models.splade_pooling import SpladePooling


def _features(b=3, t=11, v=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, 6:] = 0  # a padded row: its padding must not count
    return {"token_embeddings": torch.randn(b, t, v, generator=g) * 3, "attention_mask": mask}


@pytest.mark.parametrize("activation", ["relu", "log1p_relu"])
def test_inference_chunks_give_the_one_chunk_max_exactly(monkeypatch, activation):
    one = SpladePooling(activation_function=activation, chunk_size=10**9)
    expected = one(_features())["sentence_embedding"]  # (3, 17)
    monkeypatch.setattr(splade_pooling, "INFERENCE_CHUNK_ELEMENTS", 2 * 3 * 17)  # 2 tokens a chunk
    pool = SpladePooling(activation_function=activation)
    with torch.no_grad():
        assert pool._step(_features()["token_embeddings"]) == 2
        assert torch.equal(pool(_features())["sentence_embedding"], expected)
    assert pool._step(_features()["token_embeddings"]) == 11  # with autograd on: one chunk
    assert SpladePooling(pooling_strategy="sum")._step(_features()["token_embeddings"]) == 11


def test_padding_is_ignored_and_gradients_flow():
    feats = _features()
    feats["token_embeddings"].requires_grad_(True)
    out = SpladePooling()(feats)["sentence_embedding"]
    manual = torch.log1p(torch.relu(feats["token_embeddings"][1, :6])).max(dim=0).values
    assert torch.allclose(out[1], manual)
    out.sum().backward()
    assert feats["token_embeddings"].grad[1, 6:].abs().sum() == 0
