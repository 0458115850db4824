"""Parity with sentence-transformers' mine_hard_negatives (use_faiss=True, top sampling): same rows, same texts,
scores within float tolerance (positive scores: our dot product vs their cosine of normalized vectors).
Filter values are chosen for the tiny random model, whose cosine scores sit in ~[0.85, 1]."""

from __future__ import annotations

import math

import datasets
import pytest

from raypipe.mining import mine_hard_negatives

CASES = [
    dict(),
    dict(num_negatives=5),
    dict(range_min=3, range_max=20, num_negatives=4),
    dict(range_min=10, num_negatives=2, output_format="n-tuple"),
    dict(max_score=0.98),
    dict(min_score=0.97, max_score=0.99, output_format="labeled-pair"),
    dict(absolute_margin=0.0, output_format="n-tuple", output_scores=True),
    dict(absolute_margin=-0.01, num_negatives=2),
    dict(relative_margin=-0.01, output_format="labeled-list"),
    dict(relative_margin=0.0, output_scores=True),
    dict(output_format="n-tuple", num_negatives=6, output_scores=True),
    dict(output_format="labeled-pair", output_scores=True),
    dict(output_format="labeled-list", output_scores=True, num_negatives=4),
    dict(output_format="labeled-list"),
    dict(include_positives=True, num_negatives=4),
    dict(include_positives=True, output_scores=True),
]


def assert_same_rows(a: datasets.Dataset, b: datasets.Dataset, model, anchor: str = "query", tol: float = 1e-4,
                     score_fn=None):
    """Row-by-row equality; a differing text is accepted only as a tie: it must score the same against the row's
    anchor as the text it replaces (the tiny model truncates at 64 tokens, so long texts can share an embedding)."""
    assert a.column_names == b.column_names
    assert len(a) == len(b), (len(a), len(b))

    def sim(q, d):
        if score_fn is not None:
            return score_fn(q, d)
        e = model.encode([q, d], normalize_embeddings=True, convert_to_numpy=True)
        return float(e[0] @ e[1])

    for i, (x, y) in enumerate(zip(a.to_list(), b.to_list())):
        for k in x:
            u, v = x[k], y[k]
            u, v = (u, v) if isinstance(u, list) else ([u], [v])
            assert len(u) == len(v), (i, k)
            for p, q in zip(u, v):
                if isinstance(p, float):
                    assert math.isclose(p, q, abs_tol=tol), (i, k, u, v)
                elif p != q and isinstance(p, str):
                    assert abs(sim(x[anchor], p) - sim(x[anchor], q)) < tol, (i, k, p[:60], q[:60])
                else:
                    assert p == q, (i, k, u, v)


@pytest.mark.parametrize("kw", CASES, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "default" for c in CASES])
def test_parity_with_sentence_transformers(kw, sample_pairs, sample_corpus, rp_model, st_model, caches):
    from sentence_transformers.util import mine_hard_negatives as st_mine

    ds = datasets.Dataset.from_dict(sample_pairs)
    theirs = st_mine(ds, st_model, corpus=sample_corpus, use_faiss=True, verbose=False,
                     cache_folder=caches["st"], **kw)
    ours = mine_hard_negatives(ds, rp_model, corpus=sample_corpus, verbose=False, cache_folder=caches["rp"],
                               executor="local", **kw)
    assert len(ours) > 0
    assert_same_rows(theirs, ours, st_model)
