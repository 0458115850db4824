"""CachedMultipleNegativesRankingLoss: CrossEncoder MNRL with GradCache, so memory no longer grows with B²."""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from raypipe.losses.cross._common import SIGMOID, model_device, score_pairs
from raypipe.losses.cross.multiple_negatives_ranking import MultipleNegativesRankingLoss


class _RngSnapshot:
    """The RNG state right before a mini-batch forward, so the replay draws the same dropout masks."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @contextmanager
    def restored(self):
        devices = [self.device] if self.cuda_state is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu_state)
            if self.cuda_state is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield


class CachedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss computed with GradCache (Gao et al., 2021).

    Same loss value and gradients as MultipleNegativesRankingLoss (formula there), computed in three steps:
    (1) score all B·(1 + n + h) pairs in chunks of `mini_batch_size` without autograd graphs; (2) compute the loss
    on those logits and the gradient d loss / d logit; (3) in backward, re-run each chunk with autograd (replaying
    its RNG state) and back-propagate the cached logit gradients into the model.

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (anchor, positive) pairs | none | 1 |
    | (anchor, positive, negative_1, ..., negative_h) | none | 1 |

    Cost: two forward passes and one backward pass per pair (about 1.5x the compute of the uncached loss);
    activation memory is bounded by `mini_batch_size` pairs whatever the batch size. The logits themselves take
    B·(1 + n + h) floats.

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        num_negatives: in-batch negatives sampled per anchor; None = all.
        scale: multiplier of the activated logits.
        activation_fn: applied to the logits before scaling (default sigmoid); None = identity.
        mini_batch_size: pairs per forward pass.
        show_progress_bar: show a bar over the mini-batches.
    """

    citation = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""

    def __init__(
        self,
        model: nn.Module,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation_fn: nn.Module | None = SIGMOID,
        mini_batch_size: int = 32,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(model, num_negatives=num_negatives, scale=scale, activation_fn=activation_fn)
        if not isinstance(mini_batch_size, int) or mini_batch_size < 1:
            raise ValueError(
                f"CachedMultipleNegativesRankingLoss: mini_batch_size must be an int >= 1 (pairs per forward "
                f"pass), got {mini_batch_size!r}."
            )
        self.mini_batch_size = mini_batch_size
        self.show_progress_bar = show_progress_bar

    def _chunks(self, pairs: list) -> list[list]:
        return [pairs[i : i + self.mini_batch_size] for i in range(0, len(pairs), self.mini_batch_size)]

    def _bar(self, chunks: list, desc: str):
        return tqdm(chunks, desc=desc, disable=not self.show_progress_bar)

    def forward(self, inputs: list[list[str]], labels: Tensor | None = None) -> Tensor:
        pair_columns = self.build_pair_columns(inputs)
        batch, num_cols = len(pair_columns[0]), len(pair_columns)
        # Column-major flat list: pairs[c·B + b] is (anchor b, candidate column c).
        chunks = self._chunks([pair for col in pair_columns for pair in col])
        grad_enabled = torch.is_grad_enabled()
        device = model_device(self.model)
        logits, states = [], []
        with torch.no_grad():
            for chunk in self._bar(chunks, "Score mini-batches"):
                states.append(_RngSnapshot(device) if grad_enabled else None)
                logits.append(score_pairs(self.model, chunk).reshape(-1))
        flat = torch.cat(logits)  # (C·B,)
        if not grad_enabled:
            return self.compute_loss_from_scores(flat.reshape(num_cols, batch).T)
        flat = flat.detach().requires_grad_()
        with torch.enable_grad():
            loss = self.compute_loss_from_scores(flat.reshape(num_cols, batch).T)
            (logit_grads,) = torch.autograd.grad(loss, flat)
        loss = loss.detach().requires_grad_()
        loss.register_hook(
            partial(self._replay_backward, chunks, states, logit_grads.split(self.mini_batch_size))
        )
        return loss

    def _replay_backward(self, chunks, states, logit_grads, grad_output: Tensor) -> None:
        """Hook on the returned loss: re-score each chunk with autograd and push cached gradients into the model."""
        with torch.enable_grad():
            for chunk, state, cached in zip(chunks, states, logit_grads):
                with state.restored():
                    scores = score_pairs(self.model, chunk).reshape(-1)  # (m,)
                scores.backward(cached * grad_output)

    def get_config_dict(self) -> dict:
        return {**super().get_config_dict(), "mini_batch_size": self.mini_batch_size}


__all__ = ["CachedMultipleNegativesRankingLoss"]
