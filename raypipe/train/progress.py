"""Training progress as whole lines, for processes whose output is a log rather than a terminal (Ray Train workers).

HF's tqdm bar redraws itself with carriage returns and clears the line for every logged dict; Ray forwards worker
output line by line, so the driver showed each redraw and each cleared line glued together, the bar state twice
per line. `LineProgress` replaces HF's progress and printer callbacks there: on the main process, a line every
`interval` seconds (and at the first and last step) with step, percent, steps/s and ETA (not with
`disable_tqdm: true`), and one line per logged dict (loss, learning rate, evaluation metrics). Cost O(1) per
step. No Ray here: `ray_worker.py` installs it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

__all__ = ["LineProgress", "use_line_progress"]


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class LineProgress(TrainerCallback):
    """Step progress and logged metrics as lines through `write` (default: stderr), main process only."""

    def __init__(self, interval: float = 10.0, write: Callable[[str], None] = _stderr,
                 clock: Callable[[], float] = time.monotonic):
        self.interval, self.write, self.clock = interval, write, clock
        self.start = self.last = 0.0
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.last = self.clock()
        self.first_step = state.global_step  # > 0 on a resume: the rate counts this run's steps only

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or getattr(args, "disable_tqdm", False):  # logs only, as HF's printer
            return
        now, step, total = self.clock(), state.global_step, max(state.max_steps, 1)
        if step - self.first_step > 1 and step < total and now - self.last < self.interval:
            return
        self.last = now
        rate = (step - self.first_step) / max(now - self.start, 1e-9)
        eta = (total - step) / rate if rate > 0 else 0.0
        self.write(f"train: step {step}/{total} ({100 * step / total:.0f}%), {rate:.2f} steps/s, "
                   f"elapsed {_clock(now - self.start)}, ETA {_clock(eta)}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.write(f"step {state.global_step}: " + ", ".join(f"{k} {_value(v)}" for k, v in logs.items()))


def use_line_progress(trainer, interval: float = 10.0, write: Callable[[str], None] = _stderr) -> LineProgress:
    """Swap the trainer's tqdm progress (or its printer) for a LineProgress; returns it."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    cb = LineProgress(interval, write)
    trainer.add_callback(cb)
    return cb
