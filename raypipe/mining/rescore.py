"""Rescore stage: cross-encoder scores for every retrieved candidate and every positive.

Applied whenever a cross-encoder is given (sentence-transformers silently skips it unless a margin or score bound
is set). Pairs are scored in chunks of `chunk_pairs`, so memory is O(chunk_pairs x text length), not
O(N_q x K); the runner decides where a chunk is scored (this process, or a cross-encoder actor pool).
Scores are `CrossEncoder.predict(pairs, batch_size=...)` with the model's default activation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["rescore_candidates", "pair_scores"]


def pair_scores(cross_encoder, a: list[str], b: list[str], batch_size: int, compute_dtype: str = "float32",
                max_batch_tokens: int | None = None) -> np.ndarray:
    """Scores (n,) float32 of pairs (a[i], b[i]); a cross-encoder with several labels is an error."""
    if not b:
        return np.zeros(0, np.float32)
    kw = {} if compute_dtype == "float32" else {"compute_dtype": compute_dtype}  # wrappers without the parameter
    if max_batch_tokens is not None:
        kw["max_batch_tokens"] = max_batch_tokens
    s = np.asarray(cross_encoder.predict(list(zip(a, b)), batch_size=batch_size, show_progress_bar=False, **kw),
                   dtype=np.float32)
    if s.ndim > 1:
        if s.shape[1] != 1:
            raise ValueError(f"cross_encoder returns {s.shape[1]} scores per pair; rescoring needs a 1-label model.")
        s = s[:, 0]
    return s


def rescore_candidates(cross_encoder, queries: pa.Array, corpus: pa.Array, ids: np.ndarray,
                       pair_qid: np.ndarray, pair_did: np.ndarray, runner, batch_size: int = 32,
                       chunk_pairs: int = 200_000, compute_dtype: str = "float32", bar=None,
                       max_batch_tokens: int | None = None):
    """Return (candidate scores (N_q, K) with -inf at missing ids, positive scores (P,)). `pair_qid` are rows of
    `queries` (e.g. one query shard); `bar` counts scored pairs."""
    def score(q_idx: np.ndarray, d_idx: np.ndarray) -> np.ndarray:
        if len(d_idx) == 0:
            return np.zeros(0, np.float32)
        return runner.score_pairs(cross_encoder, queries.take(pa.array(q_idx)), corpus.take(pa.array(d_idx)),
                                  batch_size, compute_dtype, bar, max_batch_tokens)

    n_q, k = ids.shape
    out = np.full((n_q, k), -np.inf, np.float32)
    qq, slot = np.nonzero(ids >= 0)
    for i in range(0, len(qq), chunk_pairs):
        q_i, s_i = qq[i:i + chunk_pairs], slot[i:i + chunk_pairs]
        out[q_i, s_i] = score(q_i, ids[q_i, s_i])
    pos = [score(pair_qid[i:i + chunk_pairs], pair_did[i:i + chunk_pairs]) for i in range(0, len(pair_qid), chunk_pairs)]
    return out, np.concatenate(pos) if pos else np.zeros(0, np.float32)
