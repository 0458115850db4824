"""pipelines/prepare_debian.py: training positives and the mining corpus as the retrieval evaluator reads them."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raypipe.data.beir import load_corpus

SCRIPT = Path(__file__).resolve().parents[2] / "pipelines" / "prepare_debian.py"


def _run(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])
    runpy.run_path(str(SCRIPT), run_name="__main__")


def _data(tmp_path: Path, train_ids: list[str]) -> Path:
    pq.write_table(pa.table({"doc_id": ["a", "b"], "title": ["libx-dev", "libx1"], "text": ["X lib.", "X lib."]}),
                   tmp_path / "corpus.parquet")
    pq.write_table(pa.table({"query": [f"q{i}" for i in range(len(train_ids))], "positive": ["X lib."] * len(train_ids),
                             "doc_id": train_ids}), tmp_path / "train.parquet")
    return tmp_path


def test_positives_and_corpus_carry_the_package_name_as_the_evaluator_reads_them(tmp_path, monkeypatch):
    data = _data(tmp_path, ["a", "b"])
    _run(monkeypatch, "--data-dir", str(data), "--out", str(tmp_path / "out"))
    train = pq.read_table(tmp_path / "out" / "train.parquet").to_pydict()
    evaluated = load_corpus(data / "corpus.parquet")  # what the retrieval evaluator embeds
    assert train == {"query": ["q0", "q1"], "positive": [evaluated["a"], evaluated["b"]]}
    assert train["positive"] == ["libx-dev X lib.", "libx1 X lib."]  # the same text, told apart by the name
    corpus = pq.read_table(tmp_path / "out" / "corpus.parquet").to_pydict()
    assert dict(zip(corpus["doc_id"], corpus["text"])) == evaluated


def test_a_pair_whose_document_is_missing_is_named(tmp_path, monkeypatch):
    data = _data(tmp_path, ["a", "zz"])
    with pytest.raises(SystemExit, match="1 doc_id.*zz.*Fix"):
        _run(monkeypatch, "--data-dir", str(data), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_missing_files_and_columns_are_all_named_before_reading(tmp_path, monkeypatch):
    pq.write_table(pa.table({"doc_id": ["a"], "text": ["X lib."]}), tmp_path / "corpus.parquet")
    with pytest.raises(SystemExit, match=r"lacks column\(s\) \['title'\].*train.parquet does not exist.*Fix"):
        _run(monkeypatch, "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"))
