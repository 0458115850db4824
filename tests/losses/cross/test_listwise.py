"""Listwise CrossEncoder losses: parity on ragged batches, padding invariance, scheme math."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.cross_encoder import losses as st_losses
from torch import nn

from raypipe.losses import cross
from tests.losses.cross._parity import assert_parity

slow = pytest.mark.slow

QUERIES = ["the dog plays", "search index", "python library"]
DOC_LISTS = [
    ["a dog runs fast", "the cat", "green game", "dog"],
    ["dense vector search", "audio driver"],
    ["debian package", "python module", "slow web server"],
]
LABEL_LISTS = [[3.0, 0.0, 1.0, 2.0], [1.0, 0.0], [2.0, 2.0, 0.0]]


def _labels():
    return [torch.tensor(row) for row in LABEL_LISTS]


def _pair_losses(name, ours_model, st_model, **kwargs):
    return getattr(cross, name)(ours_model, **kwargs), getattr(st_losses, name)(st_model, **kwargs)


SCHEMES = ["NoWeightingScheme", "NDCGLoss1Scheme", "NDCGLoss2Scheme", "LambdaRankScheme", "NDCGLoss2PPScheme"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lambda_loss_parity_schemes(ce_pair, scheme):
    ours = cross.LambdaLoss(ce_pair[0], weighting_scheme=getattr(cross, scheme)())
    theirs = st_losses.LambdaLoss(ce_pair[1], weighting_scheme=getattr(st_losses, scheme)())
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOC_LISTS], _labels())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 2},
        pytest.param({"sigma": 2.0, "reduction_log": "natural"}, marks=slow),
        pytest.param({"mini_batch_size": 2, "activation_fn": nn.Sigmoid()}, marks=slow),
        pytest.param({"mini_batch_size": -1, "eps": 1e-3}, marks=slow),
    ],
    ids=["k2", "sigma_natural", "chunked_sigmoid", "all_pairs_eps"],
)
def test_lambda_loss_parity_params(ce_pair, kwargs):
    ours, theirs = _pair_losses("LambdaLoss", *ce_pair, **kwargs)
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOC_LISTS], _labels())


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("RankNetLoss", {}),
        pytest.param("RankNetLoss", {"k": 1, "sigma": 0.5}, marks=slow),
        ("ListNetLoss", {}),
        pytest.param("ListNetLoss", {"activation_fn": nn.Sigmoid(), "mini_batch_size": 4}, marks=slow),
        ("ListMLELoss", {}),
        pytest.param("ListMLELoss", {"respect_input_order": False}, marks=slow),
        ("PListMLELoss", {}),
        ("PListMLELoss", {"respect_input_order": False, "mini_batch_size": 0}),
        ("ADRMSELoss", {}),
        pytest.param("ADRMSELoss", {"alpha": 2.5, "activation_fn": nn.Tanh()}, marks=slow),
    ],
)
def test_listwise_parity(ce_pair, name, kwargs):
    ours, theirs = _pair_losses(name, *ce_pair, **kwargs)
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOC_LISTS], _labels())


@slow
def test_plistmle_custom_weight_parity(ce_pair):
    def linear(mask):
        return mask.float() * torch.arange(mask.shape[1], 0, -1, dtype=torch.float32)

    ours = cross.PListMLELoss(ce_pair[0], lambda_weight=cross.PListMLELambdaWeight(rank_discount_fn=linear))
    theirs = st_losses.PListMLELoss(
        ce_pair[1], lambda_weight=st_losses.PListMLELambdaWeight(rank_discount_fn=linear)
    )
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOC_LISTS], _labels())


def test_listwise_accepts_plain_lists_and_dense_label_tensor(ce_pair):
    loss = cross.ListNetLoss(ce_pair[0])
    from_tensors = loss([QUERIES, DOC_LISTS], _labels()).item()
    assert loss([QUERIES, DOC_LISTS], LABEL_LISTS).item() == pytest.approx(from_tensors)
    same_len = [QUERIES[:2], [DOC_LISTS[0][:2], DOC_LISTS[1]]]
    dense = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert loss(same_len, dense).item() == pytest.approx(loss(same_len, list(dense)).item())


# ---- padding and raggedness on plain tensors --------------------------------------------------------------

ALL_LISTWISE = [
    ("LambdaLoss", {}),
    ("LambdaLoss", {"weighting_scheme": cross.NDCGLoss1Scheme()}),
    ("RankNetLoss", {}),
    ("ListNetLoss", {}),
    ("ListMLELoss", {"respect_input_order": False}),
    ("PListMLELoss", {}),
    ("ADRMSELoss", {}),
]


@pytest.mark.parametrize("name,kwargs", ALL_LISTWISE)
def test_padding_values_are_inert(ce_pair, name, kwargs):
    """Garbage in padded slots, and extra all-padding columns, change neither the loss nor the real gradients."""
    loss = getattr(cross, name)(ce_pair[0], **kwargs)
    scores = torch.tensor([[2.0, -1.0, 0.5, 0.0], [1.0, 3.0, 0.0, 0.0]])
    labels = torch.tensor([[2.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    clean = scores.clone().requires_grad_()
    reference = loss.compute_loss_from_scores(clean, labels, mask)
    reference.backward()

    dirty = scores.clone()
    dirty[~mask] = torch.tensor([50.0, -7.0, 1e4])
    dirty = torch.cat([dirty, torch.full((2, 2), 9.0)], dim=1).requires_grad_()
    dirty_labels = torch.cat([labels.masked_fill(~mask, 5.0), torch.full((2, 2), 7.0)], dim=1)
    dirty_mask = torch.cat([mask, torch.zeros(2, 2, dtype=torch.bool)], dim=1)
    value = loss.compute_loss_from_scores(dirty, dirty_labels, dirty_mask)
    value.backward()
    assert torch.isfinite(value) and value.item() == pytest.approx(reference.item(), rel=1e-6)
    torch.testing.assert_close(dirty.grad[:, :4][mask], clean.grad[mask])
    assert torch.all(dirty.grad[~dirty_mask] == 0)


@pytest.mark.parametrize("name", ["ListNetLoss", "ListMLELoss", "PListMLELoss"])
def test_ragged_batch_is_mean_of_single_queries(ce_pair, name):
    """Per-query losses averaged over queries: a ragged batch equals the mean of each query alone."""
    loss = getattr(cross, name)(ce_pair[0])
    scores = torch.tensor([[2.0, -1.0, 0.5], [1.0, 3.0, 0.0]])
    labels = torch.tensor([[2.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    batch = loss.compute_loss_from_scores(scores, labels, mask)
    single = [
        loss.compute_loss_from_scores(scores[:1], labels[:1]),
        loss.compute_loss_from_scores(scores[1:, :2], labels[1:, :2]),
    ]
    assert batch.item() == pytest.approx(torch.stack(single).mean().item(), rel=1e-6)


def test_listnet_empty_document_list_is_skipped(ce_pair):
    loss = cross.ListNetLoss(ce_pair[0])
    scores = torch.tensor([[2.0, -1.0], [0.0, 0.0]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [False, False]])
    value = loss.compute_loss_from_scores(scores, labels, mask)
    assert value.item() == pytest.approx(loss.compute_loss_from_scores(scores[:1], labels[:1]).item())


def test_ranknet_and_lambda_math(ce_pair):
    model = ce_pair[0]
    scores = torch.tensor([[1.0, 3.0]])  # the relevant document (label 1) is ranked second
    labels = torch.tensor([[1.0, 0.0]])
    ranknet = cross.RankNetLoss(model, reduction_log="natural").compute_loss_from_scores(scores, labels)
    assert ranknet.item() == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(-2.0)).item())
    binary = cross.RankNetLoss(model).compute_loss_from_scores(scores, labels)
    assert binary.item() == pytest.approx(ranknet.item() / torch.log(torch.tensor(2.0)).item())
    # LambdaRank weight for ranks 1, 2 with gains G=(0, 1) after sorting by score: |1/1 - 1/log2(3)| * 1
    lr = cross.LambdaLoss(model, weighting_scheme=cross.LambdaRankScheme(), reduction_log="natural")
    weight = 1.0 - 1.0 / torch.log2(torch.tensor(3.0)).item()
    assert lr.compute_loss_from_scores(scores, labels).item() == pytest.approx(
        weight * ranknet.item(), rel=1e-6
    )


def test_plistmle_default_weights():
    weights = cross.PListMLELambdaWeight()(torch.tensor([[True, True, True], [True, True, False]]))
    assert weights.tolist() == [[3.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    big = cross.PListMLELambdaWeight()(torch.ones(1, 300, dtype=torch.bool))
    assert torch.isfinite(big).all()


def test_adr_true_ranks_share_ties():
    labels = torch.tensor([[3.0, 1.0, 1.0, 0.0]])
    ranks = cross.ADRMSELoss.true_ranks(labels, torch.ones_like(labels, dtype=torch.bool))
    assert ranks.tolist() == [[1.0, 2.5, 2.5, 4.0]]
