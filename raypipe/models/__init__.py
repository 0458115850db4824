"""raypipe's encoders and their modules, saved and loaded in sentence-transformers' format."""

from raypipe.models.cross import CrossEncoder
from raypipe.models.dense import SentenceTransformer
from raypipe.models.layers import Dense, Normalize
from raypipe.models.pooling import Pooling
from raypipe.models.sparse import SparseEncoder
from raypipe.models.sparse_autoencoder import SparseAutoEncoder
from raypipe.models.splade_pooling import SpladePooling
from raypipe.models.transformer import Transformer

__all__ = [
    "SentenceTransformer",
    "CrossEncoder",
    "SparseEncoder",
    "Transformer",
    "Pooling",
    "Dense",
    "Normalize",
    "SpladePooling",
    "SparseAutoEncoder",
]
