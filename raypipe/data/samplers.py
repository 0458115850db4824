"""Batch samplers for the trainers: each yields lists of row indices, is seeded by (seed + epoch) and has an exact
`__len__` (the number of batches it will actually yield), so every DDP rank agrees on the number of steps.

Every sampler plans a whole epoch at once (a list of index batches), caches the plan for that epoch and iterates it.
Planning is deterministic given (dataset, seed, epoch), so all ranks compute the same plan. Memory is O(N) ints for the
plan, plus (NO_DUPLICATES*) one set of strings / int64 hashes per row, built once and reused across epochs.
"""

from __future__ import annotations

import hashlib
from enum import Enum

import numpy as np
import torch
from torch.utils.data import BatchSampler

try:  # optional speed-up; blake2b (stdlib) otherwise
    import xxhash as _xxhash
except ImportError:
    _xxhash = None

VALID_LABEL_COLUMNS = ("label", "labels", "score", "scores")


class BatchSamplers(str, Enum):
    """How the training rows of one dataset are grouped into batches."""

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    NO_DUPLICATES_HASHED = "no_duplicates_hashed"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(str, Enum):
    """How batches of several datasets are interleaved (each batch comes from one dataset)."""

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


def _world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


class PlannedBatchSampler(BatchSampler):
    """Base: subclasses implement `_plan(generator) -> list[list[int]]`; iteration and `__len__` use the plan.

    With `drop_last=True` under torch.distributed, the plan is trimmed to a multiple of the world size, so ranks
    sharding it batch by batch all get the same number of batches.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        drop_last: bool = False,
        valid_label_columns: tuple[str, ...] | list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be an int >= 1. Fix: pass e.g. batch_size=32.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.valid_label_columns = tuple(valid_label_columns or VALID_LABEL_COLUMNS)
        self.generator = generator if generator is not None else torch.Generator()
        self.seed = 0 if seed is None else int(seed)
        self.epoch = 0
        self._plans: dict[int, list[list[int]]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def plan(self) -> list[list[int]]:
        """The batches of the current epoch (computed once per epoch, then cached)."""
        if self.epoch not in self._plans:
            self.generator.manual_seed(self.seed + self.epoch)
            batches = self._plan(self.generator)
            world = _world_size()
            if self.drop_last and world > 1:
                batches = batches[: len(batches) - len(batches) % world]
            self._plans = {self.epoch: batches}  # keep one epoch only: memory stays O(N)
        return self._plans[self.epoch]

    def _plan(self, generator: torch.Generator) -> list[list[int]]:
        raise NotImplementedError

    def _chunk(self, order: list[int]) -> list[list[int]]:
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self):
        yield from (list(b) for b in self.plan())

    def __len__(self) -> int:
        return len(self.plan())


class DefaultBatchSampler(PlannedBatchSampler):
    """BATCH_SAMPLER: a random permutation (torch.randperm with a generator seeded seed + epoch), cut into batches.

    Epoch 0 matches sentence-transformers' default sampler for the same seed."""

    def _plan(self, generator: torch.Generator) -> list[list[int]]:
        return self._chunk(torch.randperm(len(self.dataset), generator=generator).tolist())


def _text_columns(dataset, valid_label_columns) -> list[str]:
    return [c for c in dataset.column_names if c not in valid_label_columns and c != "dataset_name"]


def _row_values(dataset, columns: list[str]):
    """Yield, per row, the set of its text values (list cells contribute each element). O(N) rows streamed."""
    data = [list(dataset[c]) for c in columns]
    for i in range(len(dataset)):
        values = set()
        for col in data:
            cell = col[i]
            if isinstance(cell, (list, tuple)):
                values.update(str(v) for v in cell)
            else:
                values.add(str(cell))
        yield values


