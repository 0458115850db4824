"""raypipe.atomic: a file appears whole or not at all."""

from __future__ import annotations

import json

import pytest

from raypipe.atomic import atomic_open, atomic_path, write_json, write_text
from raypipe.storage import list_names


def test_write_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})
    write_json(path, {"x": 2, "p": tmp_path})  # a value JSON cannot hold is written as str
    assert json.loads(path.read_text()) == {"x": 2, "p": str(tmp_path)}
    write_text(tmp_path / "b.txt", "é")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "é"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.txt"]


def test_an_error_mid_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text("old\n")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(path) as f:
            f.write("half of the new")
            assert list_names(str(tmp_path)) == ["predictions.jsonl"]  # the write in progress is not listed
            raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.jsonl"]


def test_atomic_path_serves_any_writer(tmp_path):
    path = tmp_path / "index.faiss"
    with atomic_path(path) as tmp:
        assert ".tmp-" in tmp and not path.exists()
        with open(tmp, "wb") as f:
            f.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    with atomic_path(path) as a, atomic_path(path) as b:
        assert a != b  # two writers of one path never share a temporary file
        open(a, "w").close()
        open(b, "w").close()


def test_strict_json_fails_before_replacing_the_file(tmp_path):
    path = tmp_path / "config.json"
    write_json(path, {"x": 1})
    with pytest.raises(TypeError):
        write_json(path, {"x": object()}, default=None)  # module configs: no silent str()
    assert json.loads(path.read_text()) == {"x": 1} and [p.name for p in tmp_path.iterdir()] == ["config.json"]
