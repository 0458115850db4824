"""The mining pipeline: read -> embed -> index/search -> (rescore) -> filter -> sample -> format -> write.

`mine(...)` is the scalable entry point: it takes parquet/jsonl paths, HF or Ray Datasets, writes the output as
parquet (atomically) and returns a `MiningResult` (`.to_ray()` / `.to_hf()` read it back).
Memory on the driver: texts (Arrow), a few int/float arrays per (query, positive) pair, and -- per query shard in
flight -- its merged top-k O(query_shard_size x K) and one query batch of output. Query embeddings are read from the
embedding cache by the search workers, never by the driver; corpus embeddings only ever live one shard at a time per
worker. So the driver's memory does not grow with the number of queries beyond their texts and ids.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from raypipe.mining.embed import embed_all
from raypipe.mining.filter import FilterParams, apply_filters, rank_window
from raypipe.mining.formats import Batch, build_output
from raypipe.mining.options import MiningOptions
from raypipe.mining.progress import Progress
from raypipe.mining.read import MiningInput, prepare_input
from raypipe.mining.rescore import rescore_candidates
from raypipe.mining.runner import get_runner
from raypipe.mining.sample import sample_negatives
from raypipe.mining.search import search_query_shards
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


def _embed(inp: MiningInput, model, o: MiningOptions, runner, cache_dir: str, progress: Progress):
    c_sh, q_sh = embed_all(
        [dict(texts=inp.corpus, role="document", prompt=o.corpus_prompt, prompt_name=o.corpus_prompt_name,
              shard_size=o.shard_size),
         dict(texts=inp.queries, role="query", prompt=o.query_prompt, prompt_name=o.query_prompt_name,
              shard_size=o.query_shard_size)],
        model, cache_dir, runner, batch_size=o.batch_size, compute_dtype=o.compute_dtype,
        max_batch_tokens=o.max_batch_tokens, progress=progress)
    info = dict(embedded_documents=c_sh.embedded, embedded_queries=q_sh.embedded, corpus_shards=len(c_sh),
                query_shards=len(q_sh), cache_dir=cache_dir)
    return c_sh, q_sh, info


@dataclass
class _Totals:
    """What the statistics need from every query batch: removal counters, negative and difference scores."""

    counters: dict = field(default_factory=dict)
    positives: list = field(default_factory=list)
    negs: list = field(default_factory=list)
    diffs: list = field(default_factory=list)
    max_rows: int = 0


def _batches(inp: MiningInput, q0: int, q1: int, scores, ids, pos_scores, o: MiningOptions, writer,
             tables: list, t: _Totals) -> None:
    """Filter, sample, format and write queries [q0, q1) (one query shard: scores/ids (q1-q0, K), pos_scores of
    its pairs) in batches of query_batch_size. O(batch x K x P) memory."""
    p = FilterParams(o.range_min, o.range_max, o.max_score, o.min_score, o.absolute_margin, o.relative_margin,
                     o.include_positives)
    starts = inp.pair_starts
    for b0 in range(q0, q1, o.query_batch_size):
        b1 = min(b0 + o.query_batch_size, q1)
        pr = slice(starts[b0], starts[b1])
        local = slice(starts[b0] - starts[q0], starts[b1] - starts[q0])
        bs, bi, pos = scores[b0 - q0:b1 - q0], ids[b0 - q0:b1 - q0], pos_scores[local]
        first = starts[b0:b1] - starts[b0]  # every query has >= 1 pair
        min_pos = np.minimum.reduceat(pos, first)
        pair_b = inp.pair_qid[pr] - b0
        n_pos = np.diff(starts[b0:b1 + 1])
        pos_mat = np.full((b1 - b0, int(n_pos.max())), -1, np.int64)
        pos_mat[pair_b, np.arange(len(pair_b)) - first[pair_b]] = inp.pair_did[pr]
        s = apply_filters(bs, bi, pos_mat, min_pos, p, t.counters)
        ws, wi = rank_window(s, bi, p)
        ns, ni = sample_negatives(ws, wi, o.num_negatives, o.sampling_strategy, o.seed, np.arange(b0, b1))
        batch = Batch(np.arange(b0, b1), pair_b, inp.pair_did[pr], pos, ns, ni)
        table, neg, diff, mx = build_output(o.output_format, batch, inp.queries, inp.corpus, inp.anchor_column,
                                            inp.positive_column, o.output_scores)
        t.max_rows += mx if mx is not None else (b1 - b0) * o.num_negatives
        writer.write(table) if writer is not None else tables.append(table)
        t.positives.append(pos)
        t.negs.append(neg)
        t.diffs.append(diff)


def _check_dtype(o: MiningOptions, model, runner) -> None:
    """float16 where the model would run on a CPU is an error before any work (the Ray case is an options check)."""
    if o.compute_dtype != "float16" or runner.name != "local":
        return
    from raypipe.models.lazy import load_model
    from raypipe.models.precision import resolve_compute_dtype

    device = getattr(load_model(model), "device", "cpu")
    resolve_compute_dtype(o.compute_dtype, device, param="compute_dtype")


def _mine_shards(inp, model, cross_encoder, o, runner, cache_dir, writer, tables, progress) -> tuple:
    """Embed, then per query shard: search, (rescore), filter, sample, write. Returns (_Totals, info)."""
    k = o.range_max + inp.max_positives
    c_sh, q_sh, info = _embed(inp, model, o, runner, cache_dir, progress)
    totals = _Totals()
    n_pairs = len(inp.pair_qid)
    with contextlib.ExitStack() as stack:
        search_bar = stack.enter_context(progress.bar("search", total=len(q_sh) * len(c_sh), unit="shard"))
        ce_bar = (stack.enter_context(progress.bar("rescore", total=len(inp.queries) * k + n_pairs, unit="pair"))
                  if cross_encoder is not None else None)
        for qi, scores, ids, pos_scores in search_query_shards(
                q_sh, c_sh, k, o.index, runner, batch_size=o.search_batch_size, pair_qid=inp.pair_qid,
                pair_did=inp.pair_did, pair_starts=inp.pair_starts, info=info, bar=search_bar):
            q0, q1 = q_sh.starts[qi], q_sh.stops[qi]
            if cross_encoder is not None:
                p0, p1 = inp.pair_starts[q0], inp.pair_starts[q1]
                scores, pos_scores = rescore_candidates(
                    cross_encoder, inp.queries.slice(q0, q1 - q0), inp.corpus, ids, inp.pair_qid[p0:p1] - q0,
                    inp.pair_did[p0:p1], runner, o.batch_size, compute_dtype=o.compute_dtype, bar=ce_bar,
                    max_batch_tokens=o.max_batch_tokens)
            _batches(inp, q0, q1, scores, ids, pos_scores, o, writer, tables, totals)
    return totals, info


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
    _check_dtype(o, model, runner)
    tables: list[pa.Table] = []
    tmp = tempfile.TemporaryDirectory(prefix="raypipe-mine-") if cache_dir is None else None
    writer = AtomicParquetWriter(output_dir, overwrite) if output_dir else None
    try:
        totals, info = _mine_shards(inp, model, cross_encoder, o, runner, cache_dir or tmp.name, writer, tables,
                                    Progress(o.progress))
        info["executor"] = runner.name
        pos_scores = np.concatenate(totals.positives) if totals.positives else np.zeros(0, np.float32)
        neg = np.concatenate(totals.negs) if totals.negs else np.zeros(0, np.float32)
        diff = np.concatenate(totals.diffs) if totals.diffs else np.zeros(0, np.float32)
        max_rows = totals.max_rows + (inp.n_rows if o.output_format == "labeled-pair" else 0)
        stats = score_stats(pos_scores, neg, diff)
        n_out = writer.rows if writer else sum(t.num_rows for t in tables)
        text = format_stats(stats, totals.counters, o.model_dump(), max_rows - n_out, max_rows)
        info.update(queries=len(inp.queries), documents=len(inp.corpus), pairs=len(inp.pair_qid), rows=n_out,
                    range_max=o.range_max, skipped=totals.counters)
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
