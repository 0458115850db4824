"""Matryoshka2dLoss (2DMSE, Li et al., 2024): Matryoshka dimensions × adaptive layers."""

from __future__ import annotations

from collections.abc import Callable

from torch.nn import Module

from raypipe.losses.dense.adaptive_layer import CITATION_2DMSE, AdaptiveLayerLoss
from raypipe.losses.dense.matryoshka import MatryoshkaLoss


class Matryoshka2dLoss(AdaptiveLayerLoss):
    """2D Matryoshka: AdaptiveLayerLoss(MatryoshkaLoss(loss, matryoshka_dims, ...)). Every step trains the final
    layer and `n_layers_per_step` random earlier layers, each at `n_dims_per_step` random Matryoshka dims (see
    both losses for the formula; defaults sample 1 layer and 1 dim per step, as in the 2DMSE paper).

    | Inputs                         | Labels                        |
    |--------------------------------|-------------------------------|
    | whatever the inner loss takes  | whatever the inner loss takes |

    Reference: Li et al., "2D Matryoshka Sentence Embeddings", arXiv:2402.14776.
    """

    citation = CITATION_2DMSE

    def __init__(
        self,
        model,
        loss: Module,
        matryoshka_dims: list[int],
        matryoshka_weights: list[float | int] | None = None,
        n_layers_per_step: int = 1,
        n_dims_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: str | Callable[[int], float] = "uniform",
    ) -> None:
        matryoshka = MatryoshkaLoss(
            model,
            loss,
            matryoshka_dims,
            matryoshka_weights=matryoshka_weights,
            n_dims_per_step=n_dims_per_step,
        )
        super().__init__(
            model,
            matryoshka,
            n_layers_per_step=n_layers_per_step,
            last_layer_weight=last_layer_weight,
            prior_layers_weight=prior_layers_weight,
            kl_div_weight=kl_div_weight,
            kl_temperature=kl_temperature,
            layer_weighting=layer_weighting,
        )

    def get_config_dict(self) -> dict:
        return {**super().get_config_dict(), **self.loss.get_config_dict()}


__all__ = ["Matryoshka2dLoss"]
