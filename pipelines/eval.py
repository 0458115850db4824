"""Evaluate a model: dense or sparse retrieval (IR metrics), reranking, similarity, classification, or a
cross-encoder reranking a first stage's top-k; metric names as sentence-transformers'.

Run (from the repository root):

    python pipelines/eval.py pipelines/configs/eval-tiny-cpu.yaml                         # = raypipe eval ...
    python pipelines/eval.py CONFIG model.path=outputs/run-debian/model embedding.executor=ray embedding.num_actors=2

With embedding.executor=ray the corpus is embedded on a Ray Data actor pool (cached, so a rerun embeds nothing).
The metrics are printed and written to <output.dir>/eval.json.
"""

import sys

from raypipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
