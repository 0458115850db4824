"""`raypipe tune` config: distributions, the search space checked before any trial (every problem at once),
the tune section's consistency. No Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from raypipe.cli import main
from raypipe.config import ConfigError, load_config
from raypipe.config.base import parse_yaml
from raypipe.config.tune import (
    TuneConfig,
    apply_values,
    flatten_space,
    parse_distribution,
    trial_train_raw,
)

ROOT = Path(__file__).resolve().parents[2]
SPLADE = ROOT / "pipelines" / "configs" / "tune-splade-tiny-cpu.yaml"
MATRYOSHKA = ROOT / "pipelines" / "configs" / "tune-matryoshka-tiny-cpu.yaml"


def _raw(path=SPLADE, **space) -> dict:
    raw = parse_yaml(path.read_text())
    if space:
        raw["search_space"] = space
    return raw


def test_distributions_parse_and_stand_for_their_range():
    assert parse_distribution({"loguniform": [1e-5, 1e-2]}).representatives == [1e-5, 1e-2]
    assert parse_distribution({"randint": [1, 4]}).representatives == [1, 3]  # high is exclusive
    grid = parse_distribution({"grid": [[64, 32], [128]]})
    assert grid.grid_size == 2 and grid.encoded and grid.decode(1) == [128]
    assert not parse_distribution({"choice": [20, 50]}).encoded
    for bad, words in [({"loguniform": [0, 1]}, "0 < low"), ({"uniform": [2, 1]}, "below high"),
                       ({"randint": [0.5, 3]}, "two integers"), ({"choice": []}, "non-empty"),
                       ({"log_uniform": [1, 2]}, "did you mean 'loguniform'"), (0.5, "fixed value"),
                       ({"choice": [1], "grid": [2]}, "exactly one key")]:
        with pytest.raises(ValueError, match=words):
            parse_distribution(bad)


def test_nested_and_dotted_keys_are_one_search_space():
    flat = flatten_space({"loss.loss.scale": {"choice": [1]}, "args": {"learning_rate": {"grid": [1, 2]}},
                          "loss": {"loss": {"scale": {"choice": [20, 50]}}}})
    assert flat == {"loss.loss.scale": {"choice": [20, 50]}, "args.learning_rate": {"grid": [1, 2]}}
    # a command-line override arrives nested and wins over the file's dotted key
    cfg = load_config(TuneConfig, SPLADE, ["search_space.loss.query_regularizer_weight={choice: [1e-3]}"],
                      check=False)
    assert cfg.search_space["loss.query_regularizer_weight"] == {"choice": [1e-3]}


def test_every_problem_of_the_search_space_in_one_error(monkeypatch):
    monkeypatch.chdir(ROOT)
    space = {
        "loss.document_regularizer_weight": {"loguniform": [1e-5, 1e-2]},  # fine
        "loss.loss.scale": {"choice": [20, "big"]},  # wrong type for a loss parameter
        "loss.loss.temperatur": {"choice": [1.0]},  # not a parameter
        "args.learnign_rate": {"loguniform": [1e-5, 1e-4]},  # unknown training argument
        "args.per_device_train_batch_size": {"choice": [8, 4.5]},  # wrong type for a training argument
        "args.learning_rate": {"log_uniform": [1e-5, 1e-4]},  # malformed distribution
        "evaluator.limit_queries": {"choice": [10, "all"]},  # wrong type for a config field
        "evaluator.colour": {"choice": [1]},  # unknown key of a strict section
        "scaling.num_workers": {"grid": [1, 2]},  # not sweepable
        "data.train.path": {"choice": ["/no/such.parquet"]},  # a path that does not exist
    }
    with pytest.raises(ConfigError) as e:
        load_config(TuneConfig, raw=_raw(**space))
    msg = str(e.value)
    assert "9 config error(s)" in msg, msg
    for part in ["search_space.loss.loss.scale: 'big' does not fit SparseMultipleNegativesRankingLoss's scale",
                 "search_space.loss.loss.temperatur: not a parameter of SparseMultipleNegativesRankingLoss",
                 "search_space.args.learnign_rate: not a field of SparseEncoderTrainingArguments (did you mean "
                 "'learning_rate'?)",
                 "search_space.args.per_device_train_batch_size: 4.5 does not fit",
                 "search_space.args.learning_rate: unknown distribution 'log_uniform'",
                 "search_space.evaluator.limit_queries: Input should be a valid integer",
                 "search_space.evaluator.colour: evaluator.colour is not a key of the train config",
                 "search_space.scaling.num_workers: not a sweepable key",
                 "search_space.data.train.path: '/no/such.parquet' does not exist"]:
        assert part in msg, (part, msg)
    assert "document_regularizer_weight" not in msg


def test_the_cli_reports_them_before_ray_starts(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    args = ["tune", str(SPLADE), "search_space.loss.nope={choice: [1]}", "tune.search_alg=grid",
            "search_space.args.learning_rate={loguniform: [1e-5, 1e-4]}", f"output.dir={tmp_path}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "search_space.loss.nope: not a parameter of SpladeLoss" in err
    assert "tune.search_alg=grid takes only grid/choice entries, but args.learning_rate" in err
    assert "ray" not in sys.modules


def test_tune_section_consistency():
    no_eval = {**_raw(), "evaluator": None}
    with pytest.raises(ConfigError, match="the config has no evaluator"):
        load_config(TuneConfig, raw=no_eval)
    optuna_grid = {**_raw(), "tune": {"search_alg": "optuna"}}
    with pytest.raises(ConfigError, match="are grid entries: use \\{choice"):
        load_config(TuneConfig, raw=optuna_grid)
    dense = _raw(MATRYOSHKA)
    dense["tune"]["constraints"] = {"max_active_dims_per_doc": 64, "most_flops": 1}
    with pytest.raises(ConfigError) as e:
        load_config(TuneConfig, raw=dense)
    assert "measured by a sparse model's retrieval evaluator" in str(e.value)
    assert "a constraint is max_<metric> or min_<metric>" in str(e.value)


def test_a_trial_config_is_the_train_config_with_its_values():
    cfg = load_config(TuneConfig, MATRYOSHKA, check=False)
    assert cfg.num_trials() == 3 and cfg.tune.reported_metric == "eval_debian-dev_dim8_cosine_map@100"
    raw = trial_train_raw(cfg.train_raw(), {"loss.matryoshka_dims": [32, 8], "args.learning_rate": 1e-4},
                          "abc_00001", "/s/trials", "/o/trials/abc_00001")
    assert raw["loss"]["matryoshka_dims"] == [32, 8] and raw["args"]["learning_rate"] == 1e-4
    assert raw["run"]["name"] == "abc_00001" and raw["run"]["storage_path"] == "/s/trials"
    assert cfg.train_raw()["loss"]["matryoshka_dims"] == [32, 16, 8]  # the base is not changed
    with pytest.raises(ValueError, match="is a value in the train config"):
        apply_values({"args": 1}, {"args.x": 2})


def test_driver_checks_build_every_representative_and_know_the_reported_metrics(monkeypatch):
    """Before Ray: values only a constructor rejects, and a metric or constraint the trials would not report."""
    from raypipe.jobs.tune import check_before_ray
    from raypipe.registry import get_kind

    monkeypatch.chdir(ROOT)
    raw = _raw(**{"loss.loss.similarity_fct": {"choice": ["dot", "no_such_similarity"]}})
    raw["tune"].update(metric="debian-dev_dot_ndgc@10", constraints={"max_active_dims_per_doc": 64,
                                                                     "min_debian-dev_dot_recall@100": 0.1})
    raw["evaluator"]["limit_queries"] = 10
    cfg = load_config(TuneConfig, raw=raw)
    with pytest.raises(ConfigError) as e:
        check_before_ray(cfg, get_kind("sparse"))
    msg = str(e.value)
    assert "search_space.loss.loss.similarity_fct='no_such_similarity'" in msg, msg
    raw["search_space"] = {"loss.document_regularizer_weight": {"grid": [1e-4, 1e-2]}}
    with pytest.raises(ConfigError) as e:
        check_before_ray(load_config(TuneConfig, raw=raw), get_kind("sparse"))
    msg = str(e.value)
    assert "tune.metric='debian-dev_dot_ndgc@10': the trials do not report 'eval_debian-dev_dot_ndgc@10'; " \
           "closest: eval_debian-dev_dot_ndcg@10" in msg, msg
    assert "tune.constraints.min_debian-dev_dot_recall@100" in msg and "max_active_dims_per_doc" not in msg


def test_a_sweep_name_another_config_started_is_refused(monkeypatch, tmp_path):
    import raypipe.jobs.tune as job

    monkeypatch.chdir(ROOT)
    cfg = load_config(TuneConfig, SPLADE)
    root = str(tmp_path / "sweep")
    job._claim(root, cfg, write=True)
    other = load_config(TuneConfig, SPLADE, ["tune.metric=debian-dev_dot_mrr@10"])
    job._claim(root, other)  # no trial has started: the name is free to take
    (tmp_path / "sweep" / "tune" / "trial_0").mkdir(parents=True)
    job._claim(root, load_config(TuneConfig, SPLADE, ["tune.max_concurrent_trials=1"]))  # not part of the sweep
    with pytest.raises(ConfigError) as e:
        job._claim(root, other)
    assert "run.name=" in str(e.value) and "tune.metric:" in str(e.value) and "-> \"debian-dev_dot_mrr@10\"" in str(e.value)
