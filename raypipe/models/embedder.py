"""What the two embedding models (dense SentenceTransformer and SparseEncoder) share on top of EncoderBase:
prompts, the query/document entry points, the similarity function and max_seq_length."""

from __future__ import annotations

import torch

from raypipe.models.similarity import get_pairwise_similarity, get_similarity, normalize_similarity_name
from raypipe.models.text_tokenizer import (
    DOCUMENT_PROMPT_NAMES,
    QUERY_PROMPT_NAMES,
    TextTokenizer,
    resolve_prompt,
    role_prompt_name,
)


class EmbedderMixin:
    """Mixed into EncoderBase subclasses that define `encode(sentences, prompt_name=, prompt=, ...)`."""

    def _init_embedder(self, config: dict, prompts, default_prompt_name, similarity_fn_name, default_sim: str):
        self.prompts = {"query": "", "document": "", **config.get("prompts", {}), **(prompts or {})}
        self.default_prompt_name = default_prompt_name or config.get("default_prompt_name")
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ValueError(
                f"default_prompt_name={self.default_prompt_name!r} is not in prompts {sorted(self.prompts)}. "
                f"Fix: add it to prompts or pass one of those names."
            )
        self.similarity_fn_name = similarity_fn_name or config.get("similarity_fn_name") or default_sim
        self.model_card_data: dict = {}

    # ---- prompts -----------------------------------------------------------------------------------------------
    def _resolve_prompt(self, prompt_name: str | None, prompt: str | None) -> str | None:
        return resolve_prompt(self.prompts, self.default_prompt_name, prompt_name, prompt)

    def text_tokenizer(self) -> TextTokenizer:
        """This model's tokenization (prompts, lower-casing, truncation) as a small picklable object, for a
        separate tokenization stage feeding `encode_tokenized`."""
        t = self[0]
        return TextTokenizer(t.tokenizer, t.max_seq_length, t.do_lower_case, dict(self.prompts),
                             self.default_prompt_name)

    def prompt_length(self, prompt: str) -> int:
        """Tokens of `prompt` without the trailing special token, as sentence-transformers counts them; Pooling
        with include_prompt=False skips this many leading tokens."""
        return self.text_tokenizer().prompt_length(prompt)

    def encode_query(self, sentences, prompt_name: str | None = None, prompt: str | None = None, **kwargs):
        """encode() with the model's "query" prompt, when it has one."""
        if prompt is None and prompt_name is None:
            prompt_name = role_prompt_name(self.prompts, "query")
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def encode_document(self, sentences, prompt_name: str | None = None, prompt: str | None = None, **kwargs):
        """encode() with the model's "document" (or "passage"/"corpus") prompt, when it has one."""
        if prompt is None and prompt_name is None:
            prompt_name = role_prompt_name(self.prompts, "document")
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **kwargs)

    # ---- similarity ----------------------------------------------------------------------------------------
    @property
    def similarity_fn_name(self) -> str:
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str) -> None:
        self._similarity_fn_name = normalize_similarity_name(value)

    def similarity(self, a, b) -> torch.Tensor:
        """(n, d) x (m, d) -> (n, m) with the model's similarity function."""
        return get_similarity(self.similarity_fn_name)(a, b)

    def similarity_pairwise(self, a, b) -> torch.Tensor:
        """(n, d) x (n, d) -> (n,) with the model's similarity function."""
        return get_pairwise_similarity(self.similarity_fn_name)(a, b)

    @property
    def max_seq_length(self) -> int:
        return self[0].max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self[0].max_seq_length = int(value)

    def _embedder_config(self) -> dict:
        return {
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }


__all__ = ["EmbedderMixin", "QUERY_PROMPT_NAMES", "DOCUMENT_PROMPT_NAMES"]
