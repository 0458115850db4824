"""InformationRetrievalEvaluator: parity with sentence-transformers, chunk-size invariance, CSV / predictions,
bad inputs."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from raypipe.eval import InformationRetrievalEvaluator
from raypipe.eval.topk import RunningTopK, corpus_id_ranks
from raypipe.models.similarity import cos_sim, dot_score
from tests.eval.parity import assert_parity
from tests.eval.stub import StubEncoder

CONFIGS = [
    {},
    {
        "corpus_chunk_size": 37,
        "name": "small",
        "mrr_at_k": [3, 20],
        "ndcg_at_k": [1, 5, 50],
        "accuracy_at_k": [2],
        "precision_recall_at_k": [4, 400],
        "map_at_k": [7, 1000],
    },
    {
        "score_functions": "both",
        "corpus_chunk_size": 50,
        "main_score_function": "dot",
        "truncate_dim": 16,
        "query_prompt": "query: ",
        "corpus_prompt": "passage: ",
    },
]


@pytest.mark.parametrize("config", CONFIGS)
def test_parity_with_sentence_transformers(dense_pair, ir_data, config):
    from sentence_transformers import util
    from sentence_transformers.evaluation import InformationRetrievalEvaluator as STEvaluator

    ours_model, st_model = dense_pair
    ours_cfg, st_cfg = dict(config), dict(config)
    if config.get("score_functions") == "both":
        ours_cfg["score_functions"] = {"cosine": cos_sim, "dot": dot_score}
        st_cfg["score_functions"] = {"cosine": util.cos_sim, "dot": util.dot_score}
    ours = InformationRetrievalEvaluator(*ir_data, **ours_cfg)
    theirs = STEvaluator(*ir_data, **st_cfg)
    ours_metrics, st_metrics = ours(ours_model), theirs(st_model)
    assert_parity(ours_metrics, st_metrics)
    assert list(ours_metrics) == list(st_metrics)
    assert ours.primary_metric == theirs.primary_metric
    assert ours.csv_headers == theirs.csv_headers


def test_result_independent_of_chunk_sizes(ir_data):
    model = StubEncoder()
    base = InformationRetrievalEvaluator(*ir_data, corpus_chunk_size=1000)(model)
    for chunk, q_chunk in [(23, None), (7, 3), (301, 1)]:
        other = InformationRetrievalEvaluator(*ir_data, corpus_chunk_size=chunk, query_chunk_size=q_chunk)(
            model
        )
        assert other == base


def test_running_topk_breaks_ties_by_corpus_id():
    ids = ["c", "a", "b", "d"]
    topk = RunningTopK(1, 3, corpus_id_ranks(ids))
    topk.update(torch.tensor([[1.0, 1.0]]), 0)  # c, a tied
    topk.update(torch.tensor([[1.0, 2.0]]), 2)  # b ties too, d best
    values, idx = topk.result()
    assert [ids[i] for i in idx[0].tolist()] == ["d", "a", "b"]
    assert values[0].tolist() == [2.0, 1.0, 1.0]


def test_csv_and_predictions_written(dense_pair, ir_data, tmp_path):
    evaluator = InformationRetrievalEvaluator(*ir_data, name="t", write_predictions=True)
    evaluator(dense_pair[0], output_path=str(tmp_path), epoch=1, steps=5)
    metrics = evaluator(dense_pair[0], output_path=str(tmp_path), epoch=2, steps=10)
    with open(tmp_path / "Information-Retrieval_evaluation_t_results.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == evaluator.csv_headers and rows[0][:3] == ["epoch", "steps", "cosine-Accuracy@1"]
    assert [r[:2] for r in rows[1:]] == [["1", "5"], ["2", "10"]]
    assert float(rows[2][rows[0].index("cosine-NDCG@10")]) == pytest.approx(metrics["t_cosine_ndcg@10"])
    with open(tmp_path / "Information-Retrieval_evaluation_t_predictions_cosine.jsonl") as f:
        first = json.loads(f.readline())
    assert first["query_id"] == "q0" and len(first["results"]) == 100
    scores = [r["score"] for r in first["results"]]
    assert scores == sorted(scores, reverse=True)


def test_primary_metric_and_direction(dense_pair, ir_data):
    evaluator = InformationRetrievalEvaluator(*ir_data, name="dev")
    metrics = evaluator(dense_pair[0])
    assert evaluator.primary_metric == "dev_cosine_ndcg@10" and evaluator.greater_is_better
    assert evaluator.primary_metric in metrics


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda q, c, r: (q, {}, r), "corpus is empty"),
        (lambda q, c, r: (q, c, {**r, "ghost-query": {"d001"}}), "ghost-query"),
        (lambda q, c, r: (q, c, {**r, "q1": {"no-such-doc"}}), "no-such-doc"),
        (lambda q, c, r: (q, c, {}), "no query has a relevant document"),
    ],
)
def test_bad_inputs_raise_clear_errors(ir_data, mutate, match):
    with pytest.raises(ValueError, match=match):
        InformationRetrievalEvaluator(*mutate(*ir_data))


def test_bad_k_list(ir_data):
    with pytest.raises(ValueError, match="ndcg_at_k"):
        InformationRetrievalEvaluator(*ir_data, ndcg_at_k=[0])


def test_eval_code_does_not_import_sentence_transformers():
    from pathlib import Path

    import raypipe.eval

    files = [
        *Path(raypipe.eval.__file__).parent.glob("*.py"),
        Path(raypipe.eval.__file__).parents[1] / "data" / "beir.py",
    ]
    offenders = [f.name for f in files if "sentence_transformers" in f.read_text()]
    assert not offenders
