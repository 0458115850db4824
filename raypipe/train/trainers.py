"""The three trainers: default losses and collators per model type (everything else is in RaypipeTrainer)."""

from __future__ import annotations

from collections.abc import Mapping

from raypipe.data.collators import CrossEncoderDataCollator, EncoderDataCollator
from raypipe.train.arguments import (
    CrossEncoderTrainingArguments,
    SentenceTransformerTrainingArguments,
    SparseEncoderTrainingArguments,
)
from raypipe.train.base import RaypipeTrainer


def _encoder_collator(model, args) -> EncoderDataCollator:
    return EncoderDataCollator(model.tokenize, prompts=args.prompts,
                               prompt_length_fn=getattr(model, "prompt_length", None))


class SentenceTransformerTrainer(RaypipeTrainer):
    """Trains a raypipe.SentenceTransformer. Default loss: CoSENTLoss (pairs with a float score).
    See RaypipeTrainer for the arguments."""

    args_class = SentenceTransformerTrainingArguments

    def get_default_loss(self, model):
        from raypipe.losses.dense.cosent import CoSENTLoss

        return CoSENTLoss(model)

    def get_data_collator(self, model, args):
        return _encoder_collator(model, args)


class CrossEncoderTrainer(RaypipeTrainer):
    """Trains a raypipe.CrossEncoder. Default loss: BinaryCrossEntropyLoss when num_labels == 1, else
    CrossEntropyLoss. The collator keeps raw texts; the losses build and tokenize the pairs."""

    args_class = CrossEncoderTrainingArguments

    def __init__(self, model=None, args=None, train_dataset=None, eval_dataset=None, **kwargs):
        for split, ds in (("train", train_dataset), ("eval", eval_dataset)):
            if ds is not None and not hasattr(ds, "__len__"):
                raise ValueError(
                    f"CrossEncoderTrainer does not support an IterableDataset as {split}_dataset. "
                    f"Fix: materialize it, e.g. Dataset.from_generator(...) or Dataset.from_list(list(ds))."
                )
        super().__init__(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, **kwargs)

    def get_default_loss(self, model):
        if model.num_labels == 1:
            from raypipe.losses.cross.binary_cross_entropy import BinaryCrossEntropyLoss

            return BinaryCrossEntropyLoss(model)
        from raypipe.losses.cross.cross_entropy import CrossEntropyLoss

        return CrossEntropyLoss(model)

    def get_data_collator(self, model, args):
        return CrossEncoderDataCollator(prompts=args.prompts)


class SparseEncoderTrainer(RaypipeTrainer):
    """Trains a raypipe.SparseEncoder. Default loss: SpladeLoss(SparseMultipleNegativesRankingLoss,
    query_regularizer_weight=5e-5, document_regularizer_weight=3e-5). For every SpladeLoss in use, a
    SpladeRegularizerWeightSchedulerCallback (quadratic warm-up of the regularizer weights over the first third of
    training) is added unless the callbacks already hold one."""

    args_class = SparseEncoderTrainingArguments

    def __init__(self, *args, callbacks=None, **kwargs):
        super().__init__(*args, callbacks=callbacks, **kwargs)
        from raypipe.losses.sparse.splade_callback import SpladeRegularizerWeightSchedulerCallback

        have = [cb for cb in self.callback_handler.callbacks if isinstance(cb, SpladeRegularizerWeightSchedulerCallback)]
        watched = {id(cb.loss) for cb in have}
        losses = self.loss.values() if isinstance(self.loss, Mapping) else [self.loss]
        for loss in losses:
            if _is_splade(loss) and id(loss) not in watched:
                self.add_callback(SpladeRegularizerWeightSchedulerCallback(loss))

    def get_default_loss(self, model):
        from raypipe.losses.sparse.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
        from raypipe.losses.sparse.splade import SpladeLoss

        return SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), query_regularizer_weight=5e-5,
                          document_regularizer_weight=3e-5)

    def get_data_collator(self, model, args):
        return _encoder_collator(model, args)


def _is_splade(loss) -> bool:
    return type(loss).__name__ in ("SpladeLoss", "CachedSpladeLoss")


__all__ = ["CrossEncoderTrainer", "SentenceTransformerTrainer", "SparseEncoderTrainer"]
