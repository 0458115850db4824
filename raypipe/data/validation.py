"""Dataset validation before any compute: every problem between a dataset, a loss and a model, in ONE error.

sentence-transformers leaves most of these checks to the loss at the first batch (after the model is loaded, the
optimizer built and maybe minutes of tokenization). raypipe checks the dataset against the loss's declared
`input_requirements()` (raypipe.losses.base.LossRequirements) up front and lists every problem with its fix.

Cost: one streamed pass over the dataset (`dataset.iter(batch_size=chunk)`), O(N · columns) time and O(chunk)
memory; at most `max_rows_listed` offending rows are named per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from raypipe.losses.base import LABEL_NONE, LossRequirements

VALID_LABEL_COLUMNS = ("label", "labels", "score", "scores")
RESERVED_COLUMNS = ("return_loss", "dataset_name")


class DatasetValidationError(ValueError):
    """Raised with every problem found; `.problems` holds them one by one."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def is_id_like(column: str) -> bool:
    return column == "id" or column.endswith(("_id", "_ids", "_idx"))


def split_columns(column_names, valid_label_columns=VALID_LABEL_COLUMNS) -> tuple[str | None, list[str]]:
    """(label column or None, input columns by position), as the collators use them."""
    cols = [c for c in column_names if c != "dataset_name"]
    label = next((c for c in valid_label_columns if c in cols), None)
    return label, [c for c in cols if c != label]


def loss_requirements(loss) -> LossRequirements:
    fn = getattr(loss, "input_requirements", None)
    return fn() if callable(fn) else LossRequirements(loss_name=type(loss).__name__, min_inputs=1)


@dataclass
class _Rows:
    """Offending row numbers for one (column, problem) pair; keeps the count and the first few."""

    limit: int
    rows: list[int] = field(default_factory=list)
    count: int = 0
    example: object = None

    def add(self, row: int, value) -> None:
        if self.count == 0:
            self.example = value
        self.count += 1
        if len(self.rows) < self.limit:
            self.rows.append(row)

    def describe(self) -> str:
        more = f" (and {self.count - len(self.rows)} more)" if self.count > len(self.rows) else ""
        return f"row(s) {self.rows}{more}, e.g. {self.example!r:.60}"


def _is_number(v) -> bool:
    return isinstance(v, (int, float))  # bool is an int: 0/1 labels may be stored as booleans


def _label_problem(value, kind: str | None, num_labels: int | None) -> str | None:
    """Why one label value does not fit `kind` (None if it fits)."""
    if value is None:
        return "is missing (null)"
    if kind in (None, "float"):
        return None if _is_number(value) else f"is {type(value).__name__}, expected a number"
    if kind == "binary":
        return None if _is_number(value) and float(value) in (0.0, 1.0) else "is not 0 or 1"
    if kind == "int":
        if not _is_number(value) or float(value) != int(value):
            return f"is {value!r:.20}, expected an integer class id"
        if int(value) < 0 or (num_labels is not None and num_labels > 1 and int(value) >= num_labels):
            return f"class id {int(value)} is outside [0, num_labels={num_labels})"
        return None
    if kind in ("vector", "list"):
        if not isinstance(value, (list, tuple)) or not all(_is_number(x) for x in value):
            return f"is {type(value).__name__}, expected a list of numbers per row"
    return None


class _Scan:
    """Accumulates row-level problems over a streamed pass."""

    def __init__(self, limit: int):
        self.limit = limit
        self.found: dict[tuple[str, str], _Rows] = {}

    def add(self, column: str, problem: str, row: int, value) -> None:
        self.found.setdefault((column, problem), _Rows(self.limit)).add(row, value)


def _scan_rows(dataset, label_col, inputs, req: LossRequirements, num_labels, embed_dim, chunk, limit) -> _Scan:
    scan = _Scan(limit)
    vector_lengths: set[int] = set()
    columns = inputs + ([label_col] if label_col else [])
    start = 0
    for batch in dataset.select_columns(columns).iter(batch_size=chunk):
        n = len(batch[columns[0]])
        for pos, col in enumerate(inputs):
            listwise_docs = req.listwise and pos == 1
            for i, v in enumerate(batch[col]):
                if listwise_docs:
                    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                        scan.add(col, "must hold a list of strings per row (listwise documents)", start + i, v)
                elif v is None:
                    scan.add(col, "has null texts", start + i, v)
                elif not isinstance(v, str):
                    scan.add(col, f"has {type(v).__name__} values where text is expected", start + i, v)
        if label_col and req.label != LABEL_NONE:
            for i, v in enumerate(batch[label_col]):
                why = _label_problem(v, req.label_kind, num_labels)
                if why:
                    scan.add(label_col, f"label {why}", start + i, v)
                elif req.label_kind == "vector":
                    vector_lengths.add(len(v))
                    if embed_dim is not None and len(v) != embed_dim:
                        scan.add(label_col, f"label vector has length {len(v)}, but the model's embedding "
                                 f"dimension is {embed_dim}", start + i, f"len {len(v)}")
                elif req.listwise and req.label_kind == "list":
                    docs = batch[inputs[1]][i] if len(inputs) > 1 else None
                    if isinstance(docs, (list, tuple)) and len(v) != len(docs):
                        scan.add(label_col, f"has {len(v)} labels but the row has {len(docs)} documents",
                                 start + i, v)
        start += n
    if len(vector_lengths) > 1:
        scan.add(label_col, f"label vectors have different lengths {sorted(vector_lengths)[:5]}", -1, None)
    return scan


