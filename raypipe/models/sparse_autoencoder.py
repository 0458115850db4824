"""SparseAutoEncoder (CSR): a dense sentence embedding (B, d) -> a k-sparse latent (B, hidden_dim).

z = ReLU(TopK_k(W·(x − b_pre) + b_lat)); the decoder is tied: x̂ = Wᵀ·z + b_pre (Wen et al., "Beyond
Matryoshka: Revisiting Sparse Coding for Adaptive Representation", 2025). With normalize=True the input is
standardized per row first and the reconstruction de-standardized. While training (outside inference mode) it
also emits the reconstructions the CSR losses need: decoded_embedding_k / _4k / _aux, decoded_embedding_k_pre_bias,
sentence_embedding_backbone, and tracks for how many steps each latent has been dead (stats_last_nonzero).
Cost: O(B·d·hidden_dim) per batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raypipe.models.module_io import load_module_config, load_weights, save_module_config, save_weights

# on-disk weight name of the tied matrix, as sentence-transformers writes it
_TIED_KEY = "decoder.linear.weight"


class SparseAutoEncoder(nn.Module):
    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        k: int = 8,
        k_aux: int = 512,
        normalize: bool = False,
        dead_threshold: int = 30,
    ):
        super().__init__()
        if not 0 < k <= hidden_dim:
            raise ValueError(f"k={k} must be in 1..hidden_dim={hidden_dim}. Fix: lower k or raise hidden_dim.")
        self.input_dim, self.hidden_dim = int(input_dim), int(hidden_dim)
        self.k, self.k_aux, self.normalize, self.dead_threshold = int(k), int(k_aux), bool(normalize), dead_threshold
        self.pre_bias = nn.Parameter(torch.zeros(self.input_dim))
        self.encoder = nn.Linear(self.input_dim, self.hidden_dim, bias=False)  # W: (hidden, d)
        self.latent_bias = nn.Parameter(torch.zeros(self.hidden_dim))
        self.register_buffer("stats_last_nonzero", torch.zeros(self.hidden_dim, dtype=torch.long))

    # ---- pieces --------------------------------------------------------------------------------------------
    def _standardize(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if not self.normalize:
            return x, None, None
        mu = x.mean(dim=-1, keepdim=True)
        std = (x - mu).std(dim=-1, keepdim=True)
        return (x - mu) / (std + 1e-5), mu, std

    def encode_pre_act(self, x: Tensor) -> Tensor:
        return F.linear(x - self.pre_bias, self.encoder.weight, self.latent_bias)  # (B, hidden)

    def decode_latents(self, z: Tensor) -> Tensor:
        return F.linear(z, self.encoder.weight.t())  # tied decoder, (B, d) without bias

    def _top_k(self, pre: Tensor, k: int, track: bool = False) -> Tensor:
        top = torch.topk(pre, k=min(k, pre.size(-1)), dim=-1)
        z = torch.zeros_like(pre).scatter(-1, top.indices, top.values)
        if track:
            fired = torch.zeros_like(self.stats_last_nonzero)
            fired.scatter_add_(0, top.indices.reshape(-1), (top.values > 1e-5).to(fired.dtype).reshape(-1))
            self.stats_last_nonzero *= 1 - fired.clamp(max=1)
            self.stats_last_nonzero += 1
        return F.relu(z)

    # ---- forward -------------------------------------------------------------------------------------------
    def forward(self, features: dict[str, Tensor], max_active_dims: int | None = None) -> dict[str, Tensor]:
        k = max_active_dims or self.k
        x = features["sentence_embedding"]  # (B, d)
        xs, mu, std = self._standardize(x)
        pre = self.encode_pre_act(xs)
        if torch.is_inference_mode_enabled():
            features["sentence_embedding"] = self._top_k(pre, k)
            return features
        track = self.training and torch.is_grad_enabled()
        z_k = self._top_k(pre, k, track=track)
        z_aux = None
        if self.k_aux:
            dead = (self.stats_last_nonzero > self.dead_threshold).to(pre.dtype)
            z_aux = self._top_k(pre * dead, self.k_aux)
        # the 4k pass counts as activity too (a latent in the top 4k is not dead)
        z_4k = self._top_k(pre, 4 * k, track=track)
        rec_k = self.decode_latents(z_k) + self.pre_bias
        rec_4k = self.decode_latents(z_4k) + self.pre_bias
        rec_aux = self.decode_latents(z_aux) + self.pre_bias if z_aux is not None else None
        bias = self.pre_bias
        if self.normalize:
            rec_k, rec_4k = rec_k * std + mu, rec_4k * std + mu
            bias = bias * std
            rec_aux = rec_aux * std if rec_aux is not None else None
        features.update(
            {
                "sentence_embedding_backbone": xs,
                "sentence_embedding_encoded": pre,
                "sentence_embedding_encoded_4k": z_4k,
                "auxiliary_embedding": z_aux,
                "decoded_embedding_k": rec_k,
                "decoded_embedding_4k": rec_4k,
                "decoded_embedding_aux": rec_aux,
                "decoded_embedding_k_pre_bias": rec_k - bias,
                "sentence_embedding": z_k,
            }
        )
        return features

    def get_sentence_embedding_dimension(self) -> int:
        return self.hidden_dim

    # ---- persistence ---------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"SparseAutoEncoder({self.get_config_dict()})"

    def get_config_dict(self) -> dict:
        return {
            "input_dim": self.input_dim,
            "hidden_dim": self.hidden_dim,
            "k": self.k,
            "k_aux": self.k_aux,
            "normalize": self.normalize,
            "dead_threshold": self.dead_threshold,
        }

    def save(self, path: str) -> None:
        save_module_config(path, self.get_config_dict())
        save_weights(
            path,
            {
                _TIED_KEY: self.encoder.weight,
                "latent_bias": self.latent_bias,
                "pre_bias": self.pre_bias,
                "stats_last_nonzero": self.stats_last_nonzero,
            },
        )

    @classmethod
    def load(cls, path: str) -> SparseAutoEncoder:
        module = cls(**load_module_config(path))
        state = load_weights(path)
        weight = state.pop(_TIED_KEY, None)
        weight = state.pop("encoder.weight", weight)
        state["encoder.weight"] = weight
        module.load_state_dict(state)
        return module


__all__ = ["SparseAutoEncoder"]
