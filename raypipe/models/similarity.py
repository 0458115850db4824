"""Similarity functions shared by models, losses, evaluators and mining.

Matrix versions take a (n, d) and b (m, d) and return (n, m); pairwise versions take two (n, d) and return (n,).
Euclidean and Manhattan similarities are *negative* distances, so that higher is always more similar.
Cost: O(n·m·d) time and O(n·m) memory for the matrix versions — callers chunk to bound memory.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SIMILARITY_NAMES = ("cosine", "dot", "euclidean", "manhattan")


def _as_2d_tensor(x) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    elif not isinstance(x, Tensor):
        x = torch.tensor(np.asarray(x))
    if x.is_sparse:
        x = x.to_dense()
    if x.dim() == 1:
        x = x.unsqueeze(0)
    return x


def cos_sim(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return F.normalize(a, p=2, dim=1) @ F.normalize(b, p=2, dim=1).T


def dot_score(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return a @ b.T


def euclidean_sim(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return -torch.cdist(a, b, p=2.0)


def manhattan_sim(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return -torch.cdist(a, b, p=1.0)


def pairwise_cos_sim(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return (F.normalize(a, p=2, dim=1) * F.normalize(b, p=2, dim=1)).sum(dim=-1)


def pairwise_dot_score(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return (a * b).sum(dim=-1)


def pairwise_euclidean_sim(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return -torch.sqrt(((a - b) ** 2).sum(dim=-1))


def pairwise_manhattan_sim(a, b) -> Tensor:
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return -(a - b).abs().sum(dim=-1)


def pairwise_angle_sim(x, y) -> Tensor:
    """AnglE similarity (Li & Li, 2023): |cos(x, y) + sin(x, y)| after L2 normalization, where the "sine" pairs
    dimension i with i + d/2 (the complex-number view of the embedding). Odd d is zero-padded by one.
    Shapes: (n, d), (n, d) -> (n,)."""
    x, y = _as_2d_tensor(x).float(), _as_2d_tensor(y).float()
    if x.shape[1] % 2:
        x, y = F.pad(x, (0, 1)), F.pad(y, (0, 1))
    x, y = F.normalize(x, p=2, dim=1), F.normalize(y, p=2, dim=1)
    cos = (x * y).sum(dim=1)
    x_re, x_im = torch.chunk(x, 2, dim=1)
    y_re, y_im = torch.chunk(y, 2, dim=1)
    sin = (x_im * y_re - x_re * y_im).sum(dim=1)
    return (cos + sin).abs()


_MATRIX = {"cosine": cos_sim, "dot": dot_score, "euclidean": euclidean_sim, "manhattan": manhattan_sim}
_PAIRWISE = {
    "cosine": pairwise_cos_sim,
    "dot": pairwise_dot_score,
    "euclidean": pairwise_euclidean_sim,
    "manhattan": pairwise_manhattan_sim,
}
# sentence-transformers also accepts these aliases in configs
_ALIASES = {"cos_sim": "cosine", "dot_score": "dot", "dot_product": "dot"}


def normalize_similarity_name(name: str) -> str:
    key = _ALIASES.get(str(name), str(name))
    if key not in _MATRIX:
        raise ValueError(
            f"similarity_fn_name={name!r} is not supported; allowed: {', '.join(SIMILARITY_NAMES)}. "
            f"Fix: pass one of those names."
        )
    return key


def get_similarity(name: str):
    return _MATRIX[normalize_similarity_name(name)]


def get_pairwise_similarity(name: str):
    return _PAIRWISE[normalize_similarity_name(name)]


__all__ = [
    "SIMILARITY_NAMES",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "pairwise_angle_sim",
    "get_similarity",
    "get_pairwise_similarity",
    "normalize_similarity_name",
]
