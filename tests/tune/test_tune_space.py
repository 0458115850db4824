"""The search space as Ray Tune sees it (no Ray started): Tune domains, non-scalar options as indices (what Tune's
grid and Optuna's categorical distributions accept), Optuna's conversion; the pure modules import without Ray (tests/test_architecture.py)."""

from __future__ import annotations

import pytest

from raypipe.config.tune import TuneSection, parse_distribution


def test_param_space_and_decoding():
    from raypipe.tune.driver import param_space
    from raypipe.tune.trial import decode_config

    dists = {"loss.matryoshka_dims": parse_distribution({"grid": [[64, 32], [128]]}),
             "args.learning_rate": parse_distribution({"loguniform": [1e-5, 1e-4]}),
             "loss.scale": parse_distribution({"choice": [20, 50]}),
             "args.seed": parse_distribution({"randint": [0, 3]})}
    space = param_space(dists)
    assert space["loss.matryoshka_dims"] == {"grid_search": [0, 1]}  # options travel as their index
    assert space["loss.scale"].categories == [20, 50]
    import numpy as np

    values = decode_config({"loss.matryoshka_dims": 1, "args.learning_rate": np.float64(3e-5), "loss.scale": 50,
                            "args.seed": np.int64(2)}, dists)
    assert values == {"loss.matryoshka_dims": [128], "args.learning_rate": 3e-5, "loss.scale": 50, "args.seed": 2}
    assert type(values["args.seed"]) is int and type(values["args.learning_rate"]) is float


def test_optuna_takes_the_space():
    pytest.importorskip("optuna")
    from raypipe.tune.driver import _search_alg, param_space

    dists = {"loss.matryoshka_dims": parse_distribution({"choice": [[64, 32], [128]]}),
             "args.learning_rate": parse_distribution({"loguniform": [1e-5, 1e-4]})}
    searcher = _search_alg(TuneSection(search_alg="optuna", seed=0))
    assert searcher.set_search_properties("score", "max", param_space(dists))
    suggestion = searcher.suggest("t1")
    assert suggestion["loss.matryoshka_dims"] in (0, 1) and 1e-5 <= suggestion["args.learning_rate"] <= 1e-4
