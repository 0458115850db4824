"""`mine_hard_negatives`: sentence-transformers' signature and semantics, on raypipe's sharded pipeline.

Differences from sentence-transformers (on purpose):
- a cross-encoder rescores whenever it is given (theirs only with a margin or score bound);
- an unknown anchor/positive column name raises instead of silently using columns 0/1;
- `use_faiss=False` still searches shard by shard with FAISS flat (exact) indexes; `use_faiss=True` lets `index`
  pick (default "flat", exact either way);
- random sampling is seeded (`seed`) and independent of batching;
- extra keyword arguments: executor ("local" | "ray"; default: "ray" when Ray is already initialized),
  shard_size, index, num_actors, num_gpus, output_dir (write parquet too).
"""

from __future__ import annotations

import logging

from raypipe.mining.index import IndexSpec
from raypipe.mining.pipeline import MiningOptions, mine

__all__ = ["mine_hard_negatives"]

logger = logging.getLogger(__name__)


def _default_executor() -> str:
    try:
        import ray

        return "ray" if ray.is_initialized() else "local"
    except ImportError:
        return "local"


def mine_hard_negatives(dataset, model, anchor_column_name=None, positive_column_name=None, corpus=None,
                        cross_encoder=None, range_min=0, range_max=None, max_score=None, min_score=None,
                        absolute_margin=None, relative_margin=None, num_negatives=3, sampling_strategy="top",
                        query_prompt_name=None, query_prompt=None, corpus_prompt_name=None, corpus_prompt=None,
                        include_positives=False, output_format="triplet", output_scores=False, batch_size=32,
                        faiss_batch_size=16384, use_faiss=False, use_multi_process=False, verbose=True,
                        cache_folder=None, as_triplets=None, margin=None, *, seed=0, executor=None,
                        shard_size=50_000, index="flat", num_actors=1, num_gpus=0.0, output_dir=None):
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
        logger.warning("use_multi_process is ignored: use executor='ray' with num_actors / num_gpus.")
    spec = index if isinstance(index, IndexSpec) else IndexSpec(kind=index)
    opts = MiningOptions(
        range_min=range_min, range_max=range_max, max_score=max_score, min_score=min_score,
        absolute_margin=absolute_margin, relative_margin=relative_margin, num_negatives=num_negatives,
        sampling_strategy=sampling_strategy, seed=seed, query_prompt_name=query_prompt_name,
        query_prompt=query_prompt, corpus_prompt_name=corpus_prompt_name, corpus_prompt=corpus_prompt,
        include_positives=include_positives, output_format=output_format, output_scores=output_scores,
        batch_size=batch_size, search_batch_size=faiss_batch_size, shard_size=shard_size, index=spec,
        executor=executor or _default_executor(), num_actors=num_actors, num_gpus=num_gpus, verbose=verbose)
    result = mine(dataset, model, corpus=corpus, cross_encoder=cross_encoder, anchor_column_name=anchor_column_name,
                  positive_column_name=positive_column_name, options=opts, output_dir=output_dir,
                  cache_dir=cache_folder)
    return result.to_hf()
