"""BEIR-style loader (parquet / jsonl, bad inputs), the shipped Debian sample, and evaluator parity on it."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raypipe.data.beir import SAMPLE_DIR, filter_qrels, load_beir, load_debian_sample
from raypipe.eval import InformationRetrievalEvaluator
from tests.eval.parity import assert_parity


def _write(tmp_path, fmt: str, corpus_rows, query_rows, qrel_rows):
    paths = []
    for name, rows in (("corpus", corpus_rows), ("queries", query_rows), ("qrels", qrel_rows)):
        path = tmp_path / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(pa.Table.from_pylist(rows), path)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(path)
    return paths


CORPUS = [
    {"_id": "d1", "title": "vim", "text": "text editor"},
    {"_id": "d2", "title": "", "text": "web server"},
]
QUERIES = [{"_id": "q1", "text": "editor"}, {"_id": "q2", "text": "http"}]
QRELS = [{"query-id": "q1", "corpus-id": "d1", "score": 1}, {"query-id": "q2", "corpus-id": "d2", "score": 0}]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_load_beir_formats(tmp_path, fmt):
    queries, corpus, relevant = load_beir(*_write(tmp_path, fmt, CORPUS, QUERIES, QRELS))
    assert corpus == {"d1": "vim text editor", "d2": "web server"}
    assert queries == {"q1": "editor", "q2": "http"}
    assert relevant == {"q1": {"d1"}}  # score 0 is not relevant


def test_load_beir_unknown_ids(tmp_path):
    paths = _write(
        tmp_path, "jsonl", CORPUS, QUERIES, QRELS + [{"query-id": "q9", "corpus-id": "d9", "score": 1}]
    )
    with pytest.raises(
        ValueError, match=r"unknown query id\(s\) \['q9'\].*unknown document id\(s\) \['d9'\]"
    ):
        load_beir(*paths)
    _, _, relevant = load_beir(*paths, check=False)
    assert relevant == {"q1": {"d1"}}
    assert filter_qrels({"q1": {"d1", "zz"}, "q3": {"d1"}}, {"q1": ""}, {"d1": ""}) == {"q1": {"d1"}}


def test_load_beir_missing_column(tmp_path):
    paths = _write(tmp_path, "jsonl", [{"_id": "d1", "body": "x"}], QUERIES, QRELS)
    with pytest.raises(ValueError, match="no text column"):
        load_beir(*paths)


def test_shipped_debian_sample():
    queries, corpus, relevant = load_debian_sample()
    assert len(queries) == 300 and len(corpus) == 2000
    assert all(d in corpus for docs in relevant.values() for d in docs)
    size = (
        sum(p.stat().st_size for p in SAMPLE_DIR.glob("dev-*.parquet"))
        + (SAMPLE_DIR / "corpus.parquet").stat().st_size
    )
    assert size < 2 * 2**20


@pytest.mark.slow
def test_debian_sample_parity_tiny_model(dense_pair):
    """raypipe's evaluator + raypipe model vs sentence-transformers' on the 2,000-document Debian sample."""
    from sentence_transformers.evaluation import InformationRetrievalEvaluator as ST

    data = load_debian_sample()
    kwargs = dict(name="debian", corpus_chunk_size=700, batch_size=64)
    ours, theirs = InformationRetrievalEvaluator(*data, **kwargs), ST(*data, **kwargs)
    assert_parity(ours(dense_pair[0]), theirs(dense_pair[1]))
