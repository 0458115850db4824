"""The search space of `raypipe tune`: distributions (`{loguniform: [1e-5, 1e-2]}`, `{choice: [...]}`, ...),
dotted keys into the train config, and the check that puts every representative value of every entry (both
bounds of a range, every option of a choice or grid) into the train config and validates the result: pydantic for
the config's own fields and paths, the loss classes' and training-arguments' annotations for loss parameters and
`args`. Every problem is listed. Cost: O(sum of representatives) validations of the train config (milliseconds).
"""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from raypipe.config.base import format_validation_error
from raypipe.config.paths import check_paths
from raypipe.config.train import TrainConfig

__all__ = ["Distribution", "DISTRIBUTIONS", "NOT_SWEPT", "OBJECTIVE_ALIASES", "parse_distribution", "flatten_space",
           "set_path", "apply_values", "trial_train_raw", "entry_problems"]

DISTRIBUTIONS = {
    "uniform": "[low, high]: a float drawn uniformly",
    "loguniform": "[low, high] with 0 < low: a float drawn uniformly on a log scale",
    "randint": "[low, high]: an integer low <= n < high",
    "choice": "[v1, v2, ...]: one of these values (any YAML value, e.g. a list of Matryoshka dims)",
    "grid": "[v1, v2, ...]: every value, crossed with the other grid entries",
}
# sections every trial shares: the sweep sets run/output per trial, and plans resources once
NOT_SWEPT = {
    "run": "set by the sweep (each trial is its own run under run.storage_path/<run.name>/trials)",
    "output": "set by the sweep (trials write under run.storage_path; the best model goes to output.dir)",
    "ray": "the Ray runtime is the same for every trial",
    "scaling": "resources are planned once for every trial; set scaling in the train part of the config",
    "model": "the starting model is built once and shared by every trial; sweep loss, args, data or evaluator keys",
}
# efficiency objectives of a sparse retrieval evaluator: alias -> metric suffix after "eval_<name>_"
OBJECTIVE_ALIASES = {"active_dims_per_doc": "corpus_active_dims", "active_dims_per_query": "query_active_dims",
                     "flops": "avg_flops"}


@dataclass(frozen=True)
class Distribution:
    """One search-space entry: `kind` (a DISTRIBUTIONS key) and its values ((low, high) or the options)."""

    kind: str
    values: tuple

    @property
    def representatives(self) -> list:
        """Values that stand for the whole distribution when checking it: both bounds, or every option."""
        if self.kind in ("uniform", "loguniform"):
            return list(self.values)
        if self.kind == "randint":
            return [self.values[0], self.values[1] - 1]
        return list(self.values)

    @property
    def grid_size(self) -> int:
        return len(self.values) if self.kind == "grid" else 1

    @property
    def encoded(self) -> bool:
        """Options that are not scalars (lists, mappings) travel to Tune as their index: Tune's grid and Optuna's
        categorical distributions only take scalars."""
        return self.kind in ("choice", "grid") and any(isinstance(v, (list, tuple, dict)) for v in self.values)

    def decode(self, sampled):
        return self.values[sampled] if self.encoded else sampled


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def parse_distribution(raw) -> Distribution:
    """`{kind: args}` -> Distribution; a ValueError saying what is wrong and what is allowed otherwise."""
    kinds = ", ".join(DISTRIBUTIONS)
    if not isinstance(raw, dict):
        return _fail(f"must be a distribution such as {{loguniform: [1e-5, 1e-2]}} or {{choice: [20, 50]}} (got "
                     f"{raw!r}); one of: {kinds}. A fixed value belongs in the train part of the config")
    if len(raw) != 1:
        return _fail(f"a distribution has exactly one key, one of {kinds} (got {sorted(map(str, raw))})")
    (kind, args), = raw.items()
    if kind not in DISTRIBUTIONS:
        close = difflib.get_close_matches(str(kind), DISTRIBUTIONS, n=1)
        return _fail(f"unknown distribution {kind!r}" + (f"; did you mean {close[0]!r}?" if close else "") +
                     f" Allowed: {kinds}")
    if not isinstance(args, (list, tuple)) or not args:
        return _fail(f"{kind} takes a non-empty list {DISTRIBUTIONS[kind].split(':')[0]} (got {args!r})")
    if kind in ("choice", "grid"):
        return Distribution(kind, tuple(args))
    if len(args) != 2 or not all(_is_number(a) for a in args):
        return _fail(f"{kind} takes [low, high], two numbers (got {args!r})")
    low, high = args
    if not low < high:
        return _fail(f"{kind}: low must be below high (got [{low!r}, {high!r}])")
    if kind == "loguniform" and low <= 0:
        return _fail(f"loguniform needs 0 < low (got {low!r}); use uniform for ranges that include 0")
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        return _fail(f"randint takes two integers [low, high) (got {args!r}); use uniform for floats")
    return Distribution(kind, (low, high))


