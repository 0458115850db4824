"""SparseEncoder: SPLADE (MLM head + SpladePooling) or CSR (Transformer + Pooling + SparseAutoEncoder)."""

from __future__ import annotations

import torch
from torch import nn

from raypipe.models.base import EncoderBase, check_texts
from raypipe.models.embedder import EmbedderMixin
from raypipe.models.io import modules_from_path
from raypipe.models.pooling import Pooling
from raypipe.models.precision import compute_context
from raypipe.models.sparse_autoencoder import SparseAutoEncoder
from raypipe.models.splade_pooling import SpladePooling
from raypipe.models.transformer import Transformer


def _default_modules(path: str, hf: dict) -> list[nn.Module]:
    from transformers import AutoConfig

    archs = AutoConfig.from_pretrained(path, trust_remote_code=hf["trust_remote_code"]).architectures or []
    if any(a.endswith("ForMaskedLM") for a in archs):
        return [Transformer(path, transformer_task="fill-mask", **hf), SpladePooling("max")]
    t = Transformer(path, **hf)
    dim = t.get_word_embedding_dimension()
    return [t, Pooling(dim, "mean"), SparseAutoEncoder(dim, hidden_dim=4 * dim, k=256, k_aux=512)]


def _top_k_rows(x: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest values of each row of (B, D), zero the rest."""
    if k >= x.size(-1):
        return x
    top = torch.topk(x, k=k, dim=-1)
    return torch.zeros_like(x).scatter(-1, top.indices, top.values)


class SparseEncoder(EmbedderMixin, EncoderBase):
    """Sparse encoder compatible with sentence_transformers.SparseEncoder.

    encode*() returns torch sparse COO tensors (N, D) by default; each batch is made sparse before the next one
    runs, so memory grows with the number of active dims, not N·vocab. Similarity defaults to dot product.
    """

    model_type = "SparseEncoder"
    kind = "sparse"  # raypipe's model kind (configs, registry, loss requirements)

    def __init__(
        self,
        model_name_or_path: str | None = None,
        modules: list[nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        max_active_dims: int | None = None,
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
        self._init_embedder(config, prompts, default_prompt_name, similarity_fn_name, default_sim="dot")
        self.max_active_dims = max_active_dims if max_active_dims is not None else config.get("max_active_dims")
        self.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def forward(self, features: dict, max_active_dims: int | None = None) -> dict:
        for module in self:
            if isinstance(module, SparseAutoEncoder):
                features = module(features, max_active_dims=max_active_dims)
            else:
                features = module(features)
        return features

    def get_sentence_embedding_dimension(self) -> int:
        last = self[-1]
        if isinstance(last, SpladePooling):
            return int(self[0].auto_model.config.vocab_size)
        return int(last.get_sentence_embedding_dimension())

    get_embedding_dimension = get_sentence_embedding_dimension  # sentence-transformers v6 name

    def encode(
        self,
        sentences,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | None = None,
        max_active_dims: int | None = None,
        compute_dtype: str = "float32",
        max_batch_tokens: int | None = None,
        **kwargs,
    ):
        """Embed texts; returns a sparse COO tensor (N, D) (dense with convert_to_sparse_tensor=False).
        `compute_dtype` (float32 | bfloat16 | float16 | auto): the forward pass's precision (see
        raypipe.models.precision); `max_batch_tokens` caps a batch's padded tokens (as in
        SentenceTransformer.encode). Cost: O(N·T·V) compute for SPLADE; output memory O(N·active dims)."""
        texts, single = check_texts(sentences)
        if device is not None:
            self.to(device)
        context = compute_context(compute_dtype, self.device)  # checked before any compute
        prompt_text = self._resolve_prompt(prompt_name, prompt)
        if prompt_text:
            texts = [prompt_text + t for t in texts]
        k = max_active_dims if max_active_dims is not None else self.max_active_dims
        out = self._run_batches(self._feature_batches(texts, batch_size, show_progress_bar, max_batch_tokens),
                                len(texts), k, context, convert_to_sparse_tensor, save_to_cpu)
        if single:
            out = out[0]
        if not convert_to_tensor and not convert_to_sparse_tensor:
            return out.cpu().numpy()
        return out

    def encode_tokenized(self, encoded: dict[str, list], batch_size: int = 32, compute_dtype: str = "float32",
                         max_active_dims: int | None = None, max_batch_tokens: int | None = None) -> torch.Tensor:
        """Sparse COO (N, D) embeddings of texts already tokenized by `text_tokenizer()` (unpadded id lists,
        prompt included): what `encode` returns for the same texts, minus tokenization."""
        context = compute_context(compute_dtype, self.device)
        k = max_active_dims if max_active_dims is not None else self.max_active_dims
        batches = self._token_batches(encoded, batch_size, max_batch_tokens)
        return self._run_batches(batches, len(encoded["input_ids"]), k, context, True, False)

    def _run_batches(self, batches, n: int, k: int | None, context, to_sparse: bool, save_to_cpu: bool):
        """(N, D) embeddings of every (indices, features) batch, in input order: sparse COO, or dense rows."""
        dim = self.get_sentence_embedding_dimension()
        # sparse: (row, col) indices and values of every batch, re-ordered into one COO at the end, so memory
        # holds only active dims; dense: rows in input order
        coords, values, dense_rows = [], [], [None] * n
        self.eval()
        for idx, features in batches:
            with torch.inference_mode(), context:
                emb = self.forward(features, max_active_dims=k)["sentence_embedding"]  # (B, D)
            with torch.inference_mode():
                emb = emb.float()  # top-k and the stored values in float32, whatever compute_dtype was
                emb = _top_k_rows(emb, k) if k else emb
            if to_sparse:
                batch = emb.cpu().to_sparse().coalesce()
                ind = batch.indices()  # (2, nnz): row within the batch, dim
                coords.append(torch.stack([torch.as_tensor(idx, dtype=torch.long)[ind[0]], ind[1]]))
                values.append(batch.values())
            else:
                for row, i in enumerate(idx):
                    dense_rows[i] = emb[row].cpu() if save_to_cpu else emb[row]
        if to_sparse:
            ind = torch.cat(coords, dim=1) if coords else torch.zeros((2, 0), dtype=torch.long)
            val = torch.cat(values) if values else torch.zeros(0)
            return torch.sparse_coo_tensor(ind, val, (n, dim)).coalesce()
        return torch.stack(dense_rows) if dense_rows else torch.zeros((0, dim))

    def decode(self, embeddings: torch.Tensor, top_k: int | None = None):
        """(token, weight) pairs by decreasing weight: a list for one embedding (D,), a list of lists for (N, D).
        Non-vocabulary dims (CSR) are named by their index."""
        dense = embeddings.to_dense() if embeddings.is_sparse else embeddings
        single = dense.dim() == 1
        dense = dense.unsqueeze(0) if single else dense
        vocab = self.get_sentence_embedding_dimension() == len(self.tokenizer) and isinstance(self[-1], SpladePooling)
        out = []
        for row in dense:
            nz = torch.nonzero(row, as_tuple=True)[0]
            vals = row[nz]
            order = torch.argsort(vals, descending=True)[: top_k or len(nz)]
            ids = nz[order].tolist()
            names = self.tokenizer.convert_ids_to_tokens(ids) if vocab else [str(i) for i in ids]
            out.append(list(zip(names, vals[order].tolist())))
        return out[0] if single else out

    @staticmethod
    def sparsity(embeddings: torch.Tensor) -> dict[str, float]:
        """Mean active (non-zero) dims per row and the sparsity ratio 1 - active/D."""
        emb = embeddings.coalesce() if embeddings.is_sparse else embeddings
        emb2 = emb.unsqueeze(0) if emb.dim() == 1 else emb
        if emb2.is_sparse:
            active = emb2._nnz() / max(emb2.size(0), 1)
        else:
            active = (emb2 != 0).sum(dim=1).float().mean().item() if emb2.size(0) else 0.0
        return {"active_dims": float(active), "sparsity_ratio": float(1.0 - active / emb2.size(-1))}

    def _st_config_extra(self) -> dict:
        extra = self._embedder_config()
        if self.max_active_dims is not None:
            extra["max_active_dims"] = self.max_active_dims
        return extra


__all__ = ["SparseEncoder"]
