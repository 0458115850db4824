"""A stand-in bi-encoder: deterministic pseudo-random embeddings per text (same text -> same vector), cheap
enough to evaluate thousands of documents in milliseconds."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from raypipe.models.similarity import cos_sim


class StubEncoder:
    similarity_fn_name = "cosine"

    def __init__(self, dim: int = 32):
        self.dim = dim

    def encode(self, sentences, convert_to_tensor: bool = False, **kwargs):
        rows = [np.random.default_rng(zlib.crc32(s.encode())).standard_normal(self.dim, dtype=np.float32)
                for s in sentences]  # fmt: skip
        out = np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)
        return torch.from_numpy(out) if convert_to_tensor else out

    encode_query = encode
    encode_document = encode

    def similarity(self, a, b):
        return cos_sim(a, b)
