"""Fixtures for the CrossEncoder loss tests: the same checkpoint loaded by raypipe and by sentence-transformers."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, BertForSequenceClassification


@pytest.fixture(scope="session")
def spread_cls_dir(tiny_cls_dir, tmp_path_factory):
    """tiny_cls_dir with a larger random classifier head (logits spread over ~[-3, 3] instead of ~1e-5 apart).

    Ranking losses sort by score: near-tied logits would make the parity tests depend on float rounding, and
    tiny logits make gradient comparisons vacuous. Same architecture and tokenizer; loaded by both libraries.
    """
    path = tmp_path_factory.mktemp("tiny_cls1_spread")
    model = BertForSequenceClassification.from_pretrained(tiny_cls_dir)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn(model.classifier.weight.shape, generator=gen) * 4.0)
        model.classifier.bias.fill_(0.1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_cls_dir).save_pretrained(path)
    return str(path)


def _load_pair(path: str):
    from sentence_transformers.cross_encoder import CrossEncoder as STCrossEncoder

    import raypipe

    ours = raypipe.CrossEncoder(path, device="cpu")
    theirs = STCrossEncoder(path, device="cpu")
    ours.train()
    theirs.train()
    return ours, theirs


@pytest.fixture(scope="module")
def ce_pair(spread_cls_dir):
    """(raypipe.CrossEncoder, sentence_transformers CrossEncoder), num_labels=1, identical weights."""
    return _load_pair(spread_cls_dir)


@pytest.fixture(scope="module")
def ce_pair_raw(tiny_cls_dir):
    """The unmodified tiny_cls_dir checkpoint in both libraries (num_labels=1)."""
    return _load_pair(tiny_cls_dir)


@pytest.fixture(scope="module")
def ce3_pair(tiny_cls3_dir):
    """tiny_cls3_dir (num_labels=3) in both libraries."""
    return _load_pair(tiny_cls3_dir)
