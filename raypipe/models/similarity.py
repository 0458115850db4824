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


def _sparse_2d(x) -> bool:
    return isinstance(x, Tensor) and x.is_sparse and x.dim() == 2


def _row_norms(x: Tensor) -> Tensor:
    """(n,) L2 norms of the rows of a dense or sparse COO (n, d) tensor, float32 or wider."""
    if not x.is_sparse:
        return x.norm(dim=1)
    x = x.coalesce()
    out = torch.zeros(x.shape[0], dtype=x.values().dtype, device=x.device)
    return out.index_add_(0, x.indices()[0], x.values() ** 2).sqrt()


BLOCK_VALUES = 1 << 26  # values in one densified block of rows (256 MB in float32)


def _dense_rows(x: Tensor, start: int, end: int, dtype) -> Tensor:
    """Rows start..end of a coalesced sparse COO (n, d) tensor as a dense (end - start, d) tensor."""
    rows = x.indices()[0]
    lo, hi = torch.searchsorted(rows, torch.tensor([start, end], device=rows.device)).tolist()
    out = torch.zeros(end - start, x.shape[1], dtype=dtype, device=x.device)
    out[rows[lo:hi] - start, x.indices()[1][lo:hi]] = x.values()[lo:hi].to(dtype)
    return out


def _operand(x) -> Tensor:
    """A 2-D sparse COO tensor as it is; anything else as a dense 2-D tensor."""
    return x if _sparse_2d(x) else _as_2d_tensor(x)


def _sparse_dot(a: Tensor, b: Tensor) -> Tensor:
    """a @ b.T (n, m) for 2-D operands (see `_operand`) where a or b is a sparse COO tensor (SPLADE / CSR embeddings), never densifying all of the
    side with more rows: the other side is made dense and this one goes through the matmul in dense blocks of
    BLOCK_VALUES / d rows. Same O(n·m·d) time as dense inputs; memory O(min(n, m)·d + n·m) plus one block.
    Densifying both sides took a retrieval evaluator's 50,000-document SPLADE chunk to 50,000 x 30,522 float32s
    (6.1 GB). (torch.sparse.mm needs no block but ran 6x slower here.) float32, or float64 if given."""
    dtype = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    keep_b = b.is_sparse and (not a.is_sparse or b.shape[0] >= a.shape[0])
    big, small = (b, a) if keep_b else (a, b)
    small = (small.to_dense() if small.is_sparse else small).to(dtype)  # (rows of small, d)
    big = big.coalesce()
    out = torch.empty(small.shape[0], big.shape[0], dtype=dtype, device=small.device)  # (small, big)
    step = max(1, BLOCK_VALUES // max(big.shape[1], 1))
    for start in range(0, big.shape[0], step):
        end = min(start + step, big.shape[0])
        out[:, start:end] = small @ _dense_rows(big, start, end, dtype).T
    return out if keep_b else out.T


def cos_sim(a, b) -> Tensor:
    if _sparse_2d(a) or _sparse_2d(b):
        a, b = _operand(a), _operand(b)
        scores = _sparse_dot(a, b)
        na, nb = (_row_norms(x).to(scores.dtype).clamp_min(1e-12) for x in (a, b))
        return scores / na[:, None] / nb[None, :]
    a, b = _as_2d_tensor(a), _as_2d_tensor(b)
    return F.normalize(a, p=2, dim=1) @ F.normalize(b, p=2, dim=1).T


def dot_score(a, b) -> Tensor:
    if _sparse_2d(a) or _sparse_2d(b):
        return _sparse_dot(_operand(a), _operand(b))
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