def _fail(message: str):
    raise ValueError(message)


def flatten_space(raw: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> dotted keys, so `loss: {scale: {choice: [..]}}` and command-line overrides
    (`search_space.loss.scale={choice: [20, 50]}`, which arrive nested) equal `loss.scale: {choice: [..]}`.
    A mapping recurses only when all its values are mappings and none of its keys is a distribution; later keys
    win, as a later override should."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{prefix}{key}"
        nested = (isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values())
                  and not set(map(str, value)) & set(DISTRIBUTIONS))
        if nested:
            for k, v in flatten_space(value, f"{path}.").items():
                out.pop(k, None)
                out[k] = v
        else:
            out.pop(path, None)
            out[path] = value
    return out


def set_path(raw: dict, path: str, value) -> None:
    """Put `value` at the dotted `path` of a nested dict, creating missing sections; a ValueError if a part of
    the path is a value."""
    parts, node = path.split("."), raw
    for i, part in enumerate(parts[:-1]):
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ValueError(f"{'.'.join(parts[:i + 1])} is a value in the train config, not a section")
    node[parts[-1]] = copy.deepcopy(value)


def apply_values(base: dict, values: dict[str, Any]) -> dict:
    """A deep copy of the train config dict `base` with every dotted key of `values` set."""
    raw = copy.deepcopy(base)
    for path, value in values.items():
        set_path(raw, path, value)
    return raw


def trial_train_raw(base: dict, values: dict, trial_id: str, trials_storage: str, output_dir: str) -> dict:
    """The train config (as a dict) one trial runs: the sampled values put in, its own run under the sweep."""
    raw = apply_values(base, values)
    raw["run"] = {**raw.get("run", {}), "name": trial_id, "storage_path": trials_storage}
    raw["output"] = {"dir": output_dir}
    return raw


def _kind_spec(kind: str):
    # the registry stands above the configs; resolved at call time, as raypipe.train.fit resolves its job
    return importlib.import_module("raypipe.registry").get_kind(kind)


def entry_problems(base: dict, path: str, values: list) -> list[str]:
    """Problems that putting each value at `path` adds to the (valid) base train config."""
    key, out = f"search_space.{path}", []
    if path.startswith("loss.") and (msg := _loss_parent_problem(base, path)):
        return [f"{key}: {msg}"]
    kind = base["model"]["kind"]
    before = set(_config_problems(base, kind))
    for value in values:
        try:
            raw = apply_values(base, {path: value})
        except ValueError as err:
            return [f"{key}: {err}"]
        for problem in _config_problems(raw, kind):
            if problem in before:
                continue
            where, _, msg = problem.partition(": ")
            line = f"{key}: {msg}" if where == path else f"{key}: {problem}"
            if "unknown key" in msg:  # unknown for every value: said once
                return [f"{key}: {where} is not a key of the train config; check its spelling against "
                        "docs/config.md"]
            if "not a parameter" in msg or "not a field" in msg:
                return [line]
            if line not in out:
                out.append(line)
    return out


