"""The tokenization stage, as pure functions on Arrow batches (the Ray runner runs them on CPU actors; tests run
them here).

A GPU embedding actor that tokenizes for itself idles while it does: one CPU thread tokenizes ~5,600 Debian
descriptions/s with the fast tokenizer, while MiniLM on a modern GPU embeds tens of thousands per second. So with
`tokenize_workers > 0` CPU actors turn each batch's `text` column into token-id columns and the embedding actors
receive ids (`encode_token_ids` -> `model.encode_tokenized`), exactly the ids the model's own `encode` would
build (same prompt, lower-casing and truncation; see raypipe.models.text_tokenizer).

Batch layout: `task`, `row`, `key` (index into the (role, prompt, prompt_name) keys) and `text`; tokenized batches
carry `input_ids`, `attention_mask` (and `token_type_ids`) as list<int32> columns plus `prompt_length` (int32, -1:
no prompt) instead of `text`. Cost O(characters) per batch; ids take ~4 bytes per token on the wire.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["TOKEN_COLUMNS", "tokenize_table", "encoded_from_table", "is_tokenized"]

TOKEN_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")


def _list_column(rows: list[list[int]]) -> pa.Array:
    lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.fromiter((v for r in rows for v in r), np.int32, int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))


def tokenize_table(tokenizer, batch: pa.Table, keys: list[tuple]) -> pa.Table:
    """`batch` with its `text` column replaced by token-id columns (one group per key, rows kept with their
    task/row ids). `tokenizer` is a raypipe TextTokenizer; keys[i] = (role, prompt, prompt_name)."""
    kid = batch.column("key").to_numpy()
    out = []
    for k in np.unique(kid):
        sel = batch.filter(pa.array(kid == k))
        role, prompt, prompt_name = keys[k]
        encoded, plen = tokenizer.encode_role(sel.column("text").to_pylist(), role, prompt, prompt_name)
        t = sel.drop(["text"])
        for name in TOKEN_COLUMNS:
            if name in encoded:
                t = t.append_column(name, _list_column(encoded[name]))
        out.append(t.append_column("prompt_length", pa.array(np.full(t.num_rows, -1 if plen is None else plen,
                                                                      np.int32))))
    return pa.concat_tables(out) if out else batch


def is_tokenized(batch: pa.Table) -> bool:
    return "input_ids" in batch.column_names


def encoded_from_table(batch: pa.Table) -> tuple[dict[str, list], int | None]:
    """(unpadded ids per token column, prompt length or None) of a tokenized batch of ONE key."""
    encoded = {}
    for name in TOKEN_COLUMNS:
        if name in batch.column_names:
            col = batch.column(name).combine_chunks()
            offsets = col.offsets.to_numpy()
            values = col.values.to_numpy()
            encoded[name] = np.split(values[offsets[0]:offsets[-1]], offsets[1:-1] - offsets[0])
    plen = int(batch.column("prompt_length")[0].as_py()) if batch.num_rows else -1
    return encoded, (None if plen < 0 else plen)
