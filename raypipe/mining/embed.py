"""Embed stage: texts -> normalized embeddings written as parquet shards, cached and reused on rerun.

Texts (ids 0..n-1) are cut into shards of `shard_size` rows. A shard's file name is a hash of (model fingerprint,
role, prompt, prompt name, the shard's texts), so a rerun -- or a run that was interrupted -- skips every shard already
on disk and embeds only the missing ones. Files are written to a temporary name and renamed, so a killed run never
leaves a half-written shard behind.

Where the shards are encoded is the runner's business (`runner.py`: this process, or a Ray actor pool); this
module plans the shards and knows how to encode, store and load one. The Ray runner's driver spills rows to disk
as they come back (`collect.py`), so its memory is O(rows per call x dim), not O(shard) nor O(corpus). The cache key
includes the compute dtype when it is not float32 (bf16 embeddings never stand in for float32 ones).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from raypipe.atomic import atomic_path
from raypipe.mining.progress import NO_PROGRESS
from raypipe.models.lazy import LazyModel

__all__ = ["EmbeddingShards", "EmbedSettings", "embed_texts", "embed_all", "cache_dtype", "limit_kernel_cache",
           "model_fingerprint", "is_sparse_model", "encode_texts", "encode_token_ids", "load_shard", "texts_hash",
           "embedding_table", "write_atomic", "plan_shards", "release_memory", "local_chunk"]


@dataclass
class EmbeddingShards:
    """Shard files covering ids [starts[i], stops[i]); `embedded` counts rows encoded in this run (0 = all cached)."""

    paths: list[str]
    starts: list[int]
    stops: list[int]
    sparse: bool
    embedded: int = 0
    dim: int | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)


def is_sparse_model(model: Any) -> bool:
    if isinstance(model, LazyModel):
        return model.kind == "sparse"
    return hasattr(model, "max_active_dims") or "Sparse" in type(model).__name__


def model_fingerprint(model: Any) -> str:
    """Hash of the class, max_seq_length, the module layout and a slice of every parameter: cheap (reads <=4096 values per
    tensor) yet changes whenever weights change, unlike a model name. A LazyModel hashes its folder's files."""
    if isinstance(model, LazyModel):
        return model.fingerprint()
    if isinstance(model, str):
        return hashlib.sha256(os.path.abspath(model).encode()).hexdigest()[:16]
    h = hashlib.sha256(type(model).__name__.encode())
    # the truncation length changes the embeddings of long texts with the same weights
    h.update(repr(getattr(model, "max_seq_length", None)).encode())
    if hasattr(model, "named_parameters"):
        for name, p in model.named_parameters():
            h.update(name.encode())
            h.update(str(tuple(p.shape)).encode())
            h.update(p.detach().reshape(-1)[:4096].float().cpu().numpy().tobytes())
    else:
        h.update(repr(model).encode())
    return h.hexdigest()[:16]


def texts_hash(texts: pa.Array) -> str:
    """sha256 of a string array (or slice): its text lengths and bytes, independent of the parent buffer."""
    off_buf = texts.buffers()[1]
    offsets = np.frombuffer(off_buf, dtype=np.int32)[texts.offset: texts.offset + len(texts) + 1]
    h = hashlib.sha256(np.diff(offsets).astype(np.int64).tobytes())
    data = texts.buffers()[2]
    if data is not None:
        h.update(memoryview(data)[int(offsets[0]):int(offsets[-1])])
    return h.hexdigest()


def _dtype_kwargs(compute_dtype: str) -> dict:
    # float32 is not passed at all, so models without a compute_dtype parameter (wrappers, test doubles) still work
    return {} if compute_dtype == "float32" else {"compute_dtype": compute_dtype}


