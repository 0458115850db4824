"""sentence-transformers' on-disk format: `modules.json`, `config_sentence_transformers.json`, one folder per
module (module 0, the Transformer, in the root).

Reading maps the `type` strings of every sentence-transformers version (old `sentence_transformers.models.X`
paths and the v5.4+ `sentence_transformers.base.modules...` paths) to raypipe's own classes by class name; an
unknown type is an error, never an import, so loading a folder cannot run code from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import transformers

from raypipe._version import __version__
from raypipe.models.layers import Dense, Normalize
from raypipe.models.module_io import read_json, write_json
from raypipe.models.pooling import Pooling
from raypipe.models.sparse_autoencoder import SparseAutoEncoder
from raypipe.models.splade_pooling import SpladePooling
from raypipe.models.transformer import Transformer

MODULES_FILE = "modules.json"
ST_CONFIG_FILE = "config_sentence_transformers.json"
# the sentence-transformers format version raypipe writes (v5.4+ module configs)
ST_FORMAT_VERSION = "5.4.0"

# raypipe class -> the type string sentence-transformers (v5.4+) writes for it
WRITE_TYPES = {
    Transformer: "sentence_transformers.base.modules.transformer.Transformer",
    Pooling: "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
    Dense: "sentence_transformers.base.modules.dense.Dense",
    Normalize: "sentence_transformers.base.modules.normalize.Normalize",
    SpladePooling: "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling",
    SparseAutoEncoder: "sentence_transformers.sparse_encoder.modules.sparse_auto_encoder.SparseAutoEncoder",
}


def _load_transformer(path: str, task: str | None, **kw) -> Transformer:
    return Transformer.load(path, transformer_task=task, **kw)


# last component of a type string -> loader(path, **transformer_kwargs)
READ_TYPES: dict[str, Callable] = {
    "Transformer": lambda p, **kw: _load_transformer(p, None, **kw),
    # legacy SPLADE backbone (sentence-transformers <= 5.3)
    "MLMTransformer": lambda p, **kw: _load_transformer(p, "fill-mask", **kw),
    "Pooling": lambda p, **kw: Pooling.load(p),
    "Dense": lambda p, **kw: Dense.load(p),
    "Normalize": lambda p, **kw: Normalize.load(p),
    "SpladePooling": lambda p, **kw: SpladePooling.load(p),
    "SparseAutoEncoder": lambda p, **kw: SparseAutoEncoder.load(p),
}


def resolve_model_path(model_name_or_path: str, cache_folder: str | None = None) -> str:
    """A local folder as-is; otherwise a Hugging Face Hub snapshot when the hub is reachable.

    Raises a clear error for a path that does not exist (always the case offline with HF_HUB_OFFLINE=1)."""
    path = os.fspath(model_name_or_path)
    if os.path.isdir(path):
        return path
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    # a hub id is "name" or "org/name"; anything else is a (missing) local path
    looks_local = path.startswith((".", "/", "~")) or path.count("/") > 1
    if not offline and not looks_local:
        try:
            from huggingface_hub import snapshot_download

            # never fetch pickled weights: safetensors and configs/tokenizers only
            return snapshot_download(
                path, cache_dir=cache_folder, ignore_patterns=["*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack"]
            )
        except Exception as err:  # noqa: BLE001 - reported below with the fix
            raise FileNotFoundError(
                f"model_name_or_path={path!r} is not a local folder and could not be fetched from the Hugging "
                f"Face Hub ({type(err).__name__}: {err}). Fix: pass the path of a saved model folder."
            ) from err
    raise FileNotFoundError(
        f"model_name_or_path={path!r} does not exist (looked for a local folder"
        f"{'; the hub is disabled by HF_HUB_OFFLINE=1' if offline else ''}). "
        f"Fix: pass the path of a sentence-transformers model folder or a Hugging Face checkpoint folder."
    )


def folder_kind(path: str) -> str:
    """'sentence-transformers' (has modules.json), 'huggingface' (has config.json) or an error."""
    if os.path.exists(os.path.join(path, MODULES_FILE)):
        return "sentence-transformers"
    if os.path.exists(os.path.join(path, "config.json")):
        return "huggingface"
    found = ", ".join(sorted(os.listdir(path))[:10]) or "nothing"
    raise ValueError(
        f"{path!r} is neither a sentence-transformers model folder (no {MODULES_FILE}) nor a Hugging Face "
        f"checkpoint (no config.json); it contains: {found}. Fix: point to the folder that holds modules.json "
        f"or config.json."
    )


def read_st_config(path: str) -> dict:
    file = os.path.join(path, ST_CONFIG_FILE)
    return read_json(file) if os.path.exists(file) else {}


def load_modules(path: str, **transformer_kwargs) -> list[torch.nn.Module]:
    """Instantiate every module listed in modules.json, in order."""
    entries = read_json(os.path.join(path, MODULES_FILE))
    modules = []
    for entry in sorted(entries, key=lambda e: e.get("idx", 0)):
        type_name = str(entry.get("type", "")).rsplit(".", 1)[-1]
        if type_name not in READ_TYPES:
            raise ValueError(
                f"{os.path.join(path, MODULES_FILE)} lists module type {entry.get('type')!r}, which raypipe does "
                f"not support; supported: {', '.join(sorted(READ_TYPES))}. Fix: convert the model to those "
                f"modules, or load it with sentence-transformers."
            )
        sub = os.path.join(path, entry.get("path", ""))
        kwargs = transformer_kwargs if type_name.endswith("Transformer") else {}
        modules.append(READ_TYPES[type_name](sub, **kwargs))
    return modules


def save_modules(modules: list[torch.nn.Module], path: str) -> None:
    os.makedirs(path, exist_ok=True)
    entries = []
    for idx, module in enumerate(modules):
        type_name = WRITE_TYPES.get(type(module))
        if type_name is None:
            raise TypeError(f"Cannot save module {type(module).__name__}: not a raypipe module.")
        in_root = idx == 0 and getattr(module, "save_in_root", False)
        rel = "" if in_root else f"{idx}_{type(module).__name__}"
        module.save(os.path.join(path, rel) if rel else path)
        entries.append({"idx": idx, "name": str(idx), "path": rel, "type": type_name})
    write_json(os.path.join(path, MODULES_FILE), entries, indent=2)


def modules_from_path(
    model_name_or_path: str | None,
    modules: list | None,
    default_modules: Callable[[str, dict], list],
    cache_folder: str | None = None,
    trust_remote_code: bool = False,
    model_kwargs: dict | None = None,
    tokenizer_kwargs: dict | None = None,
    config_kwargs: dict | None = None,
) -> tuple[list, dict]:
    """The (modules, config_sentence_transformers dict) of a model: given modules as-is; a sentence-transformers
    folder's modules.json; or `default_modules(path, hf_kwargs)` for a plain Hugging Face checkpoint."""
    if modules is not None or model_name_or_path is None:
        if not modules:
            raise ValueError("Pass model_name_or_path (a model folder) or a non-empty list of modules.")
        return list(modules), {}
    path = resolve_model_path(model_name_or_path, cache_folder)
    hf = {"trust_remote_code": trust_remote_code, "model_args": model_kwargs,
          "tokenizer_args": tokenizer_kwargs, "config_args": config_kwargs}
    if folder_kind(path) == "sentence-transformers":
        return load_modules(path, **hf), read_st_config(path)
    return default_modules(path, hf), {}


def write_st_config(path: str, model_type: str, extra: dict) -> None:
    config = {
        "__version__": {
            "sentence_transformers": ST_FORMAT_VERSION,
            "transformers": transformers.__version__,
            "pytorch": torch.__version__,
            "raypipe": __version__,
        },
        "model_type": model_type,
        **extra,
    }
    write_json(os.path.join(path, ST_CONFIG_FILE), config, indent=2)


__all__ = [
    "resolve_model_path",
    "folder_kind",
    "read_st_config",
    "load_modules",
    "save_modules",
    "modules_from_path",
    "write_st_config",
    "ST_FORMAT_VERSION",
]
