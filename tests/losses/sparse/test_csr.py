"""CSRLoss / CSRReconstructionLoss: every term and the gradients match sentence-transformers on a CSR checkpoint
(tiny BERT + mean Pooling + SparseAutoEncoder saved by sentence-transformers, loaded by both libraries)."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sparse_encoder import losses as st_losses
from sentence_transformers.sparse_encoder.losses.csr import normalized_mean_squared_error

from raypipe.losses.sparse import (
    CSRLoss,
    CSRReconstructionLoss,
    SparseLossUsageError,
    SparseMultipleNegativesRankingLoss,
)
from raypipe.losses.sparse.csr_reconstruction import normalized_mse
from tests.losses.sparse._parity import NEGATIVES, POSITIVES, QUERIES, run_parity, tokenize

CSR_TERMS = {"reconstruction_loss_k", "reconstruction_loss_4k", "reconstruction_loss_aux", "base_loss"}


@pytest.mark.parametrize(("beta", "gamma"), [(0.1, 1.0), (0.5, 2.0)])
def test_csr_default_loss_matches(csr_pair, beta, gamma):
    rp, st = csr_pair
    rp_out, _ = run_parity(
        rp,
        st,
        CSRLoss(rp, beta=beta, gamma=gamma),
        st_losses.CSRLoss(st, beta=beta, gamma=gamma),
        [QUERIES, POSITIVES, NEGATIVES],
    )
    assert set(rp_out) == CSR_TERMS


def test_csr_with_explicit_base_loss_matches(csr_pair):
    rp, st = csr_pair
    rp_loss = CSRLoss(rp, loss=SparseMultipleNegativesRankingLoss(rp, scale=5.0), beta=0.2)
    st_loss = st_losses.CSRLoss(
        st, loss=st_losses.SparseMultipleNegativesRankingLoss(st, scale=5.0), beta=0.2
    )
    run_parity(rp, st, rp_loss, st_loss, [QUERIES, POSITIVES])


def test_reconstruction_terms_match_on_shared_outputs(csr_dead_pair):
    """Same model outputs into both implementations; dead latents make L_aux carry gradient into the encoder."""
    rp, _ = csr_dead_pair
    outputs = [rp(tokenize(rp, c)) for c in (QUERIES, POSITIVES)]
    ours = CSRReconstructionLoss(rp, beta=0.3).compute_loss_from_embeddings(outputs)
    theirs = st_losses.CSRReconstructionLoss(None, beta=0.3).compute_loss_from_embeddings(outputs)
    assert set(ours) == set(theirs)
    for key in theirs:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-6, atol=0)
    assert all(v.item() > 0 for v in ours.values())
    weight = rp[2].encoder.weight
    g_ours = torch.autograd.grad(ours["reconstruction_loss_aux"], weight, retain_graph=True)[0]
    g_theirs = torch.autograd.grad(theirs["reconstruction_loss_aux"], weight)[0]
    assert g_ours.abs().sum() > 0
    torch.testing.assert_close(g_ours, g_theirs)


def test_csr_matches_with_dead_latents(csr_dead_pair):
    rp, st = csr_dead_pair
    run_parity(rp, st, CSRLoss(rp), st_losses.CSRLoss(st), [QUERIES, POSITIVES, NEGATIVES])


def test_normalized_mse_edge_cases():
    x = torch.randn(5, 8)
    r = torch.randn(5, 8)
    torch.testing.assert_close(normalized_mse(r, x), normalized_mean_squared_error(r, x))
    same = torch.ones(4, 3) * 0.1  # zero variance -> plain MSE
    torch.testing.assert_close(normalized_mse(r[:4, :3], same), torch.nn.functional.mse_loss(r[:4, :3], same))
    torch.testing.assert_close(
        normalized_mse(r[:4, :3], same), normalized_mean_squared_error(r[:4, :3], same)
    )


def test_reconstruction_loss_errors():
    loss = CSRReconstructionLoss(None)
    with pytest.raises(SparseLossUsageError, match="CSRLoss"):
        loss([{}])
    with pytest.raises(ValueError, match="SparseAutoEncoder"):
        loss.compute_loss_from_embeddings([{"sentence_embedding": torch.rand(2, 4)}])
    with pytest.raises(ValueError, match="compute_loss_from_embeddings"):
        CSRLoss(None, loss=torch.nn.MSELoss())


def test_csr_config_and_requirements():
    loss = CSRLoss(None)
    assert loss.get_config_dict() == {"beta": 0.1, "gamma": 1.0, "loss": "SparseMultipleNegativesRankingLoss"}
    assert loss.reconstruction_loss.beta == 0.1
    req = loss.input_requirements()
    assert req.loss_name == "CSRLoss(SparseMultipleNegativesRankingLoss)" and req.min_inputs == 2
    assert "wen2025" in loss.citation
