"""FlopsLoss: formula, L0 threshold, and parity with sentence-transformers' FlopsLoss on the same tensors."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sparse_encoder.losses import FlopsLoss as STFlopsLoss

from raypipe.losses.sparse import FlopsLoss, SparseLossUsageError


def _sparse_batch(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 40, generator=g)
    keep = torch.rand(6, 40, generator=g) < torch.linspace(0.1, 0.9, 6).unsqueeze(1)  # rows of growing L0
    return (x * keep).requires_grad_()


@pytest.mark.parametrize("threshold", [None, 10, 25])
def test_flops_matches_sentence_transformers(threshold):
    x = _sparse_batch()
    ours = FlopsLoss(None, threshold=threshold).compute_loss_from_embeddings(x)
    (g_ours,) = torch.autograd.grad(ours, x)
    theirs = STFlopsLoss(None, threshold=threshold).compute_loss_from_embeddings(x)
    (g_theirs,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=0)
    torch.testing.assert_close(g_ours, g_theirs)


def test_flops_formula_and_threshold_masking():
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 4.0]])
    # mean over rows = [0.5, 0, 3] -> 0.25 + 9
    assert FlopsLoss(threshold=None).compute_loss_from_embeddings(x).item() == pytest.approx(9.25)
    # row 1 has L0 = 1 <= 1, so it is zeroed; the mean still divides by 2: [0.5, 0, 1] -> 1.25
    assert FlopsLoss(threshold=1).compute_loss_from_embeddings(x).item() == pytest.approx(1.25)
    # a list of column tensors is concatenated
    assert FlopsLoss().compute_loss_from_embeddings([x[:1], x[1:]]).item() == pytest.approx(9.25)


def test_flops_is_regularizer_only():
    loss = FlopsLoss(None)
    with pytest.raises(SparseLossUsageError, match="SpladeLoss"):
        loss([{"input_ids": torch.ones(1, 2)}], None)
    with pytest.raises(ValueError, match="threshold"):
        FlopsLoss(None, threshold="10")
    with pytest.raises(ValueError, match="batch, vocab"):
        loss.compute_loss_from_embeddings(torch.rand(3))
    assert loss.get_config_dict() == {"threshold": None}
    assert "paria2020minimizing" in loss.citation
    assert loss.input_requirements().model_kinds == ("sparse",)
