"""`raypipe eval`: the config's combinations, cross-encoder reranking of a first stage's top-k (metrics equal to
the evaluator's on the same candidates), and the Ray Data actor-pool path giving the same metrics as in-process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raypipe.cli import main
from raypipe.config import ConfigError, load_config
from raypipe.config.eval import EvalConfig
from raypipe.jobs.eval import evaluate

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "pipelines" / "configs" / "eval-tiny-cpu.yaml"
RETRIEVAL = {"type": "retrieval", "name": "dev", "queries": "resource:debian_sample/dev-queries.parquet",
             "corpus": "resource:debian_sample/corpus.parquet", "qrels": "resource:debian_sample/dev-qrels.parquet",
             "limit_queries": 30}


def test_config_combinations_are_checked():
    with pytest.raises(ConfigError, match="needs first_stage"):
        load_config(EvalConfig, raw={"model": {"kind": "cross", "path": "m"}, "evaluator": RETRIEVAL}, check=False)
    with pytest.raises(ConfigError, match="first_stage is for a cross-encoder"):
        load_config(EvalConfig, raw={"model": "m", "evaluator": RETRIEVAL,
                                     "first_stage": {"model": "f"}}, check=False)
    with pytest.raises(ConfigError, match="needs data"):
        load_config(EvalConfig, raw={"model": "m", "evaluator": {"type": "reranking"}}, check=False)


def test_cross_encoder_reranks_the_first_stage_top_k(tmp_path, capsys):
    assert main(["eval", str(TINY), f"output.dir={tmp_path}", "evaluator.limit_queries=20",
                 "evaluator.params.rrf_k=60", "evaluator.params.write_predictions=true"]) == 0
    out = capsys.readouterr().out
    assert "debian-dev_ndcg@10" in out and "debian-dev_base_ndcg@10" in out and "debian-dev_rrf_ndcg@10" in out
    assert (tmp_path / "eval.json").exists()
    predictions = list(tmp_path.glob("CrossEncoderRerankingEvaluator_debian-dev_*_predictions.jsonl"))
    assert len(predictions) == 1 and len(predictions[0].read_text().splitlines()) <= 20


def test_first_stage_base_metrics_equal_its_own_retrieval_metrics(tmp_path):
    """The reranker's `base_*` numbers are the first stage's ranking: nDCG@10 equals the dense evaluator's."""
    cfg = load_config(EvalConfig, TINY, [f"output.dir={tmp_path}", "evaluator.limit_queries=30"])
    rerank = evaluate(cfg)
    dense = load_config(EvalConfig, raw={"model": cfg.first_stage.model.model_dump(), "evaluator": RETRIEVAL,
                                         "output": {"dir": str(tmp_path / "dense")}})
    assert rerank["debian-dev_base_ndcg@10"] == pytest.approx(evaluate(dense)["dev_cosine_ndcg@10"], abs=1e-9)


def test_local_evaluation_caches_the_corpus_when_asked(tmp_path, monkeypatch):
    """With a cache_dir the local executor embeds the corpus once: a second evaluation (same model, dtype and
    documents) reads the shards back and gives the same metrics as the uncached evaluation."""
    raw = {"model": {"kind": "dense", "path": "resource:tiny/bert"}, "evaluator": RETRIEVAL,
           "output": {"dir": str(tmp_path / "plain")}, "embedding": {"executor": "local"}}
    plain = evaluate(load_config(EvalConfig, raw=raw))
    raw["embedding"] = {"executor": "local", "cache_dir": str(tmp_path / "cache"), "shard_size": 700}
    cached = evaluate(load_config(EvalConfig, raw=raw))
    shards = sorted((tmp_path / "cache").glob("*.parquet"))
    assert len(shards) == 3
    import raypipe.mining.runner as runner_mod

    monkeypatch.setattr(runner_mod.LocalRunner, "embed", lambda *a, **k: pytest.fail("embedded again"))
    again = evaluate(load_config(EvalConfig, raw=raw))
    for key, value in plain.items():
        assert cached[key] == pytest.approx(value, abs=1e-6) and again[key] == cached[key], key


def test_a_corpus_of_several_chunks_is_embedded_in_one_pass_with_one_bar(tmp_path, monkeypatch, capsys):
    """The evaluator folds the corpus in chunks (here 3 of 700 documents), but a cached corpus is embedded ahead in
    one runner call: one "embed" bar over every document, not one restarting per chunk; the metrics are the
    uncached ones."""
    import raypipe.mining.runner as runner_mod

    evaluator = {**RETRIEVAL, "params": {"corpus_chunk_size": 700}}
    raw = {"model": {"kind": "dense", "path": "resource:tiny/bert"}, "evaluator": evaluator,
           "output": {"dir": str(tmp_path / "plain")}, "embedding": {"executor": "local", "progress": False}}
    plain = evaluate(load_config(EvalConfig, raw=raw))
    calls, embed = [], runner_mod.LocalRunner.embed
    monkeypatch.setattr(runner_mod.LocalRunner, "embed", lambda self, model, tasks, *a: (calls.append(len(tasks)),
                                                                                       embed(self, model, tasks, *a)))
    raw["embedding"] = {"executor": "local", "cache_dir": str(tmp_path / "cache"), "progress": True}
    capsys.readouterr()
    cached = evaluate(load_config(EvalConfig, raw=raw))
    assert calls == [3]  # one call with the 3 chunks' shards; the chunk-by-chunk reads found them cached
    bars = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("embed")]
    totals = {int(m) for line in bars for m in re.findall(r"/(\d+) ", line)}
    assert len(totals) == 1 and totals.pop() > 2 * 700, bars[:3]  # one bar over the distinct documents
    for key, value in plain.items():
        assert cached[key] == pytest.approx(value, abs=1e-6), key


def test_local_retrieval_shows_the_embedding_bars_unless_progress_is_off(tmp_path, capsys):
    """The uncached local path embeds through the evaluator's own encode calls: `embedding.progress` reaches them
    (one "Batches" bar per call, on stderr), and `progress: false` draws nothing."""
    raw = {"model": {"kind": "dense", "path": "resource:tiny/bert"}, "evaluator": {**RETRIEVAL, "limit_queries": 5},
           "output": {"dir": str(tmp_path)}, "embedding": {"executor": "local"}}
    evaluate(load_config(EvalConfig, raw=raw))
    assert "Batches" in capsys.readouterr().err
    raw["embedding"]["progress"] = False
    evaluate(load_config(EvalConfig, raw=raw))
    assert "Batches" not in capsys.readouterr().err


@pytest.mark.ray
def test_ray_actor_pool_gives_the_in_process_metrics(ray_local, tmp_path):
    raw = {"model": {"kind": "dense", "path": "resource:tiny/bert"}, "evaluator": RETRIEVAL,
           "output": {"dir": str(tmp_path / "local")}, "embedding": {"executor": "local"}}
    local = evaluate(load_config(EvalConfig, raw=raw))
    raw.update(output={"dir": str(tmp_path / "ray")},
               embedding={"executor": "ray", "cache_dir": str(tmp_path / "cache"), "shard_size": 700})
    from raypipe.jobs.eval import run

    on_ray = run(load_config(EvalConfig, raw=raw))
    assert on_ray.executor == "ray" and len(list((tmp_path / "cache").glob("*.parquet"))) == 3
    for key, value in local.items():
        assert on_ray.metrics[key] == pytest.approx(value, abs=1e-6), key
