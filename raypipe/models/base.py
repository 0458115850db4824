"""What the three encoders share: the module sequence, tokenization, input checks, length-sorted batching and
saving in sentence-transformers' format."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from raypipe.models.io import save_modules, write_st_config
from raypipe.models.model_card import write_model_card


def check_texts(sentences, param: str = "sentences") -> tuple[list[str], bool]:
    """Normalize `sentences` to a list of str; returns (texts, was_single_string).

    Raises ValueError naming the first bad index and its type (None, numbers, bytes...)."""
    if isinstance(sentences, str):
        return [sentences], True
    if isinstance(sentences, (np.ndarray,)):
        sentences = sentences.tolist()
    if not isinstance(sentences, Sequence):
        sentences = list(sentences)
    for i, text in enumerate(sentences):
        if not isinstance(text, str):
            raise ValueError(
                f"{param}[{i}] is {type(text).__name__} ({text!r:.60}), expected str. "
                f"Fix: drop or fill missing values and convert every input to text before encoding."
            )
    return list(sentences), False


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          max_batch_tokens: int | None = None) -> Iterator[np.ndarray]:
    """Yield index batches, longest first, so each batch pads to similar lengths; callers restore order.

    `max_batch_tokens` caps a batch's padded size (rows x its longest row): a batch of long texts gets fewer rows
    (at least one), so activation memory is O(max_batch_tokens x hidden) rather than O(batch_size x T x hidden).
    On a CPU that costs no throughput (MiniLM, 1,200 Debian descriptions: batch 16 as fast as 64)."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1. Fix: pass a positive batch size.")
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens={max_batch_tokens} must be >= 1 or None. Fix: pass e.g. 4096, or None "
                         "for batches of batch_size rows whatever their length.")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        size = batch_size
        if max_batch_tokens is not None:  # the batch's first row is its longest
            size = max(1, min(batch_size, max_batch_tokens // max(int(lengths[order[start]]), 1)))
        yield order[start : start + size]
        start += size


class EncoderBase(nn.Sequential):
    """nn.Sequential of raypipe modules; module 0 is the Transformer."""

    model_type = "SentenceTransformer"
    kind = "dense"  # raypipe's model kind (configs, registry, loss requirements); model_type: the ST format name

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    @property
    def tokenizer(self):
        return self[0].tokenizer

    @property
    def transformer(self):
        return self[0]

    def tokenize(self, texts) -> dict[str, torch.Tensor]:
        return self[0].tokenize(texts)

    def _to_device(self, features: dict, device: torch.device) -> dict:
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}

    def _feature_batches(self, texts: list, batch_size: int, show_progress_bar: bool | None,
                         max_batch_tokens: int | None = None):
        """Yield (indices, features on the model's device) covering `texts` (strings or pairs).

        Texts are tokenized once, without padding, in chunks of max(64·batch_size, 4096); within a chunk
        batches are formed longest-first by real token count, so each pads to nearly its own length.
        Memory: the token ids of one chunk, O(chunk·T); never the whole input's."""
        chunk = max(batch_size * 64, 4096)
        total = sum(-(-min(chunk, len(texts) - s) // batch_size) for s in range(0, len(texts), chunk))
        with tqdm(total=total, desc="Batches", disable=not show_progress_bar) as bar:
            for start in range(0, len(texts), chunk):
                encoded = self[0].tokenize_unpadded(texts[start : start + chunk])
                n = len(encoded["input_ids"])
                if max_batch_tokens is not None:  # a token cap cuts long texts into more batches
                    lengths = [len(ids) for ids in encoded["input_ids"]]
                    bar.total += sum(1 for _ in length_sorted_batches(lengths, batch_size, max_batch_tokens))
                    bar.total -= -(-n // batch_size)
                    bar.refresh()
                for idx, features in self._token_batches(encoded, batch_size, max_batch_tokens):
                    yield start + idx, features
                    bar.update(1)

    def _token_batches(self, encoded: dict[str, list], batch_size: int, max_batch_tokens: int | None = None):
        """Yield (indices, padded features on the model's device) from unpadded token ids (as
        `Transformer.tokenize_unpadded` returns them, e.g. from a separate tokenization stage), longest first."""
        lengths = [len(ids) for ids in encoded["input_ids"]]
        for idx in length_sorted_batches(lengths, batch_size, max_batch_tokens):
            yield idx, self._to_device(self[0].pad(encoded, idx), self.device)

    # ---- persistence ---------------------------------------------------------------------------------------
    def _st_config_extra(self) -> dict:
        return {}

    def save(
        self,
        path: str,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the model in sentence-transformers' format (loads in sentence-transformers unchanged).

        Files go to a temporary sibling folder first and are swapped in at the end, so an interrupted save
        never leaves a half-written model at `path`."""
        if not safe_serialization:
            raise ValueError("safe_serialization=False is not supported: raypipe writes safetensors only.")
        path = os.path.abspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        extra = self._st_config_extra()  # may also annotate the HF config, so it goes before the modules
        save_modules(list(self), tmp)
        write_st_config(tmp, self.model_type, extra)
        if create_model_card:
            write_model_card(self, tmp, model_name=model_name, train_datasets=train_datasets)
        _swap_in(tmp, path)

    save_pretrained = save


def _swap_in(tmp: str, path: str) -> None:
    import shutil

    if os.path.isdir(path):
        # keep user files we did not write (e.g. checkpoints/) by moving our files over one by one
        for name in os.listdir(tmp):
            dst = os.path.join(path, name)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            os.replace(os.path.join(tmp, name), dst)
        os.rmdir(tmp)
    else:
        os.replace(tmp, path)


__all__ = ["EncoderBase", "check_texts", "length_sorted_batches"]
