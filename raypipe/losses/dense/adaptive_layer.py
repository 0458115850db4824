"""AdaptiveLayerLoss (2DMSE, Li et al., 2024): also train the embeddings read from earlier transformer layers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raypipe.losses.base import LossRequirements, RaypipeLoss, wrapped_requirements
from raypipe.losses.dense._dense_checks import unwrap_model
from raypipe.losses.dense.matryoshka import uses_gradient_cache

LAYER_WEIGHTINGS = ("uniform", "log", "linear")

CITATION_2DMSE = """
@misc{li20242d,
    title={2D Matryoshka Sentence Embeddings},
    author={Xianming Li and Zongxi Li and Jing Li and Haoran Xie and Qing Li},
    year={2024},
    eprint={2402.14776},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}
"""


class _LayerTap:
    """During one AdaptiveLayerLoss step, owns three patches on the model:

    * a pre-hook + hook on `model[0].auto_model` that force `output_hidden_states=True` and keep each call's
      hidden states ((num_layers + 1) x (B, T, H), embeddings output first) — the "final" pass;
    * `model[0].forward` replaced, in the layer passes, by a function that returns the kept hidden states of layer
      l as `token_embeddings` (so pooling/normalize run on them and the transformer is not run again);
    * `model.forward` wrapped to record every `sentence_embedding` (for the KL term).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.transformer = model[0]
        self.hf = self.transformer.auto_model
        self.hidden: list[tuple[Tensor, ...]] = []
        self.recorded: list[Tensor] = []
        self.layer: int | None = None
        self.calls = 0
        self._handles = []
        self._saved_flag = None
        self._model_forward = model.forward
        self._model_had_forward = "forward" in vars(model)
        self._transformer_forward = self.transformer.forward
        self._transformer_had_forward = "forward" in vars(self.transformer)

    # -- final pass: capture hidden states -------------------------------------------------------------------
    def __enter__(self) -> _LayerTap:
        def force_hidden(_module, args, kwargs):
            kwargs["output_hidden_states"] = True
            return args, kwargs

        def keep_hidden(_module, _args, output):
            states = (
                output.get("hidden_states")
                if isinstance(output, dict)
                else getattr(output, "hidden_states", None)
            )
            if states is None:
                raise ValueError(
                    "AdaptiveLayerLoss needs the hidden states of every layer from model[0].auto_model, but it "
                    "returned none even with output_hidden_states=True. Fix: use a Hugging Face transformer that "
                    "supports output_hidden_states."
                )
            self.hidden.append(tuple(states))

        self._saved_flag = getattr(self.hf.config, "output_hidden_states", False)
        self.hf.config.output_hidden_states = True
        self._handles = [
            self.hf.register_forward_pre_hook(force_hidden, with_kwargs=True),
            self.hf.register_forward_hook(keep_hidden),
        ]

        def record(features):
            output = self._model_forward(features)
            self.recorded.append(output["sentence_embedding"])
            return output

        self.model.forward = record
        return self

    def end_final_pass(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.hf.config.output_hidden_states = self._saved_flag
        self.transformer.forward = self._replay

    @property
    def num_layers(self) -> int:
        return len(self.hidden[0]) if self.hidden else 0

    def use_layer(self, layer: int) -> None:
        self.layer, self.calls = layer, 0

    def _replay(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.calls >= len(self.hidden):
            raise ValueError(
                f"AdaptiveLayerLoss: the inner loss embedded more inputs in a layer pass than in the final pass "
                f"({self.calls + 1} > {len(self.hidden)}). Fix: use an inner loss that embeds the same inputs "
                f"every call."
            )
        states = self.hidden[self.calls][self.layer]
        self.calls += 1
        return {**features, "token_embeddings": states}

    def take_recorded(self) -> Tensor | None:
        """All `sentence_embedding`s recorded since the last call, concatenated over calls (rows, D)."""
        out = torch.cat(self.recorded, dim=0) if self.recorded else None
        self.recorded = []
        return out

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        if self._saved_flag is not None:
            self.hf.config.output_hidden_states = self._saved_flag
        if self._transformer_had_forward:
            self.transformer.forward = self._transformer_forward
        elif "forward" in vars(self.transformer):
            del self.transformer.forward
        if self._model_had_forward:
            self.model.forward = self._model_forward
        else:
            del self.model.forward


class AdaptiveLayerLoss(RaypipeLoss):
    """Adaptive layers: the inner loss L is applied to the final embeddings and to embeddings pooled from
    earlier layers l (hidden state l of `model[0].auto_model`, l = 0 is the embedding layer), plus a KL term that
    pulls each layer's embedding distribution towards the final one:

        loss = last_layer_weight · L(final)
             + Σ_{l ∈ S} prior_layers_weight · w(l) / |S| · L(layer l)
             + Σ_{l ∈ S} kl_div_weight · T · KL(softmax(e_final / T) ‖ softmax(e_l / T))   (if T = kl_temperature > 0)

    S = n_layers_per_step layers drawn at random among the non-final ones (all of them if n_layers_per_step ≤ 0
    or ≥ their count); w(l) = 1 ("uniform"), 1 / (1 + ln(1 + l)) ("log"), 1 / (1 + l) ("linear") or a callable.

    | Inputs                         | Labels                        |
    |--------------------------------|-------------------------------|
    | whatever the inner loss takes  | whatever the inner loss takes |

    The transformer runs once per column per step (layer passes reuse its hidden states; only pooling and later
    modules re-run). Not usable with GradCache inner losses (their backward pass re-runs the model after the
    layer patches are gone). Reference: Li et al., "2D Matryoshka Sentence Embeddings", arXiv:2402.14776.
    """

    citation = CITATION_2DMSE

    def __init__(
        self,
        model,
        loss: nn.Module,
        n_layers_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: str | Callable[[int], float] = "uniform",
    ) -> None:
        super().__init__()
        if not callable(layer_weighting) and layer_weighting not in LAYER_WEIGHTINGS:
            raise ValueError(
                f"{type(self).__name__}: layer_weighting={layer_weighting!r} is not supported; allowed: "
                f"'uniform', 'log', 'linear' or a callable layer_index -> weight."
            )
        if getattr(unwrap_model(model)[0], "auto_model", None) is None:
            raise ValueError(
                f"{type(self).__name__} needs model[0] to be a Transformer module with `.auto_model`, but got "
                f"{type(unwrap_model(model)[0]).__name__}. Fix: use a transformer-based SentenceTransformer."
            )
        if uses_gradient_cache(loss) or uses_gradient_cache(getattr(loss, "loss", None)):
            raise ValueError(
                f"{type(self).__name__} cannot wrap {type(loss).__name__}: a GradCache loss re-runs the model in "
                f"its backward pass, outside the layer patches. Fix: use the non-cached loss (e.g. "
                f"MultipleNegativesRankingLoss) with a smaller batch."
            )
        self.model = model
        self.loss = loss
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = last_layer_weight
        self.prior_layers_weight = prior_layers_weight
        self.kl_div_weight = kl_div_weight
        self.kl_temperature = kl_temperature
        self.layer_weighting = layer_weighting

    def input_requirements(self) -> LossRequirements:
        return wrapped_requirements(self, self.loss)

    def get_layer_weight(self, layer_idx: int) -> float:
        if callable(self.layer_weighting):
            return float(self.layer_weighting(layer_idx))
        if self.layer_weighting == "log":
            return 1.0 / (1.0 + math.log(1 + layer_idx))
        if self.layer_weighting == "linear":
            return 1.0 / (1 + layer_idx)
        return 1.0

    def _kl(self, embeddings: Tensor, final_probs: Tensor) -> Tensor:
        log_probs = F.log_softmax(embeddings / self.kl_temperature, dim=-1)
        return (
            F.kl_div(log_probs, final_probs, reduction="batchmean") * self.kl_temperature * self.kl_div_weight
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        with _LayerTap(unwrap_model(self.model)) as tap:
            loss = self.loss(sentence_features, labels) * self.last_layer_weight
            tap.end_final_pass()
            final, final_probs = tap.take_recorded(), None
            if self.kl_temperature > 0 and final is not None:
                final_probs = F.softmax(final / self.kl_temperature, dim=-1).detach()
            candidates = range(tap.num_layers - 1)  # every layer but the last
            layers = list(candidates)
            if 0 < self.n_layers_per_step < len(layers):
                layers = random.sample(candidates, self.n_layers_per_step)
            for layer in layers:
                tap.use_layer(layer)
                weight = self.get_layer_weight(layer) / len(layers) * self.prior_layers_weight
                loss = loss + self.loss(sentence_features, labels) * weight
                recorded = tap.take_recorded()
                if final_probs is not None and recorded is not None:
                    loss = loss + self._kl(recorded, final_probs)
        return loss

    def get_config_dict(self) -> dict:
        weighting = self.layer_weighting
        if callable(weighting):
            weighting = getattr(weighting, "__name__", "custom")
        return {
            "loss": type(self.loss).__name__,
            "n_layers_per_step": self.n_layers_per_step,
            "last_layer_weight": self.last_layer_weight,
            "prior_layers_weight": self.prior_layers_weight,
            "kl_div_weight": self.kl_div_weight,
            "kl_temperature": self.kl_temperature,
            "layer_weighting": weighting,
        }


__all__ = ["AdaptiveLayerLoss"]
