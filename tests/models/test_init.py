"""raypipe.models.init: building trainable models from plain checkpoints; sentence-transformers loads each result
with identical outputs; bad arguments raise ValueError naming the parameter before any weights load."""

from __future__ import annotations

import warnings

import pytest
import torch

from raypipe.models import CrossEncoder, Normalize, SparseAutoEncoder, SpladePooling
from raypipe.models.init import (
    cross_from_checkpoint,
    csr_from_dense,
    dense_from_checkpoint,
    splade_from_checkpoint,
)
from raypipe.resources import debian_sample_texts
from tests.models.conftest import PAIRS, TEXTS, max_abs


def _dense(x):
    return x.to_dense() if x.is_sparse else x


@pytest.fixture(scope="module")
def docs():
    return debian_sample_texts(48)


@pytest.fixture(scope="module")
def st_dense_dir(tiny_bert_dir, tmp_path_factory):
    """A saved SentenceTransformer folder with cls pooling and Normalize."""
    path = str(tmp_path_factory.mktemp("st_dense") / "m")
    dense_from_checkpoint(tiny_bert_dir, pooling="cls", normalize=True, device="cpu").save(path)
    return path


# ---- dense --------------------------------------------------------------------------------------------------
def test_dense_plain_checkpoint_saves_for_st(st, tiny_bert_dir, tmp_path):
    model = dense_from_checkpoint(tiny_bert_dir, pooling="max", normalize=True, max_seq_length=16, device="cpu")
    assert model[1].pooling_mode == "max" and isinstance(model[-1], Normalize) and model.max_seq_length == 16
    model.save(str(tmp_path / "m"))
    theirs = st.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert max_abs(model.encode(TEXTS), theirs.encode(TEXTS)) < 1e-5


def test_dense_st_folder_keeps_pooling_unless_asked(st_dense_dir):
    with pytest.raises(ValueError, match="pooling='mean' disagrees"):
        dense_from_checkpoint(st_dense_dir, device="cpu")  # the default "mean" vs the saved "cls"
    kept = dense_from_checkpoint(st_dense_dir, pooling=None, device="cpu")
    assert kept[1].pooling_mode == "cls" and isinstance(kept[-1], Normalize)
    plain = dense_from_checkpoint(st_dense_dir, pooling="cls", normalize=False, device="cpu")
    assert not any(isinstance(m, Normalize) for m in plain)


def test_dense_from_mlm_checkpoint_is_deterministic(tiny_mlm_dir):
    rng = torch.get_rng_state()
    a = dense_from_checkpoint(tiny_mlm_dir, device="cpu").encode(TEXTS)
    b = dense_from_checkpoint(tiny_mlm_dir, device="cpu").encode(TEXTS)
    assert max_abs(a, b) == 0.0 and torch.equal(rng, torch.get_rng_state())


# ---- cross --------------------------------------------------------------------------------------------------
def test_cross_fresh_head_seeded_and_saves_for_st(st, tiny_bert_dir, tmp_path):
    rng = torch.get_rng_state()
    model = cross_from_checkpoint(tiny_bert_dir, max_length=24, device="cpu")
    again = cross_from_checkpoint(tiny_bert_dir, max_length=24, device="cpu")
    other = cross_from_checkpoint(tiny_bert_dir, seed=1, device="cpu")
    assert torch.equal(rng, torch.get_rng_state())
    assert model.num_labels == 1 and model.max_length == 24
    assert max_abs(model.predict(PAIRS), again.predict(PAIRS)) == 0.0
    assert max_abs(model.predict(PAIRS), other.predict(PAIRS)) > 0.0
    model.save(str(tmp_path / "m"))
    assert max_abs(model.predict(PAIRS), st.CrossEncoder(str(tmp_path / "m"), device="cpu").predict(PAIRS)) < 1e-5


def test_cross_from_bi_encoder_folder_and_existing_head(st_dense_dir, tiny_cls_dir):
    assert cross_from_checkpoint(st_dense_dir, num_labels=3, device="cpu").predict(PAIRS).shape == (3, 3)
    kept = cross_from_checkpoint(tiny_cls_dir, device="cpu")
    assert max_abs(kept.predict(PAIRS), CrossEncoder(tiny_cls_dir, device="cpu").predict(PAIRS)) == 0.0
    with pytest.raises(ValueError, match="num_labels=2 does not match"):
        cross_from_checkpoint(tiny_cls_dir, num_labels=2)


# ---- SPLADE -------------------------------------------------------------------------------------------------
def test_splade_checkpoint_head_is_used_as_saved(tiny_mlm_dir):
    from raypipe.models import SparseEncoder

    model = splade_from_checkpoint(tiny_mlm_dir, device="cpu")
    assert model.init_stats == {"mlm_head": "checkpoint"} and isinstance(model[1], SpladePooling)
    plain = SparseEncoder(tiny_mlm_dir, device="cpu")
    assert max_abs(_dense(model.encode(TEXTS)), _dense(plain.encode(TEXTS))) == 0.0


