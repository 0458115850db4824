"""Step parity with sentence-transformers' trainers: same tiny checkpoint (dropout 0), data, seed and arguments ->
the same per-step training losses (within 1e-4) for the first 20 steps."""

from __future__ import annotations

import pytest

from tests.train.conftest import step_losses, train_args

pytestmark = pytest.mark.filterwarnings("ignore")


def _compare(ours, theirs):
    assert len(ours) == len(theirs) == 20
    diff = max(abs(a - b) for a, b in zip(ours, theirs))
    assert diff < 1e-4, (diff, ours[:5], theirs[:5])


@pytest.mark.parametrize("prompts", [None, {"anchor": "query: "}])
def test_dense_mnrl_parity(tiny_bert_dir, pair_dataset, tmp_path, prompts):
    import sentence_transformers as st
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss as STMNRL

    import raypipe
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    m = raypipe.SentenceTransformer(tiny_bert_dir, device="cpu")
    ours = SentenceTransformerTrainer(
        model=m, args=train_args(SentenceTransformerTrainingArguments, tmp_path / "a", prompts=prompts),
        train_dataset=pair_dataset, loss=MultipleNegativesRankingLoss(m))
    ours.train()
    sm = st.SentenceTransformer(tiny_bert_dir, device="cpu")
    theirs = st.SentenceTransformerTrainer(
        model=sm, args=train_args(st.SentenceTransformerTrainingArguments, tmp_path / "b", prompts=prompts),
        train_dataset=pair_dataset, loss=STMNRL(sm))
    theirs.train()
    _compare(step_losses(ours), step_losses(theirs))


def test_cross_bce_parity(tiny_cls_dir, labeled_pair_dataset, tmp_path):
    import sentence_transformers as st
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss as STBCE

    import raypipe
    from raypipe.losses.cross.binary_cross_entropy import BinaryCrossEntropyLoss
    from raypipe.train import CrossEncoderTrainer, CrossEncoderTrainingArguments

    m = raypipe.CrossEncoder(tiny_cls_dir, device="cpu")
    ours = CrossEncoderTrainer(model=m, args=train_args(CrossEncoderTrainingArguments, tmp_path / "a"),
                               train_dataset=labeled_pair_dataset, loss=BinaryCrossEntropyLoss(m))
    ours.train()
    sm = st.CrossEncoder(tiny_cls_dir, device="cpu")
    theirs = st.CrossEncoderTrainer(model=sm, args=train_args(st.CrossEncoderTrainingArguments, tmp_path / "b"),
                                    train_dataset=labeled_pair_dataset, loss=STBCE(sm))
    theirs.train()
    _compare(step_losses(ours), step_losses(theirs))


def test_sparse_splade_parity(tiny_mlm_dir, pair_dataset, tmp_path):
    import sentence_transformers as st
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss as STSMNRL
    from sentence_transformers.sparse_encoder.losses import SpladeLoss as STSplade

    import raypipe
    from raypipe.losses.sparse.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
    from raypipe.losses.sparse.splade import SpladeLoss
    from raypipe.train import SparseEncoderTrainer, SparseEncoderTrainingArguments

    m = raypipe.SparseEncoder(tiny_mlm_dir, device="cpu")
    loss = SpladeLoss(m, SparseMultipleNegativesRankingLoss(m), query_regularizer_weight=5e-2,
                      document_regularizer_weight=3e-2)
    ours = SparseEncoderTrainer(model=m, args=train_args(SparseEncoderTrainingArguments, tmp_path / "a"),
                                train_dataset=pair_dataset, loss=loss)
    ours.train()
    sm = st.SparseEncoder(tiny_mlm_dir, device="cpu")
    st_loss = STSplade(sm, STSMNRL(sm), query_regularizer_weight=5e-2, document_regularizer_weight=3e-2)
    theirs = st.SparseEncoderTrainer(model=sm, args=train_args(st.SparseEncoderTrainingArguments, tmp_path / "b"),
                                     train_dataset=pair_dataset, loss=st_loss)
    theirs.train()
    _compare(step_losses(ours), step_losses(theirs))
