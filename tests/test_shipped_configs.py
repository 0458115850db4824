"""Every YAML shipped under pipelines/configs/ loads and validates against its command's schema, with every
`resource:` and `pkg:` reference resolved and checked; docs/config.md is what the schemas generate."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from raypipe.config import ConfigError, load_config
from raypipe.config.docs import render_reference
from raypipe.jobs import JOBS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "pipelines" / "configs").glob("*.yaml"))
# file-name prefix -> command (longest prefix first)
PREFIXES = [("mine-train-eval-", "run"), ("mine-", "mine"), ("train-", "train"), ("tune-", "tune"),
            ("eval-", "eval")]


def command_of(path: Path) -> str:
    return next(cmd for prefix, cmd in PREFIXES if path.name.startswith(prefix))


# inputs a config may name before they exist: the outputs of the command its header says to run first, and the
# full Debian data (not shipped; `vars.data_dir=` points at it)
PRODUCED = ("'outputs/", "'../shared/data/")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_validates_with_its_paths(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # configs name paths relative to the repository root
    job = JOBS[command_of(path)]
    try:
        cfg = load_config(job.schema, path)  # check=True: files, folders, models (pkg:, resource:) must exist
    except ConfigError as err:
        left = [p for p in err.problems if not any(m in p for m in PRODUCED)]
        assert not left, left
        cfg = load_config(job.schema, path, check=False)
    assert cfg is not None


def test_every_shipped_config_has_a_command():
    assert CONFIGS and all(command_of(p) in JOBS for p in CONFIGS)


def test_config_reference_is_current():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == render_reference(), "regenerate: python -m raypipe.config.docs > docs/config.md"


def test_mine_hard_negatives_defaults_are_the_options_defaults():
    """One set of knobs: the sentence-transformers-shaped signature must not drift from MiningOptions."""
    from raypipe.mining import MiningOptions, mine_hard_negatives

    fields = MiningOptions.model_fields
    params = inspect.signature(mine_hard_negatives).parameters
    shared = [n for n in params if n in fields]
    assert len(shared) >= 17
    for name in shared:
        assert params[name].default == fields[name].default, name
