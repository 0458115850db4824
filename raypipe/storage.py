"""Small files in a run's storage, local or a URI (pyarrow's filesystems, as Ray's storage uses): a training run's
and a sweep's config fingerprint, the trials' resolved configs and start marks. Pure (no Ray); each call is one
file operation (a write: two, the file then its rename, so a crash never leaves half a file)."""

from __future__ import annotations

import os

import pyarrow.fs as pafs

__all__ = ["write_text", "read_text", "list_names", "join"]


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _fs(uri: str):
    return pafs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))


def write_text(uri: str, text: str) -> None:
    """Write (replace) a small text file, creating its folder; atomic where the filesystem's move is (local
    disks; on object stores a move is a copy, and an object appears whole anyway)."""
    fs, path = _fs(uri)
    fs.create_dir(os.path.dirname(path), recursive=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open_output_stream(tmp) as f:
        f.write(text.encode())
    fs.move(tmp, path)


def read_text(uri: str) -> str | None:
    """The file's text, or None if there is no such file."""
    fs, path = _fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def list_names(uri: str) -> list[str]:
    """Names in a folder ([] if there is none), without the temporary files of writes in progress."""
    fs, path = _fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    names = (os.path.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(path)))
    return sorted(n for n in names if ".tmp-" not in n)
