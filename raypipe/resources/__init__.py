"""Small data samples shipped inside the package (Debian package descriptions), so examples and tests never
read outside the repository. Full data lives outside (see bench/ scripts' --data-dir)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "debian_sample"


def sample_path(name: str) -> Path:
    """Path of a shipped sample file, e.g. sample_path("descriptions-100.parquet")."""
    path = SAMPLE_DIR / name
    if not path.exists():
        available = ", ".join(sorted(p.name for p in SAMPLE_DIR.glob("*"))) or "none"
        raise FileNotFoundError(f"No shipped sample {name!r}; available: {available}.")
    return path


def debian_sample_texts(n: int | None = None) -> list[str]:
    """The first n (default all 100) shipped Debian long descriptions."""
    import pyarrow.parquet as pq

    texts = pq.read_table(sample_path("descriptions-100.parquet"), columns=["text"]).column("text").to_pylist()
    return texts if n is None else texts[:n]


__all__ = ["SAMPLE_DIR", "sample_path", "debian_sample_texts"]
