"""MatryoshkaLoss, AdaptiveLayerLoss and Matryoshka2dLoss: parity with sentence-transformers in deterministic
settings (all dims / all layers, or the same Python `random` seed on both sides) and their sampling."""

from __future__ import annotations

import random

import pytest
import torch

from raypipe.losses.dense.adaptive_layer import AdaptiveLayerLoss
from raypipe.losses.dense.cosent import CoSENTLoss
from raypipe.losses.dense.matryoshka import MatryoshkaLoss
from raypipe.losses.dense.matryoshka_2d import Matryoshka2dLoss
from raypipe.losses.dense.mse import MSELoss
from tests.losses.dense._st_parity import (
    ANCHORS,
    NEGATIVES,
    POSITIVES,
    features,
    load_pair,
    run_parity,
    st_losses,
)

SCORES = torch.tensor([0.9, 0.1, 0.75, 0.6, 0.3, 0.45])
TEACHER = torch.randn(len(ANCHORS), 32, generator=torch.Generator().manual_seed(1))
DIMS, WEIGHTS = [8, 32, 16], [0.25, 1.0, 0.5]  # unsorted on purpose


def _mnrl():
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss


def _inner(name, model, st: bool):
    L = st_losses()
    if name == "cosent":
        return L.CoSENTLoss(model) if st else CoSENTLoss(model)
    if name == "mse":
        return L.MSELoss(model) if st else MSELoss(model)
    return L.MultipleNegativesRankingLoss(model) if st else _mnrl()(model)


INNER = {
    "cosent": ([ANCHORS, POSITIVES], SCORES),
    "mse": ([ANCHORS, POSITIVES], TEACHER),
    "mnrl": ([ANCHORS, POSITIVES, NEGATIVES], None),
}


@pytest.mark.parametrize("inner", sorted(INNER))
def test_matryoshka_parity(inner):
    rp_model, st_model = load_pair()
    columns, labels = INNER[inner]
    rp_loss = MatryoshkaLoss(rp_model, _inner(inner, rp_model, False), DIMS, matryoshka_weights=WEIGHTS)
    st_loss = st_losses().MatryoshkaLoss(
        st_model, _inner(inner, st_model, True), DIMS, matryoshka_weights=WEIGHTS
    )
    run_parity(rp_model, st_model, rp_loss, st_loss, columns, labels)
    assert rp_loss.get_config_dict() == st_loss.get_config_dict()
    assert "forward" not in vars(rp_model)  # the temporary patch is gone


def test_matryoshka_cached_inner_parity():
    """A GradCache inner loss: truncation happens in its loss stage; equals ST's and the non-cached loss."""
    from raypipe.losses.dense.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss

    rp_model, st_model = load_pair()
    columns = [ANCHORS, POSITIVES, NEGATIVES]
    rp_loss = MatryoshkaLoss(
        rp_model, CachedMultipleNegativesRankingLoss(rp_model, mini_batch_size=2), DIMS, WEIGHTS
    )
    st_loss = st_losses().MatryoshkaLoss(
        st_model, st_losses().CachedMultipleNegativesRankingLoss(st_model, mini_batch_size=2), DIMS, WEIGHTS
    )
    rp_out, _ = run_parity(rp_model, st_model, rp_loss, st_loss, columns)
    # same as raypipe's non-cached Matryoshka(MNRL)
    rp_cached_grads = {n: p.grad.clone() for n, p in rp_model.named_parameters() if p.grad is not None}
    rp_model.zero_grad(set_to_none=True)
    plain = MatryoshkaLoss(rp_model, _mnrl()(rp_model), DIMS, WEIGHTS)(features(rp_model, columns), None)
    plain.backward()
    assert torch.allclose(plain.detach(), rp_out["loss"].detach(), rtol=1e-5)
    for n, p in rp_model.named_parameters():
        if p.grad is not None:
            # GradCache sums the gradient over mini-batches in another order: float32 rounding, scaled by the
            # gradient (token_type_embeddings, which every token feeds, differed by 1.5e-5 on an AVX2 host)
            tol = 1e-5 + 1e-4 * p.grad.abs().max().item()
            assert (p.grad - rp_cached_grads[n]).abs().max().item() <= tol, n


