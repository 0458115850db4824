"""Trainer features beyond the smoke tests: GROUP_BY_LABEL with a batch-triplet loss, listwise cross-encoder
training, IterableDataset input, load_best_model_at_end with an evaluator metric, eval-loss terms, TensorBoard."""

from __future__ import annotations

import os

import pytest

from tests.train.conftest import sentences, step_losses, train_args

pytestmark = pytest.mark.filterwarnings("ignore")


def test_group_by_label_with_batch_all_triplet(tiny_bert_dir, tmp_path):
    from datasets import Dataset

    import raypipe
    from raypipe.losses.dense.batch_all_triplet import BatchAllTripletLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    ds = Dataset.from_dict({"text": sentences(32, 4, 9), "label": [i % 4 for i in range(32)]})
    args = train_args(SentenceTransformerTrainingArguments, tmp_path, max_steps=3, batch_sampler="group_by_label",
                      per_device_train_batch_size=8)
    trainer = SentenceTransformerTrainer(model=m, args=args, train_dataset=ds, loss=BatchAllTripletLoss(m))
    trainer.train()
    assert len(step_losses(trainer)) == 3


def test_listwise_cross_encoder(tiny_cls_dir, tmp_path):
    from datasets import Dataset

    import raypipe
    from raypipe.losses.cross.list_net import ListNetLoss
    from raypipe.train import CrossEncoderTrainer, CrossEncoderTrainingArguments

    m = raypipe.CrossEncoder(tiny_cls_dir, device="cpu")
    docs = sentences(30, 5, 3)
    ds = Dataset.from_dict({"query": sentences(10, 3, 4),
                            "docs": [docs[i * 3:(i + 1) * 3 - (i % 2)] for i in range(10)],
                            "labels": [[1.0, 0.0, 0.0][: 3 - (i % 2)] for i in range(10)]})
    args = train_args(CrossEncoderTrainingArguments, tmp_path, max_steps=2)
    trainer = CrossEncoderTrainer(model=m, args=args, train_dataset=ds, loss=ListNetLoss(m))
    trainer.train()
    assert len(step_losses(trainer)) == 2


def test_iterable_dataset(tiny_bert_dir, pair_dataset, tmp_path):
    import raypipe
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    args = train_args(SentenceTransformerTrainingArguments, tmp_path, max_steps=2)
    trainer = SentenceTransformerTrainer(model=m, args=args, train_dataset=pair_dataset.to_iterable_dataset(),
                                         loss=MultipleNegativesRankingLoss(m))
    trainer.train()
    assert len(step_losses(trainer)) == 2


def test_load_best_model_at_end_and_eval_loss_terms(tiny_mlm_dir, pair_dataset, tmp_path):
    import raypipe
    from raypipe.eval import SparseEmbeddingSimilarityEvaluator
    from raypipe.train import SparseEncoderTrainer, SparseEncoderTrainingArguments

    m = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    ev = SparseEmbeddingSimilarityEvaluator(sentences(6, 3, 1), sentences(6, 3, 2), [i / 6 for i in range(6)],
                                            name="dev")
    args = train_args(SparseEncoderTrainingArguments, tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2,
                      save_strategy="steps", save_steps=2, load_best_model_at_end=True,
                      metric_for_best_model="eval_dev_spearman_dot")
    trainer = SparseEncoderTrainer(model=m, args=args, train_dataset=pair_dataset,
                                   eval_dataset=pair_dataset.select(range(8)), evaluator=ev)
    trainer.train()
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    assert evals and "eval_base_loss" in evals[0] and "eval_document_regularizer_loss" in evals[0]
    assert trainer.state.best_model_checkpoint is not None


def test_tensorboard_logging_offline(tiny_bert_dir, pair_dataset, tmp_path):
    """report_to="tensorboard" writes event files under output_dir/runs/ (no network; TENSORBOARD_LOGGING_DIR
    overrides the folder): the per-step loss is readable back."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import raypipe
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    model = raypipe.SentenceTransformer(tiny_bert_dir)
    args = train_args(SentenceTransformerTrainingArguments, tmp_path / "out", max_steps=4, report_to="tensorboard")
    from raypipe.losses.dense import MultipleNegativesRankingLoss

    SentenceTransformerTrainer(model=model, args=args, train_dataset=pair_dataset,
                               loss=MultipleNegativesRankingLoss(model)).train()
    runs = [root for root, _, files in os.walk(tmp_path / "out") if any("tfevents" in f for f in files)]
    assert runs, "no TensorBoard event file written"
    acc = EventAccumulator(runs[0])
    acc.Reload()
    assert len(acc.Scalars("train/loss")) == 4
