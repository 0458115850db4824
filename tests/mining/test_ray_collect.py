"""The driver's shard collection (raypipe.mining.collect, no Ray): blocks arriving out of row order give the same
shard file; spill files never outlive a run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from raypipe.mining.collect import ShardRows, blocks, collect_shards
from raypipe.mining.embed import embedding_table, load_shard, write_atomic


def _blocks(emb, order, rows):
    # what actors send back: rows in `order` (longest first), cut in blocks, with task / row columns
    for s in range(0, len(order), rows):
        sel = order[s:s + rows]
        t = embedding_table(emb[sel])
        yield t.add_column(0, "task", pa.array(np.zeros(len(sel), np.int32))).add_column(1, "row", pa.array(sel))


def test_dense_blocks_out_of_order_are_written_in_row_order(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((23, 5)).astype(np.float32)
    path = str(tmp_path / "shard.parquet")
    pending = collect_shards(_blocks(emb, rng.permutation(23), 4), [(path, pa.array(["x"] * 23), None)], None)
    assert pending == {}
    np.testing.assert_array_equal(load_shard(path), emb)


def test_sparse_blocks_out_of_order_are_written_in_row_order(tmp_path):
    rng = np.random.default_rng(1)
    emb = sp.random(11, 30, density=0.2, format="csr", dtype=np.float32, random_state=1)
    path = str(tmp_path / "shard.parquet")
    pending = collect_shards(_blocks(emb, rng.permutation(11), 3), [(path, pa.array(["x"] * 11), None)], None)
    assert pending == {}
    np.testing.assert_array_equal(load_shard(path).toarray(), emb.toarray())


def test_incomplete_shard_is_returned_not_written(tmp_path):
    emb = np.ones((6, 2), np.float32)
    path = tmp_path / "shard.parquet"
    pending = collect_shards(_blocks(emb, np.arange(4), 2), [(str(path), pa.array(["x"] * 6), None)], None)
    assert pending == {0: 4} and not path.exists()
    assert list(tmp_path.iterdir()) == []  # the spill file is gone too


def test_dense_shard_file_equals_write_atomic_of_the_matrix(tmp_path):
    # several row groups, the last one partial; the spilled file reads back as the matrix written in one go
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((9000, 3)).astype(np.float32)
    a, b = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    collect_shards(_blocks(emb, rng.permutation(9000), 512), [(a, pa.array(["x"] * 9000), None)], None)
    write_atomic(embedding_table(emb), b)
    np.testing.assert_array_equal(load_shard(a), load_shard(b))
    assert pq.ParquetFile(a).metadata.num_row_groups == pq.ParquetFile(b).metadata.num_row_groups == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]


def test_a_failing_stream_removes_its_spill_files(tmp_path):
    def failing():
        yield from _blocks(np.ones((8, 2), np.float32), np.arange(4), 2)
        raise RuntimeError("actor died")

    with pytest.raises(RuntimeError, match="actor died"):
        collect_shards(failing(), [(str(tmp_path / "s.parquet"), pa.array(["x"] * 8), None)], None)
    assert list(tmp_path.iterdir()) == []


def test_blocks_are_cut_lazily_one_shard_at_a_time():
    made = []

    def shards():
        for i, n in enumerate((5, 3)):
            made.append(n)
            yield ShardRows(i, pa.array(["t" * (j + 1) for j in range(n)]), 0)

    out = blocks(shards(), 2)
    assert made == []  # nothing built before the pool asks
    assert next(out).num_rows == 2 and made == [5]
    assert [b.num_rows for b in out] == [2, 1, 2, 1] and made == [5, 3]


def test_blocks_stop_at_a_character_budget_longest_first():
    s = ShardRows(0, pa.array(["aaaaaaaaaa", "b", "ccccc", "dddd", "ee"]), 0)  # send order: 10, 5, 4, 2, 1 chars
    assert list(s.cuts(rows=3)) == [(0, 3), (3, 5)]
    assert list(s.cuts(rows=3, max_chars=9)) == [(0, 1), (1, 3), (3, 5)]  # the 10-char text goes alone
    texts = [b.column("text").to_pylist() for b in blocks([s], 3, 9)]
    assert texts == [["aaaaaaaaaa"], ["ccccc", "dddd"], ["ee", "b"]]
