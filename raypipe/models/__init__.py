"""raypipe's encoders and their modules, saved and loaded in sentence-transformers' format.

Imported lazily (PEP 562): `from raypipe.models import SentenceTransformer` loads transformers, while importing a
light submodule such as `raypipe.models.similarity` (as the losses do) does not."""

from __future__ import annotations

import importlib

_LAZY = {
    "SentenceTransformer": "raypipe.models.dense",
    "CrossEncoder": "raypipe.models.cross",
    "SparseEncoder": "raypipe.models.sparse",
    "Transformer": "raypipe.models.transformer",
    "Pooling": "raypipe.models.pooling",
    "Dense": "raypipe.models.layers",
    "Normalize": "raypipe.models.layers",
    "SpladePooling": "raypipe.models.splade_pooling",
    "SparseAutoEncoder": "raypipe.models.sparse_autoencoder",
    "dense_from_checkpoint": "raypipe.models.init",
    "cross_from_checkpoint": "raypipe.models.init",
    "splade_from_checkpoint": "raypipe.models.init",
    "csr_from_dense": "raypipe.models.init",
    "warm_up_mlm_head": "raypipe.models.init",
    "calibrate_logit_offset": "raypipe.models.init",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raypipe.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = list(_LAZY)
