"""Progress a user can read: one bar per pipeline stage (embedding in texts/s with an ETA, index build + search in
shard tasks, cross-encoder rescoring in pairs/s), drawn on stderr by the driver as results come back -- from this
process or from Ray actors alike. Ray Data's own per-operator bars stay off (`ray.progress_bars`); these replace
them with one line per stage.

    progress = Progress(enabled=True)
    with progress.bar("embed", total=n_texts, unit="text") as bar:
        bar.update(rows)

`Progress(False)` (and `NO_PROGRESS`) draws nothing and never imports tqdm. Cost: O(1) per update.
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["Progress", "NO_PROGRESS"]


class _Silent:
    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, *_a, **_k) -> None:
        pass


class Progress:
    """Stage progress bars on `file` (default stderr); nothing at all when `enabled` is False."""

    def __init__(self, enabled: bool = True, file=None):
        self.enabled, self.file = enabled, file

    @contextlib.contextmanager
    def bar(self, desc: str, total: int | None, unit: str):
        """A bar for one stage; closed (and left on screen) when the block ends."""
        if not self.enabled:
            yield _Silent()
            return
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=False, dynamic_ncols=True, mininterval=1.0,
                   smoothing=0.05, file=self.file or sys.stderr)
        try:
            yield bar
        finally:
            bar.close()


NO_PROGRESS = Progress(False)
