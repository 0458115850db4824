"""Dense pair / triplet / reranking / distillation / paraphrase-mining evaluators vs sentence-transformers."""

from __future__ import annotations

import csv

import pytest

from raypipe.eval import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    MSEEvaluator,
    ParaphraseMiningEvaluator,
    RerankingEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)
from raypipe.eval.metrics import find_best_acc_and_threshold, find_best_f1_and_threshold
from tests.eval.parity import assert_parity

ALL_FNS = ["cosine", "dot", "euclidean", "manhattan"]


def _st():
    from sentence_transformers import evaluation

    return evaluation


@pytest.mark.parametrize("kwargs", [{}, {"similarity_fn_names": ALL_FNS, "name": "sts"}])
def test_embedding_similarity_parity(dense_pair, pair_data, kwargs):
    s1, s2, _, scores = pair_data
    ours = EmbeddingSimilarityEvaluator(s1, s2, scores, **kwargs)
    theirs = _st().EmbeddingSimilarityEvaluator(s1, s2, scores, **kwargs)
    assert_parity(ours(dense_pair[0]), theirs(dense_pair[1]))
    assert ours.primary_metric == theirs.primary_metric


@pytest.mark.parametrize("kwargs", [{}, {"similarity_fn_names": ALL_FNS, "name": "pairs"}])
def test_binary_classification_parity(dense_pair, pair_data, kwargs, tmp_path):
    s1, s2, labels, _ = pair_data
    ours = BinaryClassificationEvaluator(s1, s2, labels, **kwargs)
    theirs = _st().BinaryClassificationEvaluator(s1, s2, labels, **kwargs)
    assert_parity(ours(dense_pair[0], output_path=str(tmp_path)), theirs(dense_pair[1]))
    assert ours.primary_metric == theirs.primary_metric
    with open(tmp_path / ours.csv_file) as f:
        assert next(csv.reader(f)) == theirs.csv_headers


def test_threshold_search_matches_reference():
    import numpy as np
    from sentence_transformers.evaluation import BinaryClassificationEvaluator as ST

    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 6, size=30).astype(np.float32) / 5  # many ties
        labels = rng.integers(0, 2, size=30)
        for greater in (True, False):
            assert find_best_acc_and_threshold(scores, labels, greater) == pytest.approx(
                ST.find_best_acc_and_threshold(scores, labels, greater))  # fmt: skip
            assert find_best_f1_and_threshold(scores, labels, greater) == pytest.approx(
                ST.find_best_f1_and_threshold(scores, labels, greater))  # fmt: skip


@pytest.mark.parametrize("kwargs", [{}, {"similarity_fn_names": ALL_FNS, "margin": 0.01, "name": "tri"}])
def test_triplet_parity(dense_pair, pair_data, kwargs):
    s1, s2, _, _ = pair_data
    negatives = list(reversed(s2))
    ours = TripletEvaluator(s1, s2, negatives, **kwargs)
    theirs = _st().TripletEvaluator(s1, s2, negatives, **kwargs)
    assert_parity(ours(dense_pair[0]), theirs(dense_pair[1]))
    assert ours.primary_metric == theirs.primary_metric


@pytest.mark.parametrize("batched", [True, False])
def test_reranking_parity(dense_pair, pair_data, batched):
    s1, s2, _, _ = pair_data
    samples = [{"query": s1[i], "positive": [s2[i]], "negative": s2[i + 1 : i + 5]} for i in range(0, 40, 4)]
    samples.append({"query": "x", "positive": [], "negative": ["y"]})  # dropped by both
    ours = RerankingEvaluator(samples, at_k=3, use_batched_encoding=batched, name="rr")
    theirs = _st().RerankingEvaluator(samples, at_k=3, use_batched_encoding=batched, name="rr")
    assert_parity(ours(dense_pair[0]), theirs(dense_pair[1]))
    assert ours.primary_metric == theirs.primary_metric == "rr_ndcg@3"


def test_mse_parity(dense_pair, pair_data):
    s1, s2, _, _ = pair_data
    ours = MSEEvaluator(s1, s2, teacher_model=dense_pair[0], truncate_dim=16)
    theirs = _st().MSEEvaluator(s1, s2, teacher_model=dense_pair[1], truncate_dim=16)
    assert_parity(ours(dense_pair[0]), theirs(dense_pair[1]))
    assert ours.primary_metric == "negative_mse"


def test_paraphrase_mining_parity(dense_pair, pair_data):
    s1, s2, _, _ = pair_data
    sentences = {f"s{i}": s for i, s in enumerate(dict.fromkeys(s1 + s2))}
    ids = list(sentences)
    dups = [(ids[i], ids[i + 1]) for i in range(0, 40, 3)]
    kwargs = dict(duplicates_list=dups, add_transitive_closure=True, query_chunk_size=17, corpus_chunk_size=23,
                  top_k=5, max_pairs=150)  # fmt: skip
    ours = ParaphraseMiningEvaluator(sentences, **kwargs)
    theirs = _st().ParaphraseMiningEvaluator(sentences, **kwargs)
    assert ours.total_num_duplicates == theirs.total_num_duplicates
    assert_parity(ours(dense_pair[0]), theirs(dense_pair[1]))


def test_sequential(dense_pair, pair_data):
    s1, s2, labels, scores = pair_data
    seq = SequentialEvaluator(
        [
            EmbeddingSimilarityEvaluator(s1, s2, scores, name="a"),
            BinaryClassificationEvaluator(s1, s2, labels, name="b"),
        ],
        main_score_function=lambda xs: sum(xs) / len(xs),
    )
    result = seq(dense_pair[0])
    assert seq.primary_metric == "sequential_score"
    assert result["sequential_score"] == pytest.approx(
        (result["a_spearman_cosine"] + result["b_cosine_ap"]) / 2
    )


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: EmbeddingSimilarityEvaluator(["a", "b"], ["c"], [0.1, 0.2]), "sentences2 has 1"),
        (lambda: BinaryClassificationEvaluator(["a"], ["b"], [2]), "labels must be 0 or 1"),
        (lambda: TripletEvaluator(["a"], ["b"], ["c"], similarity_fn_names=["cos"]), "cos"),
        (lambda: RerankingEvaluator([{"query": "q", "positive": ["p"]}]), "negative"),
        (lambda: BinaryClassificationEvaluator([], [], []), "empty"),
    ],
)
def test_bad_inputs(build, match):
    with pytest.raises(ValueError, match=match):
        build()
