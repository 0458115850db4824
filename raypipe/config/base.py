"""The config base every command shares: strict pydantic models, YAML loading, dotted `key.path=value` overrides,
deprecated-key aliases, and one `ConfigError` listing every problem (schema errors and missing paths) with its path.

    cfg = load_config(MineConfig, "pipelines/configs/mine-debian.yaml", ["mining.num_negatives=5"])

Nothing here imports torch, transformers or Ray: a config is checked in milliseconds, before any of them start.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["StrictModel", "ConfigError", "load_config", "apply_overrides", "format_validation_error", "read_yaml",
           "parse_yaml"]

logger = logging.getLogger(__name__)
M = TypeVar("M", bound="StrictModel")


class _Loader(yaml.SafeLoader):
    """YAML 1.1's SafeLoader reads `1e-3` as a string; configs are full of learning rates, so numbers in
    scientific notation are floats here (as in YAML 1.2)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str):
    """A YAML document, numbers like 1e-3 read as floats."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


class _StrictMeta(type(BaseModel)):
    """Construction in Python (`MiningOptions(num_negatives=0)`) raises the same one-message ConfigError a config
    file gets. Done on the metaclass call, not `__init__`, so nested validation keeps pydantic's error paths."""

    def __call__(cls, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as err:
            raise ConfigError(cls.__name__, format_validation_error(err)) from None


class StrictModel(BaseModel, metaclass=_StrictMeta):
    """Base of every config section and options object: unknown keys are errors, values are validated on
    assignment too.

    `deprecated_keys` maps an old dotted key to its new one; loading moves the value and warns."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    deprecated_keys: ClassVar[dict[str, str]] = {}


class ConfigError(ValueError):
    """A config that cannot run: `problems` holds one line per problem, each starting with its dotted key."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, list(problems)
        if len(self.problems) == 1:  # one problem, one line
            super().__init__(f"{source}: config error: {self.problems[0]}")
            return
        lines = [f"{source}: {len(problems)} config error(s):", *(f"  - {p}" for p in problems)]
        super().__init__("\n".join(lines))


def format_validation_error(err: ValidationError) -> list[str]:
    """One line per pydantic error: `dotted.key: message (got value)`."""
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(root)"
        if e["type"] == "missing":
            out.append(f"{loc}: required field is missing")
        elif e["type"] == "extra_forbidden":
            out.append(f"{loc}: unknown key (got {e.get('input')!r}); check its spelling against docs/config.md")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            out.append(f"{loc}: {msg} (got {e.get('input')!r})")
    return out


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from `path`; a missing/unreadable file or a non-mapping is a ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(path), [f"config file {str(p)!r} does not exist; pass the path of a YAML config, "
                                      "e.g. pipelines/configs/mine-tiny-cpu.yaml"])
    try:
        data = parse_yaml(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(str(path), [f"(file): not valid YAML: {err}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"(file): the top level must be a mapping of sections, got {type(data).__name__}"])
    return data


def apply_overrides(raw: dict, overrides: list[str]) -> tuple[dict, list[str]]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict; returns (dict, problems)."""
    problems = []
    for item in overrides:
        if "=" not in item:
            problems.append(f"override {item!r}: must look like key.path=value, e.g. mining.num_negatives=5")
            continue
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = raw
        for i, p in enumerate(parts[:-1]):
            if node.get(p) is None:
                node[p] = {}
            node = node[p]
            if not isinstance(node, dict):
                problems.append(f"override {item!r}: {'.'.join(parts[:i + 1])} is a value, not a section")
                break
        else:
            node[parts[-1]] = parse_yaml(value)
    return raw, problems


def _pop_path(raw: dict, dotted: str) -> tuple[bool, Any]:
    parts, node = dotted.split("."), raw
    for p in parts[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return False, None
    if parts[-1] not in node:
        return False, None
    return True, node.pop(parts[-1])


def _apply_deprecated(raw: dict, schema: type[StrictModel]) -> None:
    for old, new in schema.deprecated_keys.items():
        found, value = _pop_path(raw, old)
        if found:
            warnings.warn(f"config key {old!r} is deprecated; use {new!r}.", FutureWarning, stacklevel=3)
            apply_overrides(raw, [f"{new}={yaml.safe_dump(value, default_flow_style=True).strip()}"])


_VAR = re.compile(r"\$\{(\w+)\}")


def _interpolate(data: dict) -> tuple[dict, list[str]]:
    """Replace `${name}` in every string by the top-level `vars:` entry `name` (`vars` itself is removed), so one
    value such as a data folder is set once and overridden once: `vars.data_dir=/data/debian`."""
    variables = data.pop("vars", None) or {}
    if not isinstance(variables, dict):
        return data, [f"vars: must be a mapping of names to values, got {variables!r}"]
    problems: list[str] = []

    def sub(value, key):
        if isinstance(value, dict):
            return {k: sub(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, list):
            return [sub(v, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, str):
            missing = [m for m in _VAR.findall(value) if m not in variables]
            if missing:
                problems.append(f"{key}: ${{{missing[0]}}} is not defined under vars: (defined: "
                                f"{sorted(variables) or 'none'})")
                return value
            return _VAR.sub(lambda m: str(variables[m.group(1)]), value)
        return value

    return sub(data, ""), problems


def load_config(schema: type[M], path: str | Path | None = None, overrides: list[str] | None = None, *,
                raw: dict | None = None, check: bool = True) -> M:
    """Read YAML (or `raw`), apply overrides, substitute `${vars}`, validate against `schema`, then (with `check`)
    check every file, folder and model the config names. Raises one ConfigError listing every problem."""
    source = str(path) if path is not None else "config"
    data = read_yaml(path) if path is not None else _deep_copy(raw or {})
    data, problems = apply_overrides(data, list(overrides or []))
    data, unresolved = _interpolate(data)
    problems += unresolved
    _apply_deprecated(data, schema)
    try:
        cfg = schema.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, problems + format_validation_error(err)) from None
    if check:
        from raypipe.config.paths import check_paths

        problems += check_paths(cfg)
        problems += cfg.check() if hasattr(cfg, "check") else []
    if problems:
        raise ConfigError(source, problems)
    return cfg


def _deep_copy(d: dict) -> dict:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}
