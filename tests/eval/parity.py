"""Parity assertion shared by the eval tests."""

from __future__ import annotations


def assert_parity(ours: dict, theirs: dict, atol: float = 1e-6) -> None:
    """Every key of sentence-transformers' result is ours too, and values agree within atol."""
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"keys missing from raypipe's result: {missing}"
    bad = {k: (ours[k], theirs[k]) for k in theirs if abs(float(ours[k]) - float(theirs[k])) > atol}
    assert not bad, f"metrics differ: {bad}"
