"""SentenceTransformer: a dense bi-encoder (Transformer -> Pooling -> [Dense] -> [Normalize])."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raypipe.models.base import EncoderBase, check_texts
from raypipe.models.embedder import EmbedderMixin
from raypipe.models.io import modules_from_path
from raypipe.models.pooling import Pooling
from raypipe.models.precision import compute_context
from raypipe.models.transformer import Transformer


def _default_modules(path: str, hf: dict) -> list[nn.Module]:
    """A plain Hugging Face checkpoint becomes Transformer + mean Pooling."""
    t = Transformer(path, **hf)
    return [t, Pooling(t.get_word_embedding_dimension(), "mean")]


class SentenceTransformer(EmbedderMixin, EncoderBase):
    """Dense bi-encoder, API- and format-compatible with sentence_transformers.SentenceTransformer.

    Args:
        model_name_or_path: a sentence-transformers folder, or a plain Hugging Face checkpoint folder (then
            Transformer + mean Pooling).
        modules: build from modules instead of a path.
        device: "cpu", "cuda", ...; default cuda if available.
        prompts / default_prompt_name: named prompt prefixes, e.g. {"query": "query: "}.
        similarity_fn_name: "cosine" (default), "dot", "euclidean" or "manhattan".
        truncate_dim: keep the first dims of every embedding (Matryoshka models).
        trust_remote_code: forwarded to Hugging Face; False by default.
    """

    model_type = "SentenceTransformer"
    kind = "dense"  # raypipe's model kind (configs, registry, loss requirements); model_type: the ST format name

    def __init__(
        self,
        model_name_or_path: str | None = None,
        modules: list[nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        truncate_dim: int | None = None,
        trust_remote_code: bool = False,
        cache_folder: str | None = None,
        model_kwargs: dict | None = None,
        tokenizer_kwargs: dict | None = None,
        config_kwargs: dict | None = None,
    ):
        modules, config = modules_from_path(
            model_name_or_path, modules, _default_modules, cache_folder, trust_remote_code,
            model_kwargs, tokenizer_kwargs, config_kwargs,
        )
        super().__init__(*modules)
        self._init_embedder(config, prompts, default_prompt_name, similarity_fn_name, default_sim="cosine")
        self.truncate_dim = truncate_dim if truncate_dim is not None else config.get("truncate_dim")
        self.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def get_sentence_embedding_dimension(self) -> int | None:
        dim = None
        for module in self:
            fn = getattr(module, "get_sentence_embedding_dimension", None)
            dim = fn() if fn else dim
        if dim is not None and self.truncate_dim is not None:
            return min(dim, self.truncate_dim)
        return dim

    get_embedding_dimension = get_sentence_embedding_dimension  # sentence-transformers v6 name

    # ---- encoding --------------------------------------------------------------------------------------------
    def encode(
        self,
        sentences: str | list[str],
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "sentence_embedding",
        precision: str = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        compute_dtype: str = "float32",
        max_batch_tokens: int | None = None,
        **kwargs,
    ):
        """Embed texts in length-sorted batches (order restored). Returns (N, D) numpy by default, a tensor with
        convert_to_tensor=True, or a list of tensors with both False; a single string gives a (D,) result.
        `compute_dtype` (float32 | bfloat16 | float16 | auto) is the forward pass's precision (see
        raypipe.models.precision); `precision` is output quantization, of which only float32 is supported.
        `max_batch_tokens` (None: batch_size rows per batch) caps a batch's padded tokens, so long texts go in
        smaller batches and activation memory stays bounded (see raypipe.models.base.length_sorted_batches).
        Cost: O(N·T·H) compute, O(N·D) output memory (the caller holds the result)."""
        if precision != "float32":
            raise ValueError(f"precision={precision!r}: only 'float32' is supported. Fix: quantize afterwards "
                             "(for faster compute in bf16/fp16 pass compute_dtype= instead).")
        texts, single = check_texts(sentences)
        if device is not None:
            self.to(device)
        context = compute_context(compute_dtype, self.device)  # checked before any compute
        prompt_text = self._resolve_prompt(prompt_name, prompt)
        extra = {}
        if prompt_text:
            extra["prompt_length"] = self.prompt_length(prompt_text)
            texts = [prompt_text + t for t in texts]
        batches = self._feature_batches(texts, batch_size, show_progress_bar, max_batch_tokens)
        results = self._run_batches(batches, len(texts), extra, context, output_value,
                                    truncate_dim if truncate_dim is not None else self.truncate_dim,
                                    normalize_embeddings)
        return self._convert(results, single, output_value, convert_to_numpy, convert_to_tensor)

    def encode_tokenized(self, encoded: dict[str, list], batch_size: int = 32, prompt_length: int | None = None,
                         normalize_embeddings: bool = False, compute_dtype: str = "float32",
                         max_batch_tokens: int | None = None):
        """(N, D) float32 numpy embeddings of texts already tokenized by `text_tokenizer()` (unpadded id lists,
        prompt included): what `encode` returns for the same texts, minus tokenization. For pipelines that
        tokenize in a separate (CPU) stage. Cost as `encode`."""
        context = compute_context(compute_dtype, self.device)
        extra = {"prompt_length": prompt_length} if prompt_length else {}
        n = len(encoded["input_ids"])
        results = self._run_batches(self._token_batches(encoded, batch_size, max_batch_tokens), n, extra, context,
                                    "sentence_embedding", self.truncate_dim, normalize_embeddings)
        return self._convert(results, False, "sentence_embedding", True, False)

    def _run_batches(self, batches, n: int, extra: dict, context, output_value, truncate_dim, normalize):
        """Forward every (indices, features) batch; per-text results in input order: an (n, D) float32 tensor for
        sentence embeddings, else a list.

        The embeddings go into one (n, D) buffer allocated at the first batch. Kept as one small tensor per batch,
        they sat between the batches' freed activations and fragmented the C heap, so a process's peak RSS grew
        with the texts per call (MiniLM, bf16, the 8,192 longest Debian descriptions in 4,096-text calls, the
        tokenizer already sliced: peak RSS 1,365 -> 1,308 MB with the buffer)."""
        results: list = [None] * n
        buf = None
        self.eval()
        for idx, features in batches:
            features.update(extra)
            with torch.inference_mode(), context:
                out = self.forward(features)
            if output_value in ("token_embeddings", None):
                rows = self._batch_output(out, output_value, truncate_dim, normalize)
                for row, i in enumerate(idx):
                    results[i] = rows[row]
                continue
            emb = self._batch_matrix(out, output_value, truncate_dim, normalize)  # (B, D) float32
            if buf is None:
                buf = torch.empty((n, emb.shape[-1]), dtype=torch.float32)
            buf[torch.as_tensor(idx, dtype=torch.long)] = emb
        return results if buf is None else buf

    def _batch_output(self, out: dict, output_value, truncate_dim, normalize: bool) -> list:
        """One batch's per-text results for token embeddings (output_value 'token_embeddings') or every output
        (None)."""
        if output_value == "token_embeddings":
            lengths = out["attention_mask"].sum(dim=1).tolist()
            return [tokens[:n].float().cpu() for tokens, n in zip(out["token_embeddings"], lengths)]
        batch = {k: v.cpu() for k, v in out.items() if isinstance(v, torch.Tensor) and v.dim() > 0}
        return [{k: v[row] for k, v in batch.items()} for row in range(out["attention_mask"].shape[0])]

    @staticmethod
    def _batch_matrix(out: dict, output_value, truncate_dim, normalize: bool) -> torch.Tensor:
        """One batch's (B, D) float32 embeddings: truncation and normalization run once on the batch."""
        emb = out[output_value].float()  # float32 before normalizing, whatever compute_dtype was
        if truncate_dim is not None:
            emb = emb[..., :truncate_dim]
        if normalize:
            emb = F.normalize(emb, p=2, dim=-1)
        return emb.detach().float().cpu()

    def _convert(self, results, single: bool, output_value, to_numpy: bool, to_tensor: bool):
        if output_value in ("token_embeddings", None):
            return results[0] if single else results
        if isinstance(results, list) and not results:  # no texts
            dim = self.get_sentence_embedding_dimension() or 0
            empty = torch.zeros((0, dim))
            return empty if to_tensor else (empty.numpy() if to_numpy else [])
        if not (to_tensor or to_numpy):
            rows = list(results.unbind(0))  # (D,) views of the buffer, as a list
            return rows[0] if single else rows
        stacked = results if to_tensor else results.numpy()  # (N, D)
        return stacked[0] if single else stacked

    def _st_config_extra(self) -> dict:
        extra = self._embedder_config()
        if self.truncate_dim is not None:
            extra["truncate_dim"] = self.truncate_dim
        return extra


__all__ = ["SentenceTransformer"]
