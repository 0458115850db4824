"""The tokenization stage without Ray: the CPU tokenizer actor's batch -> token ids -> the embedding actor gives
exactly the embeddings the embedding actor computes from the texts itself (the Ray pipeline only moves these
batches between them; tests/mining/test_ray.py runs it on an embedded Ray)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
import torch

from raypipe.mining.embed import EmbedSettings
from raypipe.mining.tokenize import encoded_from_table, tokenize_table
from raypipe.models.lazy import LazyModel

KEYS = [("document", None, None), ("query", "query: ", None)]


@pytest.fixture
def restore_threads():
    threads, env = torch.get_num_threads(), os.environ.get("TOKENIZERS_PARALLELISM")
    yield
    torch.set_num_threads(threads)
    if env is None:
        os.environ.pop("TOKENIZERS_PARALLELISM", None)
    else:
        os.environ["TOKENIZERS_PARALLELISM"] = env


def _batch(texts):
    from raypipe.mining.collect import ShardRows

    return pa.concat_tables([ShardRows(0, pa.array(texts[:30]), 0).block(0, 30),
                             ShardRows(1, pa.array(texts[30:50]), 1).block(0, 20)])


def _by_task_row(t: pa.Table) -> np.ndarray:
    t = t.sort_by([("task", "ascending"), ("row", "ascending")])
    col = t.column("embedding").combine_chunks()
    return col.flatten().to_numpy().reshape(len(col), -1)


@pytest.mark.parametrize("from_folder", [False, True])
def test_tokenizer_stage_gives_the_embedders_identical_inputs(from_folder, tiny_bert_dir, sample_corpus,
                                                              restore_threads):
    from raypipe.mining.ray_runner import _Embedder, _Tokenizer

    lazy = LazyModel(tiny_bert_dir, "dense", device="cpu")
    batch = _batch(sample_corpus)
    embedder = _Embedder({"lazy": lazy}, KEYS, EmbedSettings(batch_size=8), 1.0)
    handle = {"lazy": lazy} if from_folder else {"tokenizer": lazy.load().text_tokenizer()}
    tokenized = _Tokenizer(handle, KEYS, 1.0)(batch)
    assert "text" not in tokenized.column_names and tokenized.num_rows == batch.num_rows
    assert np.array_equal(_by_task_row(embedder(tokenized)), _by_task_row(embedder(batch)))


def test_token_columns_round_trip(rp_model, sample_corpus):
    tok = rp_model.text_tokenizer()
    batch = _batch(sample_corpus).filter(pa.array(np.arange(50) >= 30))  # the query rows: one key, a prompt
    table = tokenize_table(tok, batch, KEYS)
    encoded, plen = encoded_from_table(table.slice(3, 10))  # a slice: offsets must be rebased
    want, want_plen = tok.encode_role(batch.column("text").to_pylist()[3:13], "query", "query: ")
    assert plen == want_plen and [list(x) for x in encoded["input_ids"]] == want["input_ids"]
