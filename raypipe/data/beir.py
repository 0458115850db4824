"""BEIR-style retrieval data -> the three dicts the retrieval evaluators take.

A dataset is three tables, each a ``.parquet`` or ``.jsonl`` file:

| table   | columns                                                        |
|---------|----------------------------------------------------------------|
| corpus  | ``doc_id`` (or ``_id`` / ``corpus_id``), ``text``, optional ``title`` |
| queries | ``query_id`` (or ``_id``), ``query`` (or ``text``)             |
| qrels   | ``query_id``, ``doc_id`` (or ``corpus_id``), optional ``score`` (rows with score <= 0 are not relevant) |

``load_beir(corpus, queries, qrels)`` returns ``(queries, corpus, relevant_docs)``:
``{query_id: text}``, ``{doc_id: text}`` and ``{query_id: set(doc_ids)}``. Loading is O(rows) in time and memory.

``load_debian_sample()`` returns the shipped sample of the Debian package-descriptions dev split (300 queries,
2,000 documents that include every relevant document of those queries), for examples and tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "resources" / "debian_sample"
SAMPLE_FILES = {"corpus": "corpus.parquet", "queries": "dev-queries.parquet", "qrels": "dev-qrels.parquet"}

_ID_COLUMNS = {
    "corpus": ("doc_id", "_id", "corpus_id", "id"),
    "queries": ("query_id", "_id", "qid", "id"),
}
_TEXT_COLUMNS = {"corpus": ("text", "document", "doc"), "queries": ("query", "text")}


def read_table(path: str | os.PathLike) -> pa.Table:
    """Read a ``.parquet`` or ``.jsonl`` file into an Arrow table."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist. Fix: pass the path of a .parquet or .jsonl file.")
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return pa.Table.from_pylist(rows)
    raise ValueError(
        f"{path}: unsupported file type {path.suffix!r}; allowed: .parquet, .jsonl. Fix: convert it."
    )


def _pick(table: pa.Table, candidates: tuple[str, ...], what: str, path) -> str:
    for name in candidates:
        if name in table.column_names:
            return name
    raise ValueError(
        f"{path}: no {what} column; expected one of {list(candidates)}, found {table.column_names}. "
        f"Fix: rename the column."
    )


def _as_table(source, kind: str) -> tuple[pa.Table, str]:
    if isinstance(source, pa.Table):
        return source, f"<{kind} table>"
    return read_table(source), str(source)


def load_corpus(source, use_title: bool = True, title_separator: str = " ") -> dict[str, str]:
    """{doc_id: text}; with ``use_title`` a non-empty title is prepended to the text."""
    table, where = _as_table(source, "corpus")
    id_col = _pick(table, _ID_COLUMNS["corpus"], "document id", where)
    text_col = _pick(table, _TEXT_COLUMNS["corpus"], "text", where)
    ids = [str(x) for x in table.column(id_col).to_pylist()]
    texts = table.column(text_col).to_pylist()
    if use_title and "title" in table.column_names:
        titles = table.column("title").to_pylist()
        texts = [f"{t}{title_separator}{x}" if t else x for t, x in zip(titles, texts)]
    return dict(zip(ids, texts))


def load_queries(source) -> dict[str, str]:
    table, where = _as_table(source, "queries")
    id_col = _pick(table, _ID_COLUMNS["queries"], "query id", where)
    text_col = _pick(table, _TEXT_COLUMNS["queries"], "query text", where)
    return dict(zip((str(x) for x in table.column(id_col).to_pylist()), table.column(text_col).to_pylist()))


def load_qrels(source) -> dict[str, set[str]]:
    table, where = _as_table(source, "qrels")
    qcol = _pick(table, ("query_id", "query-id", "qid"), "query id", where)
    dcol = _pick(table, ("doc_id", "corpus_id", "corpus-id", "docid"), "document id", where)
    scores = table.column("score").to_pylist() if "score" in table.column_names else None
    relevant: dict[str, set[str]] = {}
    for i, (qid, did) in enumerate(zip(table.column(qcol).to_pylist(), table.column(dcol).to_pylist())):
        if scores is None or scores[i] is None or scores[i] > 0:
            relevant.setdefault(str(qid), set()).add(str(did))
    return relevant


