"""The shared trainer: transformers.Trainer driving raypipe losses, collators, samplers and evaluators.

Per step: the collator tokenizes each input column; `compute_loss` calls the loss (chosen by dataset name when the
loss is a dict), sums dict-valued losses and keeps each term for logging. Evaluators run inside `evaluate` on rank 0
only (metrics broadcast to all ranks, prefixed `eval_`). Checkpoints are written with `model.save` (sentence-
transformers' format) next to HF's optimizer/scheduler/RNG/trainer state, so `train(resume_from_checkpoint=...)`
restores model, optimizer, scheduler and - since samplers are seeded by (seed + epoch) and HF skips the batches
already seen - the sampler position. No process-global state is touched (no env vars, no global seeds beyond HF's
own `set_seed(args.seed)`), so one trainer per Ray Train worker under torch.distributed works as is.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader
from transformers import Trainer, TrainerCallback

from raypipe.data.samplers import BATCH_SAMPLER_CLASSES, MULTI_DATASET_SAMPLER_CLASSES
from raypipe.data.validation import VALID_LABEL_COLUMNS, validate_datasets
from raypipe.eval.sequential import SequentialEvaluator
from raypipe.train.arguments import SentenceTransformerTrainingArguments
from raypipe.train.model_card import ModelCardCallback

logger = logging.getLogger(__name__)

# model methods that losses call on `self.model`; bound onto a DDP wrapper so the losses keep working
_FORWARDED_METHODS = ("tokenize", "get_sentence_embedding_dimension", "get_embedding_dimension")


class _ZeroLossGradsCallback(TrainerCallback):
    """Clear gradients of loss-owned parameters (e.g. a SoftmaxLoss classifier) that model.zero_grad() misses."""

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)


def _is_datasets_dict(obj) -> bool:
    return isinstance(obj, Mapping)


class RaypipeTrainer(Trainer):
    """Base of SentenceTransformerTrainer / CrossEncoderTrainer / SparseEncoderTrainer.

    Args:
        model: the raypipe model to train (or pass `model_init`).
        args: the matching *TrainingArguments; default: output_dir="raypipe_output", report_to="none".
        train_dataset / eval_dataset: a `datasets.Dataset`, a DatasetDict / dict of them, or an IterableDataset.
        loss: a loss module, a callable `model -> loss` (needed with `model_init`), or a dict of either keyed by
            dataset name. Default: `get_default_loss(model)`.
        evaluator: an evaluator or a list of them (run in order, metrics merged).
        validate_data: check every dataset against the loss's `input_requirements()` before anything runs.
        Other arguments as transformers.Trainer.
    """

    args_class = SentenceTransformerTrainingArguments

    def __init__(self, model=None, args=None, train_dataset=None, eval_dataset=None, loss=None, evaluator=None,
                 data_collator=None, model_init: Callable | None = None, callbacks=None, optimizers=(None, None),
                 optimizer_cls_and_kwargs=None, compute_metrics=None, processing_class=None,
                 validate_data: bool = True):
        args = self._check_args(args)
        if model is None:
            if model_init is None:
                raise ValueError(f"{type(self).__name__} needs model=... or model_init=... . Fix: pass one of them.")
            model = model_init()
        if compute_metrics is not None:
            logger.warning("compute_metrics is ignored by %s: pass evaluator=... instead.", type(self).__name__)
        loss_spec = self.get_default_loss(model) if loss is None else loss
        built_loss = self._build_loss(loss_spec, model)
        train_dataset, eval_dataset = self._prepare_datasets(args, model, built_loss, train_dataset, eval_dataset,
                                                             evaluator, validate_data)
        if data_collator is None:
            data_collator = self.get_data_collator(model, args)
        super().__init__(
            model=None if model_init is not None else model, args=args, data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset if eval_dataset is not None or evaluator is None else "dummy",
            processing_class=processing_class, model_init=model_init, callbacks=callbacks, optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
        )
        if isinstance(self.eval_dataset, str) and self.eval_dataset == "dummy":
            self.eval_dataset = None
        if model_init is not None:  # HF built its own model from model_init: the losses must use that one
            built_loss = self._rebind(self._build_loss(loss_spec, self.model), self.model)
        self.loss_spec = loss_spec
        self.loss = self._to_device(built_loss)
        if evaluator is not None and isinstance(evaluator, (list, tuple)):
            evaluator = SequentialEvaluator(list(evaluator))
        self.evaluator = evaluator
        self.can_return_loss = True
        self._loss_terms: dict[str, dict[str, torch.Tensor]] = {"train": {}, "eval": {}}
        self._wrapped_bound: set[int] = set()
        self.add_callback(_ZeroLossGradsCallback())
        self.model_card_callback = ModelCardCallback(self)
        self.add_callback(self.model_card_callback)
        self.model_card_callback.on_init_end(self.args, self.state, self.control)

    # ---- construction helpers -------------------------------------------------------------------------------
    def _prepare_datasets(self, args, model, loss, train_dataset, eval_dataset, evaluator, validate: bool):
        """Dict -> DatasetDict, argument checks, dataset validation (before any compute), dataset_name columns."""
        train_dataset, eval_dataset = self._as_dataset_dict(train_dataset), self._as_dataset_dict(eval_dataset)
        if evaluator is None and eval_dataset is None and str(args.eval_strategy) not in ("no", "IntervalStrategy.NO"):
            raise ValueError(
                f"args.eval_strategy={args.eval_strategy!r} but there is no eval_dataset and no evaluator. "
                f"Fix: pass eval_dataset=... or evaluator=..., or set eval_strategy='no'."
            )
        self._check_loss_dict(loss, train_dataset, eval_dataset)
        if validate:
            validate_datasets(train_dataset, loss, model, "train", VALID_LABEL_COLUMNS)
            validate_datasets(eval_dataset, loss, model, "eval", VALID_LABEL_COLUMNS)
        needs_name = isinstance(loss, Mapping) or self._prompts_by_dataset(args.prompts, train_dataset)
        return self._add_dataset_names(train_dataset, needs_name), self._add_dataset_names(eval_dataset, needs_name)

    def _check_args(self, args):
        if args is None:
            return self.args_class(output_dir="raypipe_output", report_to="none")
        if not isinstance(args, SentenceTransformerTrainingArguments):
            raise ValueError(
                f"args must be a {self.args_class.__name__}, got {type(args).__name__}. "
                f"Fix: args = {self.args_class.__name__}(output_dir=..., ...)."
            )
        return args

    @staticmethod
    def _as_dataset_dict(dataset):
        if isinstance(dataset, dict) and not type(dataset).__name__ == "DatasetDict":
            from datasets import DatasetDict

            return DatasetDict(dataset)
        if type(dataset).__name__ == "IterableDatasetDict":
            raise ValueError("IterableDatasetDict is not supported. Fix: use a DatasetDict of Dataset objects.")
        return dataset

    def _build_loss(self, loss, model):
        if isinstance(loss, Mapping):
            return {name: self._build_loss(fn, model) for name, fn in loss.items()}
        if isinstance(loss, nn.Module):
            return loss
        if callable(loss):
            return loss(model)
        raise ValueError(f"loss must be an nn.Module, a callable model -> loss, or a dict of them; got {loss!r:.80}.")

    @staticmethod
    def _check_loss_dict(loss, train_dataset, eval_dataset) -> None:
        if not isinstance(loss, Mapping):
            return
        for split, ds in (("train", train_dataset), ("eval", eval_dataset)):
            if ds is None:
                continue
            if not _is_datasets_dict(ds):
                raise ValueError(
                    f"loss is a dict keyed by dataset name ({sorted(loss)}), so {split}_dataset must be a DatasetDict "
                    f"with those names. Fix: {split}_dataset = DatasetDict({{name: dataset, ...}})."
                )
            missing = sorted(set(ds) - set(loss))
            if missing:
                raise ValueError(
                    f"{split}_dataset has dataset(s) {missing} with no loss in the loss dict {sorted(loss)}. "
                    f"Fix: add a loss for each dataset name."
                )

    @staticmethod
    def _prompts_by_dataset(prompts, dataset) -> bool:
        return isinstance(prompts, Mapping) and _is_datasets_dict(dataset) and any(k in dataset for k in prompts)

    @staticmethod
    def _add_dataset_names(dataset, needed: bool):
        if not needed or not _is_datasets_dict(dataset):
            return dataset
        from datasets import DatasetDict

        return DatasetDict({name: ds.add_column("dataset_name", [name] * len(ds)) for name, ds in dataset.items()})

    def _to_device(self, loss):
        if isinstance(loss, Mapping):
            return {k: v.to(self.args.device) for k, v in loss.items()}
        return loss.to(self.args.device)

    # ---- subclass hooks ---------------------------------------------------------------------------------------
    def get_default_loss(self, model) -> nn.Module:
        raise NotImplementedError

    def get_data_collator(self, model, args):
        raise NotImplementedError

    def call_model_init(self, trial=None):
        model = super().call_model_init(trial)
        if hasattr(self, "loss_spec"):  # rebuild callable losses / re-point module losses at the new model
            built = self._build_loss(self.loss_spec, model)
            self.loss = self._to_device(self._rebind(built, model))
        return model

    def _rebind(self, loss, model):
        if isinstance(loss, Mapping):
            return {k: self._rebind(v, model) for k, v in loss.items()}
        _replace_model(loss, model)
        return loss

    # ---- loss -------------------------------------------------------------------------------------------------
    def _loss_for(self, dataset_name: str | None) -> nn.Module:
        if isinstance(self.loss, Mapping):
            if dataset_name not in self.loss:
                raise ValueError(f"No loss for dataset {dataset_name!r}; the loss dict has {sorted(self.loss)}.")
            return self.loss[dataset_name]
        return self.loss

    def _bind_wrapped(self, loss_fn: nn.Module, model: nn.Module) -> None:
        """Under DDP (or compile) the losses must call the wrapped model so gradients are synchronized."""
        if model is self.model or id(loss_fn) in self._wrapped_bound:
            return
        for attr in _FORWARDED_METHODS:
            if hasattr(self.model, attr) and not hasattr(model, attr):
                setattr(model, attr, getattr(self.model, attr))
        _replace_model(loss_fn, model, only=self.model)
        self._wrapped_bound.add(id(loss_fn))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss_fn = self._loss_for(inputs.get("dataset_name"))
        self._bind_wrapped(loss_fn, model)
        columns = inputs["features"] if "features" in inputs else inputs["inputs"]
        loss = loss_fn(columns, inputs.get("label"))
        if isinstance(loss, Mapping):
            self._track_terms(loss)
            loss = torch.stack(list(loss.values())).sum()
        return (loss, {}) if return_outputs else loss

    def _track_terms(self, terms: Mapping[str, torch.Tensor]) -> None:
        store = self._loss_terms["train" if self.model.training else "eval"]
        for key, value in terms.items():
            value = value.detach().float()
            if self.args.logging_nan_inf_filter and not torch.isfinite(value):
                continue
            store[key] = store.get(key, 0.0) + value
            store[f"{key}__n"] = store.get(f"{key}__n", 0) + 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        kind = "train" if "loss" in logs else ("eval" if "eval_loss" in logs else None)
        if kind and self._loss_terms[kind]:
            logs = dict(logs)
            store = self._loss_terms[kind]
            for key in [k for k in store if not k.endswith("__n")]:
                mean = store[key] / max(store[f"{key}__n"], 1)
                mean = self.accelerator.reduce(mean.reshape(1), reduction="mean") if self._distributed() else mean
                logs[f"eval_{key}" if kind == "eval" else key] = round(float(mean.reshape(-1)[0]), 4)
            store.clear()
        return super().log(logs, start_time)

    def _distributed(self) -> bool:
        return self.accelerator.num_processes > 1

    # ---- optimizer --------------------------------------------------------------------------------------------
    def create_optimizer(self, model=None):
        """AdamW etc. as HF builds it, over the model AND loss-owned parameters; then `learning_rate_mapping`."""
        if self.optimizer is None:
            holder = nn.Module()
            holder.model = self.model if model is None else model
            losses = self.loss.values() if isinstance(self.loss, Mapping) else [self.loss]
            holder.losses = nn.ModuleList(list(losses))  # shared model params are deduplicated by named_parameters
            super().create_optimizer(holder)
            self._apply_lr_mapping(holder)
        return self.optimizer

    def _apply_lr_mapping(self, holder: nn.Module) -> None:
        for pattern, lr in self.args.learning_rate_mapping.items():
            matched = {id(p): p for n, p in holder.named_parameters() if re.search(pattern, n) and p.requires_grad}
            if not matched:
                logger.warning("learning_rate_mapping pattern %r matches no parameter.", pattern)
                continue
            for group in self.optimizer.param_groups:
                group["params"] = [p for p in group["params"] if id(p) not in matched]
            self.optimizer.add_param_group({"params": list(matched.values()), "lr": lr,
                                            "weight_decay": self.args.weight_decay})

    # ---- data -------------------------------------------------------------------------------------------------
    def _batch_sampler(self, dataset, batch_size: int, drop_last: bool, generator: torch.Generator):
        spec = self.args.batch_sampler
        cls = BATCH_SAMPLER_CLASSES.get(spec, spec)
        return cls(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=VALID_LABEL_COLUMNS,
                   generator=generator, seed=self.args.seed)

    def _build_dataloader(self, dataset, batch_size: int, drop_last: bool) -> DataLoader:
        generator = torch.Generator()
        generator.manual_seed(self.args.seed)
        params = {"collate_fn": self.data_collator, "num_workers": self.args.dataloader_num_workers,
                  "pin_memory": self.args.dataloader_pin_memory,
                  "persistent_workers": self.args.dataloader_persistent_workers and self.args.dataloader_num_workers > 0}
        if self.args.dataloader_num_workers > 0 and self.args.dataloader_prefetch_factor is not None:
            params["prefetch_factor"] = self.args.dataloader_prefetch_factor
        if not hasattr(dataset, "__len__"):  # IterableDataset: no batch sampler possible
            return DataLoader(dataset, batch_size=batch_size, drop_last=drop_last, **params)
        if _is_datasets_dict(dataset):
            samplers = [self._batch_sampler(ds, batch_size, drop_last, generator) for ds in dataset.values()]
            dataset = ConcatDataset(list(dataset.values()))
            spec = self.args.multi_dataset_batch_sampler
            cls = MULTI_DATASET_SAMPLER_CLASSES.get(spec, spec)
            sampler = cls(dataset, batch_samplers=samplers, generator=generator, seed=self.args.seed)
        else:
            sampler = self._batch_sampler(dataset, batch_size, drop_last, generator)
        return DataLoader(dataset, batch_sampler=sampler, **params)

    def get_train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            raise ValueError(f"{type(self).__name__}.train() needs a train_dataset. Fix: pass train_dataset=...")
        self.accelerator.even_batches = False  # samplers already give every rank the same number of batches
        loader = self._build_dataloader(self.train_dataset, self._train_batch_size, self.args.dataloader_drop_last)
        return self.accelerator.prepare(loader)

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_dataset[eval_dataset]
        eval_dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if eval_dataset is None:
            if self.evaluator is not None:
                return DataLoader([])
            raise ValueError("Evaluation needs an eval_dataset or an evaluator. Fix: pass one to the trainer.")
        self.accelerator.even_batches = True  # eval loops gather across ranks and must not hang
        return self.accelerator.prepare(self._build_dataloader(eval_dataset, self.args.eval_batch_size, False))

    # ---- evaluation -------------------------------------------------------------------------------------------
    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval"):
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys,
                                         metric_key_prefix)
        if self.evaluator is None:
            return output
        if _is_datasets_dict(self.eval_dataset) and metric_key_prefix.startswith("eval_"):
            # evaluators run once per evaluate(): with the first eval dataset, reported as plain "eval_"
            if metric_key_prefix[5:] != next(iter(self.eval_dataset)):
                return output
            metric_key_prefix = "eval"
        metrics = self._run_evaluator()
        for key, value in metrics.items():
            name = key if key.startswith(f"{metric_key_prefix}_") else f"{metric_key_prefix}_{key}"
            output.metrics[name] = value
        return output

    def _run_evaluator(self) -> dict:
        """Rank 0 evaluates the unwrapped model (no collectives inside), then the metrics are broadcast."""
        metrics = {}
        if self.is_world_process_zero():
            out_dir = os.path.join(self.args.output_dir, "eval")
            os.makedirs(out_dir, exist_ok=True)
            metrics = self.evaluator(self.model, output_path=out_dir, epoch=self.state.epoch or 0,
                                     steps=self.state.global_step)
            metrics = metrics if isinstance(metrics, dict) else {"evaluator": metrics}
        if self._distributed():
            from accelerate.utils import broadcast_object_list

            metrics = broadcast_object_list([metrics], from_process=0)[0]
        return metrics

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        self.model_card_callback.refresh()
        self.model.save(output_dir)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        loaded = type(self.model)(resume_from_checkpoint, device="cpu")
        self.model.load_state_dict(loaded.state_dict())

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        if best:
            self._load_from_checkpoint(best)


def _replace_model(module: nn.Module, model: nn.Module, only: nn.Module | None = None) -> None:
    """Point every `model` child of `module` (recursively, e.g. SpladeLoss -> base loss, regularizers) at `model`;
    with `only`, just the children that are `only`."""
    for name, child in list(module.named_children()):
        if name == "model":
            if only is None or child is only:
                module._modules["model"] = model
        elif child is not model:
            _replace_model(child, model, only)


__all__ = ["RaypipeTrainer"]
