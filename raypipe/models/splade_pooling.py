"""SpladePooling: MLM logits (B, T, V) -> a sparse lexical vector (B, V).

w_j = pool_t act(logit_tj) over attended tokens t, with act = log(1 + relu(x)) ("relu") or
log(1 + log(1 + relu(x))) ("log1p_relu"), pool = max or sum (Formal et al., SPLADE v2, 2021).
Cost: the (B, T, V) logits, plus the activation's temporaries: O(B·chunk·V) when pooling over token chunks
(`chunk_size`; at inference with max pooling, chunks of ~2^24 elements by default: same result, since a max does not
depend on the order it is taken in).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raypipe.models.module_io import load_module_config, save_module_config

STRATEGIES = ("max", "sum")
ACTIVATIONS = ("relu", "log1p_relu")
# Elements of one (B, chunk, V) activation temporary at inference (64 MB in float32). Pooling all T tokens at once
# holds ~3 more (B, T, V) tensors beside the logits (relu, log1p, the masked product): at B=64, T=256, V=30,522 in
# float32, 6 GB. Training keeps one chunk (autograd saves each chunk's tensors anyway).
INFERENCE_CHUNK_ELEMENTS = 2**24


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
        step = self._step(logits)
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

    def _step(self, logits: Tensor) -> int:
        """Tokens per pooling chunk: `chunk_size`, else bounded at inference with max pooling (exact), else all
        (a chunked sum would add in another order: not bit-identical)."""
        if self.chunk_size:
            return self.chunk_size
        if self.pooling_strategy == "max" and not torch.is_grad_enabled():
            return max(1, INFERENCE_CHUNK_ELEMENTS // max(1, logits.size(0) * logits.size(2)))
        return logits.size(1)

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
