"""Rescore stage: cross-encoder scores for every retrieved candidate and every positive.

Applied whenever a cross-encoder is given (sentence-transformers silently skips it unless a margin or score bound
is set). Pairs are scored in chunks of `chunk_pairs`, so memory is O(chunk_pairs x text length), not
O(N_q x K); with executor="ray" each chunk runs on a cross-encoder actor pool (`rescore_ray`).
Scores are `CrossEncoder.predict(pairs, batch_size=...)` with the model's default activation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["rescore_candidates", "predict_pairs"]


def predict_pairs(cross_encoder, a: pa.Array, b: pa.Array, batch_size: int, executor: str = "local",
                  num_actors: int = 1, num_gpus: float = 0.0) -> np.ndarray:
    """Scores (n,) float32 of pairs (a[i], b[i])."""
    if len(b) == 0:
        return np.zeros(0, np.float32)
    if executor == "ray":
        from raypipe.mining.ray_stages import rescore_ray

        return rescore_ray(a, b, cross_encoder, batch_size, num_actors=num_actors, num_gpus=num_gpus)
    s = cross_encoder.predict(list(zip(a.to_pylist(), b.to_pylist())), batch_size=batch_size,
                              show_progress_bar=False)
    s = np.asarray(s, dtype=np.float32)
    if s.ndim > 1:
        if s.shape[1] != 1:
            raise ValueError(f"cross_encoder returns {s.shape[1]} scores per pair; rescoring needs a 1-label model.")
        s = s[:, 0]
    return s


def rescore_candidates(cross_encoder, queries: pa.Array, corpus: pa.Array, ids: np.ndarray,
                       pair_qid: np.ndarray, pair_did: np.ndarray, batch_size: int = 32,
                       executor: str = "local", num_actors: int = 1, num_gpus: float = 0.0,
                       chunk_pairs: int = 200_000):
    """Return (candidate scores (N_q, K) with -inf at missing ids, positive scores (P,))."""
    n_q, k = ids.shape
    out = np.full((n_q, k), -np.inf, np.float32)
    qq, slot = np.nonzero(ids >= 0)
    for i in range(0, len(qq), chunk_pairs):
        q_i, s_i = qq[i:i + chunk_pairs], slot[i:i + chunk_pairs]
        out[q_i, s_i] = predict_pairs(cross_encoder, queries.take(pa.array(q_i)),
                                      corpus.take(pa.array(ids[q_i, s_i])), batch_size, executor, num_actors,
                                      num_gpus)
    pos = np.concatenate([
        predict_pairs(cross_encoder, queries.take(pa.array(pair_qid[i:i + chunk_pairs])),
                      corpus.take(pa.array(pair_did[i:i + chunk_pairs])), batch_size, executor, num_actors, num_gpus)
        for i in range(0, len(pair_qid), chunk_pairs)])
    return out, pos
