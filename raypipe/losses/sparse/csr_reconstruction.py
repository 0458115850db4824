"""CSRReconstructionLoss: the sparse-autoencoder reconstruction terms of Contrastive Sparse Representation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.sparse._guard import SparseLossUsageError

# Keys a SparseAutoEncoder module adds to the features dict in training mode (same names as sentence-transformers).
CSR_OUTPUT_KEYS = (
    "sentence_embedding_backbone",
    "decoded_embedding_k",
    "decoded_embedding_4k",
    "decoded_embedding_aux",
    "decoded_embedding_k_pre_bias",
)


def normalized_mse(reconstruction: Tensor, target: Tensor) -> Tensor:
    """MSE(reconstruction, target) / MSE(batch mean of target, target), both (B, d) -> scalar.

    The denominator is the batch variance of the target; when it is zero (or all rows are identical) it is
    replaced by 1 so the term degrades to a plain MSE instead of dividing by zero.
    """
    variance = F.mse_loss(target.mean(dim=0, keepdim=True).expand_as(target), target)
    constant = (variance == 0) | (target == target[:1]).all()
    variance = torch.where(constant, torch.ones_like(variance), variance)
    return F.mse_loss(reconstruction, target) / variance


class CSRReconstructionLoss(RaypipeLoss):
    """Reconstruction loss of CSR (Wen et al., 2025), averaged over the input columns.

    For each column, with x the backbone (dense) embedding (B, d) and dec(·) the tied decoder::

        L_k   = MSE(x, dec(topk_k(z)))
        L_4k  = MSE(x, dec(topk_4k(z)))
        L_aux = NMSE(dec(aux_topk(z)), x − stopgrad(dec(topk_k(z)) − decoder_bias))

    Returned as ``{"reconstruction_loss_k": L_k, "reconstruction_loss_4k": L_4k / 8,
    "reconstruction_loss_aux": beta · L_aux}`` (each averaged over columns). L_aux is 0 when the module has no
    auxiliary top-k (``k_aux=0``).

    Needs a model whose last module is a SparseAutoEncoder in training mode: its outputs must carry
    ``sentence_embedding_backbone, decoded_embedding_k, decoded_embedding_4k, decoded_embedding_aux,
    decoded_embedding_k_pre_bias``. Only usable inside :class:`CSRLoss` (standalone ``forward`` raises).

    | Inputs | Labels |
    |---|---|
    | the model output dicts CSRLoss passes, one per column | none |

    Cost: O(columns · B · d).

    Args:
        model: the SparseEncoder (stored; unused by the math).
        beta: weight of L_aux (CSRLoss passes its own beta, default 0.1).
    """

    citation = """
@misc{wen2025matryoshkarevisitingsparsecoding,
      title={Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation},
      author={Tiansheng Wen and Yifei Wang and Zequn Zeng and Zhong Peng and Yudi Su and Xinyang Liu and Bo Chen and Hongwei Liu and Stefanie Jegelka and Chenyu You},
      year={2025},
      eprint={2503.01776},
      archivePrefix={arXiv},
      primaryClass={cs.LG},
      url={https://arxiv.org/abs/2503.01776},
}
"""

    def __init__(self, model=None, beta: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.beta = beta

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None):
        raise SparseLossUsageError(
            "CSRReconstructionLoss is not intended to be used standalone. Use it within CSRLoss instead: "
            "CSRLoss(model, beta=0.1, gamma=1.0)."
        )

    @staticmethod
    def _check_outputs(outputs: Sequence[dict]) -> None:
        for i, out in enumerate(outputs):
            missing = [k for k in CSR_OUTPUT_KEYS if k not in out]
            if missing:
                raise ValueError(
                    f"CSRReconstructionLoss: model output for column {i} lacks {missing}. These come from a "
                    f"SparseAutoEncoder module run in training mode (not under torch.inference_mode()). Fix: use a "
                    f"CSR model (Transformer + Pooling + SparseAutoEncoder) and call the loss with grad enabled."
                )

    def compute_loss_from_embeddings(
        self, outputs: Sequence[dict[str, Tensor]], labels=None
    ) -> dict[str, Tensor]:
        """outputs: one model-output dict per input column. Returns the three weighted terms."""
        outputs = list(outputs)
        if not outputs:
            raise ValueError("CSRReconstructionLoss expects at least one column of model outputs, got none.")
        self._check_outputs(outputs)
        total_k = total_4k = total_aux = 0.0
        for out in outputs:
            x = out["sentence_embedding_backbone"]  # (B, d) dense embedding the autoencoder reconstructs
            loss_k = F.mse_loss(x, out["decoded_embedding_k"])
            loss_4k = F.mse_loss(x, out["decoded_embedding_4k"])
            aux = out["decoded_embedding_aux"]
            if aux is None:
                loss_aux = torch.zeros_like(loss_k)
            else:
                # The aux latents learn the residual the top-k reconstruction misses (no grad into that one).
                loss_aux = normalized_mse(aux, x - out["decoded_embedding_k_pre_bias"].detach())
            total_k, total_4k, total_aux = total_k + loss_k, total_4k + loss_4k, total_aux + loss_aux
        n = len(outputs)
        return {
            "reconstruction_loss_k": total_k / n,
            "reconstruction_loss_4k": total_4k / n / 8.0,
            "reconstruction_loss_aux": self.beta * (total_aux / n),
        }

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name="CSRReconstructionLoss",
            min_inputs=1,
            model_kinds=("sparse",),
            notes="component of CSRLoss; needs a SparseAutoEncoder module",
        )

    def get_config_dict(self) -> dict:
        return {"beta": self.beta}


__all__ = ["CSRReconstructionLoss", "normalized_mse", "CSR_OUTPUT_KEYS"]
