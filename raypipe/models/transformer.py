"""The Transformer module: a Hugging Face model + tokenizer, saved in the model root in sentence-transformers'
format (`sentence_bert_config.json` + the usual HF files).

`transformer_task` picks the head: "feature-extraction" (AutoModel -> token_embeddings), "fill-mask"
(AutoModelForMaskedLM -> token_embeddings = MLM logits, used by SPLADE) or "sequence-classification"
(AutoModelForSequenceClassification -> scores = logits, used by CrossEncoder).
"""

from __future__ import annotations

import json
import os

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from raypipe.models.buckets import MIN_ROWS_CPU, MIN_ROWS_CUDA, place_bucket, plan_buckets
from raypipe.models.text_tokenizer import TextTokenizer, default_max_seq_length

CONFIG_NAME = "sentence_bert_config.json"
TASKS = {
    # task: (auto class, HF output attribute, feature key written by forward)
    "feature-extraction": (AutoModel, "last_hidden_state", "token_embeddings"),
    "fill-mask": (AutoModelForMaskedLM, "logits", "token_embeddings"),
    "sequence-classification": (AutoModelForSequenceClassification, "logits", "scores"),
}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(
            f"transformer_task={task!r} is not supported; allowed: {', '.join(TASKS)}. "
            f"Fix: use one of those (raypipe loads text encoders, MLM heads and sequence classifiers)."
        )


