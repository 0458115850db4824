"""CachedSpladeLoss: same terms and gradients as SpladeLoss (GradCache is exact), and parity with
sentence-transformers' CachedSpladeLoss."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sparse_encoder import losses as st_losses

from raypipe.losses.sparse import (
    CachedSpladeLoss,
    SparseMarginMSELoss,
    SparseMultipleNegativesRankingLoss,
    SpladeLoss,
)
from tests.losses.sparse._parity import (
    NEGATIVES,
    POSITIVES,
    QUERIES,
    as_dict,
    backbone,
    run_parity,
    tokenize,
    zero_grads,
)

KW = {"document_regularizer_weight": 3e-3, "query_regularizer_weight": 5e-3}


def _terms_and_grads(model, loss, columns, labels=None):
    zero_grads(model)
    out = as_dict(loss([tokenize(model, c) for c in columns], labels))
    sum(out.values()).backward()
    grads = {n: p.grad.clone() for n, p in backbone(model).named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in out.items()}, grads


@pytest.mark.parametrize(
    ("mini_batch_size", "mini_batch_num_tokens"),
    [
        pytest.param(1, None, marks=pytest.mark.slow),
        (3, None),
        pytest.param(32, None, marks=pytest.mark.slow),
        (32, 12),
    ],
)
def test_cached_equals_uncached(splade_pair, mini_batch_size, mini_batch_num_tokens):
    rp, _ = splade_pair
    columns = [QUERIES, POSITIVES, NEGATIVES]
    ref_terms, ref_grads = _terms_and_grads(
        rp, SpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), **KW), columns
    )
    cached = CachedSpladeLoss(
        rp,
        SparseMultipleNegativesRankingLoss(rp),
        mini_batch_size=mini_batch_size,
        mini_batch_num_tokens=mini_batch_num_tokens,
        **KW,
    )
    terms, grads = _terms_and_grads(rp, cached, columns)
    assert list(terms) == list(ref_terms)
    for key in ref_terms:
        torch.testing.assert_close(terms[key], ref_terms[key], rtol=1e-5, atol=1e-7)
    assert set(grads) == set(ref_grads)
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-5, atol=1e-5, msg=name)


def test_cached_with_labels_and_document_only(splade_pair):
    rp, _ = splade_pair
    columns = [QUERIES, POSITIVES, NEGATIVES]
    labels = torch.tensor([2.0, -1.0, 0.5, 3.0])
    kw = {"document_regularizer_weight": 1e-2, "use_document_regularizer_only": True}
    ref_terms, ref_grads = _terms_and_grads(
        rp, SpladeLoss(rp, SparseMarginMSELoss(rp), **kw), columns, labels
    )
    terms, grads = _terms_and_grads(
        rp, CachedSpladeLoss(rp, SparseMarginMSELoss(rp), mini_batch_size=2, **kw), columns, labels
    )
    for key in ref_terms:
        torch.testing.assert_close(terms[key], ref_terms[key], rtol=1e-5, atol=1e-7)
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-5, atol=1e-5, msg=name)


def test_cached_matches_sentence_transformers(splade_pair):
    rp, st = splade_pair
    rp_loss = CachedSpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), mini_batch_size=2, **KW)
    st_loss = st_losses.CachedSpladeLoss(
        st, st_losses.SparseMultipleNegativesRankingLoss(st), mini_batch_size=2, **KW
    )
    run_parity(rp, st, rp_loss, st_loss, [QUERIES, POSITIVES, NEGATIVES])


def test_cached_without_grad_returns_plain_terms(splade_pair):
    rp, _ = splade_pair
    loss = CachedSpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), mini_batch_size=2, **KW)
    with torch.no_grad():
        out = loss([tokenize(rp, c) for c in (QUERIES, POSITIVES)])
    assert set(out) == {"base_loss", "document_regularizer_loss", "query_regularizer_loss"}
    assert not any(v.requires_grad for v in out.values())


def test_cached_config_and_validation():
    loss = CachedSpladeLoss(None, SparseMultipleNegativesRankingLoss(None), mini_batch_size=8, **KW)
    cfg = loss.get_config_dict()
    assert cfg["mini_batch_size"] == 8 and cfg["mini_batch_num_tokens"] is None
    assert "gao2021scaling" in loss.citation and "formal2022" in loss.citation
    with pytest.raises(ValueError, match="mini_batch_size"):
        CachedSpladeLoss(None, SparseMultipleNegativesRankingLoss(None), mini_batch_size=0, **KW)