def test_splade_fresh_head_warm_up_calibrates_active_dims(st, tiny_bert_dir, docs, tmp_path):
    with pytest.warns(UserWarning, match="neither warmed up nor calibrated"):
        raw = splade_from_checkpoint(tiny_bert_dir, device="cpu")
    rng = torch.get_rng_state()
    model = splade_from_checkpoint(tiny_bert_dir, warmup_texts=docs, warmup_steps=3, warmup_batch_size=8,
                                   init_active_dims=20, device="cpu")
    assert torch.equal(rng, torch.get_rng_state())
    before = raw.sparsity(raw.encode(docs))["active_dims"]
    after = model.sparsity(model.encode(docs))["active_dims"]
    assert before > 200 and 10 <= after <= 40, (before, after)  # vocab ~290 terms
    assert model.init_stats["mlm_head"] == "fresh" and model.init_stats["mlm_steps"] == 3
    model.save(str(tmp_path / "m"))
    theirs = st.SparseEncoder(str(tmp_path / "m"), device="cpu")
    assert max_abs(_dense(model.encode(TEXTS)), _dense(theirs.encode(TEXTS))) < 1e-5


def test_splade_head_choice_contradictions(tiny_bert_dir, tiny_mlm_dir, docs):
    with pytest.raises(ValueError, match="mlm_head='checkpoint' but"):
        splade_from_checkpoint(tiny_bert_dir, mlm_head="checkpoint")
    with pytest.raises(ValueError, match="warmup_texts were given with mlm_head='checkpoint'"):
        splade_from_checkpoint(tiny_mlm_dir, mlm_head="checkpoint", warmup_texts=docs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # calibration only (0 steps): a fresh head, no warning
        calibrated = splade_from_checkpoint(tiny_mlm_dir, mlm_head="fresh", warmup_texts=docs, warmup_steps=0,
                                            init_active_dims=20, device="cpu")
    assert "mlm_steps" not in calibrated.init_stats and calibrated.init_stats["calibration_active_dims"] > 0


# ---- CSR ----------------------------------------------------------------------------------------------------
def test_csr_from_path_and_model_save_for_st(st, tiny_bert_dir, tmp_path):
    model = csr_from_dense(tiny_bert_dir, k=8, k_aux=16, device="cpu")
    sae = model[-1]
    assert isinstance(sae, SparseAutoEncoder) and (sae.input_dim, sae.hidden_dim) == (32, 128)
    model.save(str(tmp_path / "m"))
    theirs = st.SparseEncoder(str(tmp_path / "m"), device="cpu")
    assert max_abs(_dense(model.encode(TEXTS)), _dense(theirs.encode(TEXTS))) < 1e-5
    dense = dense_from_checkpoint(tiny_bert_dir, device="cpu")
    from_model = csr_from_dense(dense, hidden_dim=64, k=4, k_aux=0, device="cpu")
    assert from_model[0] is not dense[0] and from_model[-1].hidden_dim == 64
    assert torch.equal(csr_from_dense(dense, hidden_dim=64, k=4, k_aux=0)[-1].encoder.weight.cpu(),
                       from_model[-1].encoder.weight)


# ---- bad arguments ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, kwargs, param", [
    (dense_from_checkpoint, {"pooling": "avg"}, "pooling"),
    (dense_from_checkpoint, {"pooling": None}, "pooling"),
    (dense_from_checkpoint, {"max_seq_length": 0}, "max_seq_length"),
    (dense_from_checkpoint, {"normalize": "yes"}, "normalize"),
    (cross_from_checkpoint, {"num_labels": 0}, "num_labels"),
    (cross_from_checkpoint, {"max_length": -1}, "max_length"),
    (splade_from_checkpoint, {"mlm_head": "new"}, "mlm_head"),
    (splade_from_checkpoint, {"warmup_texts": ["ok", None]}, r"warmup_texts\[1\]"),
    (splade_from_checkpoint, {"warmup_texts": []}, "warmup_texts"),
    (splade_from_checkpoint, {"warmup_steps": -1}, "warmup_steps"),
    (splade_from_checkpoint, {"warmup_lr": 0.0}, "warmup_lr"),
    (splade_from_checkpoint, {"warmup_batch_size": 0}, "warmup_batch_size"),
    (splade_from_checkpoint, {"init_active_dims": 10**6}, "init_active_dims"),
    (splade_from_checkpoint, {"seed": -1}, "seed"),
    (csr_from_dense, {}, "k=256 exceeds hidden_dim=128"),
    (csr_from_dense, {"k": 8, "k_aux": 0, "hidden_dim": 0}, "hidden_dim"),
    (csr_from_dense, {"k": 8, "k_aux": 200}, "k_aux"),
    (csr_from_dense, {"normalize": 1}, "normalize"),
])
def test_bad_arguments_name_the_parameter(tiny_bert_dir, fn, kwargs, param):
    with pytest.raises(ValueError, match=param):
        fn(tiny_bert_dir, **kwargs)


def test_missing_path_and_bad_model_are_clear():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dense_from_checkpoint("/nonexistent/model")
    with pytest.raises(ValueError, match="path_or_model"):
        csr_from_dense(42, k=8)


# ---- shipped tiny resources ---------------------------------------------------------------------------------
def test_shipped_tiny_models_and_labeled_pairs():
    import pyarrow.parquet as pq

    from raypipe.config.paths import resolve_path

    assert dense_from_checkpoint(resolve_path("resource:tiny/bert"), device="cpu").encode(TEXTS).shape == (5, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert splade_from_checkpoint(resolve_path("resource:tiny/bert-mlm"), device="cpu").init_stats == {
            "mlm_head": "checkpoint"}
    assert cross_from_checkpoint(resolve_path("resource:tiny/bert-cls"), device="cpu").num_labels == 1
    table = pq.read_table(resolve_path("resource:debian_sample/train-labeled-pairs.parquet"))
    assert table.column_names == ["query", "document", "label"] and table.num_rows == 400
    assert sorted(set(table.column("label").to_pylist())) == [0.0, 1.0] and sum(table.column("label").to_pylist()) == 200
