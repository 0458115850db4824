"""Query shards give the same output as one shard; the merge buffers only the shards in flight; compute_dtype in
mining (cache key, closeness to float32); progress bars can be turned off. Local executor, no Ray."""

from __future__ import annotations

import numpy as np
import pytest

from raypipe.mining import IndexSpec, MiningOptions, mine
from raypipe.mining.embed import EmbeddingShards
from raypipe.mining.search import ShardResult, search_query_shards
from tests.mining.conftest import load_model


def _opts(**kw):
    return MiningOptions(**{"verbose": False, "progress": False, "executor": "local", "shard_size": 70, **kw})


@pytest.mark.parametrize("kw", [dict(output_format="n-tuple", output_scores=True, relative_margin=0.0),
                                dict(output_format="labeled-list", index=IndexSpec(kind="ivf", nlist=2), shard_size=100),
                                dict(sampling_strategy="random", range_max=15, output_format="triplet")])
def test_query_shards_give_the_same_output(kw, sample_pairs, sample_corpus, rp_model, tmp_path):
    # batch_size=1: every text's embedding is then independent of which shard (and batch) it was encoded in, so the
    # outputs must be identical, bit for bit
    kw = dict(batch_size=1, **kw)
    one = mine(sample_pairs, rp_model, corpus=sample_corpus, options=_opts(**kw), cache_dir=str(tmp_path / "a"))
    many = mine(sample_pairs, rp_model, corpus=sample_corpus, options=_opts(query_shard_size=23, query_batch_size=7,
                                                                              **kw), cache_dir=str(tmp_path / "b"))
    assert many.info["query_shards"] == 6 and one.info["query_shards"] == 1
    assert many.table.equals(one.table) and many.stats == one.stats and many.stats_text == one.stats_text
    if kw.get("index"):  # the approximate index was built once per corpus shard and reused by later query shards
        ivf = [f for f in many.info["factories"] if f != "Flat"]  # shards of < 78 rows are searched exactly
        assert ivf and len(list((tmp_path / "b").glob("document-*.faiss"))) == len(ivf) // 6


def test_query_shards_with_cross_encoder_rescoring(sample_pairs, sample_corpus, rp_model, tiny_cls_dir, tmp_path):
    ce = load_model(tiny_cls_dir, "CrossEncoder")
    pairs = {k: v[:50] for k, v in sample_pairs.items()}
    kw = dict(output_format="n-tuple", output_scores=True, num_negatives=2, range_max=8, batch_size=1)
    one = mine(pairs, rp_model, corpus=sample_corpus[:60], cross_encoder=ce, options=_opts(**kw))
    many = mine(pairs, rp_model, corpus=sample_corpus[:60], cross_encoder=ce,
                options=_opts(query_shard_size=9, **kw))
    assert many.table.equals(one.table)


class _ReverseRunner:
    """Finishes the tasks in reverse order, so every query shard but the last waits in the merge buffer."""

    def search(self, tasks):
        n = 4
        for i in reversed(range(len(tasks))):
            t = tasks[i]
            yield i, ShardResult(np.full((n, 2), float(t.corpus_start), np.float32),
                                 np.tile(np.array([t.corpus_start, t.corpus_start + 1]), (n, 1)),
                                 np.zeros(0, np.int64), np.zeros(0, np.float32), "Flat", 0.0)


def test_query_shards_are_yielded_in_order_once_complete():
    q = EmbeddingShards(["q0", "q1", "q2"], [0, 4, 8], [4, 8, 12], sparse=False)
    c = EmbeddingShards(["c0", "c1"], [0, 10], [10, 20], sparse=False)
    got = list(search_query_shards(q, c, 2, IndexSpec(), _ReverseRunner()))
    assert [g[0] for g in got] == [0, 1, 2]
    assert all((g[2] == [10, 11]).all() for g in got)  # merged: corpus shard 1 scores higher in this fake


def test_bfloat16_mining_is_cached_apart_and_close(sample_pairs, sample_corpus, rp_model, tmp_path):
    kw = dict(output_format="n-tuple", num_negatives=3)
    f32 = mine(sample_pairs, rp_model, corpus=sample_corpus, options=_opts(**kw), cache_dir=str(tmp_path))
    bf16 = mine(sample_pairs, rp_model, corpus=sample_corpus, options=_opts(compute_dtype="bfloat16", **kw),
                cache_dir=str(tmp_path))
    assert bf16.info["embedded_documents"] == f32.info["documents"]  # not served from the float32 cache
    again = mine(sample_pairs, rp_model, corpus=sample_corpus, options=_opts(**kw), cache_dir=str(tmp_path))
    assert again.info["embedded_documents"] == 0 and again.table.equals(f32.table)

    def negatives(r):
        cols = [c for c in r.table.column_names if c.startswith("negative_")]
        return [set(row) for row in zip(*(r.table.column(c).to_pylist() for c in cols))]

    overlap = np.mean([len(a & b) / 3 for a, b in zip(negatives(f32), negatives(bf16))])
    assert overlap > 0.6  # a tiny random model: near-tied scores; the Debian figure is in the README



@pytest.mark.parametrize("pays_off", [True, False])
def test_auto_shares_the_cache_of_the_dtype_it_means(monkeypatch, pays_off, sample_pairs, sample_corpus, rp_model,
                                                     tmp_path):
    from raypipe.mining.embed import cache_dtype
    from raypipe.models import precision

    monkeypatch.setattr(precision, "cpu_bf16_pays_off", lambda: pays_off)
    meant = "bfloat16" if pays_off else "float32"
    assert cache_dtype("auto", gpu=False) == meant and cache_dtype("auto", gpu=True) == "auto"
    assert cache_dtype("float32", gpu=False) == "float32" and cache_dtype("bfloat16", gpu=True) == "bfloat16"
    pairs = {k: v[:20] for k, v in sample_pairs.items()}
    mine(pairs, rp_model, corpus=sample_corpus[:30], options=_opts(compute_dtype=meant), cache_dir=str(tmp_path))
    auto = mine(pairs, rp_model, corpus=sample_corpus[:30], options=_opts(compute_dtype="auto"),
                cache_dir=str(tmp_path))
    assert auto.info["embedded_documents"] == 0  # served from the cache of the dtype `auto` resolves to here


def test_progress_bars_can_be_turned_off(sample_pairs, sample_corpus, rp_model, tmp_path, capsys):
    pairs = {k: v[:20] for k, v in sample_pairs.items()}
    mine(pairs, rp_model, corpus=sample_corpus[:30], options=_opts(), cache_dir=str(tmp_path / "off"))
    assert capsys.readouterr().err == ""
    mine(pairs, rp_model, corpus=sample_corpus[:30], options=_opts().model_copy(update={"progress": True}),
         cache_dir=str(tmp_path / "on"))
    err = capsys.readouterr().err
    assert "embed" in err and "text" in err and "search" in err and "shard" in err


def test_mine_hard_negatives_progress_follows_verbose(sample_pairs, sample_corpus, rp_model, capsys):
    from raypipe.mining import mine_hard_negatives

    pairs = {k: v[:10] for k, v in sample_pairs.items()}
    import datasets

    mine_hard_negatives(datasets.Dataset.from_dict(pairs), rp_model, corpus=sample_corpus[:20], verbose=False)
    assert capsys.readouterr().err == ""