_FIXES = {
    "null": "drop or fill them first, e.g. dataset.filter(lambda r: r[{col!r}] is not None)",
    "text": "convert them to str, or remove the column if it is not text (inputs are used by position)",
    "label": "fix or drop those rows, or choose a loss whose labels match (see loss.input_requirements())",
    "listwise": "store one list of document strings per query row",
}


def _row_messages(scan: _Scan) -> list[str]:
    out = []
    for (col, problem), rows in scan.found.items():
        if problem.startswith("label"):
            fix = _FIXES["label"]
        elif "null" in problem:
            fix = _FIXES["null"].format(col=col)
        elif "listwise" in problem:
            fix = _FIXES["listwise"]
        else:
            fix = _FIXES["text"]
        where = rows.describe() if rows.rows and rows.rows[0] >= 0 else "across rows"
        out.append(f"column {col!r} {problem}: {where}. Fix: {fix}.")
    return out


def _column_messages(column_names: list[str]) -> list[str]:
    out = []
    reserved = [c for c in column_names if c in RESERVED_COLUMNS]
    if reserved:
        out.append(
            f"column(s) {reserved} use reserved names ({list(RESERVED_COLUMNS)} are set by the trainer). "
            f"Fix: dataset = dataset.rename_column({reserved[0]!r}, 'something_else'), or remove it."
        )
    ids = [c for c in column_names if is_id_like(c)]
    if ids:
        out.append(
            f"column(s) {ids} look like ID columns; they would be tokenized and trained on as text. "
            f"Fix: dataset = dataset.remove_columns({ids}) (or replace the ids by their texts first)."
        )
    return out


def dataset_problems(
    dataset,
    loss,
    model=None,
    valid_label_columns=VALID_LABEL_COLUMNS,
    chunk: int = 10_000,
    max_rows_listed: int = 5,
) -> list[str]:
    """Every problem of one `datasets.Dataset` for `loss` (and `model`), each as one message with its fix."""
    if len(dataset) == 0:
        return ["the dataset is empty (0 rows). Fix: pass a dataset with at least one row."]
    req = loss_requirements(loss)
    column_names = list(dataset.column_names)
    problems = _column_messages(column_names)
    label_col, inputs = split_columns([c for c in column_names if c not in RESERVED_COLUMNS], valid_label_columns)
    num_labels = getattr(model, "num_labels", None) if model is not None else None
    num_labels = num_labels if isinstance(num_labels, int) else None
    problems += [f"{p} (input columns by position: {inputs}; label column: {label_col})"
                 for p in req.problems(len(inputs), label_col is not None, num_labels)]
    kind = getattr(model, "kind", None)
    if kind and req.model_kinds and kind not in req.model_kinds:
        problems.append(
            f"{req.loss_name} works with {'/'.join(req.model_kinds)} models, but the model is a "
            f"{type(model).__name__} (kind {kind!r}). Fix: choose a loss made for {kind} models."
        )
    embed_dim = None
    if req.label_kind == "vector" and model is not None and hasattr(model, "get_sentence_embedding_dimension"):
        embed_dim = model.get_sentence_embedding_dimension()
    if inputs:
        scan = _scan_rows(dataset, label_col, inputs, req, num_labels, embed_dim, chunk, max_rows_listed)
        problems += _row_messages(scan)
    return problems


def validate_datasets(datasets, loss, model=None, split: str = "train",
                      valid_label_columns=VALID_LABEL_COLUMNS) -> None:
    """Check a Dataset (or a dict of them, with `loss` a dict keyed by dataset name) and raise ONE
    DatasetValidationError listing every problem. Call before the first forward pass."""
    if datasets is None:
        return
    if isinstance(datasets, Mapping):
        items = list(datasets.items())
    else:
        items = [(None, datasets)]
    problems: list[str] = []
    for name, ds in items:
        if not hasattr(ds, "column_names") or not hasattr(ds, "__len__"):
            continue  # IterableDataset: rows are not known before training; nothing to scan
        ds_loss = loss[name] if isinstance(loss, Mapping) else loss
        where = f"{split}_dataset[{name!r}]" if name is not None else f"{split}_dataset"
        problems += [f"{where}: {p}" for p in dataset_problems(ds, ds_loss, model, valid_label_columns)]
    if problems:
        lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
        raise DatasetValidationError(
            f"Dataset validation failed before training ({len(problems)} problem(s)):\n{lines}", problems
        )


__all__ = [
    "DatasetValidationError",
    "RESERVED_COLUMNS",
    "VALID_LABEL_COLUMNS",
    "dataset_problems",
    "is_id_like",
    "loss_requirements",
    "split_columns",
    "validate_datasets",
]
