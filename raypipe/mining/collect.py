"""How a driver hands out a shard's rows and takes their embeddings back (no Ray here: `ray_runner.py` uses it).

Out: every shard's rows are sent longest text first (`ShardRows` plans the order, `blocks` cuts it lazily into
calls of `rows` texts, taking each call's texts from the shard as it goes), so a call holds texts of similar
length and pads little; random order padded every batch to its longest text (Debian descriptions: 2.5x slower).

Back: rows return in that order, not in row order. A dense shard's rows are spilled as they arrive to a raw float32
file beside the shard (`DenseSpill`: one `pwrite` per row at its offset), and when the last row is in, the file
is read back one row group at a time into the parquet shard. The driver so holds one block of results at a time,
not an (n, d) matrix per shard in flight plus a sorted copy of the shard's texts (full Debian job, 50,000-row
MiniLM shards: driver peak 491 -> 434 MB). The spill file is unnamed (unlinked from the start), so it lives in the
page cache, which the kernel writes out or drops as it needs, and a killed run leaves nothing behind. Sparse shards
(a few hundred non-zeros per row) keep their blocks and are sorted at the write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raypipe.atomic import atomic_path
from raypipe.mining.embed import ROW_GROUP_ROWS, embedding_table, write_atomic
from raypipe.models.text_tokenizer import budget_slices

__all__ = ["DenseSpill", "ShardRows", "blocks", "collect_shards"]


class ShardRows:
    """One shard to embed: its texts, the order they go out in (longest first; stable, so equal lengths keep their
    row order) and its text-set key."""

    def __init__(self, task: int, texts: pa.Array, key: int):
        self.task, self.texts, self.key = task, texts, key
        chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        self.order = np.argsort(-chars, kind="stable")
        self.chars = chars[self.order].astype(np.int64)  # (n,) characters per text, in send order

    def cuts(self, rows: int, max_chars: int | None = None) -> Iterator[tuple[int, int]]:
        """(start, stop) ranges of the send order: at most `rows` texts and, if given, at most `max_chars`
        characters each (a longer text goes alone)."""
        return budget_slices(self.chars.tolist(), max_chars, rows)

    def block(self, start: int, rows: int) -> pa.Table:
        sel = self.order[start:start + rows]
        return pa.table({
            "task": pa.array(np.full(len(sel), self.task, np.int32)),
            "row": pa.array(sel.astype(np.int64)),
            "key": pa.array(np.full(len(sel), self.key, np.int32)),
            "text": pc.take(self.texts, pa.array(sel)),
        })


def blocks(shards: Iterable[ShardRows], rows: int, max_chars: int | None = None) -> Iterator[pa.Table]:
    """Calls of at most `rows` rows (and `max_chars` characters) with columns task / row / key / text, made as
    they are asked for."""
    for s in shards:
        for start, stop in s.cuts(rows, max_chars):
            yield s.block(start, stop - start)


class DenseSpill:
    """An (n, d) float32 shard assembled on disk: rows written by index in any order, then turned into the
    parquet shard at `path` (atomic, row groups of ROW_GROUP_ROWS) by `finish`. Memory O(one row group)."""

    def __init__(self, path: str, n: int, d: int):
        self.path, self.n, self.d = path, n, d
        # unnamed, beside the shard (same filesystem as the cache): gone with the process however it ends
        self.file = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(path)))
        self.fd = self.file.fileno()
        os.ftruncate(self.fd, n * d * 4)

    def add(self, rows: np.ndarray, emb: np.ndarray) -> None:
        """rows (m,) int64 indices into the shard, emb (m, d) float32."""
        emb = np.ascontiguousarray(emb, np.float32)
        width = self.d * 4
        for r, vec in zip(rows.tolist(), emb):
            os.pwrite(self.fd, vec.data, r * width)

    def finish(self) -> None:
        try:
            with atomic_path(self.path) as tmp, \
                    pq.ParquetWriter(tmp, embedding_table(np.zeros((0, self.d), np.float32)).schema) as w:
                for s in range(0, self.n, ROW_GROUP_ROWS):
                    m = min(ROW_GROUP_ROWS, self.n - s)
                    buf = os.pread(self.fd, m * self.d * 4, s * self.d * 4)
                    w.write_table(embedding_table(np.frombuffer(buf, np.float32).reshape(m, self.d)),
                                  row_group_size=ROW_GROUP_ROWS)
        finally:
            self.close()

    def close(self) -> None:
        """Drop the spill file (also for a shard left incomplete)."""
        self.file.close()


def _add_rows(pending: dict, t: int, sel: pa.Table, path: str, n: int) -> None:
    """Take one block's rows of shard `t` (n rows): dense rows go to the shard's spill file, sparse blocks are kept."""
    if "embedding" not in sel.column_names:
        pending.setdefault(t, []).append(sel)
        return
    col = sel.column("embedding").combine_chunks()
    d = col.type.list_size
    if t not in pending:
        pending[t] = DenseSpill(path, n, d)
    pending[t].add(sel.column("row").to_numpy(), col.flatten().to_numpy().reshape(len(col), d))


def _finish(buffered, path: str) -> None:
    if isinstance(buffered, DenseSpill):
        buffered.finish()
    else:
        write_atomic(pa.concat_tables(buffered).sort_by("row").drop(["task", "row"]), path)


def collect_shards(results: Iterable[pa.Table], tasks, bar) -> dict:
    """Write each shard file as soon as all its rows are back; returns {task: rows held} of the shards still
    incomplete (their spill files removed). `results`: tables with task / row / embedding (or indices / values /
    dim) columns; `tasks`: [(path, texts, key)]."""
    pending: dict[int, DenseSpill | list[pa.Table]] = {}
    got = np.zeros(len(tasks), np.int64)
    try:
        for batch in results:
            tid = batch.column("task").to_numpy()
            for t in np.unique(tid).tolist():
                sel = batch.filter(pa.array(tid == t))
                path, n = tasks[t][0], len(tasks[t][1])
                _add_rows(pending, t, sel, path, n)
                got[t] += sel.num_rows
                if got[t] == n:
                    _finish(pending.pop(t), path)
            if bar is not None:
                bar.update(batch.num_rows)
    finally:
        for buffered in pending.values():
            if isinstance(buffered, DenseSpill):
                buffered.close()
    return {t: int(got[t]) for t in pending}
