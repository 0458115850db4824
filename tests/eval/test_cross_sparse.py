"""Cross-encoder, sparse and reciprocal-rank-fusion evaluators vs sentence-transformers."""

from __future__ import annotations

import csv

import pytest

from raypipe.eval import (
    CrossEncoderClassificationEvaluator,
    CrossEncoderCorrelationEvaluator,
    CrossEncoderRerankingEvaluator,
    ReciprocalRankFusionEvaluator,
    SparseBinaryClassificationEvaluator,
    SparseEmbeddingSimilarityEvaluator,
    SparseInformationRetrievalEvaluator,
    SparseRerankingEvaluator,
)
from tests.eval.parity import assert_parity


def _rerank_samples(s1, s2):
    with_negatives = [
        {"query": s1[i], "positive": [s2[i]], "negative": s2[i + 1 : i + 4]} for i in range(0, 24, 4)
    ]
    with_documents = [
        {
            "query": s1[i],
            "positive": [s2[i], s1[i + 1]],
            "documents": [s2[i + 2], s2[i], s2[i + 3], s2[i + 9]],
        }
        for i in range(0, 24, 4)
    ]
    with_documents.append({"query": s1[30], "positive": [s2[30]], "documents": [s2[31], s2[32]]})
    return with_negatives, with_documents


@pytest.mark.parametrize("kind", ["negatives", "documents", "documents-no-rerank"])
def test_cross_reranking_parity(cross_pair, pair_data, kind, tmp_path):
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator as ST

    s1, s2, _, _ = pair_data
    negatives, documents = _rerank_samples(s1, s2)
    samples = negatives if kind == "negatives" else documents
    kwargs = dict(at_k=3, always_rerank_positives=kind != "documents-no-rerank", name="ce")
    ours, theirs = CrossEncoderRerankingEvaluator(samples, **kwargs), ST(samples, **kwargs)
    ours_metrics = ours(cross_pair[0], output_path=str(tmp_path))
    st_metrics = theirs(cross_pair[1])
    assert_parity(ours_metrics, st_metrics)
    assert ("ce_base_ndcg@3" in ours_metrics) == (kind != "negatives")
    assert ours.primary_metric == theirs.primary_metric == "ce_ndcg@3"
    with open(tmp_path / ours.csv_file) as f:
        assert next(csv.reader(f)) == theirs.csv_headers


def test_cross_reranking_rrf_and_predictions(cross_pair, pair_data, tmp_path):
    """raypipe's additions: the RRF of the first-stage and reranked orders, and the per-sample scores file."""
    import json

    from raypipe.eval.metrics import first_stage_metrics
    from raypipe.eval.rrf import reciprocal_rank_fusion

    s1, s2, _, _ = pair_data
    _, samples = _rerank_samples(s1, s2)
    plain = CrossEncoderRerankingEvaluator(samples, at_k=3, always_rerank_positives=False, name="ce")
    ours = CrossEncoderRerankingEvaluator(samples, at_k=3, always_rerank_positives=False, name="ce", rrf_k=60,
                                          write_predictions=True)
    plain_metrics, metrics = plain(cross_pair[0]), ours(cross_pair[0], output_path=str(tmp_path))
    assert not any("rrf" in key for key in plain_metrics)  # off by default: sentence-transformers' keys only
    assert {k: v for k, v in metrics.items() if "rrf" not in k} == pytest.approx(plain_metrics)
    lines = [json.loads(line) for line in (tmp_path / ours.predictions_file).read_text().splitlines()]
    assert len(lines) == len(samples) - 1  # the last sample has no positive among its documents
    rows = []
    for sample in samples:
        line = next((x for x in lines if x["query"] == sample["query"]), None)
        if line is None:
            rows.append((0.0, 0.0, 0.0))
            continue
        assert line["relevant"] == [int(d in sample["positive"]) for d in sample["documents"]]
        reranked = [sample["documents"][i] for i in sorted(range(len(line["scores"])),
                                                           key=lambda i: -line["scores"][i])]
        fused = reciprocal_rank_fusion(sample["documents"], reranked, 60)
        rows.append(first_stage_metrics(fused, sample["positive"], 3))
    assert metrics["ce_rrf_ndcg@3"] == pytest.approx(sum(r[1] for r in rows) / len(rows))
    assert metrics["ce_rrf_mrr@3"] == pytest.approx(sum(r[0] for r in rows) / len(rows))
    with pytest.raises(ValueError, match="rrf_k=-1"):
        CrossEncoderRerankingEvaluator(samples, rrf_k=-1)


@pytest.mark.parametrize("num_labels", [1, 3])
def test_cross_classification_parity(cross_pair, cross3_pair, pair_data, num_labels):
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderClassificationEvaluator as ST

    s1, s2, labels, _ = pair_data
    models = cross_pair if num_labels == 1 else cross3_pair
    if num_labels == 3:
        labels = [(i * 7) % 3 for i in range(len(s1))]
    pairs = list(zip(s1, s2))
    ours, theirs = CrossEncoderClassificationEvaluator(pairs, labels), ST(pairs, labels)
    assert_parity(ours(models[0]), theirs(models[1]))
    assert ours.primary_metric == theirs.primary_metric


