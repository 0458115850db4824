"""Parity of the pointwise CrossEncoder losses (BCE, CE, MSE, MarginMSE) with sentence-transformers."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.cross_encoder import losses as st_losses
from torch import nn

from raypipe.losses import cross
from tests.losses.cross._parity import DOCS, NEGS, QUERIES, assert_parity

slow = pytest.mark.slow

LABELS01 = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
SOFT = torch.tensor([0.9, 0.1, 0.6, 0.3, 0.75])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        pytest.param({"pos_weight": torch.tensor(3.0)}, marks=slow),
        pytest.param({"activation_fn": nn.Tanh()}, marks=slow),
    ],
    ids=["default", "pos_weight", "tanh"],
)
def test_bce_parity(ce_pair, kwargs):
    ours = cross.BinaryCrossEntropyLoss(ce_pair[0], **kwargs)
    theirs = st_losses.BinaryCrossEntropyLoss(ce_pair[1], **kwargs)
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOCS], LABELS01)
    assert ours.get_config_dict()["pos_weight"] == theirs.get_config_dict()["pos_weight"]


def test_bce_parity_raw_fixture_soft_labels(ce_pair_raw):
    ours = cross.BinaryCrossEntropyLoss(ce_pair_raw[0])
    theirs = st_losses.BinaryCrossEntropyLoss(ce_pair_raw[1])
    assert_parity(ours, theirs, ce_pair_raw, [QUERIES, DOCS], SOFT)


def test_cross_entropy_parity(ce3_pair):
    labels = torch.tensor([0, 2, 1, 1, 0])
    ours = cross.CrossEntropyLoss(ce3_pair[0])
    theirs = st_losses.CrossEntropyLoss(ce3_pair[1])
    assert_parity(ours, theirs, ce3_pair, [QUERIES, DOCS], labels)
    # (B, 1) integer labels are flattened, as in sentence-transformers
    assert_parity(ours, theirs, ce3_pair, [QUERIES, DOCS], labels[:, None])


@slow
def test_cross_entropy_label_smoothing_parity(ce3_pair):
    labels = torch.tensor([0, 2, 1, 1, 0])
    ours = cross.CrossEntropyLoss(ce3_pair[0], label_smoothing=0.1)
    theirs = st_losses.CrossEntropyLoss(ce3_pair[1], label_smoothing=0.1)
    assert_parity(ours, theirs, ce3_pair, [QUERIES, DOCS], labels)


@pytest.mark.parametrize("act", [None, pytest.param(nn.Sigmoid(), marks=slow)], ids=["identity", "sigmoid"])
def test_mse_parity(ce_pair, act):
    kwargs = {} if act is None else {"activation_fn": act}
    ours = cross.MSELoss(ce_pair[0], **kwargs)
    theirs = st_losses.MSELoss(ce_pair[1], **kwargs)
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOCS], SOFT * 4 - 2)


@pytest.mark.parametrize(
    "label_form", [pytest.param("margin_1d", marks=slow), pytest.param("margins_2d", marks=slow), "scores_2d"]
)
def test_margin_mse_parity(ce_pair, label_form):
    negs2 = list(reversed(NEGS))
    gold = torch.tensor(
        [[3.0, 1.0, -1.0], [2.0, 2.5, 0.0], [1.0, -2.0, 0.5], [0.0, 0.1, 0.2], [4.0, 0.0, 1.0]]
    )
    if label_form == "margin_1d":
        inputs, labels = [QUERIES, DOCS, NEGS], gold[:, 0] - gold[:, 1]
    elif label_form == "margins_2d":
        inputs, labels = [QUERIES, DOCS, NEGS, negs2], gold[:, :1] - gold[:, 1:]
    else:
        inputs, labels = [QUERIES, DOCS, NEGS, negs2], gold
    ours = cross.MarginMSELoss(ce_pair[0])
    theirs = st_losses.MarginMSELoss(ce_pair[1])
    assert_parity(ours, theirs, ce_pair, inputs, labels)


@slow
def test_margin_mse_sigmoid_parity(ce_pair):
    labels = torch.tensor([0.5, -0.2, 0.9, 0.0, 0.3])
    ours = cross.MarginMSELoss(ce_pair[0], activation_fn=nn.Sigmoid())
    theirs = st_losses.MarginMSELoss(ce_pair[1], activation_fn=nn.Sigmoid())
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOCS, NEGS], labels)


def test_scores_math_on_plain_tensors(ce_pair):
    """compute_loss_from_scores works without a model call."""
    model = ce_pair[0]
    scores = torch.tensor([[2.0], [-1.0]], requires_grad=True)
    labels = torch.tensor([1.0, 0.0])
    bce = cross.BinaryCrossEntropyLoss(model).compute_loss_from_scores(scores, labels)
    expected = (
        -(torch.log(torch.sigmoid(torch.tensor(2.0))) + torch.log(torch.sigmoid(torch.tensor(1.0)))) / 2
    )
    assert torch.allclose(bce, expected)
    mse = cross.MSELoss(model).compute_loss_from_scores(scores, torch.tensor([1.0, 1.0]))
    assert torch.allclose(mse, torch.tensor((1.0 + 4.0) / 2))
    margin = cross.MarginMSELoss(model).compute_loss_from_scores(
        torch.tensor([[3.0, 1.0]]), torch.tensor([1.5])
    )
    assert torch.allclose(margin, torch.tensor(0.25))
