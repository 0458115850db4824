"""Small files in a sweep's storage, local or a URI (pyarrow's filesystems, as Ray's storage uses): the trials'
resolved configs and start marks, the sweep's config fingerprint. Pure (no Ray); each call is one file
operation."""

from __future__ import annotations

import os

import pyarrow.fs as pafs

__all__ = ["write_text", "read_text", "list_names", "join"]


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _fs(uri: str):
    return pafs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))


def write_text(uri: str, text: str) -> None:
    """Write (replace) a small text file, creating its folder."""
    fs, path = _fs(uri)
    fs.create_dir(os.path.dirname(path), recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode())


def read_text(uri: str) -> str | None:
    """The file's text, or None if there is no such file."""
    fs, path = _fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def list_names(uri: str) -> list[str]:
    """Names in a folder ([] if there is none)."""
    fs, path = _fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return sorted(os.path.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(path)))
