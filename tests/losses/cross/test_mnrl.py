"""CrossEncoder MultipleNegativesRankingLoss and its cached (GradCache) variant."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.cross_encoder import losses as st_losses
from torch import nn

from raypipe.losses import cross
from tests.losses.cross._parity import DOCS, NEGS, QUERIES, assert_parity, run_loss

slow = pytest.mark.slow


@pytest.mark.parametrize(
    "inputs,kwargs",
    [
        ([QUERIES, DOCS, NEGS], {}),
        pytest.param([QUERIES, DOCS], {}, marks=slow),
        pytest.param([QUERIES, DOCS], {"scale": 5.0, "activation_fn": None}, marks=slow),
        pytest.param([QUERIES, DOCS, NEGS], {"activation_fn": nn.Tanh(), "scale": 2.0}, marks=slow),
    ],
    ids=["triplets", "pairs", "pairs_identity", "triplets_tanh"],
)
def test_mnrl_parity_all_negatives(ce_pair, inputs, kwargs):
    ours = cross.MultipleNegativesRankingLoss(ce_pair[0], num_negatives=None, **kwargs)
    theirs = st_losses.MultipleNegativesRankingLoss(ce_pair[1], num_negatives=None, **kwargs)
    assert_parity(ours, theirs, ce_pair, inputs, None)


def test_mnrl_parity_sampled_same_seed(ce_pair):
    # Both draw with torch.multinomial over the same mask, so equal seeds give equal samples.
    ours = cross.MultipleNegativesRankingLoss(ce_pair[0], num_negatives=3)
    theirs = st_losses.MultipleNegativesRankingLoss(ce_pair[1], num_negatives=3)
    assert_parity(ours, theirs, ce_pair, [QUERIES, DOCS, NEGS], None, seed=123)


def test_mnrl_sampling(ce_pair):
    loss = cross.MultipleNegativesRankingLoss(ce_pair[0], num_negatives=3)
    batch, cols = 5, 2
    torch.manual_seed(0)
    first = loss.sample_negative_indices(batch, cols)
    torch.manual_seed(0)
    assert torch.equal(first, loss.sample_negative_indices(batch, cols))  # seeded -> reproducible
    seen = set()
    for _ in range(50):
        idx = loss.sample_negative_indices(batch, cols)
        assert idx.shape == (batch, 3)
        for row in range(batch):
            picked = idx[row].tolist()
            assert len(set(picked)) == 3  # without replacement
            assert all(i % batch != row for i in picked)  # never its own positive / hard negative
            seen.update((row, i) for i in picked)
    assert len(seen) == batch * (batch - 1) * cols  # every valid candidate gets drawn eventually
    # num_negatives >= valid candidates (or None) -> all of them
    assert loss.sample_negative_indices(2, 1).tolist() == [[1], [0]]
    everything = cross.MultipleNegativesRankingLoss(ce_pair[0], num_negatives=None).sample_negative_indices(
        3, 2
    )
    assert everything.tolist() == [[1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 3, 4]]


def test_mnrl_pair_columns_never_pair_own_positive(ce_pair):
    loss = cross.MultipleNegativesRankingLoss(ce_pair[0], num_negatives=2)
    torch.manual_seed(3)
    columns = loss.build_pair_columns([QUERIES, DOCS, NEGS])
    assert len(columns) == 1 + 2 + 1  # positive, 2 sampled, 1 hard negative
    assert columns[0] == list(zip(QUERIES, DOCS)) and columns[-1] == list(zip(QUERIES, NEGS))
    for col in columns[1:3]:
        for row, (query, doc) in enumerate(col):
            assert query == QUERIES[row] and doc not in (DOCS[row], NEGS[row])


def test_mnrl_scores_math(ce_pair):
    loss = cross.MultipleNegativesRankingLoss(ce_pair[0], scale=2.0, activation_fn=None)
    scores = torch.tensor([[1.0, 0.0, -1.0]])
    expected = -torch.log_softmax(2.0 * scores, dim=1)[0, 0]
    assert torch.allclose(loss.compute_loss_from_scores(scores), expected)


@pytest.mark.parametrize("mini_batch_size", [5, pytest.param(64, marks=slow)])
def test_cached_mnrl_parity(ce_pair, mini_batch_size):
    ours = cross.CachedMultipleNegativesRankingLoss(
        ce_pair[0], num_negatives=None, mini_batch_size=mini_batch_size
    )
    theirs = st_losses.CachedMultipleNegativesRankingLoss(
        ce_pair[1], num_negatives=None, mini_batch_size=mini_batch_size
    )
    assert_parity(ours, theirs, ce_pair, [QUERIES[:3], DOCS[:3], NEGS[:3]], None)


def _close(a, b, scale):
    assert (a - b).abs().max().item() <= 1e-4 * scale + 1e-7


def test_cached_equals_uncached_and_respects_upstream_grad(ce_pair):
    model = ce_pair[0]
    inputs = [QUERIES[:3], DOCS[:3]]
    plain = cross.MultipleNegativesRankingLoss(model, num_negatives=None)
    plain_value, plain_grads = run_loss(plain, model, inputs, None)
    scale = max(g.abs().max().item() for g in plain_grads.values())
    cached = cross.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=3)
    cached_value, cached_grads = run_loss(cached, model, inputs, None)
    assert abs(plain_value - cached_value) < 1e-6
    for name, grad in plain_grads.items():
        _close(cached_grads[name], grad, scale)
    # A scaled loss (as a trainer's loss weighting does) scales the replayed gradients too.
    model.zero_grad(set_to_none=True)
    (0.5 * cached(inputs, None)).backward()
    for name, p in model[0].auto_model.named_parameters():
        _close(p.grad, 0.5 * plain_grads[name], scale)
    with torch.no_grad():
        assert abs(cached(inputs, None).item() - plain_value) < 1e-6
    assert cached.get_config_dict() == {
        "scale": 10.0,
        "num_negatives": None,
        "activation_fn": "torch.nn.modules.activation.Sigmoid",
        "mini_batch_size": 3,
    }


def test_cached_mnrl_replays_dropout_masks(tmp_path):
    """With dropout on, the backward re-forward must draw the same masks as the cached forward."""
    import raypipe
    from raypipe.losses.cross._common import score_pairs
    from tests.fixtures.tiny_models import build_tiny_checkpoint

    model = raypipe.CrossEncoder(
        str(build_tiny_checkpoint(tmp_path, "classifier", dropout=0.3)), device="cpu"
    )
    model.train()
    inputs = [QUERIES[:3], DOCS[:3]]
    loss = cross.CachedMultipleNegativesRankingLoss(model, num_negatives=None, mini_batch_size=64)
    torch.manual_seed(7)
    cached_value, cached_grads = run_loss(loss, model, inputs, None)
    # Reference: the same single chunk of pairs, scored once with autograd from the same RNG state.
    pairs = [pair for col in loss.build_pair_columns(inputs) for pair in col]
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    reference = loss.compute_loss_from_scores(score_pairs(model, pairs).reshape(3, 3).T)
    reference.backward()
    assert abs(reference.item() - cached_value) < 1e-6
    scale = max(g.abs().max().item() for g in cached_grads.values())
    for name, p in model[0].auto_model.named_parameters():
        _close(cached_grads[name], p.grad if p.grad is not None else torch.zeros_like(p), scale)
