"""`LazyModel`: a model named by its folder and kind, loaded only where it runs.

A pipeline driver that hands a model to Ray actors does not need the weights itself: with a `LazyModel` each
actor loads the folder (the object store carries a path, not a pickled model), and the driver imports neither
torch nor transformers -- on the Debian mining job that is ~0.5 GB less driver memory and no pickled copy of the
weights in the object store. This process loads it only if it runs the model itself (`load()`, cached per process).

    m = LazyModel("path/to/model", "dense")
    m.fingerprint()      # content hash of the folder (embedding-cache key), computed without loading
    m.load()             # the SentenceTransformer, once per process
    m.text_tokenizer()   # its tokenization only (raypipe.models.text_tokenizer), no weights

Importing this module loads neither torch nor transformers.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass

__all__ = ["LazyModel", "MODEL_CLASSES", "load_model"]

# model kind -> "module:Class" (imported only on load)
MODEL_CLASSES = {"dense": "raypipe.models.dense:SentenceTransformer", "cross": "raypipe.models.cross:CrossEncoder",
                 "sparse": "raypipe.models.sparse:SparseEncoder"}
_LOADED: dict[tuple, object] = {}  # one model per (path, kind, device) per process


@dataclass(frozen=True)
class LazyModel:
    """A model folder (sentence-transformers or plain Hugging Face) and its kind: dense | cross | sparse."""

    path: str
    kind: str = "dense"
    device: str | None = None

    def __post_init__(self):
        if self.kind not in MODEL_CLASSES:
            raise ValueError(f"kind={self.kind!r} is not a model kind; allowed: {', '.join(MODEL_CLASSES)}. "
                             "Fix: dense (SentenceTransformer), cross (CrossEncoder) or sparse (SparseEncoder).")
        if not os.path.isdir(self.path):
            raise ValueError(f"path={self.path!r} is not a model folder. Fix: pass the folder of a saved model "
                             "(LazyModel does not download; load hub models with the model class).")
        # absolute: the actors that load it do not run in this process's working directory
        object.__setattr__(self, "path", os.path.abspath(self.path))

    def load(self):
        """The model, loaded once per process (on `device`, default: cuda when available)."""
        key = (os.path.abspath(self.path), self.kind, self.device)
        if key not in _LOADED:
            module, name = MODEL_CLASSES[self.kind].split(":")
            cls = getattr(importlib.import_module(module), name)
            _LOADED[key] = cls(self.path, device=self.device)
        return _LOADED[key]

    def fingerprint(self) -> str:
        """sha256 of every file's relative name, size and content: changes whenever the weights, tokenizer or
        configs change. Cost O(folder bytes) (~0.2 s for all-MiniLM-L6-v2's 90 MB), no model load."""
        h = hashlib.sha256(self.kind.encode())
        root = os.path.abspath(self.path)
        for dirpath, dirnames, files in os.walk(root):
            dirnames.sort()
            for name in sorted(files):
                full = os.path.join(dirpath, name)
                h.update(os.path.relpath(full, root).encode())
                h.update(str(os.path.getsize(full)).encode())
                with open(full, "rb") as f:
                    for block in iter(lambda f=f: f.read(1 << 22), b""):
                        h.update(block)
        return h.hexdigest()[:16]

    def text_tokenizer(self):
        """The model's tokenization (prompts, lower-casing, truncation) without its weights."""
        from raypipe.models.text_tokenizer import load_text_tokenizer

        return load_text_tokenizer(self.path)


def load_model(model):
    """`model` itself, or the loaded model of a LazyModel."""
    return model.load() if isinstance(model, LazyModel) else model
