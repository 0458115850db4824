"""Parity helper: run a raypipe loss and its sentence-transformers twin on one batch; compare loss and gradients."""

from __future__ import annotations

import copy

import torch

LOSS_RTOL = 1e-5
GRAD_ATOL = 1e-4
GRAD_RTOL = 1e-4

QUERIES = ["the dog plays", "a red car", "search index", "python library", "fast network"]
DOCS = ["a dog runs fast", "blue car", "dense vector search", "debian package", "slow web server"]
NEGS = ["the cat", "green game", "image file", "audio driver", "big kernel module"]


def hf_params(model) -> dict[str, torch.Tensor]:
    """Parameters of the wrapped Hugging Face model, named without the library-specific prefix."""
    first = model[0]
    hf = getattr(first, "auto_model", None) or first.model
    return dict(hf.named_parameters())


def _grads(model) -> dict[str, torch.Tensor]:
    return {
        name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in hf_params(model).items()
    }


def run_loss(loss, model, inputs, labels) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    value = loss(copy.deepcopy(inputs), labels)
    value.backward()
    return value.item(), _grads(model)


def assert_parity(ours_loss, st_loss, pair, inputs, labels, st_labels=None, seed: int | None = None) -> float:
    """Loss within LOSS_RTOL relative, every parameter gradient within GRAD_ATOL + GRAD_RTOL·|g|."""
    ours_model, st_model = pair
    if seed is not None:
        torch.manual_seed(seed)
    ours_value, ours_grads = run_loss(ours_loss, ours_model, inputs, labels)
    if seed is not None:
        torch.manual_seed(seed)
    st_value, st_grads = run_loss(st_loss, st_model, inputs, labels if st_labels is None else st_labels)
    assert abs(ours_value - st_value) <= LOSS_RTOL * max(abs(st_value), 1e-8), (ours_value, st_value)
    assert ours_grads.keys() == st_grads.keys()
    grad_scale = max(g.abs().max().item() for g in st_grads.values())
    assert grad_scale > 0, "the loss produced no gradient at all"
    for name, g_ours in ours_grads.items():
        torch.testing.assert_close(g_ours, st_grads[name], atol=GRAD_ATOL, rtol=GRAD_RTOL, msg=name)
        # Stricter than the absolute bound, so tiny gradients are still compared meaningfully.
        diff = (g_ours - st_grads[name]).abs().max().item()
        assert diff <= 1e-4 * grad_scale + 1e-7, (name, diff, grad_scale)
    return ours_value
