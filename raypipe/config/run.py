"""`raypipe run` config: mine -> train -> eval as one job. Each part is the config of its own command; the run
joins them through `output.dir` (these keys are filled in, whatever the parts say):

    mine.output.dir             = <output.dir>/mined
    train.data.train.path       = <output.dir>/mined         (columns: all but `scores`, unless given)
    train.output.dir            = <output.dir>               (model/, log_history.json, metrics.json)
    train.run.storage_path      = <output.dir>/ray_results   (unless given)
    eval.model                  = <output.dir>/model         (kind: train.model.kind)
    eval.output                 = <output.dir>/eval.json     (the base model's: eval-base.json)
    eval.embedding.cache_dir    = <output.dir>/cache/eval-embeddings (unless given)
    every part's ray            = the top-level ray section

Defaults: train.model is mine.model, eval.evaluator is train.evaluator.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import Field, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.eval import EvalConfig
from raypipe.config.mine import MineConfig
from raypipe.config.paths import OutputPath
from raypipe.config.runtime import RayConfig
from raypipe.config.train import TrainConfig

__all__ = ["RunConfig", "RunOutput", "join_parts"]


class RunOutput(StrictModel):
    dir: OutputPath = Field("outputs/run", description="every stage's output goes under this folder")


def _section(raw: dict, key: str) -> dict:
    value = raw.get(key)
    if not isinstance(value, dict):
        value = {} if value is None else {"path": value}
    raw[key] = value
    return value


def join_parts(data: dict) -> dict:
    """Fill in the keys that join the parts (see the module docstring); returns a new dict."""
    data = copy.deepcopy(data)
    out = (data.get("output") or {}).get("dir", "outputs/run")
    ray = data.get("ray") or {}
    mine, train = data.setdefault("mine", {}) or {}, data.setdefault("train", {}) or {}
    data["mine"], data["train"] = mine, train
    _section(mine, "output").update(dir=f"{out}/mined")
    mine["output"].setdefault("cache_dir", f"{out}/cache/embeddings")
    train.setdefault("model", copy.deepcopy(mine.get("model")))
    source = _section(_section(train, "data"), "train")
    source["path"] = f"{out}/mined"
    if not source.get("columns"):
        source.setdefault("exclude", ["scores"])
    _section(train, "output")["dir"] = out
    _section(train, "run").setdefault("storage_path", f"{out}/ray_results")
    ev = data.get("eval") or {}
    data["eval"] = ev
    kind = (train.get("model") or {}).get("kind", "dense") if isinstance(train.get("model"), dict) else "dense"
    ev["model"] = {"kind": kind, "path": f"{out}/model"}
    ev.setdefault("evaluator", copy.deepcopy(train.get("evaluator")))
    _section(ev, "output").update(dir=out, file="eval.json")
    _section(ev, "embedding").setdefault("cache_dir", f"{out}/cache/eval-embeddings")
    for part in (mine, train, ev):
        part["ray"] = ray
    return data


class RunConfig(StrictModel):
    """Mine hard negatives, train on them, evaluate the trained model and the base model with one evaluator."""

    mine: MineConfig = Field(description="a `raypipe mine` config (see its section)")
    train: TrainConfig = Field(description="a `raypipe train` config; its training data is the mined output")
    eval: EvalConfig = Field(description="a `raypipe eval` config; its model is the trained one")
    ray: RayConfig = Field(default_factory=RayConfig)
    output: RunOutput = Field(default_factory=RunOutput)

    @model_validator(mode="before")
    @classmethod
    def _join(cls, data: Any):
        return join_parts(data) if isinstance(data, dict) else data

    def produced_paths(self) -> set[str]:
        """Inputs an earlier stage of the run writes (not checked before the run starts)."""
        return {"train.data.train.path", "eval.model.path"}
