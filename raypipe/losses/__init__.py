"""raypipe losses. Dense (SentenceTransformer) losses are re-exported here, as in sentence-transformers'
`sentence_transformers.losses`; CrossEncoder and SparseEncoder losses live in `raypipe.losses.cross` and
`raypipe.losses.sparse`. `LossRequirements` describes the dataset each loss accepts."""

from raypipe.losses import cross, dense, sparse
from raypipe.losses.base import LossRequirements, RaypipeLoss
from raypipe.losses.dense import *  # noqa: F403
from raypipe.losses.dense import __all__ as _dense_all

__all__ = ["LossRequirements", "RaypipeLoss", "cross", "dense", "sparse", *_dense_all]
