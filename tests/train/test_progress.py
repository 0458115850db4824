"""LineProgress without Ray or a model: which steps print, what a line says, main process only."""

from __future__ import annotations

from types import SimpleNamespace

from transformers.trainer_callback import CallbackHandler, DefaultFlowCallback, ProgressCallback

from raypipe.train.progress import LineProgress, use_line_progress


def _run(steps, times, main=True, first=0, interval=10.0, disable_tqdm=False):
    lines, clock = [], iter(times)
    cb = LineProgress(interval, lines.append, clock=lambda: next(clock))
    state = SimpleNamespace(global_step=first, max_steps=steps, is_world_process_zero=main)
    args = SimpleNamespace(disable_tqdm=disable_tqdm)
    cb.on_train_begin(args, state, None)
    for s in range(first + 1, steps + 1):
        state.global_step = s
        cb.on_step_end(args, state, None)
    return lines


def test_prints_first_last_and_every_interval():
    # t=0 begin; steps 1..6 at 1, 5, 12, 14, 25, 30 s: first step, the first step >= 10 s after the last line, ...
    lines = _run(6, [0, 1, 5, 12, 14, 25, 30])
    assert [line.split(" (")[0] for line in lines] == ["train: step 1/6", "train: step 3/6", "train: step 5/6",
                                                       "train: step 6/6"]
    assert lines[1] == "train: step 3/6 (50%), 0.25 steps/s, elapsed 0:00:12, ETA 0:00:12"


def test_resume_counts_this_runs_steps_only():
    lines = _run(10, [0, 2, 4], first=8)
    assert lines[-1] == "train: step 10/10 (100%), 0.50 steps/s, elapsed 0:00:04, ETA 0:00:00"


def test_only_the_main_process_writes():
    assert _run(3, [0, 1, 2, 3], main=False) == []
    assert _run(3, [0, 1, 2, 3], disable_tqdm=True) == []  # disable_tqdm: the logged dicts only
    lines = []
    cb = LineProgress(write=lines.append)
    for main in (False, True):
        cb.on_log(None, SimpleNamespace(global_step=4, is_world_process_zero=main), None,
                  logs={"loss": 1.23456, "epoch": 0.5, "note": "x"})
    assert lines == ["step 4: loss 1.235, epoch 0.5, note x"]


def test_replaces_the_tqdm_bar():
    class Stub:  # the two Trainer methods use_line_progress calls
        def __init__(self):
            self.callback_handler = CallbackHandler([DefaultFlowCallback, ProgressCallback], None, None, None, None)

        def remove_callback(self, cb):
            self.callback_handler.remove_callback(cb)

        def add_callback(self, cb):
            self.callback_handler.add_callback(cb)

    t = Stub()
    cb = use_line_progress(t, write=print)
    assert [type(c) for c in t.callback_handler.callbacks] == [DefaultFlowCallback, LineProgress] and cb.write is print
