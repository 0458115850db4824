"""Length buckets for one forward pass: run a padded batch as a few sub-batches of similar length.

A training batch is padded to its longest text. On the Debian pairs (MiniLM, 128 tokens, batches of 64 random
pairs) that is 1.69x the real tokens of the descriptions and 1.84x of the one-line queries; the same 64 rows sorted
by length and run as 4 sub-batches, each cut to its own longest row, cost 1.15x and 1.19x. The transformer's cost is
~linear in the tokens at these lengths, so the forward and backward passes shrink by about that much.

The result is the same as one call: padded positions are masked out of attention, so a row's output does not
depend on how far it was padded; each sub-batch's output is written into the batch-width output (zeros at padded
positions, under the attention mask) at its rows, and autograd flows through the sub-batches. Only right-padded
batches are split (a left-padded row's positions would move when its leading pads are cut). Inference batches are
already sorted by length, so they seldom gain enough to be split. The size check comes first, so batches too small
to split never read the mask (no GPU sync).

Cost: sorting B lengths, and one extra transformer call per extra sub-batch.
"""

from __future__ import annotations

import torch

MIN_ROWS_CPU = 16    # fewer rows per call make the per-call overhead count on a CPU
MIN_ROWS_CUDA = 64   # a GPU needs more rows per call to stay busy
MIN_SAVING = 0.10    # split only when it saves at least 10% of the padded tokens


def plan_buckets(attention_mask: torch.Tensor, min_rows: int) -> list[tuple[torch.Tensor, int]] | None:
    """Sub-batches for a (B, T) right-padded attention mask: [(row indices, width), ...], or None to run as is.

    Tries 2, 4, 8, ... equal sub-batches of the rows sorted by length, each at least `min_rows` rows, and keeps
    the split with the fewest padded tokens (sum of rows x width), if it saves >= MIN_SAVING of the batch's.
    """
    rows = attention_mask.shape[0]
    if min_rows <= 0 or rows < 2 * min_rows or not bool(attention_mask[:, 0].all()):
        return None  # small batch, disabled, or left padding (or an empty row)
    lengths = attention_mask.sum(dim=1)  # (B,)
    order = torch.argsort(lengths, stable=True)
    sorted_lengths = lengths[order].tolist()
    best_cost, best = rows * sorted_lengths[-1] * (1.0 - MIN_SAVING), None
    parts = 2
    while rows // parts >= min_rows:
        bounds = [round(i * rows / parts) for i in range(parts + 1)]
        cost = sum((hi - lo) * sorted_lengths[hi - 1] for lo, hi in zip(bounds, bounds[1:]))
        if cost < best_cost:
            best_cost, best = cost, bounds
        parts *= 2
    if best is None:
        return None
    return [(order[lo:hi], int(sorted_lengths[hi - 1])) for lo, hi in zip(best, best[1:])]


def place_bucket(out: torch.Tensor | None, part: torch.Tensor, rows: torch.Tensor, batch: int, width: int,
                 per_token: bool) -> torch.Tensor:
    """Write one sub-batch's output into the batch's output, allocated on the first call; returns it.

    `part` is (b, w, ...) when `per_token` (its rows `rows` of a (batch, width, ...) output, zeros past w: padded
    positions, under the attention mask), else (b, ...). Writing in place keeps one batch-sized output alive, as one
    call would (a SPLADE batch's (B, T, 30522) logits are ~1 GB at 64 x 128), and autograd routes each row's
    gradient back to its sub-batch.
    """
    if out is None:
        shape = (batch, width, *part.shape[2:]) if per_token else (batch, *part.shape[1:])
        out = part.new_zeros(shape)
    if per_token:
        out[rows, : part.shape[1]] = part
    else:
        out[rows] = part
    return out


__all__ = ["MIN_ROWS_CPU", "MIN_ROWS_CUDA", "MIN_SAVING", "place_bucket", "plan_buckets"]
