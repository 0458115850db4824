"""SparseEncoder losses (SPLADE and CSR), at parity with sentence-transformers' `sparse_encoder.losses`.

Imports are lazy: each name loads its own module on first access, so `import raypipe.losses.sparse` stays cheap
and the Trainer-callback adapter only imports transformers' trainer machinery when it is used.
"""

from __future__ import annotations

import importlib

_MODULES = {
    "SpladeLoss": "splade",
    "CachedSpladeLoss": "cached_splade",
    "FlopsLoss": "flops",
    "CSRLoss": "csr",
    "CSRReconstructionLoss": "csr_reconstruction",
    "SparseMultipleNegativesRankingLoss": "sparse_multiple_negatives_ranking",
    "SparseMarginMSELoss": "sparse_margin_mse",
    "SparseDistillKLDivLoss": "sparse_distill_kl_div",
    "SparseTripletLoss": "sparse_triplet",
    "SparseCosineSimilarityLoss": "sparse_cosine_similarity",
    "SparseCoSENTLoss": "sparse_cosent",
    "SparseAnglELoss": "sparse_angle",
    "SparseMSELoss": "sparse_mse",
    "SpladeRegularizerWeightScheduler": "regularizer_scheduler",
    "SchedulerType": "regularizer_scheduler",
    "SpladeRegularizerWeightSchedulerCallback": "splade_callback",
    "SparseLossUsageError": "_guard",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