class _Spy(torch.nn.Module):
    """Inner loss that records the embedding width it sees."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.widths = []

    def forward(self, sentence_features, labels):
        emb = self.model(sentence_features[0])["sentence_embedding"]
        self.widths.append(emb.shape[1])
        assert torch.allclose(emb.norm(dim=1), torch.ones(emb.shape[0]), atol=1e-5)
        return emb.sum()


def test_matryoshka_sampling():
    rp_model, _ = load_pair()
    spy = _Spy(rp_model)
    loss = MatryoshkaLoss(rp_model, spy, [32, 16, 8, 4], n_dims_per_step=2)
    feats = features(rp_model, [ANCHORS])
    seen = set()
    random.seed(0)
    for _ in range(12):
        spy.widths.clear()
        loss(feats, None)
        assert len(spy.widths) == 2 and spy.widths == sorted(spy.widths, reverse=True)
        seen.update(spy.widths)
    assert seen == {32, 16, 8, 4}  # every dim gets drawn
    spy.widths.clear()
    MatryoshkaLoss(rp_model, spy, [32, 16, 8, 4], n_dims_per_step=-1)(feats, None)
    assert spy.widths == [32, 16, 8, 4]


@pytest.mark.parametrize("weighting", ["uniform", "log", "linear", "callable"])
def test_adaptive_layer_parity_all_layers(weighting):
    rp_model, st_model = load_pair()
    w = (lambda i: 0.5 + i) if weighting == "callable" else weighting
    kw = dict(
        n_layers_per_step=-1,
        last_layer_weight=1.5,
        prior_layers_weight=0.7,
        kl_div_weight=2.0,
        kl_temperature=0.5,
        layer_weighting=w,
    )
    rp_loss = AdaptiveLayerLoss(rp_model, CoSENTLoss(rp_model), **kw)
    st_loss = st_losses().AdaptiveLayerLoss(st_model, st_losses().CoSENTLoss(st_model), **kw)
    run_parity(rp_model, st_model, rp_loss, st_loss, [ANCHORS, POSITIVES], SCORES)
    assert "forward" not in vars(rp_model) and "forward" not in vars(rp_model[0])
    assert not rp_model[0].auto_model.config.output_hidden_states


@pytest.mark.parametrize("kl_temperature", [0.0, 0.3])
def test_adaptive_layer_parity_seeded_sampling(kl_temperature):
    """n_layers_per_step=1 draws with Python's random: the same seed picks the same layer in both libraries."""
    rp_model, st_model = load_pair()
    rp_loss = AdaptiveLayerLoss(rp_model, _mnrl()(rp_model), kl_temperature=kl_temperature)
    st_loss = st_losses().AdaptiveLayerLoss(
        st_model, st_losses().MultipleNegativesRankingLoss(st_model), kl_temperature=kl_temperature
    )
    for seed in (0, 1):
        random.seed(seed)
        rp_feats = features(rp_model, [ANCHORS, POSITIVES])
        state = random.getstate()
        rp_out = rp_loss(rp_feats, None)
        random.setstate(state)
        st_out = st_loss(features(st_model, [ANCHORS, POSITIVES]), None)
        assert torch.allclose(rp_out.detach(), st_out.detach(), rtol=1e-5)


def test_adaptive_layer_samples_non_final_layers():
    rp_model, _ = load_pair()
    spy = _SpyLayers(rp_model)
    loss = AdaptiveLayerLoss(rp_model, spy, n_layers_per_step=1, kl_temperature=0.0)
    feats = features(rp_model, [ANCHORS])
    random.seed(3)
    for _ in range(10):
        loss(feats, None)
    # final pass + one earlier layer per step; layer 0 (embedding output) and layer 1 both get drawn
    assert len(spy.outputs) == 20
    final = spy.outputs[0]
    layer_outputs = {tuple(o[0, :3].tolist()) for o in spy.outputs[1::2]}
    assert len(layer_outputs) == 2 and tuple(final[0, :3].tolist()) not in layer_outputs


