"""Warm-up schedule for SpladeLoss's regularizer weights (framework-free; the trainer calls `step`)."""

from __future__ import annotations

from enum import Enum


class SchedulerType(str, Enum):
    """Shape of the warm-up: weight = max · r (linear) or max · r² (quadratic), r = step / warmup_steps."""

    LINEAR = "linear"
    QUADRATIC = "quadratic"


class SpladeRegularizerWeightScheduler:
    """Ramps ``document_regularizer_weight`` and ``query_regularizer_weight`` of a SpladeLoss from 0 to their
    configured values over the first ``warmup_ratio`` of training (SPLADE's quadratic lambda warm-up).

    With ``warmup_steps = max(1, int(total_steps · warmup_ratio))`` and ``r = global_step / warmup_steps``::

        weight(step) = max_weight · r²   (quadratic)  or  max_weight · r  (linear)   while step < warmup_steps
        weight(step) = max_weight                                                      afterwards

    A weight that is None (no query regularizer) stays None. The maximum weights are read from the loss when the
    scheduler is built, so build it once, before training touches the weights.

    Usage (any training loop)::

        scheduler = SpladeRegularizerWeightScheduler(loss)
        for global_step in range(total_steps):
            scheduler.step(global_step, total_steps)   # before the forward pass of that step
            ...

    Args:
        loss: a SpladeLoss / CachedSpladeLoss (anything with the two weight attributes).
        scheduler_type: "quadratic" (default) or "linear".
        warmup_ratio: fraction of the total steps in (0, 1] over which the weights reach their maximum.
    """

    def __init__(
        self, loss, scheduler_type: str | SchedulerType = SchedulerType.QUADRATIC, warmup_ratio: float = 1 / 3
    ):
        if not hasattr(loss, "document_regularizer_weight") or not hasattr(loss, "query_regularizer_weight"):
            raise ValueError(
                f"SpladeRegularizerWeightScheduler: loss must be a SpladeLoss (with document_regularizer_weight and "
                f"query_regularizer_weight attributes), got {type(loss).__name__}. Fix: pass the SpladeLoss itself, "
                f"not its base loss."
            )
        try:
            scheduler_type = SchedulerType(
                scheduler_type.lower() if isinstance(scheduler_type, str) else scheduler_type
            )
        except ValueError:
            raise ValueError(
                f"SpladeRegularizerWeightScheduler: scheduler_type must be 'quadratic' or 'linear', got "
                f"{scheduler_type!r}. Fix: pass scheduler_type='quadratic' (the SPLADE default)."
            ) from None
        if (
            isinstance(warmup_ratio, bool)
            or not isinstance(warmup_ratio, (int, float))
            or not 0 < warmup_ratio <= 1
        ):
            raise ValueError(
                f"SpladeRegularizerWeightScheduler: warmup_ratio must be in (0, 1], got {warmup_ratio!r}. "
                f"Fix: pass e.g. warmup_ratio=1/3 (the default)."
            )
        self.loss = loss
        self.scheduler_type = scheduler_type
        self.warmup_ratio = warmup_ratio
        self.max_document_regularizer_weight = loss.document_regularizer_weight
        self.max_query_regularizer_weight = loss.query_regularizer_weight

    def warmup_steps(self, total_steps: int) -> int:
        return max(int(total_steps * self.warmup_ratio), 1)

    def weight_at(self, global_step: int, total_steps: int, max_value: float | None) -> float | None:
        """The weight for `global_step` of `total_steps`, ramping to `max_value` (None stays None)."""
        warmup = self.warmup_steps(total_steps)
        if max_value is None or global_step >= warmup:
            return max_value
        ratio = global_step / warmup
        if self.scheduler_type is SchedulerType.LINEAR:
            return max_value * ratio
        return max_value * (ratio**2)

    def step(self, global_step: int, total_steps: int) -> dict[str, float]:
        """Set the loss weights for `global_step` (0-based, call before that step's forward). Returns the new
        weights under their log names."""
        if total_steps is None or total_steps <= 0:
            raise ValueError(
                f"SpladeRegularizerWeightScheduler.step: total_steps must be a positive int, got {total_steps!r}. "
                f"Fix: pass the number of optimizer steps of the whole run."
            )
        self.loss.document_regularizer_weight = self.weight_at(
            global_step, total_steps, self.max_document_regularizer_weight
        )
        self.loss.query_regularizer_weight = self.weight_at(
            global_step, total_steps, self.max_query_regularizer_weight
        )
        return self.current_weights()

    def current_weights(self) -> dict[str, float]:
        """The loss's current weights, keyed as the trainer logs them (query weight omitted when None)."""
        logs = {"document_regularizer_weight": self.loss.document_regularizer_weight}
        if self.loss.query_regularizer_weight is not None:
            logs["query_regularizer_weight"] = self.loss.query_regularizer_weight
        return logs

    def get_config_dict(self) -> dict:
        return {
            "scheduler_type": self.scheduler_type.value,
            "warmup_ratio": self.warmup_ratio,
            "max_document_regularizer_weight": self.max_document_regularizer_weight,
            "max_query_regularizer_weight": self.max_query_regularizer_weight,
        }


__all__ = ["SchedulerType", "SpladeRegularizerWeightScheduler"]
