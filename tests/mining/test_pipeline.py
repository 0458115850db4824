"""The pipeline on the tiny model, local executor: caching and resume, validation before embedding, parquet output,
seeded random sampling, sparse models, cross-encoder rescoring."""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa
import pytest

from raypipe.mining import MiningOptions, mine, mine_hard_negatives
from tests.mining.conftest import load_model
from tests.mining.test_parity import assert_same_rows


class CountingModel:
    """Delegates to a model, counts encoded texts, optionally fails after `fail_after` encode calls."""

    def __init__(self, model, fail_after: int | None = None):
        self.model, self.fail_after, self.calls, self.texts = model, fail_after, 0, 0

    def named_parameters(self):
        return self.model.named_parameters()

    def _enc(self, fn, texts, **kw):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.texts += len(texts)
        return fn(texts, **kw)

    def encode_query(self, texts, **kw):
        return self._enc(self.model.encode_query, texts, **kw)

    def encode_document(self, texts, **kw):
        return self._enc(self.model.encode_document, texts, **kw)


def _opts(**kw):
    return MiningOptions(verbose=False, shard_size=50, **kw)


def test_cache_reused_and_interrupted_run_resumes(sample_pairs, sample_corpus, rp_model, tmp_path):
    crashing = CountingModel(rp_model, fail_after=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        mine(sample_pairs, crashing, corpus=sample_corpus, options=_opts(), cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("document-*.parquet"))) == 2 and not list(tmp_path.glob("*.tmp-*"))
    resumed = CountingModel(rp_model)
    r1 = mine(sample_pairs, resumed, corpus=sample_corpus, options=_opts(), cache_dir=str(tmp_path))
    n_docs = r1.info["documents"]
    assert r1.info["embedded_documents"] == n_docs - 100  # the 2 finished shards were reused
    again = CountingModel(rp_model)
    r2 = mine(sample_pairs, again, corpus=sample_corpus, options=_opts(), cache_dir=str(tmp_path))
    assert again.texts == 0 and r2.info["embedded_documents"] == 0 and r2.info["embedded_queries"] == 0
    assert r1.table.equals(r2.table)
    # a different prompt is a different cache key
    r3 = mine(sample_pairs, again, corpus=sample_corpus, options=_opts(query_prompt="query: "),
              cache_dir=str(tmp_path))
    assert r3.info["embedded_queries"] == 120 and r3.info["embedded_documents"] == 0


class NoEncode:
    def encode_query(self, *a, **k):
        raise AssertionError("embedding started before validation")

    encode_document = encode_query


@pytest.mark.parametrize("data,kw,match", [
    ({"query": ["a"], "positive": ["b"]}, dict(positive_column_name="pos"), "positive_column_name='pos'"),
    ({"query": ["a", "c"], "positive": ["b", None]}, {}, "null"),
    ({"query": ["a"], "positive": ["b"]}, dict(num_negatives=5, range_max=3), "num_negatives=5"),
    ({"query": ["a"], "positive": ["b"]}, dict(range_min=4, range_max=3), "range_min=4"),
    ({"query": ["a"], "positive": ["b"]}, dict(output_format="pairs"), "output_format"),
    ({"query": [], "positive": []}, {}, "empty"),
])
def test_bad_input_fails_before_embedding(data, kw, match):
    ds = datasets.Dataset.from_dict(data) if data["query"] else pa.table({"query": pa.array([], pa.string()),
                                                                           "positive": pa.array([], pa.string())})
    with pytest.raises(ValueError, match=match):
        mine_hard_negatives(ds, NoEncode(), verbose=False, **kw)
    with pytest.raises(ValueError, match="null"):
        mine_hard_negatives(datasets.Dataset.from_dict({"q": ["a"], "p": ["b"]}), NoEncode(), corpus=["x", None])


def test_parquet_output_and_seeded_random(sample_pairs, sample_corpus, rp_model, tmp_path, caches):
    ds = datasets.Dataset.from_dict(sample_pairs)
    kw = dict(corpus=sample_corpus, sampling_strategy="random", range_max=20, verbose=False,
              cache_folder=caches["rp"])
    a = mine_hard_negatives(ds, rp_model, seed=1, output_dir=str(tmp_path / "out"), **kw)
    b = mine_hard_negatives(ds, rp_model, seed=1, **kw)
    c = mine_hard_negatives(ds, rp_model, seed=2, **kw)
    assert a.to_list() == b.to_list() and a.to_list() != c.to_list()
    on_disk = datasets.Dataset.from_parquet(str(tmp_path / "out" / "part-*.parquet"))
    assert on_disk.to_list() == a.to_list()
    assert (tmp_path / "out" / "_mining_stats.json").exists()


def test_sparse_model_mines_by_dot_product(tiny_mlm_dir, sample_pairs, sample_corpus):
    model = load_model(tiny_mlm_dir, "SparseEncoder")
    pairs = {k: v[:40] for k, v in sample_pairs.items()}
    corpus = sample_corpus[:60]
    res = mine(pairs, model, corpus=corpus, options=_opts(output_format="n-tuple", output_scores=True,
                                                         num_negatives=2))
    out = res.table.to_pylist()
    assert out and res.info["factories"][0] == "SparseDot"
    q = model.encode_query([out[0]["query"]], convert_to_tensor=True).to_dense()
    d = model.encode_document([out[0]["negative_1"]], convert_to_tensor=True).to_dense()
    assert out[0]["scores"][1] == pytest.approx(float((q * d).sum()), rel=1e-4)


def test_cross_encoder_rescoring_matches_sentence_transformers(tiny_cls_dir, sample_pairs, sample_corpus,
                                                               rp_model, st_model, caches):
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from sentence_transformers.util import mine_hard_negatives as st_mine

    pairs = {k: v[:15] for k, v in sample_pairs.items()}
    ds = datasets.Dataset.from_dict(pairs)
    kw = dict(corpus=sample_corpus[:40], absolute_margin=0.0, output_scores=True, output_format="n-tuple",
              num_negatives=2, verbose=False)  # a margin, so sentence-transformers rescores too
    st_ce = STCrossEncoder(tiny_cls_dir, device="cpu")
    theirs = st_mine(ds, st_model, cross_encoder=st_ce, use_faiss=True,
                     cache_folder=caches["st"], **kw)
    ours = mine_hard_negatives(ds, rp_model, cross_encoder=load_model(tiny_cls_dir, "CrossEncoder"),
                               cache_folder=caches["rp"], **kw)
    assert len(ours) > 0
    assert_same_rows(theirs, ours, st_model, tol=1e-4,
                     score_fn=lambda q, d: float(st_ce.predict([(q, d)], show_progress_bar=False)[0]))
    # without any filter, raypipe still rescores (sentence-transformers would silently ignore the cross-encoder)
    plain = mine_hard_negatives(ds, rp_model, cross_encoder=load_model(tiny_cls_dir, "CrossEncoder"),
                                corpus=sample_corpus[:40], output_scores=True, verbose=False,
                                cache_folder=caches["rp"])
    assert np.all((np.array(plain["scores"]) >= 0) & (np.array(plain["scores"]) <= 1))  # sigmoid CE scores
