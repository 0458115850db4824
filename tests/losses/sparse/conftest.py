"""Fixtures for the sparse-loss parity tests: one checkpoint directory per model kind, loaded by raypipe (code under
test) and by sentence-transformers (the oracle)."""

from __future__ import annotations

import pytest
import torch


def _build_csr(tiny_bert_dir: str, path, dead_latents: bool) -> str:
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    torch.manual_seed(0)
    sae = SparseAutoEncoder(32, hidden_dim=64, k=4, k_aux=16)
    with torch.no_grad():  # non-zero biases so that the bias paths are exercised
        sae.pre_bias.normal_(std=0.05)
        sae.latent_bias.normal_(std=0.05)
        if dead_latents:
            # Half of the latents "dead" (inactive for > dead_threshold steps): the auxiliary top-k and its
            # reconstruction term L_aux then get real, non-zero inputs and gradients.
            sae.stats_last_nonzero[::2] = 100
    model = SparseEncoder(modules=[Transformer(tiny_bert_dir), Pooling(32, "mean"), sae], device="cpu")
    model.save(str(path))
    return str(path)


@pytest.fixture(scope="session")
def csr_dir(tiny_bert_dir, tmp_path_factory):
    """Tiny BERT + Pooling(mean) + SparseAutoEncoder(32 -> 64, k=4, k_aux=16), saved by sentence-transformers."""
    return _build_csr(tiny_bert_dir, tmp_path_factory.mktemp("tiny_csr"), dead_latents=False)


@pytest.fixture(scope="session")
def csr_dead_dir(tiny_bert_dir, tmp_path_factory):
    """The same CSR model with half of its latents marked dead (exercises the auxiliary loss)."""
    return _build_csr(tiny_bert_dir, tmp_path_factory.mktemp("tiny_csr_dead"), dead_latents=True)


def load_pair(path: str):
    """(raypipe model, sentence-transformers model) from one directory, both in train mode on CPU."""
    from sentence_transformers.sparse_encoder import SparseEncoder as STSparseEncoder

    import raypipe

    rp = raypipe.SparseEncoder(path, device="cpu")
    st = STSparseEncoder(path, device="cpu")
    rp.train()
    st.train()
    return rp, st


@pytest.fixture()
def splade_pair(tiny_mlm_dir):
    return load_pair(tiny_mlm_dir)


@pytest.fixture()
def csr_pair(csr_dir):
    return load_pair(csr_dir)


@pytest.fixture()
def csr_dead_pair(csr_dead_dir):
    return load_pair(csr_dead_dir)
