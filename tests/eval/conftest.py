"""Eval test fixtures: each tiny checkpoint loaded once with raypipe (code under test) and once with
sentence-transformers (the oracle), plus a small synthetic retrieval set with score ties."""

from __future__ import annotations

import random

import pytest

WORDS = (
    "the a package library python debian data file system server tool web image audio video game kernel "
    "driver font network database plugin module"
).split()


@pytest.fixture(scope="session")
def dense_pair(tiny_bert_dir):
    import sentence_transformers as st

    import raypipe

    return raypipe.SentenceTransformer(tiny_bert_dir), st.SentenceTransformer(tiny_bert_dir)


@pytest.fixture(scope="session")
def sparse_pair(tiny_mlm_dir):
    import sentence_transformers as st

    import raypipe

    return raypipe.SparseEncoder(tiny_mlm_dir), st.SparseEncoder(tiny_mlm_dir)


@pytest.fixture(scope="session")
def cross_pair(tiny_cls_dir):
    import sentence_transformers as st

    import raypipe

    return raypipe.CrossEncoder(tiny_cls_dir), st.CrossEncoder(tiny_cls_dir)


@pytest.fixture(scope="session")
def cross3_pair(tiny_cls3_dir):
    import sentence_transformers as st

    import raypipe

    return raypipe.CrossEncoder(tiny_cls3_dir), st.CrossEncoder(tiny_cls3_dir)


def make_sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n))


@pytest.fixture(scope="session")
def ir_data():
    """(queries, corpus, relevant_docs): 40 queries (35 with qrels), 302 docs incl. exact duplicates (ties)."""
    rng = random.Random(0)
    corpus = {f"d{i:03d}": make_sentence(rng, 8) for i in range(300)}
    corpus["dup-b"] = corpus["d003"]
    corpus["dup-a"] = corpus["d003"]
    queries = {f"q{i}": make_sentence(rng, 3) for i in range(40)}
    relevant = {f"q{i}": set(rng.sample(sorted(corpus), rng.randint(1, 3))) for i in range(35)}
    relevant["q0"].add("dup-a")
    return queries, corpus, relevant


@pytest.fixture(scope="session")
def pair_data():
    rng = random.Random(1)
    s1 = [make_sentence(rng, rng.randint(2, 7)) for _ in range(60)]
    s2 = [make_sentence(rng, rng.randint(2, 7)) for _ in range(60)]
    s2[:5] = s1[:5]  # identical pairs -> tied top scores
    labels = [rng.randint(0, 1) for _ in range(60)]
    scores = [rng.random() for _ in range(60)]
    return s1, s2, labels, scores
