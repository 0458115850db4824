"""Helpers shared by the model tests: sentence-transformers (the oracle) builders for the same tiny checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = [
    "the debian package for python data tools",
    "a",
    "server client library with plugin support and documentation for the web",
    "Red car, fast!",
    "font files",
]
PAIRS = [(TEXTS[0], TEXTS[2]), (TEXTS[1], TEXTS[3]), (TEXTS[4], TEXTS[0])]


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


@pytest.fixture(scope="module")
def st():
    return pytest.importorskip("sentence_transformers")
