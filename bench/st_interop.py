"""Do models written by raypipe load in sentence-transformers unchanged, with identical outputs?

    python bench/st_interop.py dense:outputs/run-debian-full/model cross:outputs/train-cross-debian-full/model \
        sparse:outputs/train-sparse-debian-full/model

Each KIND:FOLDER is loaded by raypipe and by sentence-transformers (SentenceTransformer / CrossEncoder /
SparseEncoder), both on the CPU in float32, and run on the same 16 probes (Debian-like queries; cross-encoders
score them against a fixed description). Prints the largest absolute difference of the outputs per model.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROBES = [f"{w} for the {t}" for w in ("library", "command-line tool", "Python bindings", "documentation")
          for t in ("X Window System", "GNOME desktop", "Linux kernel", "Debian package manager")]
DOC = "This package provides the development files and headers of a C library for parsing XML documents."


def _dense(x):
    return x.to_dense() if torch.is_tensor(x) and x.is_sparse else x


def outputs(lib, kind: str, path: str) -> np.ndarray:
    """(16, D) embeddings or (16,) scores from one library."""
    cls = {"dense": "SentenceTransformer", "cross": "CrossEncoder", "sparse": "SparseEncoder"}[kind]
    model = getattr(lib, cls)(path, device="cpu")
    if kind == "cross":
        out = model.predict([(q, DOC) for q in PROBES])
    else:
        out = _dense(model.encode(PROBES, convert_to_tensor=kind == "sparse"))
    return np.asarray(out.cpu() if torch.is_tensor(out) else out, np.float32)


def main(argv: list[str]) -> int:
    import sentence_transformers as st

    import raypipe

    if not argv:
        print(__doc__)
        return 2
    print(f"{'model':<50} {'kind':<6} {'outputs':<10} max |raypipe - sentence-transformers|")
    worst = 0.0
    for spec in argv:
        kind, path = spec.split(":", 1)
        ours, theirs = outputs(raypipe, kind, path), outputs(st, kind, path)
        diff = float(np.abs(ours - theirs).max())
        worst = max(worst, diff)
        print(f"{path[-50:]:<50} {kind:<6} {str(ours.shape):<10} {diff:.3g}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
