"""encode/predict behaviour: prompts, batching order, output conversions, similarity, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import raypipe
from raypipe.models import Normalize, Pooling, Transformer
from tests.models.conftest import PAIRS, TEXTS, max_abs


@pytest.fixture(scope="module")
def dense(tiny_bert_dir):
    return raypipe.SentenceTransformer(tiny_bert_dir, device="cpu", prompts={"query": "query: "})


def test_length_sorted_batches_restore_order(dense):
    batched = dense.encode(TEXTS, batch_size=2)
    one_by_one = np.stack([dense.encode(t) for t in TEXTS])
    assert max_abs(batched, one_by_one) < 1e-5


def test_max_batch_tokens_caps_padded_tokens_and_keeps_the_embeddings(dense):
    from raypipe.models.base import length_sorted_batches

    lengths = [40, 5, 30, 10, 10, 3, 2, 1]
    batches = list(length_sorted_batches(lengths, batch_size=4, max_batch_tokens=60))
    assert [len(b) for b in batches] == [1, 2, 4, 1]  # 40 alone; 30+10; 10,5,3,2 (4 x 10 <= 60); 1
    assert all(len(b) * max(lengths[i] for i in b) <= 60 or len(b) == 1 for b in batches)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert [len(b) for b in length_sorted_batches(lengths, 4, max_batch_tokens=1)] == [1] * 8  # always >= 1 row
    with pytest.raises(ValueError, match="max_batch_tokens=0"):
        list(length_sorted_batches(lengths, 4, max_batch_tokens=0))
    capped = dense.encode(TEXTS, batch_size=4, max_batch_tokens=8)
    assert max_abs(capped, dense.encode(TEXTS, batch_size=4)) < 1e-5


def test_tokenizer_slices_by_characters_and_gives_the_same_ids(dense, monkeypatch):
    from raypipe.models import text_tokenizer
    from raypipe.models.text_tokenizer import char_slices

    assert list(char_slices(["aaa", "bb", "c", "dddddd", "e"], 4)) == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert list(char_slices([("ab", "cd"), ("e", "f")], 4)) == [(0, 1), (1, 2)]  # a pair counts both sides
    assert list(char_slices([], 4)) == []
    tok = dense.text_tokenizer()
    whole, pairs = tok(TEXTS), tok(PAIRS)
    monkeypatch.setattr(text_tokenizer, "SLICE_CHARS", 10)  # one text per tokenizer call
    assert tok(TEXTS) == whole and tok(PAIRS) == pairs
    assert tok([])["input_ids"] == []


def test_output_conversions(dense):
    assert dense.encode(TEXTS[0]).shape == (32,)
    assert isinstance(dense.encode(TEXTS, convert_to_tensor=True), torch.Tensor)
    as_list = dense.encode(TEXTS, convert_to_numpy=False)
    assert isinstance(as_list, list) and as_list[0].shape == (32,)
    assert dense.encode(TEXTS, truncate_dim=8).shape == (5, 8)
    normed = dense.encode(TEXTS, normalize_embeddings=True)
    assert np.allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    tokens = dense.encode(TEXTS[:2], output_value="token_embeddings")
    assert tokens[0].shape[1] == 32 and tokens[1].shape[0] < tokens[0].shape[0] + 50
    everything = dense.encode(TEXTS[:2], output_value=None)
    assert torch.allclose(everything[1]["sentence_embedding"], dense.encode(TEXTS[1], convert_to_tensor=True))


def test_empty_input_has_right_shape(dense, tiny_cls_dir, tiny_mlm_dir):
    assert dense.encode([]).shape == (0, 32)
    assert dense.encode([], convert_to_tensor=True).shape == (0, 32)
    assert raypipe.CrossEncoder(tiny_cls_dir, device="cpu").predict([]).shape == (0,)
    assert raypipe.SparseEncoder(tiny_mlm_dir, device="cpu").encode([]).shape[0] == 0


def test_prompts_match_st(st, tiny_bert_dir, dense):
    theirs = st.SentenceTransformer(tiny_bert_dir, device="cpu", prompts={"query": "query: "})
    assert max_abs(dense.encode_query(TEXTS), theirs.encode_query(TEXTS)) < 1e-5
    assert max_abs(dense.encode(TEXTS, prompt="x: "), theirs.encode(TEXTS, prompt="x: ")) < 1e-5
    assert max_abs(dense.encode_document(TEXTS), theirs.encode_document(TEXTS)) < 1e-5


@pytest.mark.parametrize("mode", ["mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken", "cls"])
def test_pooling_modes_and_include_prompt_match_st(st, tiny_bert_dir, mode):
    import sentence_transformers.models as m

    ours = raypipe.SentenceTransformer(
        modules=[Transformer(tiny_bert_dir), Pooling(32, mode, include_prompt=False), Normalize()], device="cpu")
    theirs = st.SentenceTransformer(
        modules=[m.Transformer(tiny_bert_dir), m.Pooling(32, mode, include_prompt=False), m.Normalize()],
        device="cpu")
    assert max_abs(ours.encode(TEXTS, prompt="query: "), theirs.encode(TEXTS, prompt="query: ")) < 1e-5


def test_similarity_functions(dense):
    emb = dense.encode(TEXTS[:3])
    for name in ("cosine", "dot", "euclidean", "manhattan"):
        dense.similarity_fn_name = name
        full = dense.similarity(emb, emb)
        assert full.shape == (3, 3)
        assert torch.allclose(dense.similarity_pairwise(emb, emb), torch.diagonal(full), atol=1e-5)
    dense.similarity_fn_name = "cosine"
    with pytest.raises(ValueError, match="allowed: cosine, dot, euclidean, manhattan"):
        dense.similarity_fn_name = "jaccard"


def test_cross_predict_rank_and_softmax(tiny_cls_dir, tiny_cls3_dir):
    ce = raypipe.CrossEncoder(tiny_cls_dir, device="cpu", max_length=16)
    scores = ce.predict(PAIRS)
    assert scores.shape == (3,) and ((scores > 0) & (scores < 1)).all()
    ranked = ce.rank(TEXTS[0], TEXTS, top_k=2, return_documents=True)
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"] and "text" in ranked[0]
    ce3 = raypipe.CrossEncoder(tiny_cls3_dir, device="cpu")
    probs = ce3.predict(PAIRS, apply_softmax=True)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert isinstance(ce3.activation_fn, torch.nn.Identity)


def test_sparse_encode_decode_sparsity(tiny_mlm_dir):
    se = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    emb = se.encode(TEXTS)
    assert emb.is_sparse and emb.shape == (5, se.get_sentence_embedding_dimension())
    capped = se.encode(TEXTS, max_active_dims=4)
    assert se.sparsity(capped)["active_dims"] <= 4
    decoded = se.decode(capped[0], top_k=3)
    assert len(decoded) == 3 and all(isinstance(t, str) for t, _ in decoded)
    assert decoded[0][1] >= decoded[-1][1]
    dense = se.encode(TEXTS, convert_to_sparse_tensor=False)
    assert not dense.is_sparse and torch.allclose(dense, emb.to_dense())
    assert se.similarity(emb, emb).shape == (5, 5)


# ---- clear errors ----------------------------------------------------------------------------------------
def test_missing_path_error():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        raypipe.SentenceTransformer("/no/such/model")


def test_neither_format_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="neither a sentence-transformers model folder"):
        raypipe.SentenceTransformer(str(tmp_path))


def test_unknown_pooling_mode():
    with pytest.raises(ValueError, match="pooling_mode='avg' is not supported; allowed: cls, mean"):
        Pooling(32, "avg")


def test_unknown_activation():
    from raypipe.models.layers import activation_from_name

    with pytest.raises(ValueError, match="only torch.nn activation classes"):
        activation_from_name("os.system")
    from raypipe.models import SpladePooling

    with pytest.raises(ValueError, match="activation_function='gelu'"):
        SpladePooling(activation_function="gelu")


def test_non_string_inputs_name_index_and_type(dense, tiny_cls_dir):
    with pytest.raises(ValueError, match=r"sentences\[1\] is NoneType"):
        dense.encode(["ok", None])
    with pytest.raises(ValueError, match=r"sentences\[0\]\[1\] is int"):
        raypipe.CrossEncoder(tiny_cls_dir, device="cpu").predict([("a", 3)])


def test_unknown_prompt_name(dense):
    with pytest.raises(ValueError, match="prompt_name='nope' is not in the model's prompts"):
        dense.encode(["a"], prompt_name="nope")


def test_unknown_module_type_is_not_imported(tiny_bert_dir, tmp_path):
    import json

    raypipe.SentenceTransformer(tiny_bert_dir, device="cpu").save(str(tmp_path / "m"))
    mods = json.loads((tmp_path / "m" / "modules.json").read_text())
    mods[1]["type"] = "evil.module.Backdoor"
    (tmp_path / "m" / "modules.json").write_text(json.dumps(mods))
    with pytest.raises(ValueError, match="module type 'evil.module.Backdoor'"):
        raypipe.SentenceTransformer(str(tmp_path / "m"))
