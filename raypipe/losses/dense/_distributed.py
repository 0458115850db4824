"""torch.distributed helpers for losses that see the whole (multi-process) batch.

`all_gather_with_grad` concatenates a tensor from every rank along dim 0 while keeping the autograd graph: the
gradient of the gathered tensor is summed over ranks (all_reduce) and each rank keeps the slice of its own rows.
So with DDP (which averages parameter gradients over ranks) the update equals the one a single process would make
on the concatenated batch. Ranks may hold different numbers of rows (an uneven last batch); the sizes are exchanged
first, which is one small extra collective per call.

Without an initialised process group every helper is the identity / rank 0 of 1, so losses need no special case.
Cost per call: one all_gather of O(world_size · rows · dim) in the forward, one all_reduce of the same size in the
backward.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """True when a torch.distributed process group is initialised (and has more than one rank)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def gather_sizes(num_rows: int, device: torch.device | None = None) -> list[int]:
    """Number of rows on every rank (a list of length world_size, identical on all ranks)."""
    if not is_distributed():
        return [num_rows]
    local = torch.tensor([num_rows], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(get_world_size())]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def _gather_rows(tensor: Tensor, sizes: list[int]) -> Tensor:
    """all_gather along dim 0 for possibly unequal row counts: pad to the largest, gather, strip the padding."""
    max_rows = max(sizes)
    padded = tensor
    if tensor.shape[0] < max_rows:
        pad = tensor.new_zeros((max_rows - tensor.shape[0], *tensor.shape[1:]))
        padded = torch.cat([tensor, pad], dim=0)
    buffers = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(buffers, padded.contiguous())
    return torch.cat([buf[:n] for buf, n in zip(buffers, sizes)], dim=0)


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: (n_r, ...) on each rank -> (sum_r n_r, ...). Backward: all_reduce(SUM) the incoming gradient and
    return this rank's rows, i.e. every rank's loss contributes to every rank's embeddings."""

    @staticmethod
    def forward(ctx, tensor: Tensor, sizes: list[int]) -> Tensor:
        rank = dist.get_rank()
        ctx.begin = sum(sizes[:rank])
        ctx.end = ctx.begin + sizes[rank]
        gathered = _gather_rows(tensor.detach(), sizes)
        return gathered

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.begin : ctx.end], None


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate `tensor` (rows, ...) from every rank along dim 0, keeping gradients (see module docstring).

    Returns the tensor itself when not running distributed.
    """
    if not is_distributed():
        return tensor
    sizes = gather_sizes(tensor.shape[0], tensor.device)
    return _AllGatherWithGrad.apply(tensor, sizes)


def all_gather_with_offset(tensor: Tensor) -> tuple[Tensor, int]:
    """`all_gather_with_grad` plus the index of this rank's first row in the gathered tensor."""
    if not is_distributed():
        return tensor, 0
    sizes = gather_sizes(tensor.shape[0], tensor.device)
    return _AllGatherWithGrad.apply(tensor, sizes), sum(sizes[: get_rank()])


class _AllReduceWithGrad(torch.autograd.Function):
    """Forward: sum of `tensor` over ranks (same shape). Backward: the incoming gradient summed over ranks, as for
    the gather: every rank computes the same global value, DDP averages, so the update is the global one."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        out = tensor.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def all_reduce_with_grad(tensor: Tensor) -> Tensor:
    """Sum `tensor` over every rank, keeping gradients; the tensor itself when not running distributed. Cost: one
    all_reduce of tensor.numel() values forward and backward."""
    if not is_distributed():
        return tensor
    return _AllReduceWithGrad.apply(tensor)


__all__ = [
    "all_reduce_with_grad",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "gather_sizes",
    "all_gather_with_grad",
    "all_gather_with_offset",
]
