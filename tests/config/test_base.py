"""The config base: YAML numbers, `${vars}`, overrides, one error per config (one line for one problem), and
options objects built in Python raising the same error."""

from __future__ import annotations

import pytest

from raypipe.config import ConfigError, StrictModel, load_config
from raypipe.config.base import parse_yaml


class Section(StrictModel):
    path: str
    rate: float = 0.1


class Cfg(StrictModel):
    section: Section
    steps: int = 1


def test_scientific_notation_is_a_float():
    assert parse_yaml("a: 1e-3\nb: 5E+2\nc: '1e-3'\nd: 3") == {"a": 0.001, "b": 500.0, "c": "1e-3", "d": 3}


def test_vars_are_substituted_and_overridable():
    raw = {"vars": {"root": "/data"}, "section": {"path": "${root}/train.parquet"}}
    assert load_config(Cfg, raw=raw, check=False).section.path == "/data/train.parquet"
    cfg = load_config(Cfg, raw=raw, overrides=["vars.root=/elsewhere"], check=False)
    assert cfg.section.path == "/elsewhere/train.parquet"
    with pytest.raises(ConfigError, match=r"section.path: \$\{nope\} is not defined"):
        load_config(Cfg, raw={"section": {"path": "${nope}/x"}}, check=False)


def test_one_problem_is_one_line_and_several_are_listed():
    with pytest.raises(ConfigError) as one:
        load_config(Cfg, raw={"section": {"path": "p", "rat": 1}}, check=False)
    assert "\n" not in str(one.value) and "section.rat: unknown key" in str(one.value)
    with pytest.raises(ConfigError) as many:
        load_config(Cfg, raw={"section": {}, "steps": "x"}, overrides=["bad"], check=False)
    assert "3 config error(s)" in str(many.value) and many.value.problems[0].startswith("override 'bad'")


def test_options_built_in_python_raise_the_config_error():
    with pytest.raises(ConfigError, match=r"Section: config error: path: required field is missing"):
        Section()
    with pytest.raises(ConfigError, match="rate"):
        Section(path="p", rate="fast")
