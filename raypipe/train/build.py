"""Build everything a training run needs from a `TrainConfig`: model, loss (nested wrappers, GIST guide), datasets,
evaluator, training arguments and the trainer. Pure torch/transformers (no Ray): the Ray Train workers call
`build_trainer` each for themselves, the driver calls the same functions once to check the config before Ray starts.

`spec` is the registry entry of the model kind (`raypipe.registry.EncoderKind`: model_class, trainer_class,
args_class, loss_class); it is handed in, since the registry stands above this module.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable
from typing import Any

from raypipe.config.base import ConfigError
from raypipe.config.paths import resolve_path
from raypipe.config.train import LossConfig, TrainConfig, TrainModel
from raypipe.data.load import load_dataset
from raypipe.eval.build import build_evaluator

__all__ = ["build_model", "build_loss", "build_args", "build_datasets", "build_trainer", "configure_gather",
           "describe_batch", "bf16_pays_off", "ARGS_WE_SET"]

logger = logging.getLogger(__name__)

# TrainingArguments raypipe sets per worker (a user value would break the run's layout)
ARGS_WE_SET = ("output_dir", "use_cpu", "local_rank")


def build_model(cfg: TrainModel, kind: str, texts: Iterable[str] | None = None):
    """The model to start training from: a saved model as is, or one built from a plain checkpoint."""
    from raypipe.models import init

    path = resolve_path(cfg.path)
    if kind == "dense":
        saved = os.path.exists(os.path.join(path, "modules.json"))  # a sentence-transformers folder keeps its pooling
        pooling = cfg.pooling or (None if saved else "mean")
        return init.dense_from_checkpoint(path, pooling=pooling, max_seq_length=cfg.max_seq_length,
                                          normalize=cfg.normalize)
    if kind == "cross":
        return init.cross_from_checkpoint(path, num_labels=cfg.num_labels or 1, max_length=cfg.max_seq_length)
    s = cfg.sparse
    if s.architecture == "csr":
        return init.csr_from_dense(path, **s.csr)
    texts = list(texts) if texts and s.mlm_head != "checkpoint" else None  # the warm-up only fits a fresh head
    return init.splade_from_checkpoint(path, mlm_head=s.mlm_head, warmup_texts=texts,
                                       warmup_steps=s.warmup_steps, warmup_lr=s.warmup_lr,
                                       init_active_dims=s.init_active_dims, max_seq_length=cfg.max_seq_length)


class _LossBuilder:
    """Builds a (nested) loss from its config, collecting every problem instead of stopping at the first."""

    def __init__(self, spec, model):
        self.spec, self.model, self.problems, self.explicit_gather = spec, model, [], set()

    def build(self, cfg: dict, key: str):
        try:
            cls = self.spec.loss_class(cfg.get("name", ""))
        except ValueError as err:
            self.problems.append(f"{key}.name: {err}")
            return None
        params = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        known = [n for n in params if n not in ("self", "model") and params[n].kind is not params[n].VAR_KEYWORD]
        kwargs = {}
        for name, value in cfg.items():
            if name == "name":
                continue
            if name not in known and not takes_any:
                self.problems.append(f"{key}.{name}: not a parameter of {cls.__name__}; its parameters: "
                                     f"{', '.join(known) or '(none)'}")
                continue
            kwargs[name] = self._value(name, value, f"{key}.{name}")
        missing = [n for n in known if params[n].default is inspect.Parameter.empty and n not in kwargs]
        if missing:
            self.problems.append(f"{key}: {cls.__name__} needs {', '.join(missing)}")
        if self.problems:
            return None
        try:
            loss = cls(self.model, **kwargs)
        except (ValueError, TypeError) as err:
            self.problems.append(f"{key}: {cls.__name__}({', '.join(kwargs)}): {err}")
            return None
        if "gather_across_devices" in kwargs:
            self.explicit_gather.add(id(loss))
        return loss

    def _value(self, name: str, value: Any, key: str):
        if isinstance(value, dict) and "name" in value:
            return self.build(value, key)
        if name == "guide":
            from raypipe.models import SentenceTransformer

            path = value.get("path") if isinstance(value, dict) else value
            return SentenceTransformer(resolve_path(path))
        if name.endswith("similarity_fct") and isinstance(value, str):
            from raypipe.models.similarity import get_similarity

            return get_similarity(value)
        return value


def build_loss(cfg: LossConfig | None, model, spec, gather: bool | None = None):
    """The loss module (None: the trainer's default for the kind). With `gather` (True / False), every
    (sub)loss that has `gather_across_devices` and was not set explicitly in the config gets that value."""
    if cfg is None:
        return None
    builder = _LossBuilder(spec, model)
    loss = builder.build(cfg.model_dump(), "loss")
    if builder.problems:
        raise ConfigError("loss", builder.problems)
    if gather is not None:
        configure_gather(loss, gather, skip=builder.explicit_gather)
    return loss


def configure_gather(loss, enabled: bool, skip: set[int] = frozenset()) -> list[str]:
    """Set `gather_across_devices` on every submodule that has it (except ids in `skip`); returns their names."""
    changed = []
    for name, module in loss.named_modules():
        if hasattr(module, "gather_across_devices") and id(module) not in skip:
            module.gather_across_devices = enabled
            changed.append(type(module).__name__ + (f" ({name})" if name else ""))
    return changed


def build_args(spec, args: dict, output_dir: str, *, use_gpu: bool = False, has_eval: bool = False):
    """The kind's *TrainingArguments from `args`, with raypipe's defaults for what the user left out: log every
    step, evaluate and save every `eval_steps` (100) when there is something to evaluate, checkpoints aligned
    with evaluations (save_steps a multiple of eval_steps), TensorBoard when installed. `bf16: auto` becomes
    true where bf16 is faster on this process's device (`bf16_pays_off`)."""
    bad = [k for k in ARGS_WE_SET if k in args]
    if bad:
        raise ConfigError("args", [f"args.{k}: set by raypipe (use output.dir / run.storage_path)" for k in bad])
    a = dict(args)
    if a.get("bf16") == "auto":
        a["bf16"] = bf16_pays_off(use_gpu)
    a.setdefault("logging_steps", 1)
    if has_eval:
        a.setdefault("eval_strategy", "steps")
        a.setdefault("eval_steps", a.get("save_steps", 100))
    a.setdefault("save_strategy", "steps")
    a.setdefault("save_steps", a.get("eval_steps", 100))
    a.setdefault("save_total_limit", 2)
    a.setdefault("report_to", "tensorboard" if _has_tensorboard() else "none")
    if a.get("eval_strategy") == "steps" and a.get("save_strategy") == "steps" and a["save_steps"] % a["eval_steps"]:
        raise ConfigError("args", [f"args.save_steps={a['save_steps']} must be a multiple of args.eval_steps="
                                   f"{a['eval_steps']}: each checkpoint is ranked by the metrics of its evaluation"])
    try:
        return spec.args_class(output_dir=output_dir, use_cpu=not use_gpu, **a)
    except (TypeError, ValueError) as err:
        raise ConfigError("args", [f"args: {err}"]) from None


def bf16_pays_off(use_gpu: bool) -> bool:
    """`args.bf16: auto`: bf16 mixed precision where this process's device runs it faster than float32 — a GPU with
    bf16, a CPU where bf16 autocast pays off (raypipe.models.precision). Resolved where the arguments are built, so
    each Ray Train worker decides for its own device (the driver's check only needs a valid value)."""
    import torch

    if use_gpu:
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    from raypipe.models.precision import cpu_bf16_pays_off

    return cpu_bf16_pays_off()


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX") is not None


def build_datasets(cfg: TrainConfig):
    """(train, eval or None) datasets, memory-mapped."""
    def one(src):
        return None if src is None else load_dataset(resolve_path(src.path), src.format, src.columns, src.limit,
                                                    src.exclude)

    return one(cfg.data.train), one(cfg.data.eval)


def describe_batch(args, world_size: int, loss) -> str:
    """The line every run logs: per-device batch, world size, global batch and what gathers across workers."""
    per = args.per_device_train_batch_size
    accum = args.gradient_accumulation_steps
    gathering = [] if loss is None else [type(m).__name__ for m in loss.modules()
                                         if getattr(m, "gather_across_devices", False)]
    note = (f"; in-batch negatives gathered across workers by {', '.join(sorted(set(gathering)))}" if gathering
            else "; no loss gathers across workers" if world_size > 1 else "")
    return (f"per-device batch {per} x world size {world_size} x gradient accumulation {accum} = global batch "
            f"{per * world_size * accum}{note}")


def build_trainer(cfg: TrainConfig, spec, model, output_dir: str, *, world_size: int = 1, callbacks=(),
                  datasets=None):
    """The raypipe trainer for this config on `model` (each Ray Train worker builds its own)."""
    train_ds, eval_ds = datasets or build_datasets(cfg)
    evaluator = build_evaluator(cfg.evaluator, spec.name) if cfg.evaluator else None
    gather = cfg.scaling.gather_across_devices
    loss = build_loss(cfg.loss, model, spec, gather=world_size > 1 if gather is None else gather)
    args = build_args(spec, cfg.args, output_dir, use_gpu=cfg.scaling.use_gpu,
                      has_eval=evaluator is not None or eval_ds is not None)
    trainer = spec.trainer_class(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, loss=loss,
                                 evaluator=evaluator, callbacks=list(callbacks))
    if loss is None and gather is not False and world_size > 1:
        configure_gather(trainer.loss, True)
    return trainer
