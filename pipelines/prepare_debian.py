"""Write the Debian training data in the form the dev evaluation reads: each description led by its package name.

Run (from the repository root, once, before the *-debian-full-titled configs):

    python pipelines/prepare_debian.py --data-dir ../shared/data/debian-descriptions --out outputs/debian-titled

The retrieval evaluator (like sentence-transformers' BEIR loading) embeds a corpus row as "title text", so a dev
document reads "libnats-dev NATS messaging enables ...". train.parquet's positives are the bare text, so a model
trained on them never sees the package names it is judged with, and sibling packages with the same description
(libnats3.4 / libnats-dev) cannot be told apart at all. This writes, with raypipe.data.load_corpus's formatting:
- train.parquet: (query, positive) with the positive as the evaluator reads that document;
- corpus.parquet: (doc_id, text) the same way, for mining against.
Cost O(corpus + pairs) time and memory; files are written atomically.
"""

import argparse
import os

import pyarrow as pa
import pyarrow.parquet as pq

from raypipe.data.beir import load_corpus
from raypipe.mining.embed import write_atomic

NEEDED = {"corpus.parquet": ("doc_id", "title", "text"), "train.parquet": ("query", "doc_id")}


def _check(data_dir: str) -> None:
    """Every missing file or column at once, before anything is read in full."""
    problems = []
    for name, columns in NEEDED.items():
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            problems.append(f"{path} does not exist")
            continue
        missing = [c for c in columns if c not in pq.read_schema(path).names]
        if missing:
            problems.append(f"{path} lacks column(s) {missing} (needs {list(columns)})")
    if problems:
        raise SystemExit("--data-dir: " + "; ".join(problems) + ". Fix: point --data-dir at the Debian data folder.")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, help="folder with corpus.parquet and train.parquet")
    p.add_argument("--out", default="outputs/debian-titled")
    a = p.parse_args()
    _check(a.data_dir)
    corpus = load_corpus(os.path.join(a.data_dir, "corpus.parquet"), use_title=True)  # {doc_id: "title text"}
    train = pq.read_table(os.path.join(a.data_dir, "train.parquet"), columns=["query", "doc_id"]).to_pydict()
    missing = sorted({d for d in train["doc_id"] if d not in corpus})
    if missing:
        raise SystemExit(f"train.parquet names {len(missing)} doc_id(s) not in corpus.parquet, e.g. {missing[:3]}. "
                         "Fix: use the corpus the pairs were drawn from.")
    os.makedirs(a.out, exist_ok=True)
    write_atomic(pa.table({"query": train["query"], "positive": [corpus[d] for d in train["doc_id"]]}),
                 os.path.join(a.out, "train.parquet"))
    write_atomic(pa.table({"doc_id": list(corpus), "text": list(corpus.values())}), os.path.join(a.out, "corpus.parquet"))
    print(f"{len(train['query']):,} pairs and {len(corpus):,} documents written to {a.out}")


if __name__ == "__main__":
    main()
