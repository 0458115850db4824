"""CrossEncoder (reranker) losses, at parity with sentence-transformers' `cross_encoder.losses`.

Every loss takes `forward(inputs, labels)` with `inputs` a list of text columns: pointwise losses
[queries, documents(, ...)]; listwise losses [queries, list of documents per query] (ragged allowed).
The math lives in each loss's `compute_loss_from_scores`, on raw logits. See docs/losses_cross.md.
"""

from raypipe.losses.cross.adr_mse import ADRMSELoss
from raypipe.losses.cross.binary_cross_entropy import BinaryCrossEntropyLoss
from raypipe.losses.cross.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from raypipe.losses.cross.cross_entropy import CrossEntropyLoss
from raypipe.losses.cross.lambda_loss import LambdaLoss
from raypipe.losses.cross.lambda_schemes import (
    BaseWeightingScheme,
    LambdaRankScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NDCGLoss2Scheme,
    NoWeightingScheme,
)
from raypipe.losses.cross.list_mle import ListMLELoss
from raypipe.losses.cross.list_net import ListNetLoss
from raypipe.losses.cross.margin_mse import MarginMSELoss
from raypipe.losses.cross.mse import MSELoss
from raypipe.losses.cross.multiple_negatives_ranking import MultipleNegativesRankingLoss
from raypipe.losses.cross.plist_mle import PListMLELambdaWeight, PListMLELoss
from raypipe.losses.cross.rank_net import RankNetLoss

__all__ = [
    "ADRMSELoss",
    "BaseWeightingScheme",
    "BinaryCrossEntropyLoss",
    "CachedMultipleNegativesRankingLoss",
    "CrossEntropyLoss",
    "LambdaLoss",
    "LambdaRankScheme",
    "ListMLELoss",
    "ListNetLoss",
    "MSELoss",
    "MarginMSELoss",
    "MultipleNegativesRankingLoss",
    "NDCGLoss1Scheme",
    "NDCGLoss2PPScheme",
    "NDCGLoss2Scheme",
    "NoWeightingScheme",
    "PListMLELambdaWeight",
    "PListMLELoss",
    "RankNetLoss",
]
