"""The pipeline on an embedded Ray (few tests: Ray on 2 cores is slow): the CLI main job on the tiny model with a
cross-encoder gives the same negatives as the local executor, and a killed embedding actor changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raypipe.cli import main

pytestmark = pytest.mark.ray

CONFIG = str(Path(__file__).parents[2] / "pipelines" / "configs" / "mine-debian.yaml")


def _texts(table):
    return [{k: v for k, v in row.items() if k != "scores"} for row in table.to_pylist()]


def _run(tmp_path, name, executor, model, ce, extra=()):
    out = tmp_path / name
    assert main(["mine", CONFIG, f"model={model}", f"cross_encoder={ce}", "data.limit_pairs=40",
                 "data.limit_corpus=60", "mining.shard_size=40", f"mining.executor={executor}",
                 f"output.dir={out}", f"output.cache_dir={tmp_path / ('cache-' + name)}",
                 "mining.relative_margin=null", "mining.range_max=12", "mining.num_actors=1", *extra]) == 0
    return pq.read_table(str(out))


def test_cli_main_job_on_embedded_ray_matches_local(ray_local, tiny_bert_dir, tiny_cls_dir, tmp_path, capsys):
    """The CLI path hands the models over as LazyModels: the actors load them, the driver never does. The second
    Ray run tokenizes in its own CPU actor stage (tokenize_workers=1) and sends token ids to the embedding actor,
    with 3 query shards."""
    on_ray = _run(tmp_path, "ray", "ray", tiny_bert_dir, tiny_cls_dir)
    out = capsys.readouterr()
    assert "Output written to" in out.out and "text/s" in out.err and "pair/s" in out.err  # progress bars
    tokenized = _run(tmp_path, "ray-tok", "ray", tiny_bert_dir, tiny_cls_dir,
                     ["mining.tokenize_workers=1", "mining.query_shard_size=15", "mining.progress=false"])
    assert "text/s" not in capsys.readouterr().err  # mining.progress=false: no bars
    local = _run(tmp_path, "local", "local", tiny_bert_dir, tiny_cls_dir)
    assert on_ray.num_rows > 0 and _texts(on_ray) == _texts(local) == _texts(tokenized)
    for run in (on_ray, tokenized):
        for a, b in zip(run.column("scores").to_pylist(), local.column("scores").to_pylist()):
            assert a == pytest.approx(b, abs=1e-5)  # batch composition can move the last float bits


class ExitOnceModel:
    """Wraps a model; the first encode call in any process kills that process (the actor), once per marker."""

    def __init__(self, model, marker: str):
        self.model, self.marker = model, marker

    def named_parameters(self):
        return self.model.named_parameters()

    def _maybe_die(self):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)

    def encode_query(self, texts, **kw):
        self._maybe_die()
        return self.model.encode_query(texts, **kw)

    def encode_document(self, texts, **kw):
        self._maybe_die()
        return self.model.encode_document(texts, **kw)


def test_killed_embedding_actor_gives_identical_output(ray_local, rp_model, sample_pairs, sample_corpus, tmp_path):
    from raypipe.mining import MiningOptions, mine

    pairs = {k: v[:40] for k, v in sample_pairs.items()}
    opts = MiningOptions(verbose=False, shard_size=40, executor="ray", output_format="n-tuple")
    clean = mine(pairs, rp_model, corpus=sample_corpus[:60], options=opts, cache_dir=str(tmp_path / "a"))
    marker = str(tmp_path / "killed")
    killed = mine(pairs, ExitOnceModel(rp_model, marker), corpus=sample_corpus[:60], options=opts,
                  cache_dir=str(tmp_path / "b"))
    assert os.path.exists(marker)  # an actor really died
    assert _texts(killed.table) == _texts(clean.table)
