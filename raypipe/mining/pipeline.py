"""The mining pipeline: read -> embed -> index/search -> (rescore) -> filter -> sample -> format -> write.

`mine(...)` is the scalable entry point: it takes parquet/jsonl paths, HF or Ray Datasets, writes the output as
parquet (atomically) and returns a `MiningResult` (`.to_ray()` / `.to_hf()` read it back).
Memory on the driver: texts (Arrow), query embeddings O(N_q x d), the merged top-k O(N_q x K) and one query batch of
output; corpus embeddings only ever live one shard at a time per worker.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from raypipe.mining.embed import embed_all, load_shard
from raypipe.mining.filter import FilterParams, apply_filters, rank_window
from raypipe.mining.formats import Batch, build_output
from raypipe.mining.options import MiningOptions
from raypipe.mining.read import MiningInput, prepare_input
from raypipe.mining.rescore import rescore_candidates
from raypipe.mining.runner import get_runner
from raypipe.mining.sample import sample_negatives
from raypipe.mining.search import search_all
from raypipe.mining.stats import format_stats, score_stats
from raypipe.mining.write import AtomicParquetWriter

__all__ = ["MiningOptions", "MiningResult", "mine", "resolve_options"]  # MiningOptions: from options.py


@dataclass
class MiningResult:
    output_dir: str | None
    table: pa.Table | None
    stats: dict
    stats_text: str
    info: dict

    def to_hf(self):
        import datasets

        if self.table is not None:
            return datasets.Dataset(datasets.table.InMemoryTable(self.table))
        return datasets.Dataset.from_parquet(os.path.join(self.output_dir, "*.parquet"))

    def to_ray(self):
        from raypipe.mining.ray_runner import read_output

        return read_output(self.output_dir)


def resolve_options(o: MiningOptions, max_positives: int, has_cross_encoder: bool) -> MiningOptions:
    """Fill range_max from the data; raises before any embedding. Returns a new MiningOptions."""
    return o.resolved(max_positives, has_cross_encoder)


def _load_queries(shards):
    parts = [load_shard(p) for p in shards.paths]
    return sp.vstack(parts).tocsr() if shards.sparse else np.concatenate(parts, axis=0)


def _embed_and_search(inp: MiningInput, model, o: MiningOptions, runner, cache_dir: str, k: int):
    c_sh, q_sh = embed_all(
        [dict(texts=inp.corpus, role="document", prompt=o.corpus_prompt, prompt_name=o.corpus_prompt_name),
         dict(texts=inp.queries, role="query", prompt=o.query_prompt, prompt_name=o.query_prompt_name)],
        model, cache_dir, runner, batch_size=o.batch_size, shard_size=o.shard_size)
    queries = _load_queries(q_sh)
    scores, ids, pos_scores, info = search_all(
        queries, c_sh, k, o.index, runner, batch_size=o.search_batch_size, pair_qid=inp.pair_qid,
        pair_did=inp.pair_did)
    info.update(embedded_documents=c_sh.embedded, embedded_queries=q_sh.embedded, corpus_shards=len(c_sh),
                cache_dir=cache_dir)
    return scores, ids, pos_scores, info


def _batches(inp: MiningInput, scores, ids, pos_scores, o: MiningOptions, writer, tables: list | None):
    """Filter, sample and format query batches; returns (skipped counters, negatives, differences, max rows)."""
    p = FilterParams(o.range_min, o.range_max, o.max_score, o.min_score, o.absolute_margin, o.relative_margin,
                     o.include_positives)
    n_pos = inp.n_positives
    starts = np.concatenate([[0], np.cumsum(n_pos)])
    min_pos = np.minimum.reduceat(pos_scores, starts[:-1]) if len(pos_scores) else np.zeros(0, np.float32)
    counters: dict[str, int] = {}
    negs, diffs, max_rows = [], [], 0
    for b0 in range(0, len(inp.queries), o.query_batch_size):
        b1 = min(b0 + o.query_batch_size, len(inp.queries))
        pr = slice(starts[b0], starts[b1])
        pair_b = inp.pair_qid[pr] - b0
        pos_mat = np.full((b1 - b0, int(n_pos[b0:b1].max())), -1, np.int64)
        pos_mat[pair_b, np.arange(len(pair_b)) - (starts[b0:b1] - starts[b0])[pair_b]] = inp.pair_did[pr]
        s = apply_filters(scores[b0:b1], ids[b0:b1], pos_mat, min_pos[b0:b1], p, counters)
        ws, wi = rank_window(s, ids[b0:b1], p)
        ns, ni = sample_negatives(ws, wi, o.num_negatives, o.sampling_strategy, o.seed, np.arange(b0, b1))
        batch = Batch(np.arange(b0, b1), pair_b, inp.pair_did[pr], pos_scores[pr], ns, ni)
        table, neg, diff, mx = build_output(o.output_format, batch, inp.queries, inp.corpus, inp.anchor_column,
                                            inp.positive_column, o.output_scores)
        max_rows += mx if mx is not None else (b1 - b0) * o.num_negatives
        writer.write(table) if writer is not None else tables.append(table)
        negs.append(neg)
        diffs.append(diff)
    if o.output_format == "labeled-pair":
        max_rows += inp.n_rows
    return counters, np.concatenate(negs), np.concatenate(diffs), max_rows


def mine(dataset, model, *, corpus=None, cross_encoder=None, anchor_column_name: str | None = None,
         positive_column_name: str | None = None, corpus_column_name: str | None = None,
         options: MiningOptions | None = None, output_dir: str | None = None, cache_dir: str | None = None,
         overwrite: bool = True) -> MiningResult:
    """Mine hard negatives. With `output_dir`, parquet parts are written there atomically (result.table is None);
    without, the output stays in memory (result.table). Bad input raises ValueError before any embedding."""
    o = options or MiningOptions()
    inp = prepare_input(dataset, anchor_column_name, positive_column_name, corpus, corpus_column_name)
    o = resolve_options(o, inp.max_positives, cross_encoder is not None)
    runner = get_runner(o)
    tmp = tempfile.TemporaryDirectory(prefix="raypipe-mine-") if cache_dir is None else None
    writer = AtomicParquetWriter(output_dir, overwrite) if output_dir else None
    try:
        k = o.range_max + inp.max_positives
        scores, ids, pos_scores, info = _embed_and_search(inp, model, o, runner, cache_dir or tmp.name, k)
        info["executor"] = runner.name
        if cross_encoder is not None:
            scores, pos_scores = rescore_candidates(cross_encoder, inp.queries, inp.corpus, ids, inp.pair_qid,
                                                    inp.pair_did, runner, o.batch_size)
        tables: list[pa.Table] = []
        counters, neg, diff, max_rows = _batches(inp, scores, ids, pos_scores, o, writer, tables)
        stats = score_stats(pos_scores, neg, diff)
        n_out = writer.rows if writer else sum(t.num_rows for t in tables)
        text = format_stats(stats, counters, o.model_dump(), max_rows - n_out, max_rows)
        info.update(queries=len(inp.queries), documents=len(inp.corpus), pairs=len(inp.pair_qid), rows=n_out,
                    range_max=o.range_max, skipped=counters)
        table = None
        if writer:
            output_dir = writer.commit({"stats": stats, "info": info})
        else:
            table = pa.concat_tables(tables)
        if o.verbose:
            print(text)
        return MiningResult(output_dir, table, stats, text, info)
    except BaseException:
        if writer:
            writer.abort()
        raise
    finally:
        if tmp is not None:
            tmp.cleanup()
