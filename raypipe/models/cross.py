"""CrossEncoder: a reranker that scores (query, document) pairs with a sequence-classification transformer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from raypipe.models.base import EncoderBase, check_texts
from raypipe.models.io import ST_FORMAT_VERSION, modules_from_path
from raypipe.models.layers import activation_from_name, activation_to_name
from raypipe.models.precision import compute_context
from raypipe.models.transformer import Transformer


def check_pairs(pairs, param: str = "sentences") -> tuple[list[tuple[str, str]], bool]:
    """Normalize input to a list of (str, str) pairs; a single pair gives single=True."""
    if isinstance(pairs, (tuple, list)) and len(pairs) == 2 and all(isinstance(x, str) for x in pairs):
        pairs, single = [tuple(pairs)], True
    else:
        pairs, single = list(pairs), False
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(
                f"{param}[{i}] is {type(pair).__name__} ({pair!r:.60}), expected a (query, document) pair. "
                f"Fix: pass a list of 2-tuples of strings."
            )
        for j, text in enumerate(pair):
            if not isinstance(text, str):
                raise ValueError(
                    f"{param}[{i}][{j}] is {type(text).__name__} ({text!r:.60}), expected str. "
                    f"Fix: drop or fill missing texts before scoring."
                )
    return [tuple(p) for p in pairs], single


def _default_modules(path: str, hf: dict) -> list[nn.Module]:
    """A plain Hugging Face checkpoint becomes one sequence-classification Transformer."""
    return [Transformer(path, transformer_task="sequence-classification", **hf)]


class CrossEncoder(EncoderBase):
    """Reranker compatible with sentence_transformers.CrossEncoder (format v5.4+, and plain HF folders).

    Args:
        model_name_or_path: a saved CrossEncoder or any sequence-classification checkpoint folder.
        num_labels: head size when building a new head from a plain checkpoint.
        max_length: truncation length of the (query, document) pair.
        activation_fn: applied by predict(); default Sigmoid when num_labels == 1, else Identity.
    """

    model_type = "CrossEncoder"
    kind = "cross"  # raypipe's model kind (configs, registry, loss requirements)

    def __init__(
        self,
        model_name_or_path: str | None = None,
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: nn.Module | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        cache_folder: str | None = None,
        model_kwargs: dict | None = None,
        tokenizer_kwargs: dict | None = None,
        config_kwargs: dict | None = None,
        modules: list[nn.Module] | None = None,
    ):
        cfg_args = dict(config_kwargs or {})
        if num_labels is not None:
            cfg_args["num_labels"] = num_labels
        modules, config = modules_from_path(
            model_name_or_path, modules, _default_modules, cache_folder, trust_remote_code,
            model_kwargs, tokenizer_kwargs, cfg_args,
        )
        super().__init__(*modules)
        if self[0].transformer_task != "sequence-classification":
            raise ValueError(
                f"{model_name_or_path!r} is a {self[0].transformer_task} model, not a sequence classifier. "
                f"Fix: load it as SentenceTransformer/SparseEncoder, or use a sequence-classification checkpoint."
            )
        if max_length is not None:
            self[0].max_seq_length = int(max_length)
        self.activation_fn = activation_fn if activation_fn is not None else self._default_activation(config)
        self.prompts = dict(config.get("prompts", {}))
        self.default_prompt_name = config.get("default_prompt_name")
        self.model_card_data: dict = {}
        self.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def _default_activation(self, config: dict) -> nn.Module:
        name = config.get("activation_fn")
        legacy = getattr(self.config, "sentence_transformers", None)
        if name is None and isinstance(legacy, dict):
            name = legacy.get("activation_fn")
        if name is not None:
            return activation_from_name(name, param="activation_fn")
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    @property
    def activation_fn(self) -> nn.Module:
        return self.__dict__["_activation_fn"]

    def __setattr__(self, name, value) -> None:
        if name == "activation_fn":
            # kept out of nn.Module's registry: it is not a pipeline stage and has no weights to save
            self.__dict__["_activation_fn"] = value
        else:
            super().__setattr__(name, value)

    @property
    def config(self):
        return self[0].auto_model.config

    @property
    def num_labels(self) -> int:
        return int(self.config.num_labels)

    @property
    def max_length(self) -> int:
        return self[0].max_seq_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self[0].max_seq_length = int(value)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Adds `scores`: raw logits of shape (B, num_labels) — no activation."""
        return self[0](features)

    @torch.no_grad()
    def predict(
        self,
        sentences,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: nn.Module | None = None,
        apply_softmax: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        compute_dtype: str = "float32",
        max_batch_tokens: int | None = None,
    ):
        """Score (query, document) pairs. Returns (N,) for num_labels == 1, else (N, num_labels); a single pair
        gives a scalar / (num_labels,). Pairs are batched longest-first and returned in input order.
        `compute_dtype` (float32 | bfloat16 | float16 | auto): the forward pass's precision (see
        raypipe.models.precision); scores come back in float32. `max_batch_tokens` caps a batch's padded tokens
        (as in SentenceTransformer.encode). Cost: O(N·T·H) compute, O(N) output."""
        pairs, single = check_pairs(sentences)
        context = compute_context(compute_dtype, self.device)  # checked before any compute
        act = activation_fn if activation_fn is not None else self.activation_fn
        scores = torch.zeros((len(pairs), self.num_labels))
        self.eval()
        for idx, features in self._feature_batches(pairs, batch_size, show_progress_bar, max_batch_tokens):
            with torch.inference_mode():
                with context:
                    logits = self.forward(features)["scores"]
                logits = act(logits.float())  # the activation in float32, whatever compute_dtype was
                if apply_softmax and logits.dim() == 2 and logits.size(1) > 1:
                    logits = torch.softmax(logits, dim=1)
            scores[torch.as_tensor(idx)] = logits.float().cpu()
        if self.num_labels == 1:
            scores = scores[:, 0]
        if single:
            scores = scores[0]
        if convert_to_tensor:
            return scores
        return scores.numpy() if convert_to_numpy else list(scores)

    def rank(
        self,
        query: str,
        documents: list[str],
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: nn.Module | None = None,
        apply_softmax: bool = False,
        convert_to_tensor: bool = False,
        compute_dtype: str = "float32",
    ) -> list[dict]:
        """Score `query` against each document; returns [{"corpus_id", "score"(, "text")}] best first."""
        if self.num_labels != 1:
            raise ValueError(f"rank() needs a model with num_labels == 1, this one has {self.num_labels}.")
        check_texts([query], "query")
        docs, _ = check_texts(documents, "documents")
        scores = self.predict([(query, d) for d in docs], batch_size, show_progress_bar, activation_fn,
                              apply_softmax, convert_to_numpy=True, compute_dtype=compute_dtype)
        order = np.argsort(-np.asarray(scores), kind="stable")[: top_k or len(docs)]
        out = []
        for i in order:
            item = {"corpus_id": int(i), "score": float(scores[i])}
            if return_documents:
                item["text"] = docs[i]
            out.append(item)
        return out

    def _st_config_extra(self) -> dict:
        name = activation_to_name(self.activation_fn)
        # also in the HF config, where sentence-transformers <= 5.3 reads it
        self.config.sentence_transformers = {"activation_fn": name, "version": ST_FORMAT_VERSION}
        return {"activation_fn": name, "prompts": self.prompts, "default_prompt_name": self.default_prompt_name}


__all__ = ["CrossEncoder", "check_pairs"]
