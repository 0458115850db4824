"""Load a training/eval dataset as a memory-mapped `datasets.Dataset`: a parquet file or folder (a `raypipe mine`
output folder as is), a jsonl file, or a `datasets.save_to_disk` folder. Column selection / renaming and a row
limit are applied lazily (no copy of the data).

Memory: the rows live in an Arrow file that is memory-mapped (HF's cache for parquet/jsonl, the folder itself for a
saved dataset), so a process touches only the pages of the batches it reads, not the whole dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["load_dataset", "detect_format"]


def detect_format(path: str) -> str:
    """parquet | jsonl | hf, from the extension or the folder's contents."""
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "state.json").exists():
            return "hf"
        if any(p.glob("*.parquet")):
            return "parquet"
        if any(p.glob("*.jsonl")):
            return "jsonl"
        raise ValueError(f"data path {path!r} is a folder with no .parquet or .jsonl files and no saved dataset. "
                         "Fix: point it at a parquet/jsonl file, a folder of them, or a datasets.save_to_disk folder.")
    if p.suffix == ".parquet":
        return "parquet"
    if p.suffix in (".jsonl", ".json"):
        return "jsonl"
    raise ValueError(f"data path {path!r}: unknown file type {p.suffix!r}; allowed: .parquet, .jsonl, or a folder.")


def _files(path: str, ext: str) -> list[str]:
    p = Path(path)
    return sorted(str(f) for f in p.glob(f"*{ext}")) if p.is_dir() else [str(p)]


def load_dataset(path: str, fmt: str = "auto", columns: Sequence[str] | Mapping[str, str] | None = None,
                 limit: int | None = None, exclude: Sequence[str] = ()):
    """A `datasets.Dataset` of `path` with `columns` selected (a list) or selected and renamed (a mapping
    {old: new}, in the mapping's order) and the first `limit` rows. Errors name the missing columns."""
    import datasets

    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "hf":
        ds = datasets.load_from_disk(path)
    elif fmt == "parquet":
        ds = datasets.Dataset.from_parquet(_files(path, ".parquet"))
    else:
        ds = datasets.Dataset.from_json(_files(path, ".jsonl"))
    if isinstance(ds, datasets.DatasetDict):
        raise ValueError(f"data path {path!r} holds a DatasetDict {list(ds)}; point it at one split's folder.")
    if columns:
        wanted = list(columns)
        missing = [c for c in wanted if c not in ds.column_names]
        if missing:
            raise ValueError(f"data path {path!r}: columns {missing} not found (columns: {ds.column_names}). "
                             "Fix: correct data.*.columns.")
        ds = ds.select_columns(wanted)
        if isinstance(columns, Mapping):
            ds = ds.rename_columns({k: v for k, v in columns.items() if k != v})
    drop = [c for c in exclude if c in ds.column_names]
    if drop:
        ds = ds.remove_columns(drop)
    if limit is not None and limit < len(ds):
        ds = ds.select(range(limit))
    return ds
