"""SpladePooling: MLM logits (B, T, V) -> a sparse lexical vector (B, V).

w_j = pool_t act(logit_tj) over attended tokens t, with act = log(1 + relu(x)) ("relu") or
log(1 + log(1 + relu(x))) ("log1p_relu"), pool = max or sum (Formal et al., SPLADE v2, 2021).
Cost: O(B·T·V) memory per batch; `chunk_size` bounds it to O(B·chunk·V) by pooling over token chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raypipe.models.module_io import load_module_config, save_module_config

STRATEGIES = ("max", "sum")
ACTIVATIONS = ("relu", "log1p_relu")


class SpladePooling(nn.Module):
    def __init__(
        self,
        pooling_strategy: str = "max",
        activation_function: str = "relu",
        embedding_dimension: int | None = None,
        chunk_size: int | None = None,
    ):
        super().__init__()
        if pooling_strategy not in STRATEGIES:
            raise ValueError(
                f"pooling_strategy={pooling_strategy!r} is not supported; allowed: {', '.join(STRATEGIES)}. "
                f"Fix: use 'max' (SPLADE v2 default) or 'sum'."
            )
        if activation_function not in ACTIVATIONS:
            raise ValueError(
                f"activation_function={activation_function!r} is not supported; allowed: "
                f"{', '.join(ACTIVATIONS)}. Fix: use 'relu' (default) or 'log1p_relu'."
            )
        self.pooling_strategy = pooling_strategy
        self.activation_function = activation_function
        self.embedding_dimension = embedding_dimension
        self.chunk_size = chunk_size

    def _activate(self, logits: Tensor) -> Tensor:
        out = torch.log1p(torch.relu(logits))
        return torch.log1p(out) if self.activation_function == "log1p_relu" else out

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        logits = features["token_embeddings"]  # (B, T, V)
        mask = features["attention_mask"].unsqueeze(-1).to(logits.dtype)  # (B, T, 1)
        step = self.chunk_size or logits.size(1)
        pooled = None
        for start in range(0, logits.size(1), step):
            part = self._activate(logits[:, start : start + step]) * mask[:, start : start + step]
            part = part.max(dim=1).values if self.pooling_strategy == "max" else part.sum(dim=1)
            if pooled is None:
                pooled = part
            else:
                pooled = torch.maximum(pooled, part) if self.pooling_strategy == "max" else pooled + part
        features["sentence_embedding"] = pooled  # (B, V)
        self.embedding_dimension = int(pooled.size(-1))
        return features

    def get_sentence_embedding_dimension(self) -> int | None:
        return self.embedding_dimension

    def __repr__(self) -> str:
        return f"SpladePooling({self.get_config_dict()})"

    def get_config_dict(self) -> dict:
        return {
            "pooling_strategy": self.pooling_strategy,
            "activation_function": self.activation_function,
            "embedding_dimension": self.embedding_dimension,
        }

    def save(self, path: str) -> None:
        save_module_config(path, self.get_config_dict())

    @classmethod
    def load(cls, path: str) -> SpladePooling:
        cfg = load_module_config(path)
        if "word_embedding_dimension" in cfg:  # legacy key
            cfg.setdefault("embedding_dimension", cfg.pop("word_embedding_dimension"))
        return cls(**{k: v for k, v in cfg.items() if k in ("pooling_strategy", "activation_function",
                                                              "embedding_dimension", "chunk_size")})


__all__ = ["SpladePooling"]
