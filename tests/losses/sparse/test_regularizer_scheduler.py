"""The regularizer-weight warm-up: exact quadratic/linear ramp, same weights as sentence-transformers' callback."""

from __future__ import annotations

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from raypipe.losses.sparse import (
    SparseMultipleNegativesRankingLoss,
    SpladeLoss,
    SpladeRegularizerWeightScheduler,
    SpladeRegularizerWeightSchedulerCallback,
)

DOC_W, QUERY_W = 3e-5, 5e-5


def _loss(query_weight=QUERY_W):
    return SpladeLoss(None, SparseMultipleNegativesRankingLoss(None), DOC_W, query_weight)


def _expected(step: int, total: int, max_w: float, power: int, ratio: float = 1 / 3) -> float:
    warmup = max(int(total * ratio), 1)
    return max_w if step >= warmup else max_w * ((step / warmup) ** power)


@pytest.mark.parametrize(("kind", "power"), [("quadratic", 2), ("linear", 1), ("QUADRATIC", 2)])
def test_ramp_follows_the_formula_exactly(kind, power):
    loss = _loss()
    sched = SpladeRegularizerWeightScheduler(loss, scheduler_type=kind)
    total = 30  # warm-up = 10 steps
    for step in range(total):
        logs = sched.step(step, total)
        assert loss.document_regularizer_weight == _expected(step, total, DOC_W, power)
        assert loss.query_regularizer_weight == _expected(step, total, QUERY_W, power)
        assert logs == {
            "document_regularizer_weight": loss.document_regularizer_weight,
            "query_regularizer_weight": loss.query_regularizer_weight,
        }
    assert sched.step(0, total)["document_regularizer_weight"] == 0.0
    assert sched.step(5, total)["document_regularizer_weight"] == DOC_W * 0.5**power
    assert sched.step(10, total)["document_regularizer_weight"] == DOC_W


def test_none_query_weight_stays_none_and_tiny_runs_warm_up_in_one_step():
    loss = _loss(query_weight=None)
    sched = SpladeRegularizerWeightScheduler(loss, warmup_ratio=0.1)
    assert sched.warmup_steps(5) == 1
    assert sched.step(0, 5) == {"document_regularizer_weight": 0.0}
    assert sched.step(1, 5) == {"document_regularizer_weight": DOC_W}
    assert loss.query_regularizer_weight is None


def _st_weights(kind: str, total: int, ratio: float):
    """Drive sentence-transformers' callback without a trainer; the weights it sets at each step begin."""
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.callbacks import (
        SpladeRegularizerWeightSchedulerCallback as STCallback,
    )
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss as STMNRL
    from sentence_transformers.sparse_encoder.losses import SpladeLoss as STSpladeLoss

    st_loss = STSpladeLoss(SparseEncoder.__new__(SparseEncoder), STMNRL.__new__(STMNRL), DOC_W, QUERY_W)
    cb = STCallback(st_loss, scheduler_type=kind, warmup_ratio=ratio)
    state = TrainerState(max_steps=total)
    cb.on_train_begin(None, state, TrainerControl())
    out = []
    for step in range(total):
        state.global_step = step
        cb.on_step_begin(None, state, TrainerControl())
        out.append((st_loss.document_regularizer_weight, st_loss.query_regularizer_weight))
    return out


@pytest.mark.parametrize(("kind", "total", "ratio"), [("quadratic", 30, 1 / 3), ("linear", 17, 0.5)])
def test_same_weights_as_sentence_transformers_callback(kind, total, ratio):
    theirs = _st_weights(kind, total, ratio)
    loss = _loss()
    sched = SpladeRegularizerWeightScheduler(loss, scheduler_type=kind, warmup_ratio=ratio)
    ours = []
    for step in range(total):
        sched.step(step, total)
        ours.append((loss.document_regularizer_weight, loss.query_regularizer_weight))
    assert ours == theirs


def test_trainer_callback_adapter(tmp_path):
    loss = _loss()
    cb = SpladeRegularizerWeightSchedulerCallback(loss)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[])
    state, control = TrainerState(max_steps=9), TrainerControl()
    cb.on_train_begin(args, state, control)
    assert loss.document_regularizer_weight == 0.0 and loss.query_regularizer_weight == 0.0
    state.global_step = 2
    cb.on_step_begin(args, state, control)
    assert loss.document_regularizer_weight == DOC_W * (2 / 3) ** 2
    logs = {}
    cb.on_log(args, state, control, logs=logs)
    assert logs == {
        "document_regularizer_weight": DOC_W * (2 / 3) ** 2,
        "query_regularizer_weight": QUERY_W * (2 / 3) ** 2,
    }


def test_bad_scheduler_arguments():
    with pytest.raises(ValueError, match="scheduler_type"):
        SpladeRegularizerWeightScheduler(_loss(), scheduler_type="cosine")
    with pytest.raises(ValueError, match="warmup_ratio"):
        SpladeRegularizerWeightScheduler(_loss(), warmup_ratio=0)
    with pytest.raises(ValueError, match="SpladeLoss"):
        SpladeRegularizerWeightScheduler(SparseMultipleNegativesRankingLoss(None))
    with pytest.raises(ValueError, match="total_steps"):
        SpladeRegularizerWeightScheduler(_loss()).step(0, 0)


def test_scheduled_weights_reach_the_loss_terms():
    import torch

    loss = _loss()
    sched = SpladeRegularizerWeightScheduler(loss)
    emb = [torch.rand(3, 7), torch.rand(3, 7)]
    sched.step(0, 12)
    out = loss.compute_loss_from_embeddings(emb, None)
    assert out["document_regularizer_loss"].item() == 0.0 and out["query_regularizer_loss"].item() == 0.0
    sched.step(2, 12)  # warm-up 4 steps -> (2/4)^2 = 1/4 of the maximum
    out = loss.compute_loss_from_embeddings(emb, None)
    flops_docs = (emb[1].mean(0) ** 2).sum()
    torch.testing.assert_close(out["document_regularizer_loss"], flops_docs * (DOC_W * 0.25))
