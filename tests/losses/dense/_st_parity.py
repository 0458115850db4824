"""Parity helpers for the dense losses: one tiny checkpoint saved once by sentence-transformers (the oracle),
loaded by raypipe (code under test) and by sentence-transformers; same batch; compare loss terms and gradients."""

from __future__ import annotations

import copy
import functools
import os
import tempfile

import torch

# 2 shared CPU cores: more intra-op threads only add contention (tiny tensors)
torch.set_num_threads(1)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LOSS_RTOL = 1e-5
GRAD_ATOL = 1e-4

ANCHORS = [
    "the cat plays",
    "a dog runs fast",
    "search the dense index",
    "red car",
    "a man and a woman",
    "web server",
]
POSITIVES = [
    "a cat is playing",
    "the fast dog runs",
    "dense vector search index",
    "a red car is fast",
    "the woman and the man",
    "a web server and client",
]
NEGATIVES = [
    "python package for data",
    "the kernel driver module",
    "blue green font",
    "audio and video files",
    "slow small game",
    "test eval score",
]
NEGATIVES2 = [
    "web client tool",
    "a child plays",
    "big bad image",
    "fast network system",
    "the font file",
    "kernel support",
]


@functools.cache
def saved_model_dir(kind: str = "encoder") -> str:
    """A tiny BERT + mean Pooling SentenceTransformer, saved once per test process by sentence-transformers."""
    from sentence_transformers import SentenceTransformer as STModel

    from tests.fixtures.tiny_models import build_tiny_checkpoint

    root = tempfile.mkdtemp(prefix="raypipe_dense_losses_")
    hf_dir = build_tiny_checkpoint(os.path.join(root, "hf"), kind=kind)
    out = os.path.join(root, "st")
    STModel(str(hf_dir), device="cpu").save(out)
    return out


@functools.cache
def _loaded_pair(path: str):
    from sentence_transformers import SentenceTransformer as STModel

    import raypipe

    return raypipe.SentenceTransformer(path, device="cpu"), STModel(path, device="cpu")


def load_pair(path: str | None = None):
    """(raypipe model, sentence-transformers model) from one directory, both in train mode on CPU.
    Each library loads the directory once per process; every call returns fresh deep copies (losses may tie or
    train weights)."""
    rp, st = (copy.deepcopy(m) for m in _loaded_pair(path or saved_model_dir()))
    rp.train()
    st.train()
    return rp, st


def tokenize(model, texts):
    # sentence-transformers v6 prefers preprocess(); raypipe keeps tokenize()
    fn = getattr(model, "preprocess", None) if "sentence_transformers" in type(model).__module__ else None
    return (fn or model.tokenize)(list(texts))


def features(model, columns):
    return [tokenize(model, c) for c in columns]


def as_dict(out) -> dict[str, torch.Tensor]:
    return out if isinstance(out, dict) else {"loss": out}


def named_grads(model) -> dict[str, torch.Tensor]:
    """Gradients of the HF backbone plus later modules, keyed `<module index>.<param name>`."""
    grads = {f"0.{n}": p.grad for n, p in model[0].auto_model.named_parameters() if p.grad is not None}
    for i in range(1, len(model)):
        grads.update({f"{i}.{n}": p.grad for n, p in model[i].named_parameters() if p.grad is not None})
    return grads


def assert_terms_close(rp_out, st_out, rtol: float = LOSS_RTOL) -> None:
    rp_out, st_out = as_dict(rp_out), as_dict(st_out)
    assert set(rp_out) == set(st_out), (sorted(rp_out), sorted(st_out))
    for key in st_out:
        a, b = rp_out[key].detach().double(), st_out[key].detach().double()
        assert torch.allclose(a, b, rtol=rtol, atol=1e-12), f"{key}: raypipe {a.item()!r} vs st {b.item()!r}"


def assert_grads_close(rp_grads: dict, st_grads: dict, atol: float = GRAD_ATOL) -> float:
    """Max |g_raypipe − g_st| per parameter ≤ atol · max(1, max |g_st|): 1e-4 absolute for gradients up to 1,
    relative beyond (float32 sums of large gradients differ by ~1e-6 relative with another summation order)."""
    assert set(rp_grads) == set(st_grads), sorted(set(rp_grads) ^ set(st_grads))
    assert st_grads, "no gradients reached the model"
    worst = 0.0
    for name, g in st_grads.items():
        scale = max(1.0, g.abs().max().item())
        diff = (rp_grads[name] - g).abs().max().item() / scale
        assert diff <= atol, f"grad {name}: max abs diff {diff * scale} (scale {scale})"
        worst = max(worst, diff)
    return worst


def run_parity(
    rp_model, st_model, rp_loss, st_loss, columns, labels=None, extra=None, rtol: float = LOSS_RTOL
):
    """Forward both losses on `columns` (list of text lists), compare terms, backward the sums, compare the model
    gradients (and `extra(rp_loss, st_loss) -> (rp_params, st_params)` dicts of loss-owned parameters)."""
    for m in (rp_model, st_model, rp_loss, st_loss):
        m.zero_grad(set_to_none=True)
    rp_feats, st_feats = features(rp_model, columns), features(st_model, columns)
    for a, b in zip(rp_feats, st_feats):
        assert torch.equal(a["input_ids"], b["input_ids"]), "tokenizers disagree; parity needs the same batch"
    rp_labels = labels.clone() if isinstance(labels, torch.Tensor) else labels
    rp_out = as_dict(rp_loss(rp_feats, rp_labels))
    st_out = as_dict(st_loss(st_feats, labels))
    assert_terms_close(rp_out, st_out, rtol=rtol)
    sum(rp_out.values()).backward()
    sum(st_out.values()).backward()
    assert_grads_close(named_grads(rp_model), named_grads(st_model))
    if extra is not None:
        rp_params, st_params = extra(rp_loss, st_loss)
        assert_grads_close(
            {k: p.grad for k, p in rp_params.items() if p.grad is not None},
            {k: p.grad for k, p in st_params.items() if p.grad is not None},
        )
    return rp_out, st_out


def st_losses():
    from sentence_transformers.sentence_transformer import losses

    return losses
