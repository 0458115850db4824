"""The Sparse* base losses: parity with sentence-transformers inside SpladeLoss (and CSRLoss), standalone use
raises (except SparseMSELoss), sparse-specific defaults and requirements."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sparse_encoder import losses as st_losses

import raypipe.losses.sparse as rp_losses
from raypipe.losses.sparse import SparseLossUsageError
from tests.losses.sparse._parity import NEGATIVES, NEGATIVES2, POSITIVES, QUERIES, run_parity, tokenize

B = len(QUERIES)
PAIR_SCORES = torch.tensor([0.9, 0.1, 0.6, 0.3])

# name -> (constructor kwargs, columns, labels)
CASES = {
    "SparseMultipleNegativesRankingLoss": ({}, [QUERIES, POSITIVES, NEGATIVES], None),
    "SparseMultipleNegativesRankingLoss-directions": (
        {"scale": 0.5, "directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"},
        [QUERIES, POSITIVES],
        None,
    ),
    "SparseMarginMSELoss": ({}, [QUERIES, POSITIVES, NEGATIVES], torch.tensor([2.0, -1.0, 0.5, 3.0])),
    "SparseMarginMSELoss-scores": (
        {},
        [QUERIES, POSITIVES, NEGATIVES, NEGATIVES2],
        torch.tensor([[9.0, 2.0, 1.0]] * B) + torch.arange(B)[:, None],
    ),
    "SparseDistillKLDivLoss": (
        {},
        [QUERIES, POSITIVES, NEGATIVES],
        torch.tensor([[5.0, 1.0], [2.0, 2.5], [3.0, 0.0], [1.0, -1.0]]),
    ),
    "SparseDistillKLDivLoss-temps": (
        {"student_temperature": 3.0, "teacher_temperature": 0.5},
        [QUERIES, POSITIVES, NEGATIVES, NEGATIVES2],
        torch.tensor([[5.0, 1.0, 0.0]] * B),
    ),
    "SparseTripletLoss": ({"triplet_margin": 1.0}, [QUERIES, POSITIVES, NEGATIVES], None),
    "SparseCosineSimilarityLoss": ({}, [QUERIES, POSITIVES], PAIR_SCORES),
    "SparseCoSENTLoss": ({}, [QUERIES, POSITIVES], PAIR_SCORES),
    "SparseAnglELoss": ({"scale": 10.0}, [QUERIES, POSITIVES], PAIR_SCORES),
}


def _pair(name: str, rp, st, kwargs):
    cls = name.split("-")[0]
    return getattr(rp_losses, cls)(rp, **kwargs), getattr(st_losses, cls)(st, **kwargs)


# Variants (extra options, more columns) are slow-marked: the default-argument case of each loss stays in the fast run.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if "-" in n else n for n in CASES])
def test_wrapper_inside_splade_matches(splade_pair, name):
    rp, st = splade_pair
    kwargs, columns, labels = CASES[name]
    rp_base, st_base = _pair(name, rp, st, kwargs)
    rp_loss = rp_losses.SpladeLoss(
        rp, rp_base, document_regularizer_weight=3e-3, query_regularizer_weight=5e-3
    )
    st_loss = st_losses.SpladeLoss(
        st, st_base, document_regularizer_weight=3e-3, query_regularizer_weight=5e-3
    )
    rp_out, _ = run_parity(rp, st, rp_loss, st_loss, columns, labels)
    assert rp_out["base_loss"].item() != 0


def test_wrapper_inside_csr_matches(csr_pair):
    rp, st = csr_pair
    rp_loss = rp_losses.CSRLoss(rp, loss=rp_losses.SparseCoSENTLoss(rp), gamma=0.5)
    st_loss = st_losses.CSRLoss(st, loss=st_losses.SparseCoSENTLoss(st), gamma=0.5)
    run_parity(rp, st, rp_loss, st_loss, [QUERIES, POSITIVES], PAIR_SCORES)


def test_sparse_mse_standalone_matches(splade_pair):
    rp, st = splade_pair
    with torch.no_grad():
        teacher = st(tokenize(st, QUERIES))["sentence_embedding"].flip(1) * 0.5
    run_parity(
        rp, st, rp_losses.SparseMSELoss(rp), st_losses.SparseMSELoss(st), [QUERIES, POSITIVES], teacher
    )


def test_sparse_mse_inside_splade(splade_pair):
    """Regularizer terms match sentence-transformers; the base term is checked against the formula instead.

    sentence-transformers 6.2 passes SpladeLoss's (B, V) label tensor straight to MSELoss's
    compute_loss_from_embeddings, which zips it with the columns, so column c is compared with teacher *row* c
    (broadcast). raypipe compares every column with the full (B, V) teacher, as the standalone loss does.
    """
    rp, st = splade_pair
    with torch.no_grad():
        teacher = st(tokenize(st, QUERIES))["sentence_embedding"].flip(1) * 0.5
    columns = [QUERIES, POSITIVES]
    rp_out = rp_losses.SpladeLoss(rp, rp_losses.SparseMSELoss(rp), 1e-3, 2e-3)(
        [tokenize(rp, c) for c in columns], teacher
    )
    st_out = st_losses.SpladeLoss(st, st_losses.SparseMSELoss(st), 1e-3, 2e-3)(
        [tokenize(st, c) for c in columns], teacher
    )
    for key in ("document_regularizer_loss", "query_regularizer_loss"):
        torch.testing.assert_close(rp_out[key], st_out[key], rtol=1e-5, atol=0)
    with torch.no_grad():
        emb = [rp(tokenize(rp, c))["sentence_embedding"] for c in columns]
    expected = torch.stack([torch.nn.functional.mse_loss(e, teacher) for e in emb]).mean()
    torch.testing.assert_close(rp_out["base_loss"], expected, rtol=1e-5, atol=0)
    st_row_zip = torch.stack(
        [torch.nn.functional.mse_loss(e, teacher[i].expand_as(e)) for i, e in enumerate(emb)]
    )
    torch.testing.assert_close(st_out["base_loss"], st_row_zip.mean(), rtol=1e-5, atol=0)


WRAPPERS = [
    "SparseMultipleNegativesRankingLoss",
    "SparseMarginMSELoss",
    "SparseDistillKLDivLoss",
    "SparseTripletLoss",
    "SparseCosineSimilarityLoss",
    "SparseCoSENTLoss",
    "SparseAnglELoss",
]


@pytest.mark.parametrize("cls", WRAPPERS)
def test_standalone_forward_raises(cls):
    loss = getattr(rp_losses, cls)(None)
    features = [{"input_ids": torch.ones(2, 3, dtype=torch.long)}] * 3
    with pytest.raises(
        SparseLossUsageError, match="should not be used alone. Use it with SpladeLoss or CSRLoss"
    ):
        loss(features, torch.zeros(2))
    with pytest.raises(AttributeError):  # the exception type sentence-transformers raises here
        loss(features, torch.zeros(2))
    req = loss.input_requirements()
    assert req.loss_name == cls and req.model_kinds == ("sparse",) and "SpladeLoss" in req.notes
    assert loss.citation


@pytest.mark.parametrize("cls", WRAPPERS + ["SparseMSELoss"])
def test_defaults_and_config_match_sentence_transformers(splade_pair, cls):
    rp, st = splade_pair
    ours, theirs = getattr(rp_losses, cls)(rp), getattr(st_losses, cls)(st)
    ours_cfg, theirs_cfg = ours.get_config_dict(), theirs.get_config_dict()
    assert set(ours_cfg) == set(theirs_cfg), (ours_cfg, theirs_cfg)
    for key, value in theirs_cfg.items():
        if isinstance(value, (int, float, str, bool, type(None))):
            assert ours_cfg[key] == value, key


def test_cosine_losses_switch_the_model_to_cosine(tiny_mlm_dir):
    import raypipe

    model = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    assert model.similarity_fn_name == "dot"
    rp_losses.SparseCoSENTLoss(model)
    assert model.similarity_fn_name == "cosine"


def test_sparse_mse_is_standalone():
    req = rp_losses.SparseMSELoss(None).input_requirements()
    assert req.model_kinds == ("sparse",) and "SpladeLoss" not in req.notes
    assert req.label == "required"


def test_sparse_defaults():
    assert rp_losses.SparseMultipleNegativesRankingLoss(None).scale == 1.0
    assert rp_losses.SparseDistillKLDivLoss(None).get_config_dict()["temperature"] == 2.0
