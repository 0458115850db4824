"""Start training from a plain checkpoint: a dense, cross-encoder, SPLADE or CSR model with its new parts
(pooling, a classification head, an MLM head + its warm-up, a sparse autoencoder). See docs/models_init.md.

Every function validates its arguments before loading weights, is deterministic given `seed` (new weights come
from a seeded, forked CPU generator; the caller's RNG state is restored) and returns a model that saves in
sentence-transformers' format. Loading costs O(checkpoint size); only the SPLADE warm-up computes (see there).
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterator

import torch
import transformers
from transformers import AutoConfig, AutoModelForMaskedLM

from raypipe.models.base import check_texts
from raypipe.models.cross import CrossEncoder
from raypipe.models.dense import SentenceTransformer
from raypipe.models.io import MODULES_FILE, folder_kind, read_st_config, resolve_model_path
from raypipe.models.layers import Normalize
from raypipe.models.mlm_head import calibrate_logit_offset, reset_mlm_head, warm_up_mlm_head
from raypipe.models.module_io import read_json
from raypipe.models.pooling import POOLING_MODES, Pooling
from raypipe.models.sparse import SparseEncoder
from raypipe.models.sparse_autoencoder import SparseAutoEncoder
from raypipe.models.splade_pooling import SpladePooling
from raypipe.models.transformer import Transformer

MLM_HEAD_CHOICES = ("auto", "checkpoint", "fresh")


# ---- argument checks (all run before any weights load) ------------------------------------------------------
def _check_int(name: str, value, low: int, fix: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        allowed = f"an int >= {low}" + (" or None" if allow_none else "")
        raise ValueError(f"{name}={value!r} is not allowed; expected {allowed}. Fix: {fix}")


def _check_pooling(pooling) -> tuple[str, ...] | None:
    if pooling is None:
        return None
    modes = (pooling,) if isinstance(pooling, str) else tuple(pooling) if isinstance(pooling, (list, tuple)) else ()
    if not modes or any(m not in POOLING_MODES for m in modes):
        raise ValueError(f"pooling={pooling!r} is not supported; allowed: {', '.join(POOLING_MODES)}, a list of "
                         f"them, or None (as saved). Fix: pass e.g. pooling='mean'.")
    return modes


def _check_common(max_seq_length, seed, name: str = "max_seq_length") -> None:
    _check_int(name, max_seq_length, 1, "pass a positive token count or None (the checkpoint's).", True)
    _check_int("seed", seed, 0, "pass a non-negative int.")


# ---- reproducible weights -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """New weights inside come from the CPU generator seeded with `seed`; the caller's RNG state is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' load report while a head is built fresh on purpose (its 'MISSING' keys are expected)."""
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(level)


# ---- what a folder holds --------------------------------------------------------------------------------------
def _st_modules(path: str) -> list[tuple[str, str]]:
    """(type name, module folder) of every module of a sentence-transformers folder; [] for a plain checkpoint."""
    if folder_kind(path) != "sentence-transformers":
        return []
    entries = sorted(read_json(os.path.join(path, MODULES_FILE)), key=lambda e: e.get("idx", 0))
    return [(str(e.get("type", "")).rsplit(".", 1)[-1], os.path.join(path, e.get("path", ""))) for e in entries]


def _st_model_type(path: str, mods: list[tuple[str, str]]) -> str | None:
    """SentenceTransformer / CrossEncoder / SparseEncoder for a sentence-transformers folder, else None."""
    if not mods:
        return None
    types = {t for t, _ in mods}  # legacy folders do not save model_type: infer it from the modules
    inferred = ("SparseEncoder" if types & {"SpladePooling", "SparseAutoEncoder"}
                else "SentenceTransformer" if "Pooling" in types else "CrossEncoder")
    return read_st_config(path).get("model_type") or inferred


def _saved(mods: list[tuple[str, str]], type_name: str) -> str | None:
    return next((folder for t, folder in mods if t == type_name), None)


def _checkpoint_keys(path: str) -> set[str]:
    """Weight names stored in a checkpoint folder, read from the file headers only (no tensors load)."""
    from safetensors import safe_open

    index, single = os.path.join(path, "model.safetensors.index.json"), os.path.join(path, "model.safetensors")
    if os.path.exists(index):
        return set(read_json(index)["weight_map"])
    if os.path.exists(single):
        with safe_open(single, "pt") as f:
            return set(f.keys())
    legacy = os.path.join(path, "pytorch_model.bin")
    return set(torch.load(legacy, map_location="meta", weights_only=True)) if os.path.exists(legacy) else set()


# ---- dense --------------------------------------------------------------------------------------------------
def _check_saved_pooling(modes: tuple[str, ...] | None, saved: Pooling | None, where: str) -> None:
    if modes is not None and saved is not None and modes != saved.modes:
        raise ValueError(
            f"pooling={modes[0] if len(modes) == 1 else list(modes)!r} disagrees with the Pooling saved in {where} "
            f"({saved.pooling_mode!r}). Allowed: {saved.pooling_mode!r} or None (as saved). Fix: pass pooling=None "
            f"to keep the saved pooling, or start from the plain checkpoint to choose another one.")


def _set_normalize(model: SentenceTransformer, normalize: bool | None) -> None:
    at = [i for i, m in enumerate(model) if isinstance(m, Normalize)]
    if normalize and not at:
        model.append(Normalize())
    elif normalize is False:
        for i in reversed(at):
            del model[i]


def dense_from_checkpoint(path: str, *, pooling="mean", max_seq_length: int | None = None,
                          normalize: bool | None = None, seed: int = 0,
                          device: str | None = None) -> SentenceTransformer:
    """A SentenceTransformer to train from `path`.

    Plain Hugging Face checkpoint (any encoder, masked-LM or classifier: only its base model is used) ->
    Transformer + Pooling(`pooling`) (+ Normalize if `normalize`). A sentence-transformers SentenceTransformer
    folder keeps all its modules, prompts and similarity; `pooling` must then equal its saved Pooling (None: as
    saved) and `normalize` True/False adds/removes Normalize (None: as saved). Other sentence-transformers folders
    (cross-encoder, sparse) give their transformer's base model (+ their saved Pooling, if any).
    Cost: loading the checkpoint, O(parameters)."""
    modes = _check_pooling(pooling)
    _check_common(max_seq_length, seed)
    if normalize is not None and not isinstance(normalize, bool):
        raise ValueError(f"normalize={normalize!r} is not allowed; expected True, False or None (as saved). "
                         f"Fix: pass normalize=True for unit-length embeddings.")
    path = resolve_model_path(path)
    mods = _st_modules(path)
    saved_dir = _saved(mods, "Pooling")
    saved = Pooling.load(saved_dir) if saved_dir else None
    _check_saved_pooling(modes, saved, path)
    if saved is None and modes is None:
        raise ValueError(f"pooling=None means 'as saved', but {path!r} has no saved Pooling. Allowed: "
                         f"{', '.join(POOLING_MODES)}. Fix: pass a pooling mode, e.g. pooling='mean'.")
    with _seeded(seed):
        if _st_model_type(path, mods) == "SentenceTransformer":
            model = SentenceTransformer(path, device="cpu")
        else:
            t = Transformer.load(path, transformer_task="feature-extraction")
            pool = saved or Pooling(t.get_word_embedding_dimension(), list(modes) if len(modes) > 1 else modes[0])
            model = SentenceTransformer(modules=[t, pool], device="cpu")
    _set_normalize(model, normalize)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))


# ---- cross --------------------------------------------------------------------------------------------------
def cross_from_checkpoint(path: str, *, num_labels: int = 1, max_length: int | None = None, seed: int = 0,
                          device: str | None = None) -> CrossEncoder:
    """A CrossEncoder to train from `path`.

    A cross-encoder folder or a plain `*ForSequenceClassification` checkpoint keeps its head; `num_labels` must
    equal the head's size. Any other encoder (plain, masked-LM, a bi-encoder folder such as all-MiniLM-L6-v2)
    gets a fresh classification head of `num_labels`, initialized from `seed`. Cost: loading, O(parameters)."""
    _check_int("num_labels", num_labels, 1, "pass the number of scores per pair (1 for a reranker).")
    _check_common(max_length, seed, name="max_length")
    path = resolve_model_path(path)
    mods = _st_modules(path)
    config = AutoConfig.from_pretrained(path)
    has_head = (_st_model_type(path, mods) == "CrossEncoder"
                or any(a.endswith("ForSequenceClassification") for a in config.architectures or []))
    if has_head and config.num_labels != num_labels:
        raise ValueError(
            f"num_labels={num_labels} does not match the classification head saved in {path!r} "
            f"({config.num_labels} labels). Allowed: {config.num_labels}. Fix: pass num_labels={config.num_labels}, "
            f"or start from the encoder checkpoint without a head to get a fresh {num_labels}-label head.")
    with _seeded(seed):
        if has_head:
            model = CrossEncoder(path, max_length=max_length, device="cpu")
        else:
            with _quiet_loading():
                t = Transformer.load(path, transformer_task="sequence-classification",
                                     config_args={"num_labels": num_labels})
            model = CrossEncoder(modules=[t], max_length=max_length, device="cpu")
    return model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))


# ---- SPLADE -------------------------------------------------------------------------------------------------
def _missing_head_weights(path: str, config) -> list[str]:
    """Head parameters of the masked-LM model for `config` that `path` does not store (a stored tied twin
    counts). The model is built on the meta device: no memory, no init."""
    try:
        with torch.device("meta"):
            skeleton = AutoModelForMaskedLM.from_config(config)
    except ValueError as err:
        raise ValueError(f"path={path!r} is a {config.model_type!r} checkpoint, which has no masked-LM class in "
                         f"transformers ({err}). Fix: start SPLADE from a BERT-like encoder checkpoint.") from err
    prefix, keys = skeleton.base_model_prefix + ".", _checkpoint_keys(path)
    tied = getattr(skeleton, "_tied_weights_keys", None)
    pairs = list(tied.items()) if isinstance(tied, dict) else []
    # tied parameters appear once in named_parameters, under the base model's name
    names = [n for n, _ in skeleton.named_parameters() if not n.startswith(prefix)]
    twins = {n: {n} | {a for a, b in pairs if b == n} | {b for a, b in pairs if a == n} for n in names}
    return [n for n in names if not twins[n] & keys]


def _check_splade_args(mlm_head, texts, warmup_steps, warmup_lr, warmup_batch_size, init_active_dims,
                       max_seq_length, seed) -> list[str] | None:
    if not isinstance(mlm_head, str) or mlm_head not in MLM_HEAD_CHOICES:
        raise ValueError(f"mlm_head={mlm_head!r} is not supported; allowed: 'auto', 'checkpoint', 'fresh'. "
                         f"Fix: pass 'auto' (the checkpoint's head if it has one, else a fresh one).")
    _check_int("warmup_steps", warmup_steps, 0, "pass 0 (calibrate only) or more steps, e.g. 200.")
    _check_int("warmup_batch_size", warmup_batch_size, 1, "pass a positive batch size, e.g. 32.")
    _check_int("init_active_dims", init_active_dims, 1, "pass the active terms per document to start from.")
    _check_common(max_seq_length, seed)
    if isinstance(warmup_lr, bool) or not isinstance(warmup_lr, (int, float)) or not warmup_lr > 0:
        raise ValueError(f"warmup_lr={warmup_lr!r} is not allowed; expected a float > 0. Fix: pass e.g. 1e-3.")
    if texts is None:
        return None
    texts, _ = check_texts(texts, "warmup_texts")
    if not texts:
        raise ValueError("warmup_texts=[] is empty; expected a list of documents or None. Fix: pass some "
                         "training documents (a few hundred are enough), or None to skip the warm-up.")
    return texts


def _resolve_mlm_head(mlm_head: str, missing: list[str], texts, path: str) -> bool:
    """True for a fresh head; raises on contradictions, warns where texts or a random head go unused."""
    if mlm_head == "checkpoint" and missing:
        raise ValueError(f"mlm_head='checkpoint' but {path!r} has no masked-LM head weights (missing: "
                         f"{', '.join(missing[:4])}). Allowed here: 'fresh' or 'auto'. Fix: pass mlm_head='auto'.")
    fresh = mlm_head == "fresh" or bool(missing)
    if not fresh and texts is not None:
        if mlm_head == "checkpoint":
            raise ValueError("warmup_texts were given with mlm_head='checkpoint': the warm-up only fits a fresh "
                             "head. Fix: pass warmup_texts=None to keep the trained head, or mlm_head='fresh'.")
        warnings.warn(f"{path!r} has a trained masked-LM head, used as saved: warmup_texts are ignored "
                      f"(pass mlm_head='fresh' to replace the head and warm it up).", stacklevel=3)
    if fresh and texts is None:
        warnings.warn(f"splade_from_checkpoint({path!r}): the masked-LM head is fresh and no warmup_texts were "
                      f"given, so it is neither warmed up nor calibrated: a random head activates nearly every "
                      f"vocabulary term. Fix: pass warmup_texts= (e.g. the training documents).", stacklevel=3)
    return fresh


def splade_from_checkpoint(path: str, *, mlm_head: str = "auto", warmup_texts: list[str] | None = None,
                           warmup_steps: int = 200, warmup_lr: float = 1e-3, warmup_batch_size: int = 32,
                           init_active_dims: int = 128, max_seq_length: int | None = None, seed: int = 0,
                           device: str | None = None) -> SparseEncoder:
    """A SPLADE SparseEncoder (fill-mask Transformer + SpladePooling "max") to train from `path`.

    mlm_head: "checkpoint" uses the checkpoint's trained MLM head (an error if it has none); "fresh" builds a new
    seeded head (decoder tied to the word embeddings) on any encoder, e.g. a bi-encoder folder; "auto" is
    "checkpoint" when the checkpoint stores MLM head weights, else "fresh". A fresh head with `warmup_texts` is
    fitted by `warm_up_mlm_head` for `warmup_steps` (0: skipped) and then calibrated by
    `calibrate_logit_offset` on the first 4·warmup_batch_size texts so a document starts with ~init_active_dims
    terms; without texts it stays random (a warning says so). A saved SpladePooling is kept as saved.
    `model.init_stats` records what was done. Cost: loading + warmup_steps encoder forwards of
    warmup_batch_size texts (see warm_up_mlm_head)."""
    texts = _check_splade_args(mlm_head, warmup_texts, warmup_steps, warmup_lr, warmup_batch_size,
                               init_active_dims, max_seq_length, seed)
    path = resolve_model_path(path)
    config = AutoConfig.from_pretrained(path)
    if init_active_dims > config.vocab_size:
        raise ValueError(f"init_active_dims={init_active_dims} exceeds the vocabulary ({config.vocab_size} "
                         f"terms). Allowed: 1..{config.vocab_size}. Fix: pass a smaller init_active_dims.")
    fresh = _resolve_mlm_head(mlm_head, _missing_head_weights(path, config), texts, path)
    saved = _saved(_st_modules(path), "SpladePooling")
    pool = SpladePooling.load(saved) if saved else SpladePooling("max", embedding_dimension=config.vocab_size)
    stats: dict = {"mlm_head": "fresh" if fresh else "checkpoint"}
    with _seeded(seed):
        with _quiet_loading() if fresh else contextlib.nullcontext():
            t = Transformer.load(path, transformer_task="fill-mask", max_seq_length=max_seq_length)
        if fresh:
            reset_mlm_head(t.auto_model)
        if fresh and texts is not None:
            t.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            if warmup_steps:
                stats |= warm_up_mlm_head(t, texts, steps=warmup_steps, lr=warmup_lr,
                                          batch_size=warmup_batch_size, seed=seed)
            stats |= calibrate_logit_offset(t, texts[: 4 * warmup_batch_size], init_active_dims=init_active_dims,
                                            batch_size=warmup_batch_size)
    model = SparseEncoder(modules=[t, pool], device=device)
    model.init_stats = stats
    return model


# ---- CSR ----------------------------------------------------------------------------------------------------
def csr_from_dense(path_or_model, *, hidden_dim: int | None = None, k: int = 256, k_aux: int = 512,
                   normalize: bool = False, dead_threshold: int = 30, pooling="mean",
                   max_seq_length: int | None = None, seed: int = 0, device: str | None = None) -> SparseEncoder:
    """A CSR SparseEncoder: a dense model (a path, see dense_from_checkpoint, or a SentenceTransformer, copied)
    + a seeded SparseAutoEncoder(input_dim = its embedding size, hidden_dim (None: 4·input_dim), k, k_aux,
    normalize, dead_threshold); defaults are sentence-transformers' CSR defaults. k and k_aux must fit in
    hidden_dim. Cost: loading + O(input_dim·hidden_dim) for the new weights."""
    for name, value, low in (("k", k, 1), ("k_aux", k_aux, 0), ("dead_threshold", dead_threshold, 0)):
        _check_int(name, value, low, f"pass an int >= {low} (CSR defaults: k=256, k_aux=512, dead_threshold=30).")
    _check_int("hidden_dim", hidden_dim, 1, "pass the latent size, or None for 4 x the embedding size.", True)
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize={normalize!r} is not allowed; expected True or False. Fix: pass a bool.")
    if isinstance(path_or_model, SentenceTransformer):
        _check_common(max_seq_length, seed)
        pool = next((m for m in path_or_model if isinstance(m, Pooling)), None)
        _check_saved_pooling(_check_pooling(pooling), pool, "the given model")
        dense = copy.deepcopy(path_or_model).to("cpu")
        if max_seq_length is not None:
            dense.max_seq_length = max_seq_length
    elif isinstance(path_or_model, (str, os.PathLike)):
        dense = dense_from_checkpoint(os.fspath(path_or_model), pooling=pooling, max_seq_length=max_seq_length,
                                      seed=seed, device="cpu")
    else:
        raise ValueError(f"path_or_model={path_or_model!r:.80} is not allowed; expected a model folder path or a "
                         f"raypipe SentenceTransformer. Fix: pass a dense model or its folder.")
    dim = int(dense.get_sentence_embedding_dimension())
    hidden = hidden_dim or 4 * dim
    for name, value in (("k", k), ("k_aux", k_aux)):
        if value > hidden:
            raise ValueError(f"{name}={value} exceeds hidden_dim={hidden}. Allowed: 0..{hidden}. Fix: pass a "
                             f"smaller {name} or a larger hidden_dim.")
    with _seeded(seed):
        sae = SparseAutoEncoder(dim, hidden, k=k, k_aux=k_aux, normalize=normalize, dead_threshold=dead_threshold)
    return SparseEncoder(modules=[*dense, sae], device=device, prompts=dict(dense.prompts),
                         default_prompt_name=dense.default_prompt_name)


__all__ = ["dense_from_checkpoint", "cross_from_checkpoint", "splade_from_checkpoint", "csr_from_dense",
           "warm_up_mlm_head", "calibrate_logit_offset", "MLM_HEAD_CHOICES"]
