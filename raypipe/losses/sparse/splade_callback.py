"""Hugging Face `TrainerCallback` adapter for SpladeRegularizerWeightScheduler (for transformers-Trainer loops)."""

from __future__ import annotations

from transformers.trainer_callback import TrainerCallback

from raypipe.losses.sparse.regularizer_scheduler import SchedulerType, SpladeRegularizerWeightScheduler


class SpladeRegularizerWeightSchedulerCallback(TrainerCallback):
    """Drives a :class:`SpladeRegularizerWeightScheduler` from Trainer events: weights start at 0 on train begin,
    follow the warm-up at each step begin (``state.global_step`` of ``state.max_steps``) and are added to the logs
    as ``document_regularizer_weight`` / ``query_regularizer_weight``.

    Args: as SpladeRegularizerWeightScheduler (loss, scheduler_type="quadratic", warmup_ratio=1/3).
    """

    def __init__(
        self, loss, scheduler_type: str | SchedulerType = SchedulerType.QUADRATIC, warmup_ratio: float = 1 / 3
    ):
        super().__init__()
        self.scheduler = SpladeRegularizerWeightScheduler(
            loss, scheduler_type=scheduler_type, warmup_ratio=warmup_ratio
        )
        self.loss = loss
        self.total_steps: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        total = getattr(state, "max_steps", 0) or 0
        if total <= 0:
            return  # unknown length: leave the weights at their maximum rather than guess a schedule
        self.total_steps = total
        self.scheduler.step(0, total)

    def on_step_begin(self, args, state, control, **kwargs):
        if self.total_steps is not None:
            self.scheduler.step(state.global_step, self.total_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None:
            logs.update(self.scheduler.current_weights())


__all__ = ["SpladeRegularizerWeightSchedulerCallback"]
