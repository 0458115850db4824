"""What an embedding model does to texts before its forward pass -- prompt, lower-casing, truncation, unpadded
token ids -- as one small picklable object, so a pipeline can tokenize in a separate CPU stage and hand token ids
to the (GPU) actors that run the model (`model.encode_tokenized(...)`).

    tok = model.text_tokenizer()                 # from a loaded model
    tok = load_text_tokenizer("path/to/model")   # from a model folder: tokenizer and configs only, no weights
    encoded, prompt_length = tok.encode_role(texts, "query")
    model.encode_tokenized(encoded, prompt_length=prompt_length)   # == model.encode_query(texts)

Importing this module loads neither torch nor transformers (the folder loader imports the tokenizer lazily).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TextTokenizer", "load_text_tokenizer", "budget_slices", "char_slices", "default_max_seq_length",
           "resolve_prompt", "role_prompt_name", "QUERY_PROMPT_NAMES", "DOCUMENT_PROMPT_NAMES"]

QUERY_PROMPT_NAMES = ("query",)
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


def resolve_prompt(prompts: dict, default_prompt_name: str | None, prompt_name: str | None,
                   prompt: str | None) -> str | None:
    """The prompt text to prepend: `prompt` itself, else the prompt named `prompt_name` (or the default name);
    an unknown name is an error naming the known ones."""
    if prompt is not None:
        return prompt
    name = prompt_name if prompt_name is not None else default_prompt_name
    if name is None:
        return None
    if name not in prompts:
        raise ValueError(
            f"prompt_name={name!r} is not in the model's prompts {sorted(prompts)}. "
            f"Fix: pass one of those, pass prompt='...' directly, or set model.prompts[{name!r}]."
        )
    return prompts[name] or None


def role_prompt_name(prompts: dict, role: str | None) -> str | None:
    """The prompt name encode_query / encode_document use by default: the first of the role's names that the
    model has a non-empty prompt for."""
    names = QUERY_PROMPT_NAMES if role == "query" else DOCUMENT_PROMPT_NAMES if role == "document" else ()
    return next((n for n in names if prompts.get(n)), None)


SLICE_CHARS = 1 << 20  # characters per tokenizer call (see TextTokenizer.__call__)


def budget_slices(sizes, budget: int | None = None, max_items: int | None = None):
    """(start, stop) ranges cutting a sequence of item sizes into consecutive slices of at most `budget` in total
    (None: no budget) and at most `max_items` items (an item over the budget is a slice of its own). Lazy, one
    pass, O(len(sizes)); no slice for an empty sequence. Shared by the tokenizer's calls and the Ray actor calls."""
    start, used, i = 0, 0, -1
    for i, n in enumerate(sizes):
        if i > start and ((budget is not None and used + n > budget) or (max_items and i - start >= max_items)):
            yield start, i
            start, used = i, 0
        used += n
    if i >= start:
        yield start, i + 1


def char_slices(texts: list, budget: int):
    """(start, stop) ranges cutting `texts` (strings or (a, b) pairs) into consecutive slices of at most `budget`
    characters each (a longer single text is a slice of its own)."""
    return budget_slices((len(t[0]) + len(t[1]) if isinstance(t, (tuple, list)) else len(t) for t in texts), budget)


@dataclass
class TextTokenizer:
    """The tokenization half of `encode`: `encode_role(texts, role, prompt, prompt_name)` returns the unpadded
    ids (`input_ids`, `attention_mask`[, `token_type_ids`]) exactly as the model's own encode would build them,
    and the prompt's token count (Pooling with include_prompt=False skips it). Cost O(total characters)."""

    tokenizer: Any
    max_seq_length: int
    do_lower_case: bool = False
    prompts: dict = field(default_factory=dict)
    default_prompt_name: str | None = None

    def __call__(self, texts: list) -> dict[str, list[list[int]]]:
        """Texts (or (a, b) pairs) -> one id list per text, truncated, not padded.

        The tokenizer is called on slices of at most SLICE_CHARS characters: a fast tokenizer keeps every text's
        truncated-off tokens (its `overflowing` encodings) until the call returns, so memory follows the input's
        characters, not the ids returned. One call over the 4,096 longest Debian descriptions (4.7 M characters)
        peaked 224 MB above the process's baseline; in slices, 73 MB. Same ids either way."""
        pairs = bool(texts) and isinstance(texts[0], (tuple, list))
        out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": []}  # what [] gives
        for lo, hi in char_slices(texts, SLICE_CHARS):
            part = texts[lo:hi]
            if pairs:
                args = ([self._case(p[0]) for p in part], [self._case(p[1]) for p in part])
            else:
                args = ([self._case(t) for t in part],)
            enc = self.tokenizer(*args, truncation="longest_first", max_length=self.max_seq_length)
            for k in ("input_ids", "attention_mask", "token_type_ids"):
                if k in enc:
                    out.setdefault(k, []).extend(enc[k])
        return out

    def _case(self, text: str) -> str:
        return text.lower() if self.do_lower_case else text

    def prompt_length(self, prompt: str) -> int:
        """Tokens of `prompt` without the trailing special token (sentence-transformers' count)."""
        return len(self([prompt])["input_ids"][0]) - 1

    def prompt_text(self, role: str | None, prompt: str | None = None, prompt_name: str | None = None):
        if prompt is None and prompt_name is None:
            prompt_name = role_prompt_name(self.prompts, role)
        return resolve_prompt(self.prompts, self.default_prompt_name, prompt_name, prompt)

    def encode_role(self, texts: list[str], role: str | None, prompt: str | None = None,
                    prompt_name: str | None = None) -> tuple[dict[str, list[list[int]]], int | None]:
        """(unpadded ids, prompt token count or None) for texts encoded as `role` ('query' / 'document')."""
        text = self.prompt_text(role, prompt, prompt_name)
        if not text:
            return self(texts), None
        return self([text + t for t in texts]), self.prompt_length(text)


def default_max_seq_length(config, tokenizer) -> int:
    """min(max_position_embeddings, tokenizer.model_max_length), ignoring unset (huge) values; 512 if neither."""
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    limits = [x for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(limits) if limits else 512


def _read(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def load_text_tokenizer(path: str) -> TextTokenizer:
    """The TextTokenizer of a model folder (sentence-transformers or plain Hugging Face) without loading its
    weights: the Transformer module's tokenizer and `sentence_bert_config.json`, the prompts of
    `config_sentence_transformers.json`. Same defaults as `raypipe.models.Transformer`."""
    from transformers import AutoConfig, AutoTokenizer

    sub = path
    modules = _read(os.path.join(path, "modules.json"))
    for entry in sorted(modules or [], key=lambda e: e.get("idx", 0)):
        if str(entry.get("type", "")).endswith("Transformer"):
            sub = os.path.join(path, entry.get("path", ""))
            break
    cfg = _read(os.path.join(sub, "sentence_bert_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(sub)
    max_len = cfg.get("max_seq_length")
    if max_len is None:
        max_len = default_max_seq_length(AutoConfig.from_pretrained(sub), tokenizer)
    st = _read(os.path.join(path, "config_sentence_transformers.json"))
    prompts = {"query": "", "document": "", **st.get("prompts", {})}
    return TextTokenizer(tokenizer, int(max_len), bool(cfg.get("do_lower_case", False)), prompts,
                         st.get("default_prompt_name"))
