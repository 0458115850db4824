"""Pooling: token embeddings (B, T, H) -> one sentence embedding (B, H·len(modes))."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raypipe.models.module_io import load_module_config, save_module_config

POOLING_MODES = ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# legacy (sentence-transformers <= 5.3) boolean config keys -> mode names
_LEGACY_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _check_modes(pooling_mode) -> tuple[str, ...]:
    modes = (pooling_mode,) if isinstance(pooling_mode, str) else tuple(pooling_mode)
    bad = [m for m in modes if m not in POOLING_MODES]
    if bad or not modes:
        raise ValueError(
            f"pooling_mode={pooling_mode!r} is not supported; allowed: {', '.join(POOLING_MODES)} "
            f"(or a list of them). Fix: pass e.g. pooling_mode='mean'."
        )
    return modes


class Pooling(nn.Module):
    """Pool token embeddings into a sentence embedding.

    Modes: cls (first attended token), mean, max, mean_sqrt_len_tokens (sum / sqrt(n)), weightedmean (position
    weights 1..T), lasttoken (last attended token). Several modes are concatenated. With include_prompt=False the
    first `prompt_length` attended tokens (from features["prompt_length"]) are excluded.
    Cost: O(B·T·H) per batch.
    """

    def __init__(self, embedding_dimension: int, pooling_mode: str | list[str] = "mean", include_prompt: bool = True):
        super().__init__()
        self.embedding_dimension = int(embedding_dimension)
        modes = _check_modes(pooling_mode)
        self.pooling_mode = modes[0] if len(modes) == 1 else list(modes)
        self.include_prompt = include_prompt

    @property
    def modes(self) -> tuple[str, ...]:
        return _check_modes(self.pooling_mode)

    def get_sentence_embedding_dimension(self) -> int:
        return self.embedding_dimension * len(self.modes)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        tokens = features["token_embeddings"]  # (B, T, H)
        mask = features["attention_mask"]  # (B, T)
        prompt_length = features.get("prompt_length")
        if prompt_length is not None and not self.include_prompt:
            mask = _drop_prompt(mask, int(prompt_length))
        outputs = [_POOLERS[m](tokens, mask, features["attention_mask"]) for m in self.modes]
        features["sentence_embedding"] = torch.cat(outputs, dim=-1)  # (B, H·n_modes)
        return features

    def __repr__(self) -> str:
        return f"Pooling({self.get_config_dict()})"

    def get_config_dict(self) -> dict:
        return {
            "embedding_dimension": self.embedding_dimension,
            "pooling_mode": self.pooling_mode,
            "include_prompt": self.include_prompt,
        }

    def save(self, path: str) -> None:
        save_module_config(path, self.get_config_dict())

    @classmethod
    def load(cls, path: str) -> Pooling:
        return cls.from_config(load_module_config(path))

    @classmethod
    def from_config(cls, config: dict) -> Pooling:
        dim = config.get("embedding_dimension", config.get("word_embedding_dimension"))
        mode = config.get("pooling_mode")
        if mode is None:  # legacy boolean keys
            mode = [name for key, name in _LEGACY_KEYS.items() if config.get(key)] or "mean"
            mode = mode[0] if len(mode) == 1 else mode
        return cls(dim, mode, include_prompt=config.get("include_prompt", True))


def _drop_prompt(mask: Tensor, prompt_length: int) -> Tensor:
    """Zero the first `prompt_length` attended positions of each row (works with left padding); a copy."""
    mask = mask.clone()
    first = mask.to(torch.int32).argmax(dim=1)  # (B,) index of the first attended token
    pos = torch.arange(mask.size(1), device=mask.device).unsqueeze(0)  # (1, T)
    mask[pos < (first + prompt_length).unsqueeze(1)] = 0
    return mask


def _cls(tokens: Tensor, mask: Tensor, _full: Tensor) -> Tensor:
    first = mask.to(torch.int32).argmax(dim=1)  # (B,)
    return tokens[torch.arange(tokens.size(0), device=tokens.device), first]


def _mean(tokens: Tensor, mask: Tensor, _full: Tensor, sqrt: bool = False) -> Tensor:
    m = mask.unsqueeze(-1).to(tokens.dtype)  # (B, T, 1)
    total = (tokens * m).sum(dim=1)
    count = torch.clamp(m.sum(dim=1), min=1e-9)
    return total / (torch.sqrt(count) if sqrt else count)


def _max(tokens: Tensor, mask: Tensor, _full: Tensor) -> Tensor:
    return tokens.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values


def _weightedmean(tokens: Tensor, mask: Tensor, full: Tensor) -> Tensor:
    # weights 1..T counted from the first real token, so left padding does not shift them
    pos = torch.arange(1, tokens.size(1) + 1, device=tokens.device, dtype=tokens.dtype).view(1, -1, 1)
    pos = pos - full.to(torch.int32).argmax(dim=1).view(-1, 1, 1).to(tokens.dtype)
    w = mask.unsqueeze(-1).to(tokens.dtype) * pos  # (B, T, 1)
    return (tokens * w).sum(dim=1) / torch.clamp(w.sum(dim=1), min=1e-9)


def _lasttoken(tokens: Tensor, mask: Tensor, _full: Tensor) -> Tensor:
    seq_len = tokens.size(1)
    values, idx_from_end = mask.flip(1).max(dim=1)  # position of the last 1, counted from the end
    idx_from_end = torch.where(values == 0, seq_len - 1, idx_from_end)
    last = seq_len - idx_from_end - 1  # (B,)
    masked = tokens * mask.unsqueeze(-1).to(tokens.dtype)
    return masked[torch.arange(tokens.size(0), device=tokens.device), last]


_POOLERS = {
    "cls": _cls,
    "mean": _mean,
    "max": _max,
    "mean_sqrt_len_tokens": lambda t, m, f: _mean(t, m, f, sqrt=True),
    "weightedmean": _weightedmean,
    "lasttoken": _lasttoken,
}

__all__ = ["Pooling", "POOLING_MODES"]
