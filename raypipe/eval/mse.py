"""MSEEvaluator: distance of a student's embeddings of ``target_sentences`` from a teacher's embeddings of
``source_sentences`` (knowledge distillation / multilingual alignment)."""

from __future__ import annotations

import logging

import numpy as np

from raypipe.eval.base import (
    BaseEvaluator,
    append_csv_row,
    check_not_empty,
    check_same_length,
    encode,
    epoch_text,
)

logger = logging.getLogger(__name__)


class MSEEvaluator(BaseEvaluator):
    """Metric ``negative_mse`` = -100 · mean((teacher(source) - model(target))²) (primary; higher is better).
    The teacher embeddings are computed once, in ``__init__``. Cost: O(n·D) memory."""

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        teacher_model=None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        check_same_length(owner, source_sentences=source_sentences, target_sentences=target_sentences)
        check_not_empty(owner, source_sentences=source_sentences)
        if teacher_model is None:
            raise ValueError(
                f"{owner}: teacher_model is None. Fix: pass the model whose embeddings are the target."
            )
        self.truncate_dim = truncate_dim
        self.target_sentences = list(target_sentences)
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.write_csv = write_csv
        self.csv_file = "mse_evaluation_" + name + "_results.csv"
        self.csv_headers = ["epoch", "steps", "MSE"]
        self.primary_metric = "negative_mse"
        self.source_embeddings = self.embed_inputs(teacher_model, list(source_sentences))

    def embed_inputs(self, model, sentences, **kwargs):
        return encode(
            model, sentences, None, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True, truncate_dim=self.truncate_dim, **kwargs,
        )  # fmt: skip

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("MSE evaluation on the %s dataset%s", self.name, epoch_text(epoch, steps))
        target = self.embed_inputs(model, self.target_sentences)
        if np.shape(target) != np.shape(self.source_embeddings):
            raise ValueError(
                f"MSEEvaluator: student embeddings have shape {np.shape(target)} but teacher embeddings "
                f"{np.shape(self.source_embeddings)}. Fix: use models with the same output dimension "
                f"(or set truncate_dim)."
            )
        mse = float(((self.source_embeddings - target) ** 2).mean() * 100)
        if self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, mse])
        metrics = self.prefix_name_to_metrics({"negative_mse": -mse}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Knowledge Distillation"

    def get_config_dict(self) -> dict:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}


__all__ = ["MSEEvaluator"]
