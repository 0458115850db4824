"""Unit tests of the mining stages on hand-made arrays (no model, no Ray)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raypipe.mining.filter import FilterParams, apply_filters, rank_window
from raypipe.mining.formats import Batch, build_output
from raypipe.mining.index import IndexSpec, build_index, choose_index, default_nlist
from raypipe.mining.read import prepare_input
from raypipe.mining.sample import sample_negatives
from raypipe.mining.search import _topk_dense, merge_topk
from raypipe.mining.write import AtomicParquetWriter


def test_choose_index_by_size_and_budget():
    spec = IndexSpec()
    assert choose_index(5_000, 384, spec) == "Flat"
    assert choose_index(1_000_000, 384, spec) == f"IVF{default_nlist(1_000_000)},Flat"
    small = IndexSpec(memory_budget_gb=200 / 1024)  # 1M x 384 floats = 1.5 GB does not fit 200 MiB -> PQ
    assert choose_index(1_000_000, 384, small).startswith("IVF4096,PQ")
    assert choose_index(1_000_000, 384, small).endswith("x8")
    assert choose_index(50_000, 64, IndexSpec(kind="hnsw")) == "HNSW32,Flat"
    with pytest.raises(ValueError, match="kind: Input should be .auto., .flat."):
        IndexSpec(kind="annoy")


def test_nlist_grows_with_corpus_and_keeps_39_points_per_centroid():
    assert default_nlist(59_620) == 1024
    assert default_nlist(2_000_000) == 4096
    for n in (100, 1000, 10_000):
        assert n / default_nlist(n) >= 39


@pytest.mark.parametrize("kind", ["ivf", "hnsw", "ivfpq"])
def test_approximate_indexes_recall_flat_neighbours(kind):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(50, 32))
    x = (centers[rng.integers(0, 50, 5000)] + 0.3 * rng.normal(size=(5000, 32))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:200] + 0.01
    _, exact = build_index(x, IndexSpec(kind="flat")).search(q, 10)
    _, approx = build_index(x, IndexSpec(kind=kind, pq_m=8, pq_nbits=4), k=10).search(q, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert overlap >= (0.25 if kind == "ivfpq" else 0.9), overlap  # PQ8x4 is coarse; random ~0.002


def test_merge_topk_is_order_independent():
    rng = np.random.default_rng(1)
    parts = [(rng.random((4, 3)).astype(np.float32), rng.integers(i * 10, i * 10 + 10, (4, 3))) for i in range(3)]
    parts[1][0][0, 0] = parts[0][0][0, 0]  # a tie across shards: broken by id
    init = (np.full((4, 5), -np.inf, np.float32), np.full((4, 5), -1))
    res = []
    for order in ([0, 1, 2], [2, 0, 1]):
        s, i = init
        for j in order:
            s, i = merge_topk(s, i, *parts[j], 5)
        res.append((s, i))
    np.testing.assert_array_equal(res[0][1], res[1][1])
    assert (np.diff(res[0][0], axis=1) <= 0).all()



def test_merge_topk_keeps_lowest_ids_among_ties_at_the_cut():
    """Like FAISS's flat search: of several candidates tied at the k-th score, the lowest corpus ids are kept."""
    a = (np.array([[0.9, 0.5, 0.5]], np.float32), np.array([[4, 30, 12]]))
    b = (np.array([[0.5, 0.5, -np.inf]], np.float32), np.array([[3, 20, -1]]))
    for x, y in ((a, b), (b, a)):
        s, i = merge_topk(*x, *y, 3)
        assert i.tolist() == [[4, 3, 12]] and s.tolist() == [[np.float32(0.9), 0.5, 0.5]]


