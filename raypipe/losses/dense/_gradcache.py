"""GradCache (Gao et al., 2021): a contrastive loss over a large batch with the activation memory of a small one.

Three steps, shared by every cached loss (dense and sparse):

1. Embed every column in mini-batches *without* autograd, remembering each mini-batch's RNG state.
   The embeddings are concatenated into one (batch, dim) leaf tensor per column.
2. Compute the loss on those leaves and back-propagate it to them: their `.grad` is the "gradient cache".
3. When the caller runs `loss.backward()`, a hook on the returned loss re-embeds each mini-batch *with* autograd
   under its saved RNG state (same dropout masks) and back-propagates the cached gradient slice through the model.

Memory: model activations for one mini-batch at a time (O(mini_batch_size · seq_len) per step) plus the
(batch, dim) embeddings per column, instead of activations for the whole batch. Cost: two forward passes.
The loss stage itself is O(batch²) unless `loss_on_embeddings` chunks it (the MNRL family does, see
`chunked_backward`).

Generic API: `gradcache_forward(model, sentence_features, loss_on_embeddings, ...)`. `loss_on_embeddings` takes
a list of (batch, dim) tensors (one per column) and returns a scalar; it may back-propagate itself chunk by chunk
and return a detached value.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import partial

import torch
import tqdm
from torch import Tensor

Features = dict[str, Tensor]
LossOnEmbeddings = Callable[[list[Tensor]], Tensor]


class RngSnapshot:
    """The CPU (and CUDA, for the devices of `tensors`) RNG state at construction; `with snapshot:` replays it and
    restores the surrounding RNG state on exit, so the second forward draws the same dropout masks as the first."""

    def __init__(self, *tensors) -> None:
        self.cpu_state = torch.get_rng_state()
        devices = {t.device for t in tensors if isinstance(t, Tensor) and t.device.type == "cuda"}
        self.cuda_devices = sorted(devices, key=lambda d: d.index or 0)
        self.cuda_states = [torch.cuda.get_rng_state(d) for d in self.cuda_devices]
        self._fork = None

    def __enter__(self) -> None:
        self._fork = torch.random.fork_rng(devices=self.cuda_devices, enabled=True)
        self._fork.__enter__()
        torch.set_rng_state(self.cpu_state)
        for device, state in zip(self.cuda_devices, self.cuda_states):
            torch.cuda.set_rng_state(state, device)

    def __exit__(self, *exc) -> None:
        self._fork.__exit__(*exc)
        self._fork = None


def validate_mini_batch_args(loss_name: str, mini_batch_size: int, mini_batch_num_tokens: int | None) -> None:
    if not isinstance(mini_batch_size, int) or mini_batch_size <= 0:
        raise ValueError(
            f"{loss_name}: mini_batch_size={mini_batch_size!r} is invalid; it must be a positive integer. "
            f"Fix: pass e.g. mini_batch_size=32."
        )
    if mini_batch_num_tokens is not None and (
        not isinstance(mini_batch_num_tokens, int) or mini_batch_num_tokens <= 0
    ):
        raise ValueError(
            f"{loss_name}: mini_batch_num_tokens={mini_batch_num_tokens!r} is invalid; it must be a positive integer "
            f"or None. Fix: pass None to split by mini_batch_size only, or a token budget such as 4096."
        )


def batch_size_of(features: Features) -> int:
    for key in ("input_ids", "attention_mask"):
        if isinstance(features.get(key), Tensor):
            return features[key].shape[0]
    return next(v.shape[0] for v in features.values() if isinstance(v, Tensor) and v.ndim > 0)


def minibatch_ranges(
    features: Features, mini_batch_size: int, mini_batch_num_tokens: int | None = None
) -> list[tuple[int, int]]:
    """(begin, end) row ranges covering the batch, in order.

    Without a token budget: blocks of `mini_batch_size` rows. With `mini_batch_num_tokens`: greedily as many rows as
    fit in that many non-padding tokens (from the attention mask); a row longer than the budget gets its own block.
    """
    n = batch_size_of(features)
    if mini_batch_num_tokens is None:
        return [(b, min(b + mini_batch_size, n)) for b in range(0, n, mini_batch_size)]
    mask = features.get("attention_mask")
    if not isinstance(mask, Tensor):
        raise ValueError(
            "mini_batch_num_tokens needs an 'attention_mask' in the tokenized features to count tokens, but there is "
            "none. Fix: use mini_batch_size only (mini_batch_num_tokens=None)."
        )
    cumulative = mask.sum(dim=1).cumsum(dim=0).tolist()  # (n,) tokens up to and including row i
    ranges, begin = [], 0
    while begin < n:
        before = cumulative[begin - 1] if begin else 0
        end = max(bisect.bisect_right(cumulative, before + mini_batch_num_tokens), begin + 1)
        ranges.append((begin, end))
        begin = end
    return ranges


def slice_features(features: Features, begin: int, end: int) -> Features:
    """Rows begin:end of every tensor, dropping trailing columns that are padding for all of these rows (so a
    mini-batch of short texts is not run at the full batch width; leading padding is kept)."""
    mask = features.get("attention_mask")
    width = keep = None
    if isinstance(mask, Tensor) and mask.ndim == 2:
        width = mask.shape[1]
        active = mask[begin:end].bool().any(dim=0).nonzero()
        if len(active):
            keep = int(active.max().item()) + 1
    out = {}
    for key, value in features.items():
        if not isinstance(value, Tensor) or value.ndim == 0:
            out[key] = value
        elif keep is not None and keep < width and value.ndim >= 2 and value.shape[1] == width:
            out[key] = value[begin:end, :keep]
        else:
            out[key] = value[begin:end]
    return out


def default_embed_fn(
    model: torch.nn.Module, output_key: str = "sentence_embedding"
) -> Callable[[Features], Tensor]:
    return lambda features: model(features)[output_key]


def embed_in_minibatches(
    embed_fn: Callable[[Features], Tensor],
    features: Features,
    ranges: Sequence[tuple[int, int]],
    capture_rng: bool = False,
    progress: tqdm.tqdm | None = None,
) -> tuple[Tensor, list[RngSnapshot | None]]:
    """Embed rows range by range without autograd; returns the concatenated (batch, dim) embeddings and, if
    `capture_rng`, one RNG snapshot per range (taken just before that range's forward)."""
    chunks, states = [], []
    with torch.no_grad():
        for begin, end in ranges:
            mini = slice_features(features, begin, end)
            states.append(RngSnapshot(*mini.values()) if capture_rng else None)
            chunks.append(embed_fn(mini).detach())
            if progress is not None:
                progress.update(1)
    return torch.cat(chunks, dim=0), states


def _replay_hook(grad_output, *, embed_fn, model, sentence_features, ranges, states, grads) -> None:
    """Step 3: re-embed each mini-batch with autograd under its saved RNG state and push the cached gradient
    (scaled by whatever flows into the loss, e.g. a gradient-accumulation factor) through the model."""
    no_sync = getattr(model, "no_sync", None)
    total = sum(len(r) for r in ranges)
    done = 0
    with torch.enable_grad():
        for features, col_ranges, col_states, grad in zip(sentence_features, ranges, states, grads):
            for (begin, end), state in zip(col_ranges, col_states):
                done += 1
                # DDP: only the last replayed mini-batch triggers the gradient all-reduce.
                sync_ctx = no_sync() if (no_sync is not None and done < total) else nullcontext()
                with sync_ctx, state:
                    out = embed_fn(slice_features(features, begin, end))
                    if out.requires_grad:
                        out.backward((grad[begin:end] * grad_output).to(out.dtype))


def _with_companion(
    embed_fn: Callable[[Features], Tensor], companion_fn: Callable[[Features], Tensor], sink: list[Tensor]
) -> Callable[[Features], Tensor]:
    """First-pass embed function: the model's mini-batch forward, then `companion_fn` on the same mini-batch
    (a shallow copy taken before the model ran, as the model may write its outputs into the dict); the companion's
    (rows, dim') output is appended to `sink`. Only step 1 uses it: the replay runs `embed_fn` alone."""

    def embed(mini: Features) -> Tensor:
        clean = dict(mini)
        out = embed_fn(mini)
        sink.append(companion_fn(clean).detach())
        return out

    return embed


def _first_pass(embed_fn, companion_fn, sentence_features, ranges, training: bool, show_progress_bar: bool):
    """Step 1 for every column: (embeddings, RNG states, companion embeddings or None), one entry per column;
    embeddings are (batch, dim) leaves that require grad when training."""
    progress = tqdm.tqdm(
        total=sum(map(len, ranges)), desc="Embed mini-batches", disable=not show_progress_bar
    )
    embeddings, states, companions = [], [], []
    for features, col_ranges in zip(sentence_features, ranges):
        sink: list[Tensor] = []
        first_pass = embed_fn if companion_fn is None else _with_companion(embed_fn, companion_fn, sink)
        emb, col_states = embed_in_minibatches(
            first_pass, features, col_ranges, capture_rng=training, progress=progress
        )
        embeddings.append(emb.requires_grad_(training))
        states.append(col_states)
        companions.append(torch.cat(sink, dim=0) if sink else None)
    progress.close()
    return embeddings, states, companions


def gradcache_forward(
    model: torch.nn.Module,
    sentence_features: Sequence[Features],
    loss_on_embeddings: LossOnEmbeddings,
    *,
    mini_batch_size: int = 32,
    mini_batch_num_tokens: int | None = None,
    show_progress_bar: bool = False,
    embed_fn: Callable[[Features], Tensor] | None = None,
    companion_fn: Callable[[Features], Tensor] | None = None,
    loss_name: str = "cached loss",
) -> Tensor:
    """Run the GradCache forward (module docstring) and return the loss; `loss.backward()` updates the model.

    Args:
        model: the model whose parameters get gradients (used for `embed_fn` and DDP `no_sync`).
        sentence_features: one tokenized feature dict per input column.
        loss_on_embeddings: list of (batch, dim) embeddings -> scalar loss. May back-propagate itself (e.g. chunk
            by chunk) and return a detached value. With `companion_fn` it is called as
            `loss_on_embeddings(embeddings, companion_embeddings)`.
        embed_fn: features -> (rows, dim) embeddings; defaults to `model(features)["sentence_embedding"]`.
        companion_fn: optional features -> (rows, dim') run without autograd right after each step-1 mini-batch
            forward, on the same mini-batch (e.g. a GIST guide). Interleaving it with the model's forwards is what
            sentence-transformers does, so a companion that draws random numbers (dropout) sees the same RNG stream.
    """
    embed_fn = embed_fn or default_embed_fn(model)
    sentence_features = list(sentence_features)
    training = torch.is_grad_enabled()
    # Ranges are fixed before any forward: modules may edit features in place, and step 3 must reuse them.
    ranges = [minibatch_ranges(f, mini_batch_size, mini_batch_num_tokens) for f in sentence_features]
    embeddings, states, companions = _first_pass(
        embed_fn, companion_fn, sentence_features, ranges, training, show_progress_bar
    )
    extra = () if companion_fn is None else (companions,)
    if not training:
        return loss_on_embeddings(embeddings, *extra)

    loss = loss_on_embeddings(embeddings, *extra)
    if loss.requires_grad:
        loss.backward()
    grads = [emb.grad for emb in embeddings]
    unused = [str(i) for i, g in enumerate(grads) if g is None]
    if unused:
        raise ValueError(
            f"{loss_name} did not use input column(s) {', '.join(unused)} (no gradient reached them). "
            f"Fix: remove those columns from the dataset."
        )
    loss = loss.detach().requires_grad_()
    loss.register_hook(
        partial(
            _replay_hook,
            embed_fn=embed_fn,
            model=model,
            sentence_features=sentence_features,
            ranges=ranges,
            states=states,
            grads=grads,
        )
    )
    return loss


def chunked_backward(
    inputs: Sequence[Tensor],
    chunk_loss: Callable[[list[Tensor], int, int], Tensor],
    num_rows: int,
    chunk_size: int,
) -> Tensor:
    """Back-propagate sum_k chunk_loss(leaves, begin_k, end_k) into `inputs` one row-chunk at a time, so that only
    one chunk's score matrix (chunk_size, candidates) and its graph are alive at once; returns the detached total.

    `inputs` may be outputs of a graph (e.g. an all-gather): each is detached into a leaf, the chunks back-propagate
    into the leaves, then each input receives its leaf's gradient in one call (one collective per input).
    """
    leaves = [t.detach().requires_grad_(t.requires_grad) for t in inputs]
    total = inputs[0].new_zeros(()) if num_rows == 0 else None
    for begin in range(0, num_rows, chunk_size):
        value = chunk_loss(leaves, begin, min(begin + chunk_size, num_rows))
        if value.requires_grad:
            value.backward()
        total = value.detach() if total is None else total + value.detach()
    pairs = [(t, leaf.grad) for t, leaf in zip(inputs, leaves) if t.requires_grad]
    pairs = [(t, g if g is not None else torch.zeros_like(t)) for t, g in pairs]
    if pairs:
        torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
    return total


__all__ = [
    "RngSnapshot",
    "validate_mini_batch_args",
    "batch_size_of",
    "minibatch_ranges",
    "slice_features",
    "default_embed_fn",
    "embed_in_minibatches",
    "gradcache_forward",
    "chunked_backward",
]
