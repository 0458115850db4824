"""PListMLELoss: position-aware Plackett-Luce likelihood of the ground-truth ordering."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raypipe.losses.cross._common import IDENTITY, fullname
from raypipe.losses.cross._listwise import ListwiseCrossEncoderLoss


class PListMLELambdaWeight(nn.Module):
    """Position weights of PListMLE: w_r = 2^(n - r) - 1 for ranks r = 1..n of a list of n documents.

    forward(mask (B, N) bool) -> (B, N) weights, 0 on padding. Rows longer than 127 documents are rescaled by
    2^-(n-127) to stay finite in float32; the loss normalizes weights per query, so this does not change it.

    Args:
        rank_discount_fn: optional callable mask -> (B, N) weights replacing the default.
    """

    def __init__(self, rank_discount_fn=None) -> None:
        super().__init__()
        self.rank_discount_fn = rank_discount_fn

    def forward(self, mask: Tensor) -> Tensor:
        if self.rank_discount_fn is not None:
            return self.rank_discount_fn(mask)
        n = mask.sum(dim=1, keepdim=True)  # (B, 1) documents per query
        ranks = torch.arange(1, mask.shape[1] + 1, device=mask.device).expand_as(mask)  # (B, N)
        shift = (n - 127).clamp_min(0)
        weights = torch.pow(2.0, n - ranks - shift) - torch.pow(2.0, -shift)
        return weights * mask


_DEFAULT_LAMBDA = PListMLELambdaWeight()
_PAD_LOGIT = 1e-16  # any finite value: padded slots are excluded from the normalizers and the sum


class PListMLELoss(ListwiseCrossEncoderLoss):
    """Position-aware ListMLE (Lan et al., 2014) on (query, [documents]) lists.

    With the documents in ground-truth order (the input order when `respect_input_order`, else sorted by label,
    descending) and s = act(logits):

        loss = mean over queries of - sum_r w_r · (s_r - log sum_{t >= r} exp(s_t))

    with w the PListMLELambdaWeight weights normalized to sum to 1 per query (w = 1 without weights: ListMLE).

    | Inputs | Labels | model num_labels |
    |---|---|---|
    | (query, [doc_1, ..., doc_n]) | [score_1, ..., score_n] (ragged lists allowed) | 1 |

    Cost: sum_i n_i model pairs; O(B·N) memory in the loss.

    Args:
        model: a CrossEncoder with `num_labels == 1`.
        lambda_weight: position weights (None = ListMLE).
        activation_fn: applied to the logits first (default identity).
        mini_batch_size: pairs per forward pass (None: number of queries; <= 0: all pairs).
        respect_input_order: True: documents are already ordered by relevance; False: sort them by label.
    """

    citation = """
@inproceedings{lan2014position,
  title={Position-Aware ListMLE: A Sequential Learning Process for Ranking},
  author={Lan, Yanyan and Zhu, Yadong and Guo, Jiafeng and Niu, Shuzi and Cheng, Xueqi},
  booktitle={UAI},
  volume={14},
  pages={449--458},
  year={2014}
}
"""

    def __init__(
        self,
        model: nn.Module,
        lambda_weight: PListMLELambdaWeight | None = _DEFAULT_LAMBDA,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)
        self.lambda_weight = lambda_weight
        self.respect_input_order = respect_input_order
        self.eps = 1e-10

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """scores: raw logits (B, N); labels: (B, N); mask: (B, N) bool, True = real document."""
        scores, mask = self._activated(scores, mask)
        scores = scores.masked_fill(~mask, _PAD_LOGIT)
        if not self.respect_input_order:
            labels = labels.float().to(scores.device).masked_fill(~mask, float("-inf"))
            order = labels.sort(descending=True, dim=1).indices  # padding (-inf) goes last
            scores, mask = scores.gather(1, order), mask.gather(1, order)
        # log sum_{t >= r} exp(s_t): reversed cumulative log-sum-exp over real documents only.
        lowest = torch.finfo(scores.dtype).min
        tail = torch.flip(torch.logcumsumexp(torch.flip(scores.masked_fill(~mask, lowest), [1]), dim=1), [1])
        log_probs = scores - tail  # (B, N)
        if self.lambda_weight is not None:
            weights = self.lambda_weight(mask)
            log_probs = log_probs * (weights / (weights.sum(dim=1, keepdim=True) + self.eps))
        log_probs = log_probs.masked_fill(~mask, 0.0)
        return -log_probs.sum(dim=1).mean()

    def get_config_dict(self) -> dict:
        return {
            "lambda_weight": fullname(self.lambda_weight),
            "activation_fn": fullname(self.activation_fn),
            "mini_batch_size": self.mini_batch_size,
            "respect_input_order": self.respect_input_order,
        }


__all__ = ["PListMLELoss", "PListMLELambdaWeight"]
