"""SequentialEvaluator: run several evaluators and combine their primary metrics into ``sequential_score``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from raypipe.eval.base import BaseEvaluator


class SequentialEvaluator(BaseEvaluator):
    """Calls each evaluator in order and returns the union of their metrics plus ``sequential_score`` =
    ``main_score_function([primary metric of each evaluator])`` (default: the last one). Primary metric
    ``sequential_score``."""

    def __init__(
        self,
        evaluators: Iterable[BaseEvaluator],
        main_score_function: Callable[[list[float]], float] = lambda scores: scores[-1],
    ):
        super().__init__()
        self.evaluators = list(evaluators)
        self.main_score_function = main_score_function

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        results, scores = {}, []
        for idx, evaluator in enumerate(self.evaluators):
            evaluation = evaluator(model, output_path, epoch, steps)
            if not isinstance(evaluation, dict):
                scores.append(evaluation)
                evaluation = {f"evaluator_{idx}": evaluation}
            else:
                key = getattr(evaluator, "primary_metric", None) or next(iter(evaluation))
                scores.append(evaluation[key])
            results.update(evaluation)
        self.primary_metric = "sequential_score"
        results["sequential_score"] = self.main_score_function(scores) if scores else 0.0
        return results


__all__ = ["SequentialEvaluator"]