def test_cross_correlation_parity(cross_pair, pair_data):
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator as ST

    s1, s2, _, scores = pair_data
    pairs = list(zip(s1, s2))
    ours, theirs = CrossEncoderCorrelationEvaluator(pairs, scores, name="c"), ST(pairs, scores, name="c")
    assert_parity(ours(cross_pair[0]), theirs(cross_pair[1]))
    assert ours.primary_metric == "c_spearman"


def test_sparse_ir_parity(sparse_pair, ir_data, tmp_path):
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator as ST

    kwargs = dict(corpus_chunk_size=70, name="sp", max_active_dims=24)
    ours, theirs = SparseInformationRetrievalEvaluator(*ir_data, **kwargs), ST(*ir_data, **kwargs)
    ours_metrics = ours(sparse_pair[0], output_path=str(tmp_path / "a"))
    st_metrics = theirs(sparse_pair[1], output_path=str(tmp_path / "b"))
    assert_parity(ours_metrics, st_metrics)
    assert "sp_avg_flops" in ours_metrics and "sp_corpus_sparsity_ratio" in ours_metrics
    assert ours.primary_metric == theirs.primary_metric == "sp_dot_ndcg@10"
    rows = [list(csv.reader(open(tmp_path / d / ours.csv_file))) for d in ("a", "b")]
    assert rows[0][0] == rows[1][0] and len(rows[0][1]) == len(rows[1][1])



def test_sparse_ir_query_blocks_do_not_change_the_metrics(sparse_pair, ir_data):
    kwargs = dict(corpus_chunk_size=70, write_csv=False)
    whole = SparseInformationRetrievalEvaluator(*ir_data, query_chunk_size=None, **kwargs)(sparse_pair[0])
    blocks = SparseInformationRetrievalEvaluator(*ir_data, query_chunk_size=3, **kwargs)(sparse_pair[0])
    assert blocks == whole


def test_sparse_pair_evaluators_parity(sparse_pair, pair_data):
    from sentence_transformers.sparse_encoder import evaluation as st

    s1, s2, labels, scores = pair_data
    # identical pairs (the first 5) give cosine 1 up to float rounding, which differs between sparse kernels and
    # reorders exact ties; leave them out so that the comparison is about the evaluator, not the kernel
    s1, s2, labels, scores = s1[5:], s2[5:], labels[5:], scores[5:]
    cases = [
        (SparseEmbeddingSimilarityEvaluator(s1, s2, scores, max_active_dims=16),
         st.SparseEmbeddingSimilarityEvaluator(s1, s2, scores, max_active_dims=16)),
        (SparseBinaryClassificationEvaluator(s1, s2, labels, similarity_fn_names=["dot", "cosine"]),
         st.SparseBinaryClassificationEvaluator(s1, s2, labels, similarity_fn_names=["dot", "cosine"])),
        (SparseRerankingEvaluator([{"query": s1[i], "positive": s2[i], "negative": s2[i + 1 : i + 4]}
                                   for i in range(0, 20, 4)], at_k=2),
         st.SparseRerankingEvaluator([{"query": s1[i], "positive": s2[i], "negative": s2[i + 1 : i + 4]}
                                      for i in range(0, 20, 4)], at_k=2)),
    ]  # fmt: skip
    for ours, theirs in cases:
        ours_metrics = ours(sparse_pair[0])
        assert_parity(ours_metrics, theirs(sparse_pair[1]))
        assert ours.primary_metric == theirs.primary_metric
        assert any("active_dims" in k for k in ours_metrics)


def test_rrf_parity(tmp_path):
    from sentence_transformers.sparse_encoder.evaluation import ReciprocalRankFusionEvaluator as ST

    dense = [{"query_id": f"q{i}", "query": f"query {i}", "positive": [f"d{i}", f"d{i + 1}"],
              "documents": [f"d{(i * 3 + j) % 12}" for j in range(6)]} for i in range(8)]  # fmt: skip
    sparse = [{**s, "documents": [f"d{(i * 5 + j) % 12}" for j in range(7)]} for i, s in enumerate(dense)]
    ours = ReciprocalRankFusionEvaluator(dense, sparse, at_k=5, name="rrf", write_predictions=True)
    theirs = ST(dense, sparse, at_k=5, name="rrf")
    assert_parity(ours(None, output_path=str(tmp_path)), theirs())
    assert ours.primary_metric == theirs.primary_metric == "rrf_ndcg@5"
    assert (tmp_path / ours.predictions_file).is_file()
    with pytest.raises(ValueError, match="query_id mismatch"):
        ReciprocalRankFusionEvaluator(dense, list(reversed(sparse)))
    with pytest.raises(ValueError, match="dense_samples has 8"):
        ReciprocalRankFusionEvaluator(dense, sparse[:3])


def test_cross_bad_inputs():
    with pytest.raises(ValueError, match="labels has 1"):
        CrossEncoderClassificationEvaluator([("a", "b"), ("c", "d")], [1])
    with pytest.raises(ValueError, match="exactly one of"):
        CrossEncoderRerankingEvaluator([{"query": "q", "positive": ["p"]}])
