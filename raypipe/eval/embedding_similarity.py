"""EmbeddingSimilarityEvaluator: Pearson / Spearman correlation between gold scores and embedding similarities."""

from __future__ import annotations

import logging

from scipy.stats import pearsonr, spearmanr

from raypipe.eval.base import (
    BaseEvaluator,
    append_csv_row,
    check_not_empty,
    check_same_length,
    check_similarity_names,
    encode,
    epoch_text,
    similarity_value,
)
from raypipe.models.similarity import SIMILARITY_NAMES, get_pairwise_similarity

logger = logging.getLogger(__name__)


class EmbeddingSimilarityEvaluator(BaseEvaluator):
    """Correlation of ``sim(embed(s1_i), embed(s2_i))`` with ``scores_i`` (e.g. STS-B).

    Metrics: ``pearson_{fn}``, ``spearman_{fn}`` per similarity function (+ ``pearson_max`` / ``spearman_max``
    with several); primary ``spearman_{main_similarity}``, else ``spearman_max`` or ``spearman_{fn}``.
    Cost: embeds 2n texts; O(n·D) memory for the embeddings.
    """

    csv_prefix = "similarity_evaluation"

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        scores: list[float],
        batch_size: int = 16,
        main_similarity: str | None = None,
        similarity_fn_names: list[str] | None = None,
        name: str = "",
        show_progress_bar: bool = False,
        write_csv: bool = True,
        precision: str | None = None,
        truncate_dim: int | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        check_same_length(owner, sentences1=sentences1, sentences2=sentences2, scores=scores)
        check_not_empty(owner, sentences1=sentences1)
        if precision not in (None, "float32"):
            raise ValueError(
                f"{owner}: precision={precision!r} is not supported; allowed: None, 'float32'. "
                f"Fix: evaluate full-precision embeddings (quantized evaluation is not implemented)."
            )
        self.sentences1, self.sentences2, self.scores = list(sentences1), list(sentences2), list(scores)
        self.batch_size = batch_size
        self.main_similarity = similarity_value(main_similarity)
        self.similarity_fn_names = check_similarity_names(owner, similarity_fn_names, SIMILARITY_NAMES)
        if not self.similarity_fn_names and self.main_similarity is not None:
            self.similarity_fn_names = [self.main_similarity]
        self.name = name
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.precision = precision
        self.truncate_dim = truncate_dim
        self.csv_file = (
            self.csv_prefix + ("_" + name if name else "") + ("_" + precision if precision else "")
        )
        self.csv_file += "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.similarity_fn_names)

    def _append_csv_headers(self, names: list[str]) -> None:
        self.csv_headers += [f"{fn}_{m}" for fn in names for m in ("pearson", "spearman")]

    def embed_inputs(self, model, sentences, **kwargs):
        return encode(
            model, sentences, None, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True, truncate_dim=self.truncate_dim, **kwargs,
        )  # fmt: skip

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("%s on the %s dataset%s", type(self).__name__, self.name, epoch_text(epoch, steps))
        emb1 = self.embed_inputs(model, self.sentences1)
        emb2 = self.embed_inputs(model, self.sentences2)
        if not self.similarity_fn_names:
            self.similarity_fn_names = [
                similarity_value(getattr(model, "similarity_fn_name", None) or "cosine")
            ]
            self._append_csv_headers(self.similarity_fn_names)
        metrics = {}
        for fn in self.similarity_fn_names:
            sims = get_pairwise_similarity(fn)(emb1, emb2).detach().cpu().numpy()  # (n,)
            metrics[f"pearson_{fn}"] = pearsonr(self.scores, sims)[0]
            metrics[f"spearman_{fn}"] = spearmanr(self.scores, sims)[0]
        if self.write_csv:
            row = [metrics[f"{m}_{fn}"] for fn in self.similarity_fn_names for m in ("pearson", "spearman")]
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
        if len(self.similarity_fn_names) > 1:
            metrics["pearson_max"] = max(metrics[f"pearson_{fn}"] for fn in self.similarity_fn_names)
            metrics["spearman_max"] = max(metrics[f"spearman_{fn}"] for fn in self.similarity_fn_names)
        if self.main_similarity:
            self.primary_metric = f"spearman_{self.main_similarity}"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "spearman_max"
        else:
            self.primary_metric = f"spearman_{self.similarity_fn_names[0]}"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Semantic Similarity"

    def get_config_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("truncate_dim", "precision") if getattr(self, k) is not None}


__all__ = ["EmbeddingSimilarityEvaluator"]
