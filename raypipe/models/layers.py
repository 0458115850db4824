"""Dense (a linear layer + activation on the sentence embedding) and Normalize (L2 normalization)."""

from __future__ import annotations

import importlib

import torch.nn.functional as F
from torch import Tensor, nn

from raypipe.models.module_io import load_module_config, load_weights, save_module_config, save_weights

SENT = "sentence_embedding"


def activation_to_name(act: nn.Module) -> str:
    cls = type(act)
    return f"{cls.__module__}.{cls.__name__}"


def activation_from_name(name: str | None, param: str = "activation_function") -> nn.Module:
    """Resolve e.g. 'torch.nn.modules.activation.Tanh' to a module instance. Only classes from torch.nn are
    accepted, so a config file can never make us import and run arbitrary code."""
    if name is None:
        return nn.Identity()
    module_name, _, cls_name = str(name).rpartition(".")
    if not module_name.startswith("torch.nn") or not cls_name:
        raise ValueError(
            f"{param}={name!r} is not allowed: only torch.nn activation classes are loaded "
            f"(e.g. 'torch.nn.modules.activation.Tanh', 'torch.nn.modules.linear.Identity'). "
            f"Fix: edit the config to name a torch.nn activation."
        )
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{param}={name!r}: no such torch.nn class. Fix: use e.g. torch.nn.Sigmoid.") from err
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{param}={name!r} is not an nn.Module class. Fix: use e.g. torch.nn.Sigmoid.")
    return cls()


class Dense(nn.Module):
    """y = activation(W·x + b) applied to features[module_input_name]. Default activation Tanh, as in
    sentence-transformers."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_function: nn.Module | None = None,
        module_input_name: str = SENT,
        module_output_name: str = SENT,
    ):
        super().__init__()
        self.in_features, self.out_features, self.bias = int(in_features), int(out_features), bool(bias)
        self.activation_function = nn.Tanh() if activation_function is None else activation_function
        self.module_input_name, self.module_output_name = module_input_name, module_output_name
        self.linear = nn.Linear(self.in_features, self.out_features, bias=self.bias)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features[self.module_output_name] = self.activation_function(self.linear(features[self.module_input_name]))
        return features

    def get_sentence_embedding_dimension(self) -> int:
        return self.out_features

    def __repr__(self) -> str:
        return f"Dense({self.get_config_dict()})"

    def get_config_dict(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "activation_function": activation_to_name(self.activation_function),
            "module_input_name": self.module_input_name,
            "module_output_name": self.module_output_name,
        }

    def save(self, path: str) -> None:
        save_module_config(path, self.get_config_dict())
        save_weights(path, self.state_dict())

    @classmethod
    def load(cls, path: str) -> Dense:
        cfg = load_module_config(path)
        cfg.pop("use_residual", None)
        cfg["activation_function"] = activation_from_name(cfg.get("activation_function"))
        module = cls(**cfg)
        module.load_state_dict(load_weights(path))
        return module


class Normalize(nn.Module):
    """L2-normalizes the sentence embedding, so dot product equals cosine similarity."""

    def __init__(self, module_input_name: str = SENT, module_output_name: str = SENT):
        super().__init__()
        self.module_input_name, self.module_output_name = module_input_name, module_output_name

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features[self.module_output_name] = F.normalize(features[self.module_input_name], p=2, dim=-1)
        return features

    def __repr__(self) -> str:
        return "Normalize()"

    def get_config_dict(self) -> dict:
        return {"module_input_name": self.module_input_name, "module_output_name": self.module_output_name}

    def save(self, path: str) -> None:
        save_module_config(path, self.get_config_dict())

    @classmethod
    def load(cls, path: str) -> Normalize:
        return cls(**load_module_config(path))  # the folder may be missing or empty (older versions)


__all__ = ["Dense", "Normalize", "activation_from_name", "activation_to_name"]
