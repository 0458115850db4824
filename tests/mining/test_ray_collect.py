"""The Ray runner's shard collection (no Ray started): blocks arriving out of row order give the same shard file."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from raypipe.mining.embed import embedding_table, load_shard
from raypipe.mining.ray_runner import _collect_shards


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
    pending = _collect_shards(_blocks(emb, rng.permutation(23), 4), [(path, pa.array(["x"] * 23), None)], None)
    assert pending == {}
    np.testing.assert_array_equal(load_shard(path), emb)


def test_sparse_blocks_out_of_order_are_written_in_row_order(tmp_path):
    rng = np.random.default_rng(1)
    emb = sp.random(11, 30, density=0.2, format="csr", dtype=np.float32, random_state=1)
    path = str(tmp_path / "shard.parquet")
    pending = _collect_shards(_blocks(emb, rng.permutation(11), 3), [(path, pa.array(["x"] * 11), None)], None)
    assert pending == {}
    np.testing.assert_array_equal(load_shard(path).toarray(), emb.toarray())


def test_incomplete_shard_is_returned_not_written(tmp_path):
    emb = np.ones((6, 2), np.float32)
    path = tmp_path / "shard.parquet"
    pending = _collect_shards(_blocks(emb, np.arange(4), 2), [(str(path), pa.array(["x"] * 6), None)], None)
    assert list(pending) == [0] and not path.exists()