class Transformer(nn.Module):
    """Wraps a Hugging Face transformer and its tokenizer.

    Args:
        model_name_or_path: a local checkpoint directory.
        max_seq_length: truncation length; default min(tokenizer.model_max_length, max_position_embeddings).
        model_args / tokenizer_args / config_args: extra kwargs for from_pretrained.
        do_lower_case: lower-case texts before tokenizing.
        transformer_task: see module docstring.
        trust_remote_code: forwarded to HF; False by default, so no code from the checkpoint ever runs.

    A batch whose rows differ much in length runs as a few length-sorted sub-batches (models/buckets.py: same
    outputs, ~1.4x fewer tokens on random training batches). `min_bucket_rows` is the fewest rows per sub-batch:
    None (default) = 16 on a CPU, 64 on a GPU; 0 turns splitting off. It is not saved with the model.
    """

    save_in_root = True

    def __init__(
        self,
        model_name_or_path: str,
        max_seq_length: int | None = None,
        model_args: dict | None = None,
        tokenizer_args: dict | None = None,
        config_args: dict | None = None,
        do_lower_case: bool = False,
        transformer_task: str = "feature-extraction",
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        _check_task(transformer_task)
        self.transformer_task = transformer_task
        self.do_lower_case = do_lower_case
        hf = {"trust_remote_code": trust_remote_code}
        config = AutoConfig.from_pretrained(model_name_or_path, **hf, **(config_args or {}))
        auto_cls = TASKS[transformer_task][0]
        self.auto_model = auto_cls.from_pretrained(model_name_or_path, config=config, **hf, **(model_args or {}))
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, **hf, **(tokenizer_args or {}))
        if max_seq_length is None:
            max_seq_length = default_max_seq_length(config, self.tokenizer)
        self.max_seq_length = int(max_seq_length)
        self.min_bucket_rows: int | None = None

    def __repr__(self) -> str:
        arch = type(self.auto_model).__name__
        return (f"Transformer({{'max_seq_length': {self.max_seq_length}, 'do_lower_case': {self.do_lower_case}, "
                f"'architecture': '{arch}', 'transformer_task': '{self.transformer_task}'}})")

    # ---- compute -------------------------------------------------------------------------------------------
    def tokenize(self, texts: list[str] | list[tuple[str, str]]) -> dict[str, torch.Tensor]:
        """Texts (or (a, b) pairs) -> padded `input_ids`/`attention_mask`(/`token_type_ids`), each (B, T)."""
        if texts and isinstance(texts[0], (tuple, list)):
            first = [self._case(p[0]) for p in texts]
            second = [self._case(p[1]) for p in texts]
            args = (first, second)
        else:
            args = ([self._case(t) for t in texts],)
        return dict(
            self.tokenizer(
                *args,
                padding=True,
                truncation="longest_first",
                return_tensors="pt",
                max_length=self.max_seq_length,
            )
        )

    def tokenize_unpadded(self, texts: list[str] | list[tuple[str, str]]) -> dict[str, list[list[int]]]:
        """Like tokenize() but without padding or tensors: one id list per text, so callers can sort by the
        real token count and pad each batch only to its own longest member (see pad())."""
        return TextTokenizer(self.tokenizer, self.max_seq_length, self.do_lower_case)(texts)

    def pad(self, encoded: dict[str, list[list[int]]], indices) -> dict[str, torch.Tensor]:
        """Stack rows `indices` of a tokenize_unpadded() result into (B, T_max) tensors, honouring the
        tokenizer's padding side and pad id."""
        lengths = [len(encoded["input_ids"][i]) for i in indices]
        width, left = max(lengths, default=0), self.tokenizer.padding_side == "left"
        pad_ids = {"input_ids": self.tokenizer.pad_token_id or 0}
        out = {}
        for key, rows in encoded.items():
            tensor = torch.full((len(lengths), width), pad_ids.get(key, 0), dtype=torch.long)
            for row, (i, n) in enumerate(zip(indices, lengths)):
                values = torch.as_tensor(rows[i], dtype=torch.long)
                if left:
                    tensor[row, width - n :] = values
                else:
                    tensor[row, :n] = values
            out[key] = tensor
        return out

    def _case(self, text: str) -> str:
        return text.lower() if self.do_lower_case else text

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        want_layers = bool(getattr(self.auto_model.config, "output_hidden_states", False))
        plan = self._bucket_plan(inputs)
        if plan is None:
            main, layers = self._run(inputs, want_layers)
        else:
            main, layers = self._run_buckets(inputs, plan, want_layers)
        _, _, key = TASKS[self.transformer_task]
        features[key] = main  # (B, T, H) | (B, T, V) | (B, num_labels)
        if layers is not None:
            # (num_layers + 1) x (B, T, H): embeddings output first, used by AdaptiveLayerLoss
            features["all_layer_embeddings"] = layers
        return features

    def _run(self, inputs: dict[str, torch.Tensor], want_layers: bool):
        """One HF call -> (main output, hidden states of every layer or None)."""
        out = self.auto_model(**inputs, return_dict=True, output_hidden_states=want_layers or None)
        layers = getattr(out, "hidden_states", None) if want_layers else None
        return getattr(out, TASKS[self.transformer_task][1]), layers

    def _run_buckets(self, inputs: dict[str, torch.Tensor], plan, want_layers: bool):
        """Length buckets (models/buckets.py): one HF call per sub-batch, outputs written back at their rows."""
        batch, width = inputs["input_ids"].shape
        per_token = self.transformer_task != "sequence-classification"
        main, layers = None, None
        for rows, w in plan:
            part, part_layers = self._run({k: v[rows, :w] for k, v in inputs.items()}, want_layers)
            main = place_bucket(main, part, rows, batch, width, per_token)
            if part_layers is not None:
                layers = [place_bucket(None if layers is None else layers[i], h, rows, batch, width, True)
                          for i, h in enumerate(part_layers)]
        return main, (tuple(layers) if layers is not None else None)

    def _bucket_plan(self, inputs: dict[str, torch.Tensor]):
        mask = inputs.get("attention_mask")
        if mask is None or mask.dim() != 2:
            return None
        min_rows = getattr(self, "min_bucket_rows", None)
        if min_rows is None:
            min_rows = MIN_ROWS_CUDA if mask.device.type == "cuda" else MIN_ROWS_CPU
        return plan_buckets(mask, min_rows)

    def get_word_embedding_dimension(self) -> int:
        if self.transformer_task == "fill-mask":
            return int(self.auto_model.config.vocab_size)
        return int(self.auto_model.config.hidden_size)

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, output_path: str) -> None:
        os.makedirs(output_path, exist_ok=True)
        self.auto_model.save_pretrained(output_path, safe_serialization=True)
        # sentence-transformers (v5.4+) keeps max_seq_length as the tokenizer's model_max_length
        self.tokenizer.model_max_length = self.max_seq_length
        self.tokenizer.save_pretrained(output_path)
        _, attr, key = TASKS[self.transformer_task]
        config = {
            "transformer_task": self.transformer_task,
            "modality_config": {"text": {"method": "forward", "method_output_name": attr}},
            "module_output_name": key,
        }
        if self.do_lower_case:
            config["do_lower_case"] = True
        with open(os.path.join(output_path, CONFIG_NAME), "w") as f:
            json.dump(config, f, indent=4)

    @classmethod
    def load(cls, path: str, transformer_task: str | None = None, **kwargs) -> Transformer:
        """Load from a folder with (or without) sentence_bert_config.json; legacy keys are read too."""
        config = {}
        config_path = os.path.join(path, CONFIG_NAME)
        if os.path.exists(config_path):
            with open(config_path) as f:
                config = json.load(f)
        task = transformer_task or config.get("transformer_task") or "feature-extraction"
        max_len = kwargs.pop("max_seq_length", None) or config.get("max_seq_length")
        lower = kwargs.pop("do_lower_case", None)
        lower = bool(config.get("do_lower_case", False)) if lower is None else lower
        return cls(path, max_seq_length=max_len, do_lower_case=lower, transformer_task=task, **kwargs)


__all__ = ["Transformer", "TASKS"]
