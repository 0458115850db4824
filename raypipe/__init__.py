"""raypipe: sentence-transformers-compatible retrieval models, losses, evaluators and hard-negative mining,
scaled out on Ray (Data for mining, Train for DDP training, Tune for sweeps)."""

from __future__ import annotations

from raypipe._version import __version__

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
