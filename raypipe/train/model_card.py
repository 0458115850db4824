"""Model-card data gathered during training, written into `model.model_card_data` (read by
raypipe.models.model_card when the model is saved): training-data stats, loss name and config, hyperparameters,
evaluation metrics (front-matter `model-index`, as sentence-transformers) and the training log.

Cost: column stats read at most `MAX_STAT_ROWS` rows per dataset; everything else is O(number of logs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from transformers import TrainerCallback

MAX_STAT_ROWS = 100
NUM_SAMPLES = 3
_SKIP_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second", "epoch")
_HPARAM_KEYS = (
    "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps", "learning_rate",
    "weight_decay", "num_train_epochs", "max_steps", "lr_scheduler_type", "warmup_steps", "seed", "fp16", "bf16",
    "optim", "eval_strategy", "eval_steps", "batch_sampler", "multi_dataset_batch_sampler", "prompts",
    "learning_rate_mapping", "max_grad_norm", "dataloader_drop_last", "load_best_model_at_end",
)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join(":---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _column_stats(values: list, tokenizer) -> str:
    kind = type(values[0]).__name__ if values else "empty"
    if values and all(isinstance(v, str) for v in values):
        if tokenizer is not None:
            # untruncated lengths, as the card reports them; verbose=False: no "longer than the maximum" warning
            lengths = [len(ids) for ids in tokenizer(values, verbose=False)["input_ids"]]
            unit = "tokens"
        else:
            lengths, unit = [len(v.split()) for v in values], "words"
        mean = sum(lengths) / len(lengths)
        return f"string: min {min(lengths)}, mean {mean:.2f}, max {max(lengths)} {unit}"
    if values and all(isinstance(v, (int, float)) for v in values):
        mean = sum(values) / len(values)
        return f"{kind}: min {min(values)}, mean {mean:.2f}, max {max(values)}"
    if values and all(isinstance(v, (list, tuple)) for v in values):
        sizes = [len(v) for v in values]
        return f"list: size min {min(sizes)}, max {max(sizes)}"
    return kind


def dataset_section(name: str, dataset, loss, tokenizer) -> str:
    """Markdown for one training dataset: size, column stats over the first rows, samples, loss + config."""
    parts = [f"#### {name}", "", f"* Size: {len(dataset):,} training samples"]
    head = dataset.select(range(min(MAX_STAT_ROWS, len(dataset))))
    cols = [c for c in head.column_names if c != "dataset_name"]
    parts.append(f"* Columns: {', '.join(f'`{c}`' for c in cols)}")
    parts += [f"* Approximate statistics based on the first {len(head)} samples:", ""]
    parts.append(_md_table(["column", "details"], [[c, _column_stats(list(head[c]), tokenizer)] for c in cols]))
    samples = [[str(head[i][c])[:200] for c in cols] for i in range(min(NUM_SAMPLES, len(head)))]
    parts += ["", "* Samples:", "", _md_table(cols, samples), ""]
    config = loss.get_config_dict() if hasattr(loss, "get_config_dict") else {}
    parts += [f"* Loss: `{type(loss).__name__}` with these parameters:", "", "```json",
              json.dumps(config, indent=2, default=str), "```"]
    return "\n".join(parts)


class ModelCardCallback(TrainerCallback):
    """Keeps `trainer.model.model_card_data` up to date; the card itself is written by `model.save`."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.eval_metrics: dict[str, float] = {}
        self._own_sections: list[str] = []

    def _card(self) -> dict:
        model = self.trainer.model
        if not isinstance(getattr(model, "model_card_data", None), dict):
            model.model_card_data = {}
        return model.model_card_data

    def on_init_end(self, args, state, control, **kwargs):
        card = self._card()
        tags = card.setdefault("tags", [])
        for tag in ("generated_from_trainer", f"loss:{self._loss_names()}"):
            if tag not in tags:
                tags.append(tag)
        ds = self.trainer.train_dataset
        if isinstance(ds, Mapping):
            card["datasets"] = list(ds.keys())
        self.refresh()

    def _loss_names(self) -> str:
        loss = self.trainer.loss
        if isinstance(loss, Mapping):
            return ",".join(sorted({type(v).__name__ for v in loss.values()}))
        return type(loss).__name__

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.eval_metrics.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
            self.refresh()

    def on_train_begin(self, args, state, control, **kwargs):
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the sections this callback owns (user sections in the card are kept)."""
        card = self._card()
        sections = [s for s in card.get("sections", []) if s not in self._own_sections]
        self._own_sections = [self._training_section()]
        card["sections"] = sections + self._own_sections
        index = self._model_index()
        if index:
            card["model-index"] = index

    def _training_section(self) -> str:
        tr = self.trainer
        tokenizer = getattr(tr.model, "tokenizer", None)
        parts = ["## Training Details", "", "### Training Datasets", ""]
        ds = tr.train_dataset
        items = list(ds.items()) if isinstance(ds, Mapping) else [("train", ds)]
        for name, d in items:
            if d is None or not hasattr(d, "__len__"):
                continue
            loss = tr.loss[name] if isinstance(tr.loss, Mapping) else tr.loss
            parts += [dataset_section(name, d, loss, tokenizer), ""]
        args = tr.args.to_dict()
        rows = [[k, json.dumps(args[k], default=str)] for k in _HPARAM_KEYS if k in args]
        parts += ["### Training Hyperparameters", "", _md_table(["name", "value"], rows), ""]
        if self.eval_metrics:
            rows = [[k, f"{v:.4f}"] for k, v in sorted(self.eval_metrics.items())
                    if not any(k.endswith(s) for s in _SKIP_METRICS[1:])]
            parts += ["### Evaluation", "", _md_table(["metric", "value"], rows), ""]
        logs = [h for h in tr.state.log_history if "loss" in h or "eval_loss" in h]
        if logs:
            rows = [[h.get("epoch", ""), h.get("step", ""), h.get("loss", "-"), h.get("eval_loss", "-")]
                    for h in logs[-50:]]
            parts += ["### Training Logs", "", _md_table(["epoch", "step", "training loss", "eval loss"], rows)]
        return "\n".join(parts)

    def _model_index(self) -> list | None:
        metrics = {k[5:]: v for k, v in self.eval_metrics.items()
                   if k.startswith("eval_") and not any(k[5:].endswith(s) for s in _SKIP_METRICS)}
        evaluator = self.trainer.evaluator
        if not metrics or evaluator is None:
            return None
        kind = type(evaluator).__name__.replace("Evaluator", "")
        task = "".join("-" + c.lower() if c.isupper() else c for c in kind).strip("-") or "evaluation"
        name = getattr(evaluator, "name", "") or "eval"
        return [{
            "name": f"{type(self.trainer.model).__name__} trained with raypipe",
            "results": [{
                "task": {"type": task, "name": kind},
                "dataset": {"name": name, "type": name},
                "metrics": [{"type": _strip(k, name), "value": float(v), "name": _pretty(_strip(k, name))}
                            for k, v in sorted(metrics.items())],
            }],
        }]


def _strip(metric: str, name: str) -> str:
    return metric[len(name) + 1:] if metric.startswith(name + "_") else metric


def _pretty(metric: str) -> str:
    """`cosine_ndcg@10` -> `Cosine Ndcg@10` (sentence-transformers' metric display names)."""
    return " ".join(w[:1].upper() + w[1:] for w in metric.split("_"))


__all__ = ["ModelCardCallback", "dataset_section"]
