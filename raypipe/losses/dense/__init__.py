"""SentenceTransformer (dense) losses, at parity with sentence-transformers' `losses` (one loss per file)."""

from raypipe.losses.dense.adaptive_layer import AdaptiveLayerLoss
from raypipe.losses.dense.angle import AnglELoss
from raypipe.losses.dense.batch_all_triplet import BatchAllTripletLoss
from raypipe.losses.dense.batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from raypipe.losses.dense.batch_hard_triplet import BatchHardTripletLoss, BatchHardTripletLossDistanceFunction
from raypipe.losses.dense.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from raypipe.losses.dense.cached_gist_embed import CachedGISTEmbedLoss
from raypipe.losses.dense.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from raypipe.losses.dense.cached_multiple_negatives_symmetric_ranking import (
    CachedMultipleNegativesSymmetricRankingLoss,
)
from raypipe.losses.dense.contrastive import ContrastiveLoss, SiameseDistanceMetric
from raypipe.losses.dense.contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionExample,
    ContrastiveTensionLoss,
)
from raypipe.losses.dense.contrastive_tension_in_batch_negatives import ContrastiveTensionLossInBatchNegatives
from raypipe.losses.dense.cosent import CoSENTLoss
from raypipe.losses.dense.cosine_similarity import CosineSimilarityLoss
from raypipe.losses.dense.denoising_auto_encoder import DenoisingAutoEncoderLoss
from raypipe.losses.dense.distill_kl_div import DistillKLDivLoss
from raypipe.losses.dense.embed_distill import EmbedDistillLoss
from raypipe.losses.dense.gist_embed import GISTEmbedLoss
from raypipe.losses.dense.global_orthogonal_regularization import GlobalOrthogonalRegularizationLoss
from raypipe.losses.dense.margin_mse import MarginMSELoss
from raypipe.losses.dense.matryoshka import MatryoshkaLoss
from raypipe.losses.dense.matryoshka_2d import Matryoshka2dLoss
from raypipe.losses.dense.mega_batch_margin import MegaBatchMarginLoss
from raypipe.losses.dense.mse import MSELoss
from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
from raypipe.losses.dense.multiple_negatives_symmetric_ranking import MultipleNegativesSymmetricRankingLoss
from raypipe.losses.dense.online_contrastive import OnlineContrastiveLoss
from raypipe.losses.dense.softmax import SoftmaxLoss
from raypipe.losses.dense.triplet import TripletDistanceMetric, TripletLoss

__all__ = [
    "AdaptiveLayerLoss",
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardSoftMarginTripletLoss",
    "BatchHardTripletLoss",
    "BatchHardTripletLossDistanceFunction",
    "BatchSemiHardTripletLoss",
    "CachedGISTEmbedLoss",
    "CachedMultipleNegativesRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "ContrastiveLoss",
    "SiameseDistanceMetric",
    "ContrastiveTensionLoss",
    "ContrastiveTensionDataLoader",
    "ContrastiveTensionExample",
    "ContrastiveTensionLossInBatchNegatives",
    "CoSENTLoss",
    "CosineSimilarityLoss",
    "DenoisingAutoEncoderLoss",
    "DistillKLDivLoss",
    "EmbedDistillLoss",
    "GISTEmbedLoss",
    "GlobalOrthogonalRegularizationLoss",
    "MarginMSELoss",
    "MatryoshkaLoss",
    "Matryoshka2dLoss",
    "MegaBatchMarginLoss",
    "MSELoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "SoftmaxLoss",
    "TripletLoss",
    "TripletDistanceMetric",
]