def stable_hash(text: str) -> int:
    """64-bit hash that is identical on every process (unlike Python's salted `hash`): xxhash64 when installed,
    else blake2b."""
    data = text.encode("utf-8")
    if _xxhash is not None:
        return _xxhash.xxh64_intdigest(data)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class NoDuplicatesBatchSampler(PlannedBatchSampler):
    """NO_DUPLICATES: no text value (from any non-label column) appears twice in one batch, so in-batch negatives
    are never copies of the positive.

    Rows are visited in a seeded random order; a row that clashes with the batch being filled is deferred and
    retried first for the next batches. Cost: O(N · B) set lookups per epoch in the usual case; O(N²) at worst
    (every row clashes). `__len__` is exact (the epoch is planned before iteration starts).
    """

    def _values(self) -> list:
        if not hasattr(self, "_cached_values"):
            cols = _text_columns(self.dataset, self.valid_label_columns)
            self._cached_values = list(_row_values(self.dataset, cols))
        return self._cached_values

    def _plan(self, generator: torch.Generator) -> list[list[int]]:
        values = self._values()
        batches: list[list[int]] = []
        pending: list[int] = []  # rows deferred because they clashed; retried first for each new batch
        batch: list[int] = []
        seen: set = set()
        for idx in torch.randperm(len(self.dataset), generator=generator).tolist():
            if values[idx] & seen:
                pending.append(idx)
                continue
            batch.append(idx)
            seen |= values[idx]
            while len(batch) == self.batch_size:
                batches.append(batch)
                batch, seen = [], set()
                pending = self._fill(batch, seen, pending, values)
        # Every pending row clashes with the open batch: close it and keep packing batches from the rest. Each
        # round places at least one row (a new batch is empty), so this ends.
        while batch or pending:
            if len(batch) == self.batch_size or not self.drop_last:
                batches.append(batch)
            batch, seen = [], set()
            pending = self._fill(batch, seen, pending, values)
        return batches

    def _fill(self, batch: list[int], seen: set, pending: list[int], values) -> list[int]:
        """Move non-clashing pending rows into `batch` (in place) until it is full; return the rows left."""
        kept = []
        for j in pending:
            if len(batch) < self.batch_size and not (values[j] & seen):
                batch.append(j)
                seen |= values[j]
            else:
                kept.append(j)
        return kept


class NoDuplicatesHashedBatchSampler(NoDuplicatesBatchSampler):
    """NO_DUPLICATES_HASHED: as NO_DUPLICATES, but compares 64-bit hashes of the texts (xxhash64 if installed,
    else blake2b), held as one small int64 array per row: less memory than keeping the strings for long texts.
    A hash collision can only defer a row (never put duplicates together)."""

    def _values(self) -> list:
        if not hasattr(self, "_cached_values"):
            cols = _text_columns(self.dataset, self.valid_label_columns)
            self._cached_values = [
                frozenset(stable_hash(v) for v in vals)
                for vals in _row_values(self.dataset, cols)
            ]
        return self._cached_values


