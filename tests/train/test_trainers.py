"""Smoke tests per trainer (a few steps, evaluator during training, save, reload in sentence-transformers), plus
resume, dict losses over a DatasetDict, callable losses, loss-term logging and learning_rate_mapping."""

from __future__ import annotations

import os

import pytest

from tests.train.conftest import sentences, step_losses, train_args

pytestmark = pytest.mark.filterwarnings("ignore")


def test_dense_smoke_eval_save_reload(tiny_bert_dir, pair_dataset, tmp_path):
    import numpy as np
    import sentence_transformers as st

    import raypipe
    from raypipe.eval import EmbeddingSimilarityEvaluator
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    ev = EmbeddingSimilarityEvaluator(sentences(8, 4, 5), sentences(8, 4, 6), [i / 8 for i in range(8)], name="dev")
    args = train_args(SentenceTransformerTrainingArguments, tmp_path / "out", max_steps=4, eval_strategy="steps",
                      eval_steps=2, save_strategy="steps", save_steps=2)
    trainer = SentenceTransformerTrainer(model=m, args=args, train_dataset=pair_dataset,
                                         eval_dataset=pair_dataset.select(range(8)),
                                         loss=MultipleNegativesRankingLoss(m), evaluator=ev)
    trainer.train()
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    assert len(evals) == 2 and "eval_dev_spearman_cosine" in evals[0]
    ckpt = tmp_path / "out" / "checkpoint-4"
    assert (ckpt / "modules.json").exists() and (ckpt / "optimizer.pt").exists()
    card = (ckpt / "README.md").read_text()
    assert "MultipleNegativesRankingLoss" in card and "eval_dev_spearman_cosine" in card.replace("dev_spearman", "eval_dev_spearman")
    assert "model-index" in card and "Training Hyperparameters" in card
    reloaded = st.SentenceTransformer(str(ckpt), device="cpu")
    texts = ["the cat", "a red car"]
    np.testing.assert_allclose(reloaded.encode(texts), m.encode(texts), atol=1e-5)


def test_cross_smoke_default_loss_and_reload(tiny_cls_dir, labeled_pair_dataset, tmp_path):
    import numpy as np
    import sentence_transformers as st

    import raypipe
    from raypipe.eval import CrossEncoderCorrelationEvaluator
    from raypipe.train import CrossEncoderTrainer, CrossEncoderTrainingArguments

    m = raypipe.CrossEncoder(tiny_cls_dir, device="cpu")
    pairs = [[a, b] for a, b in zip(sentences(8, 3, 7), sentences(8, 5, 8))]
    ev = CrossEncoderCorrelationEvaluator(pairs, [i / 8 for i in range(8)], name="dev")
    args = train_args(CrossEncoderTrainingArguments, tmp_path / "out", max_steps=3, eval_strategy="steps",
                      eval_steps=3)
    trainer = CrossEncoderTrainer(model=m, args=args, train_dataset=labeled_pair_dataset, evaluator=ev)
    assert type(trainer.loss).__name__ == "BinaryCrossEntropyLoss"
    trainer.train()
    assert any(k.startswith("eval_dev_") for h in trainer.state.log_history for k in h)
    trainer.save_model(str(tmp_path / "final"))
    reloaded = st.CrossEncoder(str(tmp_path / "final"), device="cpu")
    np.testing.assert_allclose(reloaded.predict(pairs[:2]), m.predict(pairs[:2]), atol=1e-5)


def test_cross_default_loss_is_ce_for_three_labels(tiny_cls3_dir, tmp_path):
    from datasets import Dataset

    import raypipe
    from raypipe.train import CrossEncoderTrainer, CrossEncoderTrainingArguments

    m = raypipe.CrossEncoder(tiny_cls3_dir, device="cpu")
    ds = Dataset.from_dict({"a": sentences(8, 3, 1), "b": sentences(8, 3, 2), "label": [0, 1, 2, 0, 1, 2, 0, 1]})
    trainer = CrossEncoderTrainer(model=m, args=train_args(CrossEncoderTrainingArguments, tmp_path, max_steps=2),
                                  train_dataset=ds)
    assert type(trainer.loss).__name__ == "CrossEntropyLoss"
    trainer.train()


def test_sparse_smoke_default_loss_terms_logged_and_reload(tiny_mlm_dir, pair_dataset, tmp_path):
    import sentence_transformers as st
    import torch

    import raypipe
    from raypipe.losses.sparse.splade_callback import SpladeRegularizerWeightSchedulerCallback
    from raypipe.train import SparseEncoderTrainer, SparseEncoderTrainingArguments

    m = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    trainer = SparseEncoderTrainer(model=m, args=train_args(SparseEncoderTrainingArguments, tmp_path, max_steps=3),
                                   train_dataset=pair_dataset)
    assert type(trainer.loss).__name__ == "SpladeLoss"
    assert trainer.loss.query_regularizer_weight == 5e-5 and trainer.loss.document_regularizer_weight == 3e-5
    assert any(isinstance(cb, SpladeRegularizerWeightSchedulerCallback) for cb in trainer.callback_handler.callbacks)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert {"base_loss", "document_regularizer_loss", "query_regularizer_loss"} <= set(logs[0])
    trainer.save_model(str(tmp_path / "final"))
    reloaded = st.SparseEncoder(str(tmp_path / "final"), device="cpu")
    a = reloaded.encode(["the cat"], convert_to_tensor=True).to_dense()
    b = m.encode(["the cat"], convert_to_sparse_tensor=False, convert_to_tensor=True)
    torch.testing.assert_close(a.reshape(-1), b.reshape(-1), atol=1e-4, rtol=1e-4)


