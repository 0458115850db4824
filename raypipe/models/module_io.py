"""Small helpers every saveable module uses: a JSON config and safetensors weights in the module's folder.

Weights are only ever read from safetensors, or from `pytorch_model.bin` with `torch.load(weights_only=True)`,
so loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import json
import os

import torch
from safetensors.torch import load_file, save_file

from raypipe.atomic import write_json as _write_json_atomic

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LEGACY_WEIGHTS_FILE = "pytorch_model.bin"


def write_json(path: str, data: dict, indent: int = 4) -> None:
    """Write a module config atomically, strictly (a value JSON cannot hold is a TypeError, not a string)."""
    _write_json_atomic(path, data, indent=indent, default=None)


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def save_module_config(folder: str, config: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, CONFIG_FILE), config)


def load_module_config(folder: str) -> dict:
    path = os.path.join(folder, CONFIG_FILE)
    return read_json(path) if os.path.exists(path) else {}


def save_weights(folder: str, tensors: dict[str, torch.Tensor]) -> None:
    os.makedirs(folder, exist_ok=True)
    # safetensors refuses shared storage; contiguous clones make every tensor independent.
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, os.path.join(folder, WEIGHTS_FILE))


def load_weights(folder: str) -> dict[str, torch.Tensor]:
    st_path = os.path.join(folder, WEIGHTS_FILE)
    if os.path.exists(st_path):
        return load_file(st_path)
    bin_path = os.path.join(folder, LEGACY_WEIGHTS_FILE)
    if os.path.exists(bin_path):
        return torch.load(bin_path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(
        f"No weights in {folder!r}: expected {WEIGHTS_FILE} (or legacy {LEGACY_WEIGHTS_FILE}). "
        f"Fix: point to a complete saved model folder."
    )


__all__ = [
    "write_json",
    "read_json",
    "save_module_config",
    "load_module_config",
    "save_weights",
    "load_weights",
]
