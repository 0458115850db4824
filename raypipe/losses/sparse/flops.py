"""FLOPS regularizer for sparse (SPLADE) embeddings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.dense._distributed import all_reduce_with_grad, is_distributed
from raypipe.losses.sparse._guard import SparseLossUsageError


class FlopsLoss(RaypipeLoss):
    """FLOPS regularizer (Paria et al., 2020): the squared L2 norm of the mean activation per vocabulary term.

    ``FLOPS(W) = sum_j (mean_i w_ij)^2`` for a batch W of shape (B, V). Minimising it pushes each term to be
    rarely active across the batch, which is what makes inverted-index search cheap.

    With ``threshold`` (FLOPS with L0 masking, Shen et al., 2025), only rows with more than ``threshold`` non-zero
    terms are regularized; the other rows are zeroed before the mean (the mean still divides by B).

    With ``gather_across_devices`` (raypipe's extension) under torch.distributed, the mean is over the global batch
    of every process (one all_reduce of V values), so W workers regularize exactly as one process on their
    concatenated batches would; FLOPS is not linear in the batch, so averaging per-worker values would differ.

    Only usable as a regularizer inside :class:`SpladeLoss` (standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | the embeddings SpladeLoss passes (queries or documents), (B, V) | none |

    Cost: O(B·V) time and memory, the size of the embeddings themselves.

    Args:
        model: the SparseEncoder being regularized (stored for symmetry with the other losses; unused).
        threshold: L0 threshold; None regularizes every row.
        gather_across_devices: average over the global batch of all processes (see above).
    """

    citation = """
@article{paria2020minimizing,
    title={Minimizing flops to learn efficient sparse representations},
    author={Paria, Biswajit and Yeh, Chih-Kuan and Yen, Ian EH and Xu, Ning and Ravikumar, Pradeep and P{\\'o}czos, Barnab{\\'a}s},
    journal={arXiv preprint arXiv:2004.05665},
    year={2020}
}
"""

    def __init__(self, model=None, threshold: float | None = None, gather_across_devices: bool = False) -> None:
        super().__init__()
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise ValueError(
                f"FlopsLoss: threshold must be a number (a count of active dimensions) or None, got {threshold!r}. "
                f"Fix: pass e.g. threshold=100, or threshold=None to regularize every row."
            )
        self.model = model
        self.threshold = threshold
        self.gather_across_devices = gather_across_devices

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        raise SparseLossUsageError(
            "FlopsLoss is not intended to be used directly. Use it as a regularizer within SpladeLoss "
            "(document_regularizer=FlopsLoss(model) / query_regularizer=FlopsLoss(model))."
        )

    def compute_loss_from_embeddings(
        self, embeddings: Tensor | Sequence[Tensor], labels: Tensor | None = None
    ) -> Tensor:
        """embeddings: (B, V), or a list of (B_i, V) tensors that are concatenated. Returns a scalar."""
        if not isinstance(embeddings, Tensor):
            embeddings = torch.cat(list(embeddings))
        if embeddings.dim() != 2:
            raise ValueError(
                f"FlopsLoss expects embeddings of shape (batch, vocab), got shape {tuple(embeddings.shape)}."
            )
        if self.threshold is not None:
            active = (embeddings != 0).sum(dim=1)  # (B,) L0 norm per row
            embeddings = embeddings * (active > self.threshold).to(embeddings.dtype).unsqueeze(1)
        if self.gather_across_devices and is_distributed():
            rows = torch.tensor(float(embeddings.shape[0]), device=embeddings.device)
            torch.distributed.all_reduce(rows)
            mean = all_reduce_with_grad(embeddings.sum(dim=0)) / rows  # (V,) mean over the global batch
            return mean.pow(2).sum()
        return embeddings.mean(dim=0).pow(2).sum()

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name="FlopsLoss",
            min_inputs=1,
            model_kinds=("sparse",),
            notes="regularizer only: pass it to SpladeLoss as document_regularizer / query_regularizer",
        )

    def get_config_dict(self) -> dict:
        # sentence-transformers' keys; the raypipe extension only when used
        return {"threshold": self.threshold, **({"gather_across_devices": True} if self.gather_across_devices else {})}


__all__ = ["FlopsLoss"]
