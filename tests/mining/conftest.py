"""Mining fixtures: the shipped Debian sample (a slice), the tiny checkpoint loaded by raypipe and by the
sentence-transformers oracle, and shared embedding caches so each parity case only pays for search + filter."""

from __future__ import annotations

from importlib import resources

import pyarrow.parquet as pq
import pytest

SAMPLE = resources.files("raypipe") / "resources" / "debian_sample"


def load_model(path: str, kind: str = "SentenceTransformer"):
    """raypipe's model class; falls back to sentence-transformers' (same interface) while raypipe.models is
    being written."""
    import raypipe

    try:
        return getattr(raypipe, kind)(path, device="cpu")
    except (AttributeError, ImportError):
        import sentence_transformers

        return getattr(sentence_transformers, kind)(path, device="cpu")


@pytest.fixture(scope="session")
def sample_pairs():
    """120 queries, 20 of them with a second positive (multiple positives per query)."""
    t = pq.read_table(str(SAMPLE / "train-pairs.parquet")).slice(0, 120).to_pydict()
    return {"query": t["query"] + t["query"][:20], "positive": t["positive"] + t["positive"][40:60]}


@pytest.fixture(scope="session")
def sample_corpus():
    return pq.read_table(str(SAMPLE / "mining-corpus.parquet")).column("text").to_pylist()[:160]


@pytest.fixture(scope="session")
def rp_model(tiny_bert_dir):
    return load_model(tiny_bert_dir)


@pytest.fixture(scope="session")
def st_model(tiny_bert_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(tiny_bert_dir, device="cpu")


@pytest.fixture(scope="session")
def caches(tmp_path_factory):
    return {"st": str(tmp_path_factory.mktemp("st_cache")), "rp": str(tmp_path_factory.mktemp("rp_cache"))}
