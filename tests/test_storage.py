"""raypipe.storage: small files in a run's storage folder."""

from __future__ import annotations

from raypipe.storage import join, list_names, read_text, write_text


def test_write_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    uri = join(str(tmp_path), "run", "run_config.json")
    assert read_text(uri) is None and list_names(join(str(tmp_path), "run")) == []
    write_text(uri, "first")
    write_text(uri, "second")
    assert read_text(uri) == "second"
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["run_config.json"]


def test_list_names_skips_writes_in_progress(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json.tmp-1234").write_text("{")  # another process's write, not yet renamed
    assert list_names(str(tmp_path)) == ["a.json"]
