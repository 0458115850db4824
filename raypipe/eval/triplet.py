"""TripletEvaluator: fraction of (anchor, positive, negative) triplets with sim(a, p) > sim(a, n) + margin."""

from __future__ import annotations

import logging

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


class TripletEvaluator(BaseEvaluator):
    """Metrics ``{fn}_accuracy`` per similarity function (+ ``max_accuracy`` with several); primary
    ``{main_similarity_function}_accuracy``, else ``max_accuracy`` / ``{fn}_accuracy``. Anchors are embedded with
    ``encode_query``, positives and negatives with ``encode_document``. Cost: embeds 3n texts.
    """

    def __init__(
        self,
        anchors: list[str],
        positives: list[str],
        negatives: list[str],
        main_similarity_function: str | None = None,
        margin: float | dict[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[str] | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        check_same_length(owner, anchors=anchors, positives=positives, negatives=negatives)
        check_not_empty(owner, anchors=anchors)
        self.anchors, self.positives, self.negatives = list(anchors), list(positives), list(negatives)
        self.name = name
        self.truncate_dim = truncate_dim
        self.main_similarity_function = similarity_value(main_similarity_function)
        self.similarity_fn_names = check_similarity_names(owner, similarity_fn_names, SIMILARITY_NAMES)
        if not self.similarity_fn_names and self.main_similarity_function is not None:
            self.similarity_fn_names = [self.main_similarity_function]
        if margin is None:
            margin = 0
        if isinstance(margin, (int, float)):
            self.margin = dict.fromkeys(SIMILARITY_NAMES, margin)
        elif isinstance(margin, dict):
            unknown = sorted(set(margin) - set(SIMILARITY_NAMES))
            if unknown:
                raise ValueError(
                    f"{owner}: margin has unknown keys {unknown}; allowed: {list(SIMILARITY_NAMES)}."
                )
            self.margin = {**dict.fromkeys(SIMILARITY_NAMES, 0), **margin}
        else:
            raise ValueError(
                f"{owner}: margin={margin!r} must be a number or a dict {{similarity name: number}}."
            )
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.csv_file = "triplet_evaluation" + ("_" + name if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.similarity_fn_names)

    def _append_csv_headers(self, names: list[str]) -> None:
        self.csv_headers += [f"accuracy_{fn}" for fn in names]

    def embed_inputs(self, model, sentences, encode_fn_name=None, **kwargs):
        return encode(
            model, sentences, encode_fn_name, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True, truncate_dim=self.truncate_dim, **kwargs,
        )  # fmt: skip

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("TripletEvaluator on the %s dataset%s", self.name, epoch_text(epoch, steps))
        emb_a = self.embed_inputs(model, self.anchors, "query")
        emb_p = self.embed_inputs(model, self.positives, "document")
        emb_n = self.embed_inputs(model, self.negatives, "document")
        if not self.similarity_fn_names:
            self.similarity_fn_names = [
                similarity_value(getattr(model, "similarity_fn_name", None) or "cosine")
            ]
            self._append_csv_headers(self.similarity_fn_names)
        metrics = {}
        for fn in self.similarity_fn_names:
            sim = get_pairwise_similarity(fn)
            pos, neg = sim(emb_a, emb_p), sim(emb_a, emb_n)  # (n,), (n,)
            metrics[f"{fn}_accuracy"] = (pos > neg + self.margin[fn]).float().mean().item()
        if self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])
        if len(self.similarity_fn_names) > 1:
            metrics["max_accuracy"] = max(metrics.values())
        if self.main_similarity_function:
            self.primary_metric = f"{self.main_similarity_function}_accuracy"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "max_accuracy"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_accuracy"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict:
        out = {}
        if any(self.margin.values()):
            out["margin"] = self.margin
        if self.truncate_dim is not None:
            out["truncate_dim"] = self.truncate_dim
        return out


__all__ = ["TripletEvaluator"]