def _config_problems(raw: dict, kind: str) -> list[str]:
    """pydantic's problems of a train config dict, then its paths, loss parameters and training arguments."""
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as err:
        return format_validation_error(err)
    out = check_paths(cfg)
    if cfg.loss is not None:
        out += _loss_problems(kind, cfg.loss.model_dump(), "loss")
    return out + _args_problems(kind, cfg.args)


def _loss_parent_problem(base: dict, path: str) -> str | None:
    """A loss parameter is swept only in a loss the config names (an inner loss needs its `name`)."""
    parts, node = path.split("."), base
    for i, part in enumerate(parts[:-1]):
        node = node.get(part) if isinstance(node, dict) else None
        if not (isinstance(node, dict) and "name" in node):
            where = ".".join(parts[:i + 1])
            return (f"{where} is not a loss in the train config; set {where}: {{name: ...}} there first, or "
                    f"sweep the whole {where} with {{choice: [{{name: ...}}, ...]}}")
    return None


def _loss_problems(kind: str, loss: dict, key: str) -> list[str]:
    """Unknown parameters and values that do not fit a parameter's annotation, inner losses included."""
    try:
        cls = _kind_spec(kind).loss_class(loss.get("name", ""))
    except ValueError as err:
        return [f"{key}.name: {err}"]
    params = inspect.signature(cls.__init__).parameters
    known = [n for n, p in params.items() if n not in ("self", "model") and p.kind is not p.VAR_KEYWORD]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    hints, out = _hints(cls.__init__), []
    for name, value in loss.items():
        if name == "name":
            continue
        if name not in known:
            if not takes_any:
                out.append(f"{key}.{name}: not a parameter of {cls.__name__}{_suggest(name, known)}; its "
                           f"parameters: {', '.join(known)}")
            continue
        if isinstance(value, dict) and "name" in value:
            out += _loss_problems(kind, value, f"{key}.{name}")
        elif name != "guide" and not name.endswith("similarity_fct") and (msg := _type_problem(hints.get(name), value)):
            out.append(f"{key}.{name}: {value!r} does not fit {cls.__name__}'s {name} "
                       f"({_annotation_name(hints[name])}): {msg}")
    return out


def _args_problems(kind: str, args: dict) -> list[str]:
    """Training arguments that are not fields of the kind's *TrainingArguments, or do not fit their type."""
    import dataclasses

    cls = _kind_spec(kind).args_class
    names = [f.name for f in dataclasses.fields(cls)]
    hints, out = _hints(cls), []
    for name, value in args.items():
        if name not in names:
            out.append(f"args.{name}: not a field of {cls.__name__}{_suggest(name, names)}")
        elif msg := _type_problem(hints.get(name), value):
            out.append(f"args.{name}: {value!r} does not fit {cls.__name__}.{name} "
                       f"({_annotation_name(hints[name])}): {msg}")
    return out


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _hints(obj) -> dict:
    """Resolved annotations; one that cannot be resolved is left out (and so not checked)."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - a forward reference to a type-checking-only import
        out = {}
        module_globals = getattr(inspect.unwrap(obj), "__globals__", {})
        for name, ann in getattr(obj, "__annotations__", {}).items():
            try:
                out[name] = eval(ann, module_globals) if isinstance(ann, str) else ann  # noqa: S307
            except Exception:  # noqa: BLE001
                continue
        return out


@lru_cache(maxsize=512)
def _adapter(annotation):
    try:
        return TypeAdapter(annotation)
    except Exception:  # noqa: BLE001 - a type pydantic cannot check (nn.Module, callables): not checked
        return None


def _type_problem(annotation, value) -> str | None:
    if annotation is None or annotation is Any:
        return None
    try:
        adapter = _adapter(annotation)
    except TypeError:  # unhashable annotation object
        adapter = None
    if adapter is None:
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as err:
        return err.errors()[0]["msg"]
    return None


def _annotation_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