def filter_qrels(relevant_docs: Mapping[str, set], queries: Mapping, corpus: Mapping) -> dict[str, set[str]]:
    """Drop qrels whose query or document is absent; queries left with no relevant document are dropped."""
    out = {}
    for qid, docs in relevant_docs.items():
        kept = {d for d in docs if d in corpus}
        if qid in queries and kept:
            out[qid] = kept
    return out


def load_beir(corpus, queries, qrels, use_title: bool = True, check: bool = True):
    """(queries, corpus, relevant_docs) from three paths (or Arrow tables).

    With ``check`` a qrel naming a query or document that is missing raises a ValueError that names them;
    pass ``check=False`` to drop such qrels instead (see ``filter_qrels``).
    """
    corpus_d = load_corpus(corpus, use_title=use_title)
    queries_d = load_queries(queries)
    relevant = load_qrels(qrels)
    if not corpus_d:
        raise ValueError(f"corpus {corpus} has no rows. Fix: point it at a non-empty corpus file.")
    if check:
        missing_q = sorted(q for q in relevant if q not in queries_d)
        missing_d = sorted({d for docs in relevant.values() for d in docs if d not in corpus_d})
        if missing_q or missing_d:
            raise ValueError(
                f"qrels {qrels} name {len(missing_q)} unknown query id(s) {missing_q[:5]} and "
                f"{len(missing_d)} unknown document id(s) {missing_d[:5]}. Fix: use matching files, or "
                f"load_beir(..., check=False) to drop those qrels."
            )
    else:
        relevant = filter_qrels(relevant, queries_d, corpus_d)
    return queries_d, corpus_d, relevant


def load_debian_sample(use_title: bool = True):
    """The shipped Debian dev sample as (queries, corpus, relevant_docs): 300 queries, 2,000 documents."""
    return load_beir(
        *(SAMPLE_DIR / SAMPLE_FILES[k] for k in ("corpus", "queries", "qrels")), use_title=use_title
    )


def build_debian_sample(
    data_dir, out_dir=SAMPLE_DIR, n_queries: int = 300, n_docs: int = 2000, seed: int = 0
):
    """Write the sample: ``n_queries`` random dev queries, their qrels, and a corpus of all their relevant
    documents topped up with random other documents to ``n_docs``. Used once to create the shipped files."""
    import numpy as np

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    rng = np.random.default_rng(seed)
    queries = pq.read_table(data_dir / "dev-queries.parquet")
    qrels = pq.read_table(data_dir / "dev-qrels.parquet")
    corpus = pq.read_table(data_dir / "corpus.parquet")
    picked = sorted(rng.choice(queries.num_rows, size=n_queries, replace=False).tolist())
    queries = queries.take(picked)
    qids = set(queries.column("query_id").to_pylist())
    qrels = qrels.filter(pa.array([q in qids for q in qrels.column("query_id").to_pylist()]))
    needed = set(qrels.column("doc_id").to_pylist())
    doc_ids = corpus.column("doc_id").to_pylist()
    others = [i for i, d in enumerate(doc_ids) if d not in needed]
    extra = rng.choice(len(others), size=max(0, n_docs - len(needed)), replace=False)
    rows = sorted([i for i, d in enumerate(doc_ids) if d in needed] + [others[j] for j in extra])
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(corpus.take(rows), out_dir / SAMPLE_FILES["corpus"], compression="zstd")
    pq.write_table(queries, out_dir / SAMPLE_FILES["queries"], compression="zstd")
    pq.write_table(qrels, out_dir / SAMPLE_FILES["qrels"], compression="zstd")
    return out_dir


__all__ = [
    "read_table",
    "load_corpus",
    "load_queries",
    "load_qrels",
    "filter_qrels",
    "load_beir",
    "load_debian_sample",
    "build_debian_sample",
    "SAMPLE_DIR",
]