def _as_output(emb, sparse: bool):
    """Dense: (n, d) float32 C-contiguous; sparse (torch COO): scipy CSR (n, vocab) float32."""
    if not sparse:
        return np.ascontiguousarray(emb, dtype=np.float32)
    emb = emb.coalesce().cpu()
    idx = emb.indices().numpy()
    return sp.csr_matrix((emb.values().float().numpy(), (idx[0], idx[1])), shape=tuple(emb.shape),
                         dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc
        return None


def release_memory() -> None:
    """Give the C heap's free pages back to the OS (glibc `malloc_trim`; a no-op elsewhere). Called by the runners
    after every encode call: batches of many different shapes fragment the heap, and without it an embedding
    process's RSS crept up call after call (MiniLM, 512 texts: +235 MB after the first batch's peak), which is
    what the job's summed peak memory counts. Costs a few ms per call of seconds."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def local_chunk(batch_size: int) -> int:
    """Texts per encode call of the local runner (and, at most, per Ray actor call): the models' own tokenization
    chunk, so calling encode chunk by chunk (to report progress) forms exactly the batches one call over the whole
    shard would."""
    return max(batch_size * 64, 4096)


KERNEL_CACHE_CAPACITY = 8


def limit_kernel_cache(capacity: int = KERNEL_CACHE_CAPACITY) -> None:
    """Cap the caches of compiled CPU kernels for a process that only embeds: oneDNN's
    (`ONEDNN_PRIMITIVE_CACHE_CAPACITY`, torch's float32 and bfloat16 matmuls) and ideep's (`LRU_CACHE_CAPACITY`,
    bfloat16 autocast's matmuls), each keeping up to 1,024 kernels, one per input shape, where length-sorted
    batches have hundreds of shapes. MiniLM embedding Debian descriptions on 2 threads in 512-text calls: peak RSS
    1,347 -> 1,069 MB (bfloat16) and 1,312 -> 1,051 MB (float32) with oneDNN's at 8, at the same speed (0
    recompiles every batch: 1.9x slower); ideep's cache alone grew a bfloat16 process ~5 MB per 1,000 texts
    (10,000 texts: 823 -> 715 MB, 39.9 vs 39.2 s with it at 8). Takes effect if set before the process's first
    oneDNN call; a value already in the environment wins. Called by the Ray actors (their own processes), not in a
    user's process."""
    for var in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"):
        os.environ.setdefault(var, str(capacity))


def _tokens_kwargs(max_batch_tokens: int | None) -> dict:
    return {} if max_batch_tokens is None else {"max_batch_tokens": max_batch_tokens}  # as _dtype_kwargs


def encode_texts(model: Any, texts: list[str], role: str, prompt: str | None, prompt_name: str | None,
                 batch_size: int, compute_dtype: str = "float32", max_batch_tokens: int | None = None):
    """Dense: (n, d) float32 normalized. Sparse: scipy CSR (n, vocab) float32 (raw, dot-product scores)."""
    fn = model.encode_query if role == "query" else model.encode_document
    kw = dict(prompt=prompt, prompt_name=prompt_name, batch_size=batch_size, show_progress_bar=False,
              **_dtype_kwargs(compute_dtype), **_tokens_kwargs(max_batch_tokens))
    if is_sparse_model(model):
        return _as_output(fn(texts, convert_to_tensor=True, **kw), True)
    return _as_output(fn(texts, normalize_embeddings=True, convert_to_numpy=True, **kw), False)


def encode_token_ids(model: Any, encoded: dict[str, list], prompt_length: int | None, batch_size: int,
                     compute_dtype: str = "float32", max_batch_tokens: int | None = None):
    """As `encode_texts`, for texts a tokenization stage already turned into unpadded ids (prompt included)."""
    kw = dict(batch_size=batch_size, compute_dtype=compute_dtype, max_batch_tokens=max_batch_tokens)
    if is_sparse_model(model):
        return _as_output(model.encode_tokenized(encoded, **kw), True)
    return _as_output(model.encode_tokenized(encoded, prompt_length=prompt_length, normalize_embeddings=True, **kw),
                      False)


def embedding_table(emb) -> pa.Table:
    """Dense (n, d) -> one fixed-size-list column; sparse CSR -> indices/values list columns + dim."""
    if sp.issparse(emb):
        emb = emb.tocsr()
        offsets = pa.array(emb.indptr.astype(np.int32))
        return pa.table({
            "indices": pa.ListArray.from_arrays(offsets, pa.array(emb.indices.astype(np.int32))),
            "values": pa.ListArray.from_arrays(offsets, pa.array(emb.data.astype(np.float32))),
            "dim": pa.array(np.full(emb.shape[0], emb.shape[1], np.int32)),
        })
    flat = pa.array(np.asarray(emb, np.float32).reshape(-1))
    return pa.table({"embedding": pa.FixedSizeListArray.from_arrays(flat, emb.shape[1])})


# Rows per parquet row group of a shard file: `load_shard` decodes one group at a time, so a reader's transient
# memory is one group (a 384-d float32 group of 4,096 rows: 6 MB), not a second and third copy of the shard.
ROW_GROUP_ROWS = 4096


def write_atomic(table: pa.Table, path: str) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS)


def _load_dense(f: pq.ParquetFile) -> np.ndarray:
    """(n, d) float32, filled one row group at a time. Reading the whole table and flattening it peaked at ~4x
    the shard's size in a search worker (46,037 x 384: +470 MB for a 70 MB matrix); this peaks at the matrix plus
    one decoded row group."""
    n, d = f.metadata.num_rows, f.schema_arrow.field("embedding").type.list_size
    out = np.empty((n, d), np.float32)
    s = 0
    for g in range(f.metadata.num_row_groups):
        col = f.read_row_group(g, columns=["embedding"], use_threads=False).column(0).combine_chunks()
        out[s:s + len(col)] = col.flatten().to_numpy().reshape(len(col), d)
        s += len(col)
    pa.default_memory_pool().release_unused()  # hand the decode buffers back instead of keeping them pooled
    return out


def load_shard(path: str):
    """Dense shard -> (n, d) float32 array; sparse shard -> CSR matrix."""
    f = pq.ParquetFile(path, pre_buffer=False)
    if "embedding" in f.schema_arrow.names:
        return _load_dense(f)
    t = f.read()
    ind, val = t.column("indices").combine_chunks(), t.column("values").combine_chunks()
    indptr = ind.offsets.to_numpy()
    dim = int(t.column("dim")[0].as_py()) if t.num_rows else 0
    return sp.csr_matrix((val.flatten().to_numpy(), ind.flatten().to_numpy(), indptr - indptr[0]),
                         shape=(len(ind), dim), dtype=np.float32)


@dataclass(frozen=True)
class EmbedSettings:
    """How a runner encodes texts: texts per encode batch, the compute dtype (raypipe.models.precision) and the cap
    on a batch's padded tokens (raypipe.models.base.length_sorted_batches; None: batch_size rows whatever their
    length)."""

    batch_size: int = 32
    compute_dtype: str = "float32"
    max_batch_tokens: int | None = None


def cache_dtype(compute_dtype: str, gpu: bool) -> str:
    """The dtype a cache key records: `auto` resolved where the embedding runs on this machine's CPU (so an `auto`
    cache made where bf16 pays off never stands in for float32 elsewhere, and `auto` reuses the float32 or bfloat16
    caches of the dtype it means); on GPU actors `auto` stays as given (resolved on the GPU, not here)."""
    if compute_dtype != "auto" or gpu:
        return compute_dtype
    from raypipe.models.precision import resolve_compute_dtype

    return str(resolve_compute_dtype("auto", "cpu")).removeprefix("torch.")


def plan_shards(texts: pa.Array, role, prompt, prompt_name, fp, cache_dir, shard_size, compute_dtype="float32"):
    """Cache paths and id ranges of the shards of `texts`. The key is (model fingerprint, role, prompts, the
    shard's texts) plus the compute dtype when it is not float32, so float32 caches of earlier runs stay valid and
    bf16 embeddings never stand in for float32 ones."""
    paths, starts, stops = [], [], []
    extra = () if compute_dtype == "float32" else (compute_dtype,)
    for start in range(0, len(texts), shard_size):
        stop = min(start + shard_size, len(texts))
        key = hashlib.sha256(repr((fp, role, prompt, prompt_name, texts_hash(texts.slice(start, stop - start)))
                                  + extra).encode()).hexdigest()[:24]
        paths.append(os.path.join(cache_dir, f"{role}-{key}.parquet"))
        starts.append(start)
        stops.append(stop)
    return paths, starts, stops


def embed_all(jobs: list[dict], model: Any, cache_dir: str, runner, *, batch_size: int = 32,
              shard_size: int = 50_000, compute_dtype: str = "float32", max_batch_tokens: int | None = None,
              progress=NO_PROGRESS) -> list[EmbeddingShards]:
    """Embed several text sets (dicts with texts, role, prompt, prompt_name and optionally their own shard_size)
    into cached shards under cache_dir, in ONE runner call (actors start once); shards already cached are skipped.
    Cost O(n) encode; shows one progress bar over the texts still to embed."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    fp = model_fingerprint(model)
    on_gpu = bool(getattr(runner, "num_gpus", 0)) or str(getattr(model, "device", "cpu")).startswith("cuda")
    key_dtype = cache_dtype(compute_dtype, gpu=on_gpu)
    sparse = is_sparse_model(model)
    outs, tasks = [], []
    for job in jobs:
        if job["role"] not in ("query", "document"):
            raise ValueError(f"role={job['role']!r} must be 'query' or 'document'.")
        key = (job["role"], job.get("prompt"), job.get("prompt_name"))
        paths, starts, stops = plan_shards(job["texts"], *key, fp, cache_dir, job.get("shard_size") or shard_size,
                                           key_dtype)
        out = EmbeddingShards(paths, starts, stops, sparse=sparse)
        for i, path in enumerate(paths):
            if not os.path.exists(path):
                tasks.append((path, job["texts"].slice(starts[i], stops[i] - starts[i]), key))
                out.embedded += stops[i] - starts[i]
        outs.append(out)
    if tasks:
        total = sum(len(t[1]) for t in tasks)
        with progress.bar("embed", total=total, unit="text") as bar:
            runner.embed(model, tasks, EmbedSettings(batch_size, compute_dtype, max_batch_tokens), bar)
    return outs


def embed_texts(texts: pa.Array, model: Any, role: str, cache_dir: str, runner, *, prompt: str | None = None,
                prompt_name: str | None = None, **kwargs) -> EmbeddingShards:
    """Embed one text set; see `embed_all`."""
    return embed_all([dict(texts=texts, role=role, prompt=prompt, prompt_name=prompt_name)], model, cache_dir,
                     runner, **kwargs)[0]
