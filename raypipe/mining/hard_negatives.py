"""`mine_hard_negatives`: sentence-transformers' signature and semantics, on raypipe's sharded pipeline.

Every other knob of `MiningOptions` is a keyword argument too (`executor`, `shard_size`, `query_shard_size`,
`index`, `num_actors`, `num_gpus_per_actor`, `search_parallelism`, `query_batch_size`, `seed`, `compute_dtype`,
`tokenize_workers`, `progress` -- which defaults to `verbose` here), plus `output_dir` (write parquet too) and
`cache_dir`. `compute_dtype` defaults to float32, so the results equal sentence-transformers'; "bfloat16" or
"auto" trade ~3 significant digits of every score for ~2x speed on CPUs with bf16 instructions. sentence-transformers' `faiss_batch_size` and `cache_folder` are kept as deprecated aliases of
`search_batch_size` and `cache_dir`.

Differences from sentence-transformers (on purpose):
- a cross-encoder rescores whenever it is given (theirs only with a margin or score bound);
- an unknown anchor/positive column name raises instead of silently using columns 0/1;
- `use_faiss=False` still searches shard by shard with FAISS flat (exact) indexes; `use_faiss=True` lets `index`
  pick (default "flat", exact either way);
- random sampling is seeded (`seed`) and independent of batching;
- the executor defaults to "auto": Ray when it is initialized (or RAY_ADDRESS is set), else this process;
- candidates with exactly equal (e.g. cross-encoder) scores keep their retrieval order; theirs follow
  torch.topk's internal order, so with near-constant scorers a tied negative can be a different, equally
  scored text (see raypipe/mining/filter.py).
"""

from __future__ import annotations

import logging

from raypipe.mining.options import MiningOptions
from raypipe.mining.pipeline import mine

__all__ = ["mine_hard_negatives", "build_options"]

logger = logging.getLogger(__name__)

_ALIASES = {"faiss_batch_size": "search_batch_size", "num_gpus": "num_gpus_per_actor"}


def build_options(**knobs) -> MiningOptions:
    """MiningOptions from keyword arguments; every bad value in one error naming the parameter."""
    return MiningOptions(**knobs)


def _deprecated(kwargs: dict, values: dict) -> None:
    for old, new in _ALIASES.items():
        if values.get(old) is not None:
            logger.warning("%s is deprecated; use %s.", old, new)
            kwargs[new] = values[old]


def mine_hard_negatives(dataset, model, anchor_column_name=None, positive_column_name=None, corpus=None,
                        cross_encoder=None, range_min=0, range_max=None, max_score=None, min_score=None,
                        absolute_margin=None, relative_margin=None, num_negatives=3, sampling_strategy="top",
                        query_prompt_name=None, query_prompt=None, corpus_prompt_name=None, corpus_prompt=None,
                        include_positives=False, output_format="triplet", output_scores=False, batch_size=32,
                        faiss_batch_size=None, use_faiss=False, use_multi_process=False, verbose=True,
                        cache_folder=None, as_triplets=None, margin=None, *, output_dir=None, cache_dir=None,
                        num_gpus=None, **options):
    """Mine hard negatives for (anchor, positive) pairs; returns a `datasets.Dataset` (see module docstring)."""
    if as_triplets is not None:
        logger.warning("as_triplets is deprecated; use output_format.")
        output_format = "triplet" if as_triplets else "n-tuple"
    if output_format == "n-tuple-scores":
        logger.warning('output_format="n-tuple-scores" is deprecated; use "n-tuple" with output_scores=True.')
        output_format, output_scores = "n-tuple", True
    if margin is not None:
        logger.warning("margin is deprecated; use absolute_margin.")
        absolute_margin = margin
    if use_multi_process:
        logger.warning("use_multi_process is ignored: use executor='ray' with num_actors / num_gpus_per_actor.")
    if cache_folder is not None:
        logger.warning("cache_folder is deprecated; use cache_dir.")
        cache_dir = cache_dir or cache_folder
    _deprecated(options, {"faiss_batch_size": faiss_batch_size, "num_gpus": num_gpus})
    options.setdefault("index", "flat")  # exact search, as sentence-transformers (use_faiss or not)
    options.setdefault("progress", verbose)  # sentence-transformers shows its encode bars exactly when verbose
    opts = build_options(
        range_min=range_min, range_max=range_max, max_score=max_score, min_score=min_score,
        absolute_margin=absolute_margin, relative_margin=relative_margin, num_negatives=num_negatives,
        sampling_strategy=sampling_strategy, query_prompt_name=query_prompt_name, query_prompt=query_prompt,
        corpus_prompt_name=corpus_prompt_name, corpus_prompt=corpus_prompt, include_positives=include_positives,
        output_format=output_format, output_scores=output_scores, batch_size=batch_size, verbose=verbose,
        **options)
    result = mine(dataset, model, corpus=corpus, cross_encoder=cross_encoder, anchor_column_name=anchor_column_name,
                  positive_column_name=positive_column_name, options=opts, output_dir=output_dir,
                  cache_dir=cache_dir)
    return result.to_hf()
