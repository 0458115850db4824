"""MultipleNegativesRankingLoss (InfoNCE with in-batch negatives), sentence-transformers compatible."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from raypipe.losses.base import LossRequirements, RaypipeLoss, embed_columns
from raypipe.losses.dense._distributed import all_gather_with_offset
from raypipe.models.similarity import cos_sim

DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
PARTITION_MODES = ("joint", "per_direction")
HARDNESS_MODES = (None, "in_batch_negatives", "hard_negatives", "all_negatives")

CITATION_INFONCE = """
@misc{oord2019representationlearningcontrastivepredictive,
      title={Representation Learning with Contrastive Predictive Coding},
      author={Aaron van den Oord and Yazhe Li and Oriol Vinyals},
      year={2019},
      eprint={1807.03748},
      archivePrefix={arXiv},
      primaryClass={cs.LG},
      url={https://arxiv.org/abs/1807.03748},
}
"""
CITATION_GTE = """
@misc{li2023generaltextembeddingsmultistage,
      title={Towards General Text Embeddings with Multi-stage Contrastive Learning},
      author={Zehan Li and Xin Zhang and Yanzhao Zhang and Dingkun Long and Pengjun Xie and Meishan Zhang},
      year={2023},
      eprint={2308.03281},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2308.03281},
}
"""
CITATION_JINA = """
@misc{gunther2024jinaembeddings28192token,
      title={Jina Embeddings 2: 8192-Token General-Purpose Text Embeddings for Long Documents},
      author={Michael Günther and others},
      year={2024},
      eprint={2310.19923},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2310.19923},
}
"""


def similarity_name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def validate_mnrl_args(
    loss_name: str,
    scale: float,
    directions: Sequence[str],
    partition_mode: str,
    hardness_mode,
    hardness_strength,
) -> None:
    """Raise ValueError (parameter, value, what is allowed, the fix) for a bad MNRL configuration."""
    if not scale > 0:
        raise ValueError(
            f"{loss_name}: scale={scale!r} must be > 0. Fix: use e.g. scale=20.0 (temperature 0.05)."
        )
    bad = [d for d in directions if d not in DIRECTIONS]
    if not directions or bad or "query_to_doc" not in directions:
        raise ValueError(
            f"{loss_name}: directions={tuple(directions)!r} is invalid; allowed values are {DIRECTIONS} and "
            f"'query_to_doc' is required (it holds the positive pair). Fix: e.g. directions=('query_to_doc',)."
        )
    if partition_mode not in PARTITION_MODES:
        raise ValueError(
            f"{loss_name}: partition_mode={partition_mode!r} is invalid; allowed: {PARTITION_MODES}. "
            f"Fix: use 'joint' (one softmax) or 'per_direction'."
        )
    if partition_mode == "per_direction" and {"query_to_query", "doc_to_doc"} & set(directions):
        raise ValueError(
            f"{loss_name}: partition_mode='per_direction' cannot be combined with 'query_to_query' or 'doc_to_doc' "
            f"(their candidates never contain the positive, so a per-direction softmax is ill-defined). "
            f"Fix: use partition_mode='joint'."
        )
    if hardness_mode not in HARDNESS_MODES:
        raise ValueError(
            f"{loss_name}: hardness_mode={hardness_mode!r} is invalid; allowed: {HARDNESS_MODES}. "
            f"Fix: pass one of those."
        )
    if hardness_strength < 0:
        raise ValueError(
            f"{loss_name}: hardness_strength={hardness_strength!r} must be >= 0. Fix: use 0.0 (off) or e.g. 5.0."
        )


def mnrl_chunk_loss(
    cfg,
    queries: Tensor,
    docs: list[Tensor],
    offset: int,
    local_size: int,
    begin: int,
    end: int,
) -> Tensor:
    """Loss contribution of local query rows begin:end, i.e. sum over those rows of (log Z_i - s_i+) / local_size.

    queries: (W, D) all queries (W = world batch, gathered or local); docs: k tensors (W, D), docs[0] the positives,
    docs[1:] the hard-negative columns; this process owns global rows offset .. offset + local_size.
    cfg: an object with similarity_fct, scale, directions, partition_mode, hardness_mode, hardness_strength.
    Memory: O((end - begin) · W · k) for the score matrices.
    """
    sim, world = cfg.similarity_fct, queries.shape[0]
    num_docs = len(docs)
    rows = torch.arange(end - begin, device=queries.device)
    own = rows + offset + begin  # global index of each chunk row
    docs_all = torch.cat(docs, dim=0)  # (W·k, D), column j·W + i is doc column j of row i
    local_q, local_d = queries[own], docs[0][own]
    # (c, W) one-hot of each row's own global index, repeated per doc column -> (c, W·k)
    own_cols = torch.zeros(len(rows), world, dtype=torch.bool, device=queries.device)
    own_cols[rows, own] = True

    scores = {"query_to_doc": sim(local_q, docs_all)}  # (c, W·k)
    if "query_to_query" in cfg.directions:
        scores["query_to_query"] = sim(local_q, queries).masked_fill(own_cols, -torch.inf)  # (c, W)
    if "doc_to_query" in cfg.directions:
        scores["doc_to_query"] = sim(queries, local_d).T  # (c, W)
    if "doc_to_doc" in cfg.directions:
        # (c, W·k), excluding every document of the row's own query (its positive and its hard negatives)
        scores["doc_to_doc"] = sim(docs_all, local_d).T.masked_fill(own_cols.repeat(1, num_docs), -torch.inf)

    penalty = None
    if cfg.hardness_mode is not None and cfg.hardness_strength > 0:
        own_docs = own_cols.repeat(1, num_docs)
        is_hard_neg = torch.zeros_like(own_docs)
        is_hard_neg[:, world:] = True  # columns of explicit negative columns
        keep = {
            "in_batch_negatives": ~own_docs,
            "hard_negatives": own_docs & is_hard_neg,
            "all_negatives": ~(own_docs & ~is_hard_neg),
        }[cfg.hardness_mode]
        # alpha · stop_grad(sim) added after scaling (Lan et al. 2025, Eq. 5)
        penalty = cfg.hardness_strength * scores["query_to_doc"].detach() * keep

    scores = {k: v * cfg.scale for k, v in scores.items()}
    if penalty is not None:
        scores["query_to_doc"] = scores["query_to_doc"] + penalty
    positive = scores["query_to_doc"][rows, own]
    if cfg.partition_mode == "joint":
        log_z = torch.logsumexp(torch.cat(list(scores.values()), dim=1), dim=1)
    else:
        log_z = torch.stack([torch.logsumexp(s, dim=1) for s in scores.values()]).mean(dim=0)
    return (log_z - positive).sum() / local_size


def gather_columns(embeddings: list[Tensor], gather: bool) -> tuple[Tensor, list[Tensor], int]:
    """(queries, docs, offset): all-gathered with gradients across processes when `gather`, else as given."""
    if not gather:
        return embeddings[0], list(embeddings[1:]), 0
    queries, offset = all_gather_with_offset(embeddings[0])
    docs = [all_gather_with_offset(e)[0] for e in embeddings[1:]]
    return queries, docs, offset


class MultipleNegativesRankingLoss(RaypipeLoss):
    """InfoNCE / in-batch negatives ranking loss.

    For query i with positive p_i, the candidates are every document in the batch (all positives and all hard
    negatives); with the default direction

        loss = -mean_i [ scale·s(q_i, p_i) - logsumexp_j scale·s(q_i, d_j) ]

    `directions` adds further candidate sets for each row: query_to_query (s(q_i, q_j), j != i), doc_to_query
    (s(q_j, p_i)), doc_to_doc (s(d_j, p_i), documents of other queries). `partition_mode="joint"` puts them in one
    softmax, `"per_direction"` averages one logsumexp per direction. `hardness_mode` adds
    `hardness_strength · stop_grad(s)` (unscaled) to the selected negatives' logits: in-batch negatives, the row's
    own hard negatives, or both. With `gather_across_devices=True` queries and documents are all-gathered (with
    gradients) so every process contrasts against the global batch.

    | Inputs | Labels |
    |---|---|
    | (anchor, positive) | none |
    | (anchor, positive, negative) | none |
    | (anchor, positive, negative_1, ..., negative_n) | none |

    Cost: O(B · W · (1 + n) · D) time and O(B · W · (1 + n)) memory for the scores (W = global batch).

    Citation: van den Oord et al. 2018 (arXiv:1807.03748); GTE (Li et al. 2023) for all four joint directions;
    Jina Embeddings 2 (Günther et al. 2024) for the symmetric per-direction variant.
    """

    def __init__(
        self,
        model,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        gather_across_devices: bool = False,
        directions: tuple[str, ...] = ("query_to_doc",),
        partition_mode: str = "joint",
        hardness_mode: str | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__()
        validate_mnrl_args(
            type(self).__name__, scale, directions, partition_mode, hardness_mode, hardness_strength
        )
        self.model = model
        self.scale = scale
        self.similarity_fct = similarity_fct
        self.gather_across_devices = gather_across_devices
        self.directions = tuple(directions)
        self.partition_mode = partition_mode
        self.hardness_mode = hardness_mode
        self.hardness_strength = hardness_strength

    def input_requirements(self) -> LossRequirements:
        return LossRequirements(
            loss_name=type(self).__name__,
            min_inputs=2,
            max_inputs=None,
            model_kinds=("dense",),
            notes="column 0 = anchor, column 1 = positive, further columns = hard negatives",
        )

    def _check_columns(self, num_columns: int) -> None:
        self.input_requirements().check(num_columns, has_label=False)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        self._check_columns(len(sentence_features))
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """embeddings: [anchors (B, D), positives (B, D), negatives_1 (B, D), ...]; labels are ignored."""
        self._check_columns(len(embeddings))
        queries, docs, offset = gather_columns(embeddings, self.gather_across_devices)
        local = embeddings[0].shape[0]
        return mnrl_chunk_loss(self, queries, docs, offset, local, 0, local)

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    def get_config_dict(self) -> dict:
        return {
            "scale": self.scale,
            "similarity_fct": similarity_name(self.similarity_fct),
            "gather_across_devices": self.gather_across_devices,
            "directions": self.directions,
            "partition_mode": self.partition_mode,
            "hardness_mode": self.hardness_mode,
            "hardness_strength": self.hardness_strength,
        }

    @property
    def citation(self) -> str:
        if set(self.directions) == set(DIRECTIONS) and self.partition_mode == "joint":
            return CITATION_GTE
        if (
            set(self.directions) == {"query_to_doc", "doc_to_query"}
            and self.partition_mode == "per_direction"
        ):
            return CITATION_JINA
        return CITATION_INFONCE


__all__ = ["MultipleNegativesRankingLoss"]
