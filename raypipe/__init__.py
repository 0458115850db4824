"""raypipe: sentence-transformers-compatible retrieval models, losses, evaluators and hard-negative mining,
scaled out on Ray (Data for mining, Train for DDP training, Tune for sweeps)."""

from __future__ import annotations

import os as _os

from raypipe._version import __version__

# PyTorch's CPU allocator madvises tensors of >= 2 MB onto transparent huge pages when THP_MEM_ALLOC_ENABLE is set.
# It reads the variable once, at its first allocation, so it is set here, before raypipe imports torch; an embedded
# Ray's workers inherit it (a submitted job: pipelines/runtime-env.yaml sets it). Why: a SPLADE step allocates fresh
# (rows x tokens x 30,522) logits; with 4 KB pages a 2-core training worker took ~200,000 page faults a second
# (~2,000 with huge pages). Measured gains: README, Train on Ray (bench/thp_alloc.py). Linux only (elsewhere torch
# ignores it); opt out with the variable at 0.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

_LAZY = {
    "SentenceTransformer": "raypipe.models",
    "CrossEncoder": "raypipe.models",
    "SparseEncoder": "raypipe.models",
    "SentenceTransformerTrainer": "raypipe.train",
    "CrossEncoderTrainer": "raypipe.train",
    "SparseEncoderTrainer": "raypipe.train",
    "SentenceTransformerTrainingArguments": "raypipe.train",
    "CrossEncoderTrainingArguments": "raypipe.train",
    "SparseEncoderTrainingArguments": "raypipe.train",
    "mine_hard_negatives": "raypipe.mining",
}


def __getattr__(name: str):
    # Lazy (as raypipe.models is), so that `import raypipe.losses` or a config check does not pay for
    # transformers' import until a model is needed.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raypipe' has no attribute {name!r}")


__all__ = [*_LAZY, "__version__"]
