"""compute_dtype (forward-pass precision) on encode / predict, the separate tokenization path (text_tokenizer ->
encode_tokenized) and LazyModel; all on the tiny random checkpoints, no Ray."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import raypipe
from raypipe.models.lazy import LazyModel
from raypipe.models.precision import cpu_bf16_pays_off, resolve_compute_dtype
from raypipe.models.text_tokenizer import load_text_tokenizer
from tests.models.conftest import PAIRS, TEXTS


@pytest.fixture(scope="module")
def dense(tiny_bert_dir):
    return raypipe.SentenceTransformer(tiny_bert_dir, device="cpu", prompts={"query": "query: "})


def _cos(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_bfloat16_is_close_to_float32_and_returns_float32(dense, tiny_cls_dir, tiny_mlm_dir):
    ref = dense.encode(TEXTS)
    low = dense.encode(TEXTS, compute_dtype="bfloat16")
    assert low.dtype == np.float32 and _cos(ref, low).min() > 0.99 and not np.array_equal(ref, low)
    assert np.array_equal(dense.encode(TEXTS, compute_dtype="float32"), ref)  # float32: exactly as before
    ce = raypipe.CrossEncoder(tiny_cls_dir, device="cpu")
    s32, s16 = ce.predict(PAIRS), ce.predict(PAIRS, compute_dtype="bfloat16")
    assert s16.dtype == np.float32 and np.abs(s32 - s16).max() < 0.02
    sparse = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    e32 = sparse.encode(TEXTS, convert_to_sparse_tensor=False).numpy()
    e16 = sparse.encode(TEXTS, convert_to_sparse_tensor=False, compute_dtype="bfloat16").numpy()
    assert e16.dtype == np.float32 and _cos(e32, e16).min() > 0.98


def test_auto_resolves_per_device():
    assert resolve_compute_dtype("auto", "cpu") == (torch.bfloat16 if cpu_bf16_pays_off() else torch.float32)
    assert resolve_compute_dtype("float32", "cpu") == torch.float32


@pytest.mark.parametrize("amx,avx512_bf16,speedup,expected", [
    (True, True, 0.6, True),     # AMX: bf16 always pays off
    (False, True, 2.0, True),    # AVX512-BF16 where the probe finds bf16 faster
    (False, True, 0.6, False),   # AVX512-BF16 where bf16 is slower (measured here: 0.6-0.7x)
    (False, False, 2.0, False),  # no bf16 instructions: never
])
def test_auto_picks_bf16_on_a_cpu_only_where_it_is_faster(monkeypatch, amx, avx512_bf16, speedup, expected):
    from raypipe.models import precision

    flags = {"amx_bf16": amx, "avx512_bf16": avx512_bf16}
    monkeypatch.setattr(precision, "_cpu_flag", lambda probe, flag: flags[flag])
    monkeypatch.setattr(precision, "_bf16_autocast_speedup", lambda: speedup)
    precision.cpu_bf16_pays_off.cache_clear()
    try:
        assert precision.cpu_bf16_pays_off() is expected
        assert resolve_compute_dtype("auto", "cpu") == (torch.bfloat16 if expected else torch.float32)
    finally:
        precision.cpu_bf16_pays_off.cache_clear()


def test_bf16_probe_measures_a_ratio():
    from raypipe.models.precision import _bf16_autocast_speedup

    assert 0.05 < _bf16_autocast_speedup(reps=2) < 50


@pytest.mark.parametrize("value,match", [("fp8", "compute_dtype='fp8' is not a compute dtype; allowed"),
                                         ("float16", "not supported on the CPU")])
def test_bad_compute_dtype_fails_before_compute(dense, tiny_cls_dir, value, match):
    with pytest.raises(ValueError, match=match):
        dense.encode(TEXTS, compute_dtype=value)
    with pytest.raises(ValueError, match=match):
        raypipe.CrossEncoder(tiny_cls_dir, device="cpu").predict(PAIRS, compute_dtype=value)


def test_precision_keeps_its_quantization_meaning(dense):
    with pytest.raises(ValueError, match="precision='int8'.*compute_dtype"):
        dense.encode(TEXTS, precision="int8")


def test_encode_tokenized_equals_encode(dense, tiny_mlm_dir):
    tok = dense.text_tokenizer()
    ids, plen = tok.encode_role(TEXTS, "query")
    assert plen == dense.prompt_length("query: ")
    got = dense.encode_tokenized(ids, batch_size=2, prompt_length=plen, normalize_embeddings=True)
    assert np.array_equal(got, dense.encode_query(TEXTS, batch_size=2, normalize_embeddings=True))
    ids, plen = tok.encode_role(TEXTS, "document")
    assert plen is None and np.array_equal(dense.encode_tokenized(ids), dense.encode_document(TEXTS))
    sparse = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    ids, _ = sparse.text_tokenizer().encode_role(TEXTS, "document")
    assert torch.equal(sparse.encode_tokenized(ids).to_dense(), sparse.encode_document(TEXTS).to_dense())


def test_text_tokenizer_from_a_folder_matches_the_loaded_model(tiny_bert_dir, tmp_path):
    model = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu", prompts={"query": "query: "})
    model.max_seq_length = 16
    model[0].do_lower_case = True
    model.save(str(tmp_path / "m"))
    loaded = raypipe.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    from_folder = load_text_tokenizer(str(tmp_path / "m"))
    assert (from_folder.max_seq_length, from_folder.do_lower_case, from_folder.prompts["query"]) == (16, True,
                                                                                                     "query: ")
    for role in ("query", "document"):
        assert from_folder.encode_role(TEXTS, role) == loaded.text_tokenizer().encode_role(TEXTS, role)


def test_lazy_model_fingerprint_and_load(tiny_bert_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert_dir, copy)
    lazy = LazyModel(str(copy), "dense", device="cpu")
    fp = lazy.fingerprint()
    assert fp == LazyModel(str(copy), "dense").fingerprint() and lazy.load() is lazy.load()
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    assert LazyModel(str(copy), "dense").fingerprint() != fp
    with pytest.raises(ValueError, match="kind='bogus'"):
        LazyModel(str(copy), "bogus")
    with pytest.raises(ValueError, match="not a model folder"):
        LazyModel(str(tmp_path / "missing"))


def test_loaded_model_fingerprint_follows_max_seq_length(tiny_bert_dir):
    """Same weights, another truncation length: other embeddings, so another embedding-cache key."""
    from raypipe import SentenceTransformer
    from raypipe.mining.embed import model_fingerprint

    model = SentenceTransformer(str(tiny_bert_dir))
    fp = model_fingerprint(model)
    assert model_fingerprint(SentenceTransformer(str(tiny_bert_dir))) == fp
    model.max_seq_length = 8
    assert model_fingerprint(model) != fp
