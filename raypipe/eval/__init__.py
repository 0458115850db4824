"""Evaluators for dense, cross-encoder and sparse models, with sentence-transformers' metric names and primary
metrics. Call as ``evaluator(model, output_path=None, epoch=-1, steps=-1) -> dict``; read
``evaluator.primary_metric`` and ``evaluator.greater_is_better``."""

from __future__ import annotations

from raypipe.eval.base import BaseEvaluator
from raypipe.eval.binary_classification import BinaryClassificationEvaluator
from raypipe.eval.cross import (
    CrossEncoderClassificationEvaluator,
    CrossEncoderCorrelationEvaluator,
    CrossEncoderRerankingEvaluator,
)
from raypipe.eval.embedding_similarity import EmbeddingSimilarityEvaluator
from raypipe.eval.information_retrieval import InformationRetrievalEvaluator
from raypipe.eval.mse import MSEEvaluator
from raypipe.eval.paraphrase_mining import ParaphraseMiningEvaluator
from raypipe.eval.reranking import RerankingEvaluator
from raypipe.eval.rrf import ReciprocalRankFusionEvaluator
from raypipe.eval.sequential import SequentialEvaluator
from raypipe.eval.sparse import (
    SparseBinaryClassificationEvaluator,
    SparseEmbeddingSimilarityEvaluator,
    SparseInformationRetrievalEvaluator,
    SparseRerankingEvaluator,
)
from raypipe.eval.triplet import TripletEvaluator

__all__ = [
    "BaseEvaluator",
    "InformationRetrievalEvaluator",
    "EmbeddingSimilarityEvaluator",
    "BinaryClassificationEvaluator",
    "TripletEvaluator",
    "RerankingEvaluator",
    "MSEEvaluator",
    "ParaphraseMiningEvaluator",
    "SequentialEvaluator",
    "CrossEncoderRerankingEvaluator",
    "CrossEncoderClassificationEvaluator",
    "CrossEncoderCorrelationEvaluator",
    "SparseInformationRetrievalEvaluator",
    "SparseEmbeddingSimilarityEvaluator",
    "SparseBinaryClassificationEvaluator",
    "SparseRerankingEvaluator",
    "ReciprocalRankFusionEvaluator",
]