class GroupByLabelBatchSampler(PlannedBatchSampler):
    """GROUP_BY_LABEL: batches made of same-label pairs, so every label in a batch appears at least twice (what the
    BatchTriplet losses need). Per epoch each label's rows are shuffled and paired (an odd row out is dropped), the
    pairs are shuffled and packed into batches. Needs an even batch_size >= 4 and >= 2 labels with >= 2 rows.
    Cost: O(N) per epoch."""

    def __init__(self, dataset, batch_size: int, drop_last: bool = False, valid_label_columns=None,
                 generator=None, seed: int = 0):
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        if batch_size % 2 or batch_size < 4:
            raise ValueError(
                f"GROUP_BY_LABEL needs an even batch_size >= 4, got {batch_size}. Fix: pass e.g. batch_size=32."
            )
        label_col = next((c for c in self.valid_label_columns if c in dataset.column_names), None)
        if label_col is None:
            raise ValueError(
                f"GROUP_BY_LABEL needs a label column (one of {list(self.valid_label_columns)}), but the dataset has "
                f"{dataset.column_names}. Fix: add a label column or use batch_sampler='batch_sampler'."
            )
        groups: dict = {}
        for i, lab in enumerate(dataset[label_col]):
            groups.setdefault(lab, []).append(i)
        self.groups = {k: v for k, v in groups.items() if len(v) >= 2}
        if len(self.groups) < 2:
            raise ValueError(
                f"GROUP_BY_LABEL needs at least 2 labels with >= 2 rows each in column {label_col!r}, found "
                f"{len(self.groups)}. Fix: add rows for more labels, or use another batch_sampler."
            )

    def _plan(self, generator: torch.Generator) -> list[list[int]]:
        pairs = []
        for label in sorted(self.groups, key=repr):
            rows = self.groups[label]
            perm = [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
            pairs += [perm[i : i + 2] for i in range(0, len(perm) - 1, 2)]
        order = torch.randperm(len(pairs), generator=generator).tolist()
        return self._chunk([i for p in order for i in pairs[p]])


class MultiDatasetBatchSampler(BatchSampler):
    """Interleaves the batches of one sampler per dataset; indices are offset into the ConcatDataset of them all.
    `__len__` is exact. Seeded by seed + epoch; `set_epoch` is forwarded to the per-dataset samplers."""

    def __init__(self, dataset, batch_samplers: list, generator: torch.Generator | None = None, seed: int = 0):
        self.dataset = dataset
        self.batch_samplers = list(batch_samplers)
        self.generator = generator if generator is not None else torch.Generator()
        self.seed = 0 if seed is None else int(seed)
        self.epoch = 0
        sizes = [len(s.dataset) for s in self.batch_samplers]
        self.offsets = [int(x) for x in np.cumsum([0] + sizes[:-1])]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for s in self.batch_samplers:
            if hasattr(s, "set_epoch"):
                s.set_epoch(epoch)

    def _order(self) -> list[int]:
        raise NotImplementedError

    def __iter__(self):
        iters = [iter(s) for s in self.batch_samplers]
        for d in self._order():
            yield [self.offsets[d] + i for i in next(iters[d])]

    def __len__(self) -> int:
        return len(self._order())


class RoundRobinBatchSampler(MultiDatasetBatchSampler):
    """ROUND_ROBIN: one batch from each dataset in turn, until the dataset with the fewest batches runs out;
    len = min(batches) · number of datasets."""

    def _order(self) -> list[int]:
        n = min(len(s) for s in self.batch_samplers)
        return list(range(len(self.batch_samplers))) * n


class ProportionalBatchSampler(MultiDatasetBatchSampler):
    """PROPORTIONAL: every batch of every dataset is used once, in a random interleaving, so each dataset is
    sampled in proportion to its number of batches; len = sum(batches)."""

    def _order(self) -> list[int]:
        slots = [d for d, s in enumerate(self.batch_samplers) for _ in range(len(s))]
        self.generator.manual_seed(self.seed + self.epoch)
        return [slots[i] for i in torch.randperm(len(slots), generator=self.generator).tolist()]


BATCH_SAMPLER_CLASSES = {
    BatchSamplers.BATCH_SAMPLER: DefaultBatchSampler,
    BatchSamplers.NO_DUPLICATES: NoDuplicatesBatchSampler,
    BatchSamplers.NO_DUPLICATES_HASHED: NoDuplicatesHashedBatchSampler,
    BatchSamplers.GROUP_BY_LABEL: GroupByLabelBatchSampler,
}
MULTI_DATASET_SAMPLER_CLASSES = {
    MultiDatasetBatchSamplers.ROUND_ROBIN: RoundRobinBatchSampler,
    MultiDatasetBatchSamplers.PROPORTIONAL: ProportionalBatchSampler,
}

__all__ = [
    "BatchSamplers",
    "MultiDatasetBatchSamplers",
    "PlannedBatchSampler",
    "DefaultBatchSampler",
    "NoDuplicatesBatchSampler",
    "NoDuplicatesHashedBatchSampler",
    "GroupByLabelBatchSampler",
    "MultiDatasetBatchSampler",
    "RoundRobinBatchSampler",
    "ProportionalBatchSampler",
    "BATCH_SAMPLER_CLASSES",
    "MULTI_DATASET_SAMPLER_CLASSES",
    "VALID_LABEL_COLUMNS",
    "stable_hash",
]
