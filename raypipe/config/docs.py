"""The YAML reference, generated from the schemas' field descriptions: `python -m raypipe.config.docs >
docs/config.md` (a test checks the committed file is current)."""

from __future__ import annotations

import json
import typing

from pydantic import BaseModel

from raypipe.config.paths import path_kind

__all__ = ["render_reference", "schema_rows"]


def _submodel(annotation) -> type[BaseModel] | None:
    for t in (annotation, *typing.get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _type_name(t) -> str:
    """A short readable type: `int | null`, `one of 'a', 'b'`, `str`."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if args and (origin is typing.Union or type(t).__name__ == "UnionType"):
        return " | ".join(_type_name(a) for a in args)
    if t is type(None):
        return "null"
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(t, "__name__", str(t))


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "(section defaults)"
    return json.dumps(field.default)


def schema_rows(model: type[BaseModel], prefix: str = "", commands: dict | None = None) -> list[tuple]:
    """(dotted key, type, default, description) for every leaf field, sections expanded in place. A section that
    also accepts a plain value (a model reference given as its path) gets a row of its own too; a section that is
    another command's whole config (`commands`: schema -> command name) gets one row pointing at it."""
    rows, commands = [], commands or {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _submodel(field.annotation)
        if sub is not None and sub in commands:
            rows.append((key, f"a `raypipe {commands[sub]}` config", _default(field), field.description or ""))
            continue
        if sub is not None:
            if hasattr(sub, "_shorthand"):
                rows.append((key, "section, or its path", _default(field), field.description or ""))
            rows += schema_rows(sub, f"{key}.", commands)
            continue
        desc = field.description or ""
        if path_kind(field):
            desc = f"{desc} [{path_kind(field)} path]"
        rows.append((key, _type_name(field.annotation), _default(field), desc))
    return rows


def render_reference() -> str:
    from raypipe.jobs import JOBS

    out = ["# Config reference", "",
           "Generated from the schemas (`python -m raypipe.config.docs > docs/config.md`). Every command takes",
           "`raypipe COMMAND CONFIG [key.path=value ...]`; unknown keys are errors, and every problem (bad values,",
           "missing files, folders and models) is reported at once before anything heavy starts. Paths: `resource:REL`",
           "is a file shipped in `raypipe/resources/`, `pkg:MODULE` a packaged model; relative paths are relative to",
           "the working directory. A top-level `vars:` mapping defines `${name}` substitutions in every string value",
           "(`vars: {data_dir: ../data}` ... `${data_dir}/train.parquet`; override with `vars.data_dir=/path`).", ""]
    commands = {job.schema: job.name for job in JOBS.values()}
    for job in JOBS.values():
        schema = job.schema
        out += [f"## `raypipe {job.name}` ({schema.__name__})", "", (schema.__doc__ or "").strip(), "",
                "| key | type | default | description |", "|---|---|---|---|"]
        out += ["| " + " | ".join([f"`{k}`", *(c.replace("|", "&#124;") for c in (t, d, desc))]) + " |"
                for k, t, d, desc in schema_rows(schema, commands={s: n for s, n in commands.items()
                                                                   if s is not schema})]
        if schema.deprecated_keys:
            out += ["", "Deprecated keys (still read, with a warning): " +
                    ", ".join(f"`{a}` -> `{b}`" for a, b in schema.deprecated_keys.items()) + "."]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_reference(), end="")