def test_topk_dense_breaks_boundary_ties_by_lowest_column():
    """Sparse shards: rows of equal scores (e.g. zero dot products) must not keep an arbitrary tied subset."""
    rng = np.random.default_rng(0)
    scores = np.zeros((3, 200), np.float32)
    scores[0, [50, 150]] = 1.0
    scores[1] = rng.integers(0, 3, 200)
    scores[2, ::7] = 2.0
    values, cols = _topk_dense(scores, 6)
    for row, (v, c) in enumerate(zip(values, cols)):
        expected = sorted(range(200), key=lambda j: (-scores[row, j], j))[:6]
        assert c.tolist() == expected and v.tolist() == scores[row, expected].tolist()
    values, cols = _topk_dense(scores[:, :4], 6)  # k > n: every column, same order
    assert cols.tolist()[0] == [0, 1, 2, 3]

def test_filters_mask_positives_then_margins_then_bounds():
    scores = np.array([[0.95, 0.9, 0.8, 0.7, 0.6]], np.float32)
    ids = np.array([[7, 1, 2, 3, -1]])
    pos = np.array([[7]])
    counters = {}
    p = FilterParams(range_max=4, absolute_margin=0.05, min_score=0.75)
    s = apply_filters(scores, ids, pos, np.array([0.9], np.float32), p, counters)
    # 7 is the positive; 0.9 + 0.05 > 0.9 -> dropped; 0.7 < 0.75 -> dropped; -1 is padding
    assert np.isfinite(s).tolist() == [[False, False, True, False, False]]
    assert counters["absolute_margin"] == 1 and counters["min_score"] == 1
    ws, wi = rank_window(s, ids, FilterParams(range_min=0, range_max=3))
    assert wi[0, 0] == 2 and ws.shape == (1, 3)
    rel = apply_filters(scores, ids, pos, np.array([-0.5], np.float32), FilterParams(relative_margin=0.1), {})
    assert not np.isfinite(rel).any()  # threshold -0.55: every candidate scores above it


def test_random_sampling_reproducible_and_seeded():
    s = np.sort(np.random.default_rng(0).random((20, 12)).astype(np.float32), axis=1)[:, ::-1].copy()
    i = np.arange(240).reshape(20, 12)
    a = sample_negatives(s, i, 4, "random", seed=3)
    b = sample_negatives(s[:10], i[:10], 4, "random", seed=3, qids=np.arange(10))  # batching does not matter
    c = sample_negatives(s, i, 4, "random", seed=4)
    np.testing.assert_array_equal(a[1][:10], b[1])
    assert not np.array_equal(a[1], c[1])
    assert (np.diff(a[0], axis=1) <= 0).all()
    s[0, 2:] = -np.inf  # only 2 valid: both kept, rest invalid
    r = sample_negatives(s, i, 4, "random", seed=3)
    assert set(r[1][0, :2]) == {0, 1} and not np.isfinite(r[0][0, 2:]).any()


def _batch():
    return Batch(qids=np.array([0, 1]), pair_b=np.array([0, 0, 1]), pair_did=np.array([0, 1, 2]),
                 pair_score=np.array([0.9, 0.8, 0.7], np.float32),
                 neg_scores=np.array([[0.5, 0.4], [0.3, -np.inf]], np.float32), neg_ids=np.array([[3, 4], [5, -1]]))


@pytest.mark.parametrize("fmt,rows", [("triplet", 5), ("n-tuple", 2), ("labeled-pair", 6), ("labeled-list", 3)])
def test_output_formats(fmt, rows):
    q = pa.array(["q0", "q1"])
    c = pa.array([f"d{i}" for i in range(6)])
    t, neg, diff, _ = build_output(fmt, _batch(), q, c, "anchor", "positive", output_scores=True)
    assert t.num_rows == rows
    d = t.to_pylist()
    if fmt == "triplet":
        assert d[0] == {"anchor": "q0", "positive": "d0", "negative": "d3", "scores": pytest.approx([0.9, 0.5])}
    if fmt == "n-tuple":
        assert [r["positive"] for r in d] == ["d0", "d1"] and d[1]["negative_2"] == "d4"
    if fmt == "labeled-pair":
        assert [r["positive"] for r in d] == ["d0", "d1", "d3", "d4", "d2", "d5"]
    if fmt == "labeled-list":
        assert d[2] == {"anchor": "q1", "positive": ["d2", "d5"], "scores": pytest.approx([0.7, 0.3])}
    assert len(neg) == len(diff)