def test_resume_from_checkpoint_matches_uninterrupted(tiny_bert_dir, pair_dataset, tmp_path):
    """6 steps straight vs 3 steps + resume: same losses for steps 4-6 (model, optimizer, scheduler, sampler)."""
    import raypipe
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    def make(out, **kw):
        m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
        args = train_args(SentenceTransformerTrainingArguments, out, max_steps=6, **kw)
        return SentenceTransformerTrainer(model=m, args=args, train_dataset=pair_dataset.select(range(16)),
                                          loss=MultipleNegativesRankingLoss(m))

    straight = make(tmp_path / "a")
    straight.train()
    first = make(tmp_path / "b", save_strategy="steps", save_steps=3)
    first.train()
    resumed = make(tmp_path / "b", save_strategy="steps", save_steps=3)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-3"))
    tail = [h["loss"] for h in resumed.state.log_history if "loss" in h and h["step"] > 3]
    assert tail == pytest.approx(step_losses(straight)[3:], abs=1e-5)


def test_dict_loss_over_dataset_dict_and_callable_loss(tiny_bert_dir, pair_dataset, labeled_pair_dataset, tmp_path):
    from datasets import DatasetDict

    import raypipe
    from raypipe.losses.dense.cosent import CoSENTLoss
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    data = DatasetDict({"pairs": pair_dataset.select(range(16)), "scored": labeled_pair_dataset.select(range(16))})
    args = train_args(SentenceTransformerTrainingArguments, tmp_path, max_steps=8, multi_dataset_batch_sampler="round_robin",
                      prompts={"pairs": {"anchor": "query: "}})
    trainer = SentenceTransformerTrainer(model=m, args=args, train_dataset=data,
                                         loss={"pairs": MultipleNegativesRankingLoss, "scored": CoSENTLoss(m)})
    assert isinstance(trainer.loss["pairs"], MultipleNegativesRankingLoss)
    trainer.train()
    assert len(step_losses(trainer)) == 8
    with pytest.raises(ValueError, match="must be a DatasetDict"):
        SentenceTransformerTrainer(model=m, args=args, train_dataset=pair_dataset,
                                   loss={"pairs": MultipleNegativesRankingLoss(m)})


def test_learning_rate_mapping_creates_group(tiny_bert_dir, pair_dataset, tmp_path):
    import raypipe
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    args = train_args(SentenceTransformerTrainingArguments, tmp_path, max_steps=1,
                      learning_rate_mapping={r"embeddings": 0.5})
    trainer = SentenceTransformerTrainer(model=m, args=args, train_dataset=pair_dataset,
                                         loss=MultipleNegativesRankingLoss(m))
    opt = trainer.create_optimizer()
    lrs = sorted({g["lr"] for g in opt.param_groups})
    assert 0.5 in lrs and len(opt.param_groups) == 3
    n_emb = sum(p.numel() for n, p in m.named_parameters() if "embeddings" in n)
    assert sum(p.numel() for g in opt.param_groups if g["lr"] == 0.5 for p in g["params"]) == n_emb


def test_args_type_and_eval_strategy_errors(tiny_bert_dir, pair_dataset, tmp_path):
    from transformers import TrainingArguments

    import raypipe
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    with pytest.raises(ValueError, match="SentenceTransformerTrainingArguments"):
        SentenceTransformerTrainer(model=m, args=TrainingArguments(output_dir=str(tmp_path)), train_dataset=pair_dataset)
    args = train_args(SentenceTransformerTrainingArguments, tmp_path, eval_strategy="steps", eval_steps=1)
    with pytest.raises(ValueError, match="no eval_dataset and no evaluator"):
        SentenceTransformerTrainer(model=m, args=args, train_dataset=pair_dataset)
    assert os.path.isdir(str(tmp_path))


def test_model_init_with_callable_loss(tiny_bert_dir, pair_dataset, tmp_path):
    """HPO style: model_init + loss as a callable model -> loss; the loss follows the re-initialized model."""
    import raypipe
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    def init():
        return raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")

    args = train_args(SentenceTransformerTrainingArguments, tmp_path, max_steps=2)
    trainer = SentenceTransformerTrainer(model_init=init, args=args, train_dataset=pair_dataset,
                                         loss=MultipleNegativesRankingLoss)
    trainer.train()
    assert trainer.loss.model is trainer.model
    assert len(step_losses(trainer)) == 2