class _SpyLayers(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.outputs = []

    def forward(self, sentence_features, labels):
        emb = self.model(sentence_features[0])["sentence_embedding"]
        self.outputs.append(emb.detach())
        return emb.pow(2).mean()


def test_matryoshka_2d_parity_deterministic():
    rp_model, st_model = load_pair()
    kw = dict(matryoshka_weights=WEIGHTS, n_layers_per_step=-1, n_dims_per_step=-1)
    rp_loss = Matryoshka2dLoss(rp_model, CoSENTLoss(rp_model), DIMS, **kw)
    st_loss = st_losses().Matryoshka2dLoss(st_model, st_losses().CoSENTLoss(st_model), DIMS, **kw)
    run_parity(rp_model, st_model, rp_loss, st_loss, [ANCHORS, POSITIVES], SCORES)
    assert rp_loss.get_config_dict() == st_loss.get_config_dict()


def test_matryoshka_2d_parity_seeded_defaults():
    rp_model, st_model = load_pair()
    rp_loss = Matryoshka2dLoss(rp_model, CoSENTLoss(rp_model), DIMS)
    st_loss = st_losses().Matryoshka2dLoss(st_model, st_losses().CoSENTLoss(st_model), DIMS)
    for seed in (0, 5):
        random.seed(seed)
        rp_out = rp_loss(features(rp_model, [ANCHORS, POSITIVES]), SCORES)
        random.seed(seed)
        st_out = st_loss(features(st_model, [ANCHORS, POSITIVES]), SCORES)
        assert torch.allclose(rp_out.detach(), st_out.detach(), rtol=1e-5)


def test_adaptive_rejects_cached_inner():
    from raypipe.losses.dense.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss

    rp_model, _ = load_pair()
    with pytest.raises(ValueError, match="AdaptiveLayerLoss cannot wrap CachedMultipleNegativesRankingLoss"):
        AdaptiveLayerLoss(rp_model, CachedMultipleNegativesRankingLoss(rp_model))


def test_matryoshka_bad_dims():
    rp_model, _ = load_pair()
    for dims, weights, match in [
        ([], None, "non-empty"),
        ([32, 0], None, "positive"),
        ([64], None, "exceed"),
        ([32, 16], [1.0], "one weight per dimension"),
    ]:
        with pytest.raises(ValueError, match=f"MatryoshkaLoss.*{match}"):
            MatryoshkaLoss(rp_model, CoSENTLoss(rp_model), dims, matryoshka_weights=weights)


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", ["gist", "mega_batch"])
def test_matryoshka_other_cached_inner_equals_non_cached(family):
    """Truncation inside the GradCache loss stage also works for CachedGIST and the mini-batched MegaBatchMargin."""
    rp_model, _ = load_pair()
    guide = load_pair()[0]
    if family == "gist":
        from raypipe.losses.dense.cached_gist_embed import CachedGISTEmbedLoss
        from raypipe.losses.dense.gist_embed import GISTEmbedLoss

        cached = CachedGISTEmbedLoss(rp_model, guide, mini_batch_size=2, temperature=0.05)
        plain = GISTEmbedLoss(rp_model, guide, temperature=0.05)
        columns = [ANCHORS, POSITIVES, NEGATIVES]
    else:
        from raypipe.losses.dense.mega_batch_margin import MegaBatchMarginLoss

        cached = MegaBatchMarginLoss(rp_model, mini_batch_size=2)
        plain = MegaBatchMarginLoss(rp_model, use_mini_batched_version=False)
        columns = [ANCHORS, POSITIVES]
    feats = features(rp_model, columns)
    value_cached = MatryoshkaLoss(rp_model, cached, DIMS, WEIGHTS)(feats, None)
    value_cached.backward()
    g_cached = _grads(rp_model)
    rp_model.zero_grad(set_to_none=True)
    value_plain = MatryoshkaLoss(rp_model, plain, DIMS, WEIGHTS)(features(rp_model, columns), None)
    value_plain.backward()
    assert torch.allclose(value_cached.detach(), value_plain.detach(), rtol=1e-5)
    g_plain = _grads(rp_model)
    assert set(g_plain) == set(g_cached) and g_plain
    for n in g_plain:
        assert (g_plain[n] - g_cached[n]).abs().max().item() <= 1e-5, n
