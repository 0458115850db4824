"""Similarity functions on sparse (SPLADE / CSR) embeddings: the same scores as on their dense form, computed
without densifying the side with more rows whole."""

from __future__ import annotations

import pytest
import torch

import raypipe.models.similarity as sim


def _sparse(rows: int, dim: int, per_row: int, seed: int, empty=()) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    r = torch.arange(rows).repeat_interleave(per_row)
    c = torch.randint(0, dim, (rows * per_row,), generator=g)
    keep = ~torch.isin(r, torch.tensor(list(empty), dtype=torch.long))
    vals = torch.rand(rows * per_row, generator=g) * 3
    return torch.sparse_coo_tensor(torch.stack([r[keep], c[keep]]), vals[keep], (rows, dim)).coalesce()


@pytest.mark.parametrize("fn", [sim.dot_score, sim.cos_sim])
@pytest.mark.parametrize("a_sparse, b_sparse", [(True, True), (True, False), (False, True)])
def test_sparse_inputs_score_as_their_dense_form(monkeypatch, fn, a_sparse, b_sparse):
    monkeypatch.setattr(sim, "BLOCK_VALUES", 7 * 200)  # blocks of 7 rows: several, the last one short
    a, b = _sparse(9, 200, 12, 0), _sparse(40, 200, 25, 1, empty=(3, 39))
    dense = fn(a.to_dense(), b.to_dense())
    for x, y, ref in ((a, b, dense), (b, a, dense.T)):
        out = fn(x if a_sparse else x.to_dense(), y if b_sparse else y.to_dense())
        assert out.shape == ref.shape and not out.is_sparse
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)


def test_the_side_with_more_rows_is_densified_block_by_block(monkeypatch):
    monkeypatch.setattr(sim, "BLOCK_VALUES", 5 * 300)
    seen = []
    real = sim._dense_rows
    monkeypatch.setattr(sim, "_dense_rows", lambda x, s, e, dt: seen.append(e - s) or real(x, s, e, dt))
    q, docs = _sparse(4, 300, 10, 2), _sparse(23, 300, 30, 3)
    out = sim.dot_score(q, docs)
    assert out.shape == (4, 23) and seen == [5, 5, 5, 5, 3]
    assert sim.dot_score(q.double(), docs).dtype == torch.float64
