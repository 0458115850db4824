"""Atomic local writes: a file appears whole under its name or not at all, so a crash or a kill mid-write never
leaves half a config, shard or report that a rerun would take for finished work. Stdlib only, at the bottom of
the package (models, mining, eval, jobs and tune all write through it). The temporary name carries ``.tmp-`` (which
`raypipe.storage.list_names` skips) and a random suffix, so two processes writing one path never share it."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["atomic_path", "atomic_open", "write_json", "write_text"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path`` for any writer (parquet, FAISS, open()); on success it is renamed
    onto ``path`` (replacing it), on an error it is removed and the old ``path`` is left as it was."""
    tmp = f"{os.fspath(path)}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):  # only after an error: a successful write has been renamed away
            os.remove(tmp)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` that writes a temporary file and renames it onto ``path`` once closed."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2, default: Callable | None = str) -> None:
    """JSON of ``obj``, atomically; values JSON cannot hold go through ``default`` (``str``; None: a TypeError)."""
    write_text(path, json.dumps(obj, indent=indent, default=default))
