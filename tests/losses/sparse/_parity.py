"""Parity helpers: run a raypipe loss and its sentence-transformers counterpart on the same batch and compare the
loss terms and the parameter gradients."""

from __future__ import annotations

import torch

LOSS_RTOL = 1e-5
GRAD_ATOL = 1e-4

QUERIES = ["the cat plays", "a dog runs fast", "search the sparse index", "red car"]
POSITIVES = [
    "a cat is playing with a dog",
    "the fast dog runs",
    "sparse vector search index",
    "a red car is fast",
]
NEGATIVES = [
    "python package for data",
    "the kernel driver module",
    "blue green font",
    "audio and video files",
]
NEGATIVES2 = ["web server and client", "a man and a woman", "slow small game", "test eval score"]


def tokenize(model, texts):
    # sentence-transformers v6 deprecates tokenize() in favour of preprocess(); raypipe keeps tokenize().
    fn = getattr(model, "preprocess", None) if "sentence_transformers" in type(model).__module__ else None
    return (fn or model.tokenize)(texts)


def as_dict(out) -> dict[str, torch.Tensor]:
    return out if isinstance(out, dict) else {"loss": out}


def backbone(model):
    return model[0].auto_model


def named_grads(model) -> dict[str, torch.Tensor]:
    """Gradients of the HF backbone plus any later module's parameters (e.g. the SparseAutoEncoder), keyed by
    `<module index>.<param name>` relative to the module (library-specific wrapper names are skipped)."""
    grads = {f"0.{n}": p.grad for n, p in backbone(model).named_parameters() if p.grad is not None}
    for i in range(1, len(model)):
        grads.update({f"{i}.{n}": p.grad for n, p in model[i].named_parameters() if p.grad is not None})
    return grads


def zero_grads(*models):
    for m in models:
        m.zero_grad(set_to_none=True)


def assert_terms_close(rp_out, st_out, rtol: float = LOSS_RTOL) -> None:
    rp_out, st_out = as_dict(rp_out), as_dict(st_out)
    assert set(rp_out) == set(st_out), (sorted(rp_out), sorted(st_out))
    for key in st_out:
        a, b = rp_out[key].detach().double(), st_out[key].detach().double()
        assert torch.allclose(a, b, rtol=rtol, atol=1e-12), f"{key}: raypipe {a.item()!r} vs st {b.item()!r}"


def assert_grads_close(rp_model, st_model, atol: float = GRAD_ATOL) -> int:
    g_rp, g_st = named_grads(rp_model), named_grads(st_model)
    assert set(g_rp) == set(g_st), sorted(set(g_rp) ^ set(g_st))
    assert g_st, "no gradients reached the model"
    for name, g in g_st.items():
        diff = (g_rp[name] - g).abs().max().item()
        assert diff <= atol, f"grad {name}: max abs diff {diff}"
    return len(g_st)


def run_parity(rp_model, st_model, rp_loss, st_loss, columns, labels=None, rtol: float = LOSS_RTOL):
    """Forward both losses on `columns` (list of text lists), compare the terms, backward the sums, compare grads.
    Returns (raypipe terms, st terms)."""
    zero_grads(rp_model, st_model)
    rp_out = as_dict(rp_loss([tokenize(rp_model, c) for c in columns], labels))
    st_out = as_dict(st_loss([tokenize(st_model, c) for c in columns], labels))
    assert_terms_close(rp_out, st_out, rtol=rtol)
    sum(rp_out.values()).backward()
    sum(st_out.values()).backward()
    assert_grads_close(rp_model, st_model)
    return rp_out, st_out
