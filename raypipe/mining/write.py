"""Write stage: parquet parts into a temporary folder next to the output, renamed into place at the end.

A reader never sees a half-written output: either the old folder or the complete new one. Parts are written as
query batches finish, so memory is O(one batch of output rows).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["AtomicParquetWriter"]


class AtomicParquetWriter:
    """`write(table)` appends a part; `commit(extra_files)` renames the folder into place."""

    def __init__(self, output_dir: str, overwrite: bool = True):
        self.output_dir = str(Path(output_dir).absolute())
        if os.path.exists(self.output_dir) and not overwrite:
            raise ValueError(f"output_dir={self.output_dir!r} exists; pass overwrite=True or choose another folder.")
        Path(self.output_dir).parent.mkdir(parents=True, exist_ok=True)
        self.tmp = f"{self.output_dir}.tmp-{uuid.uuid4().hex[:8]}"
        os.makedirs(self.tmp)
        self.parts = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0 and self.parts > 0:
            return
        pq.write_table(table, os.path.join(self.tmp, f"part-{self.parts:05d}.parquet"))
        self.parts += 1
        self.rows += table.num_rows

    def commit(self, meta: dict | None = None) -> str:
        if meta is not None:
            with open(os.path.join(self.tmp, "_mining_stats.json"), "w") as f:
                json.dump(meta, f, indent=2, default=str)
        old = None
        if os.path.exists(self.output_dir):
            old = f"{self.output_dir}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.output_dir, old)
        os.replace(self.tmp, self.output_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        return self.output_dir

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
