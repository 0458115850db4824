"""Mining config: every shipped mining YAML validates, errors are collected into one message, overrides and
deprecated keys apply, and the CLI runs end to end on the tiny model (local executor; the Ray run is in
tests/mining/test_ray.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raypipe.cli import main
from raypipe.config import ConfigError, load_config, resolve_path
from raypipe.config.mine import MineConfig
from raypipe.jobs.mine import build_mine_arguments

CONFIGS = sorted((Path(__file__).parents[2] / "pipelines" / "configs").glob("mine-*.yaml"))


def test_shipped_configs_exist():
    assert {p.name for p in CONFIGS} >= {"mine-debian.yaml", "mine-tiny-cpu.yaml"}


def test_all_errors_in_one_message():
    raw = {"model": "m", "data": {"pairs": "p.parquet", "colour": "red"},
           "mining": {"num_negatives": 0, "output_format": "pairs", "index": {"kind": "annoy"}}, "extra": 1}
    with pytest.raises(ConfigError) as e:
        load_config(MineConfig, raw=raw, check=False)
    msg = str(e.value)
    for part in ("5 config error(s)", "data.colour", "mining.num_negatives", "mining.output_format",
                 "mining.index.kind", "extra"):
        assert part in msg, msg


def test_cross_field_checks_and_overrides():
    base = {"model": "m", "data": {"pairs": "p"}}
    with pytest.raises(ValueError, match="num_negatives=5 exceeds"):
        load_config(MineConfig, raw=base, overrides=["mining.num_negatives=5", "mining.range_max=3"], check=False)
    cfg = load_config(MineConfig, raw=base, overrides=["mining.relative_margin=0.1", "mining.executor=local"],
                      check=False)
    assert cfg.mining.relative_margin == 0.1 and cfg.mining.executor == "local"
    with pytest.raises(ValueError, match="key.path=value"):
        load_config(MineConfig, raw=base, overrides=["oops"], check=False)


def test_deprecated_keys_move_to_their_new_place():
    raw = {"model": "m", "model_kind": "sparse", "data": {"pairs": "p"},
           "index": {"kind": "flat", "shard_size": 7}, "ray": {"executor": "local", "num_actors": 3}}
    with pytest.warns(FutureWarning):
        cfg = load_config(MineConfig, raw=raw, check=False)
    assert cfg.model.kind == "sparse" and cfg.model.path == "m"
    assert cfg.mining.shard_size == 7 and cfg.mining.index.kind == "flat"
    assert cfg.mining.executor == "local" and cfg.mining.num_actors == 3


def test_build_mine_arguments(tiny_bert_dir):
    cfg = load_config(MineConfig, CONFIGS[0].parent / "mine-tiny-cpu.yaml", [f"model={tiny_bert_dir}"])
    job = build_mine_arguments(cfg, "local")
    assert job["dataset"].num_rows == 100 and job["corpus"].num_rows == 300
    assert job["options"].output_format == "n-tuple" and job["options"].index.kind == "flat"
    assert job["options"].executor == "local" and job["options"].verbose is False


def test_pairs_seed_takes_a_seeded_random_subset(tiny_bert_dir):
    path = CONFIGS[0].parent / "mine-tiny-cpu.yaml"
    first = build_mine_arguments(load_config(MineConfig, path, [f"model={tiny_bert_dir}", "data.limit_pairs=20"]),
                                 "local")["dataset"]
    seeded = [build_mine_arguments(load_config(MineConfig, path, [f"model={tiny_bert_dir}", "data.limit_pairs=20",
                                                                  "data.pairs_seed=3"]), "local")["dataset"]
              for _ in range(2)]
    assert seeded[0].num_rows == 20 and seeded[0].equals(seeded[1])  # reproducible
    assert not seeded[0].equals(first)                                # not the file's first rows


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


@pytest.mark.parametrize("args,missing", [
    (["missing.yaml"], "missing.yaml"),
    (["{tiny}", "data.pairs=/no/such.parquet"], "/no/such.parquet"),
    (["{tiny}", "model=/no/such/model"], "/no/such/model"),
])
def test_cli_missing_paths_exit_2_before_ray(args, missing, capsys, monkeypatch):
    import sys

    tiny = str(CONFIGS[0].parent / "mine-tiny-cpu.yaml")
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    assert main(["mine", *[a.replace("{tiny}", tiny) for a in args], "mining.executor=ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and missing in err, err
    assert "ray" not in sys.modules  # failed before Ray was imported, let alone started


def test_resolve_path_kinds():
    assert Path(resolve_path("resource:debian_sample/train-pairs.parquet")).exists()
    assert resolve_path("s3://bucket/x") == "s3://bucket/x"
    assert resolve_path(None) is None
