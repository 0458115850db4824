"""SpladeLoss: every named term and the gradients match sentence-transformers; configuration errors are clear."""

from __future__ import annotations

import logging

import pytest
import torch
from sentence_transformers.sparse_encoder import losses as st_losses

from raypipe.losses.sparse import FlopsLoss, SparseMultipleNegativesRankingLoss, SpladeLoss
from tests.losses.sparse._parity import NEGATIVES, POSITIVES, QUERIES, run_parity

CONFIGS = [
    pytest.param({"document_regularizer_weight": 3e-3, "query_regularizer_weight": 5e-3}, id="both"),
    pytest.param({"document_regularizer_weight": 3e-3}, id="no-query-weight"),
    pytest.param(
        {"document_regularizer_weight": 3e-3, "use_document_regularizer_only": True}, id="document-only"
    ),
    pytest.param(
        {
            "document_regularizer_weight": 3e-3,
            "query_regularizer_weight": 5e-3,
            "document_regularizer_threshold": 250,
            "query_regularizer_threshold": 200,
        },
        id="thresholds",
    ),
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_splade_terms_and_grads_match(splade_pair, kwargs):
    rp, st = splade_pair
    rp_loss = SpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), **kwargs)
    st_loss = st_losses.SpladeLoss(st, st_losses.SparseMultipleNegativesRankingLoss(st), **kwargs)
    rp_out, _ = run_parity(rp, st, rp_loss, st_loss, [QUERIES, POSITIVES, NEGATIVES])
    expected = {"base_loss", "document_regularizer_loss"}
    if kwargs.get("query_regularizer_weight") is not None and not kwargs.get("use_document_regularizer_only"):
        expected.add("query_regularizer_loss")
    assert set(rp_out) == expected
    assert all(v.item() > 0 for v in rp_out.values())


def test_regularizer_terms_are_weighted_flops(splade_pair):
    rp, _ = splade_pair
    loss = SpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), 2.0, 3.0)
    cols = [rp(rp.tokenize(c))["sentence_embedding"] for c in (QUERIES, POSITIVES, NEGATIVES)]
    out = loss.compute_loss_from_embeddings(cols, None)
    docs = torch.cat(cols[1:])
    torch.testing.assert_close(out["document_regularizer_loss"], 2.0 * (docs.mean(0) ** 2).sum())
    torch.testing.assert_close(out["query_regularizer_loss"], 3.0 * (cols[0].mean(0) ** 2).sum())


def test_custom_regularizer_is_used(splade_pair):
    rp, _ = splade_pair

    class L1(torch.nn.Module):
        def compute_loss_from_embeddings(self, emb, labels=None):
            return emb.abs().sum(dim=1).mean()

    loss = SpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), 1.0, 1.0, query_regularizer=L1())
    cols = [rp(rp.tokenize(c))["sentence_embedding"] for c in (QUERIES, POSITIVES)]
    out = loss.compute_loss_from_embeddings(cols, None)
    torch.testing.assert_close(out["query_regularizer_loss"], cols[0].abs().sum(1).mean())
    assert isinstance(loss.document_regularizer, FlopsLoss)
    assert loss.get_config_dict()["query_regularizer"] == "L1"


def test_document_only_drops_query_weight_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        loss = SpladeLoss(
            None, SparseMultipleNegativesRankingLoss(None), 1e-3, 5e-3, use_document_regularizer_only=True
        )
    assert loss.query_regularizer_weight is None
    assert "use_document_regularizer_only" in caplog.text


def test_config_dict_matches_sentence_transformers(splade_pair):
    rp, st = splade_pair
    kw = {
        "document_regularizer_weight": 3e-5,
        "query_regularizer_weight": 5e-5,
        "document_regularizer_threshold": 7,
    }
    ours = SpladeLoss(rp, SparseMultipleNegativesRankingLoss(rp), **kw).get_config_dict()
    theirs = st_losses.SpladeLoss(
        st, st_losses.SparseMultipleNegativesRankingLoss(st), **kw
    ).get_config_dict()
    theirs["loss"] = type(theirs["loss"]).__name__
    assert ours == theirs


def test_bad_arguments_raise_value_errors():
    base = SparseMultipleNegativesRankingLoss(None)
    with pytest.raises(ValueError, match="compute_loss_from_embeddings"):
        SpladeLoss(None, torch.nn.MSELoss(), 1e-3)
    with pytest.raises(ValueError, match="document_regularizer_weight"):
        SpladeLoss(None, base, -1.0)
    with pytest.raises(ValueError, match="query_regularizer_weight"):
        SpladeLoss(None, base, 1e-3, "high")
    loss = SpladeLoss(None, base, 1e-3, 1e-3)
    with pytest.raises(ValueError, match="at least 2 input columns"):
        loss.compute_loss_from_embeddings([torch.rand(2, 5)], None)


def test_input_requirements_follow_the_base_loss():
    req = SpladeLoss(None, SparseMultipleNegativesRankingLoss(None), 1e-3, 1e-3).input_requirements()
    assert req.loss_name == "SpladeLoss(SparseMultipleNegativesRankingLoss)"
    assert req.min_inputs == 2 and req.max_inputs is None and req.label == "none"
    assert req.model_kinds == ("sparse",)
    assert req.problems(num_inputs=1, has_label=False)
