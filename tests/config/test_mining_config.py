"""Mining config: every shipped mining YAML validates, errors are collected into one message, overrides apply,
and the CLI runs end to end on the tiny model (local executor; the Ray run is in tests/mining/test_ray.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raypipe.cli import main
from raypipe.config import build_mining_job, load_mining_config, resolve_path

CONFIGS = sorted((Path(__file__).parents[2] / "pipelines" / "configs").glob("mine-*.yaml"))


def test_shipped_configs_exist():
    assert {p.name for p in CONFIGS} >= {"mine-debian.yaml", "mine-tiny-cpu.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_validates(path):
    cfg = load_mining_config(str(path))
    assert Path(resolve_path(cfg.data.pairs)).exists()
    assert cfg.data.corpus is None or Path(resolve_path(cfg.data.corpus)).exists()


def test_all_errors_in_one_message():
    raw = {"model": "m", "data": {"pairs": "p.parquet", "colour": "red"},
           "mining": {"num_negatives": 0, "output_format": "pairs"}, "index": {"kind": "annoy"}, "extra": 1}
    with pytest.raises(ValueError) as e:
        load_mining_config(raw=raw)
    msg = str(e.value)
    for part in ("5 config error(s)", "data.colour", "mining.num_negatives", "mining.output_format", "index.kind",
                 "extra"):
        assert part in msg, msg


def test_cross_field_checks_and_overrides():
    base = {"model": "m", "data": {"pairs": "p"}}
    with pytest.raises(ValueError, match="num_negatives=5 exceeds"):
        load_mining_config(raw=base, overrides=["mining.num_negatives=5", "mining.range_max=3"])
    cfg = load_mining_config(raw=base, overrides=["mining.relative_margin=0.1", "ray.executor=local"])
    assert cfg.mining.relative_margin == 0.1 and cfg.ray.executor == "local"
    with pytest.raises(ValueError, match="key.path=value"):
        load_mining_config(raw=base, overrides=["oops"])


def test_build_mining_job(tiny_bert_dir, tmp_path):
    cfg = load_mining_config(str(CONFIGS[0].parent / "mine-tiny-cpu.yaml"), [f"model={tiny_bert_dir}"])
    job = build_mining_job(cfg)
    assert job["dataset"].num_rows == 100 and job["corpus"].num_rows == 300
    assert job["options"].output_format == "n-tuple" and job["options"].index.kind == "flat"


def test_cli_end_to_end_local(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "mined"
    rc = main(["mine", str(CONFIGS[0].parent / "mine-tiny-cpu.yaml"), f"model={tiny_bert_dir}",
               "data.limit_pairs=30", "data.limit_corpus=40", f"output.dir={out}",
               f"output.cache_dir={tmp_path / 'cache'}"])
    printed = capsys.readouterr().out
    assert rc == 0 and "Metric" in printed and f"Output written to {out}" in printed
    assert pq.read_table(str(out)).num_rows > 0


def test_cli_reports_config_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\ndata: {pairs: p}\nmining: {num_negatives: -1, bogus: 1}\n")
    assert main(["mine", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "mining.num_negatives" in err and "mining.bogus" in err