def test_prepare_input_dedups_with_stable_ids():
    data = {"q": ["a", "b", "a", "a"], "p": ["x", "y", "z", "x"]}
    inp = prepare_input(data, corpus=["w", "x"])
    assert inp.queries.to_pylist() == ["a", "b"]
    assert inp.corpus.to_pylist() == ["w", "x", "y", "z"]
    assert inp.pair_qid.tolist() == [0, 0, 1] and inp.pair_did.tolist() == [1, 3, 2]
    assert inp.max_positives == 3  # counts duplicate rows, as sentence-transformers


@pytest.mark.parametrize("data,kw,match", [
    ({"q": ["a"], "p": ["x"]}, dict(anchor_column_name="query"), "anchor_column_name='query'"),
    ({"q": ["a", None], "p": ["x", "y"]}, {}, "null"),
    ({"q": [], "p": []}, {}, "empty"),
    ({"q": ["a"]}, {}, "anchor and a positive"),
])
def test_bad_input_errors(data, kw, match):
    with pytest.raises(ValueError, match=match):
        prepare_input(pa.table(data) if data.get("q") == [] else data, **kw)


def test_atomic_writer(tmp_path):
    out = tmp_path / "out"
    w = AtomicParquetWriter(str(out))
    w.write(pa.table({"a": [1]}))
    assert not out.exists()  # nothing visible before commit
    w.commit({"k": 1})
    assert pq.read_table(str(out / "part-00000.parquet")).num_rows == 1
    w2 = AtomicParquetWriter(str(out))
    w2.write(pa.table({"a": [2]}))
    w2.abort()
    assert pq.read_table(str(out / "part-00000.parquet")).column("a").to_pylist() == [1]
    with pytest.raises(ValueError, match="overwrite"):
        AtomicParquetWriter(str(out), overwrite=False)


def test_embedding_rows_are_sent_longest_first_within_a_shard():
    """Actor batches hold texts of similar length (less padding); `row` maps each back to its place in the shard."""
    from raypipe.mining.collect import ShardRows

    texts = ["bb", "a", "dddd", "ccc", ""]
    t = ShardRows(3, pa.array(texts), key=1).block(0, len(texts))
    assert t.column("text").to_pylist() == ["dddd", "ccc", "bb", "a", ""]
    assert [texts[r] for r in t.column("row").to_pylist()] == t.column("text").to_pylist()
    assert set(t.column("task").to_pylist()) == {3} and set(t.column("key").to_pylist()) == {1}


def test_shard_files_load_row_group_by_row_group(tmp_path):
    from raypipe.mining import embed

    emb = np.random.default_rng(0).standard_normal((embed.ROW_GROUP_ROWS * 2 + 5, 6)).astype(np.float32)
    path = str(tmp_path / "s.parquet")
    embed.write_atomic(embed.embedding_table(emb), path)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3  # what keeps a reader's transient memory small
    np.testing.assert_array_equal(embed.load_shard(path), emb)
    pq.write_table(embed.embedding_table(emb), str(tmp_path / "one.parquet"))  # a cache from before: one group
    np.testing.assert_array_equal(embed.load_shard(str(tmp_path / "one.parquet")), emb)
    embed.write_atomic(embed.embedding_table(emb[:0]), str(tmp_path / "empty.parquet"))
    assert embed.load_shard(str(tmp_path / "empty.parquet")).shape == (0, 6)
    embed.release_memory()  # glibc malloc_trim, or a no-op where there is none


def test_kernel_cache_cap_is_set_for_actors_unless_the_user_chose_one(monkeypatch):
    from raypipe.mining import embed

    for var in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"):
        monkeypatch.delenv(var, raising=False)
    embed.limit_kernel_cache()
    cap = str(embed.KERNEL_CACHE_CAPACITY)
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == os.environ["LRU_CACHE_CAPACITY"] == cap
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")
    embed.limit_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "64"  # a value already in the environment wins
