"""ParaphraseMiningEvaluator: mine the most similar sentence pairs of a collection and score them against known
duplicates (average precision over the ranked pair list, best F1 and its threshold)."""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict

import torch

from raypipe.eval.base import BaseEvaluator, append_csv_row, encode, epoch_text
from raypipe.models.similarity import cos_sim

logger = logging.getLogger(__name__)


def mine_pairs(
    embeddings, query_chunk_size: int, corpus_chunk_size: int, max_pairs: int, top_k: int, score_fn=cos_sim
):
    """Top pairs (score, i, j), i < j, best first. Each sentence contributes its top_k neighbours; at most
    ``max_pairs`` pairs are kept (a min-heap). Memory O(query_chunk · corpus_chunk + max_pairs)."""
    n = len(embeddings)
    heap: list[tuple[float, int, int]] = []
    queued: set[tuple[int, int]] = set()
    floor = float("-inf")
    for qs in range(0, n, query_chunk_size):
        queries = embeddings[qs : qs + query_chunk_size]
        best_v = best_i = None
        for cs in range(0, n, corpus_chunk_size):
            scores = score_fn(queries, embeddings[cs : cs + corpus_chunk_size]).detach()  # (q, c)
            v, i = torch.topk(scores, min(top_k + 1, scores.shape[1]), dim=1)
            i = i + cs
            if best_v is not None:
                v, i = torch.cat([best_v, v], dim=1), torch.cat([best_i, i], dim=1)
                v, pos = torch.topk(v, min(top_k + 1, v.shape[1]), dim=1)
                i = i.gather(1, pos)
            best_v, best_i = v, i
        for row, (vals, idxs) in enumerate(zip(best_v.cpu().tolist(), best_i.cpu().tolist())):
            a = qs + row
            neighbours = [(j, s) for j, s in zip(idxs, vals) if j != a][:top_k]
            for j, s in neighbours:
                pair = (min(a, j), max(a, j))
                if s <= floor or pair in queued:
                    continue
                queued.add(pair)
                if len(heap) < max_pairs:
                    heapq.heappush(heap, (s, *pair))
                else:
                    dropped = heapq.heappushpop(heap, (s, *pair))
                    queued.discard(dropped[1:])
                    floor = dropped[0]
    return sorted(heap, key=lambda x: x[0], reverse=True)


def transitive_closure(graph: dict) -> dict:
    """Mark every pair inside each connected component of the duplicate graph as duplicates."""
    seen: set = set()
    for start in list(graph):
        if start in seen:
            continue
        component, stack = {start}, [start]
        while stack:
            node = stack.pop()
            for other, dup in list(graph[node].items()):
                if dup and other not in component:
                    component.add(other)
                    stack.append(other)
        members = sorted(component, key=str)
        for x in members:
            for y in members:
                if x != y:
                    graph[x][y] = True
        seen |= component
    return graph


class ParaphraseMiningEvaluator(BaseEvaluator):
    """Metrics ``average_precision`` (primary), ``f1``, ``precision``, ``recall``, ``threshold``.

    ``sentences_map``: {id: sentence}; duplicates as ``duplicates_list`` [(id1, id2)] and/or ``duplicates_dict``
    {id1: {id2: True}}. Cost: O(N²·D) scoring in chunks; memory bounded by the chunk sizes and ``max_pairs``.
    """

    def __init__(
        self,
        sentences_map: dict[str, str],
        duplicates_list: list[tuple[str, str]] | None = None,
        duplicates_dict: dict[str, dict[str, bool]] | None = None,
        add_transitive_closure: bool = False,
        query_chunk_size: int = 5000,
        corpus_chunk_size: int = 100000,
        max_pairs: int = 500000,
        top_k: int = 100,
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ):
        super().__init__()
        if len(sentences_map) < 2:
            raise ValueError(
                "ParaphraseMiningEvaluator: sentences_map needs at least 2 sentences to form pairs."
            )
        self.ids, self.sentences = list(sentences_map), list(sentences_map.values())
        self.name = name
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.query_chunk_size, self.corpus_chunk_size = query_chunk_size, corpus_chunk_size
        self.max_pairs, self.top_k = max_pairs, top_k
        self.truncate_dim = truncate_dim
        self._add_transitive_closure = add_transitive_closure
        self.duplicates = defaultdict(lambda: defaultdict(bool))
        for id1, targets in (duplicates_dict or {}).items():
            self.duplicates[id1].update(targets)
        for id1, id2 in duplicates_list or []:
            if id1 in sentences_map and id2 in sentences_map:
                self.duplicates[id1][id2] = self.duplicates[id2][id1] = True
        if add_transitive_closure:
            self.duplicates = transitive_closure(self.duplicates)
        positives = {
            tuple(sorted((a, b)))
            for a in list(self.duplicates)
            for b in list(self.duplicates[a])
            if a in sentences_map and b in sentences_map and (self.duplicates[a][b] or self.duplicates[b][a])
        }
        self.total_num_duplicates = len(positives)
        self.write_csv = write_csv
        self.csv_file = "paraphrase_mining_evaluation" + ("_" + name if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "precision", "recall", "f1", "threshold", "average_precision"]
        self.primary_metric = "average_precision"

    def _is_duplicate(self, a: str, b: str) -> bool:
        return bool(self.duplicates.get(a, {}).get(b) or self.duplicates.get(b, {}).get(a))

    def score_pairs(self, pairs) -> dict[str, float]:
        """AP / best F1 over the ranked pairs; cut points only between different scores."""
        total = self.total_num_duplicates
        n_extract = n_correct = previous = 0
        ap = best_f1 = best_p = best_r = threshold = 0
        for idx, (score, i, j) in enumerate(pairs):
            n_extract += 1
            n_correct += self._is_duplicate(self.ids[i], self.ids[j])
            if idx + 1 < len(pairs) and pairs[idx + 1][0] == score:
                continue
            if n_correct > previous:
                precision = n_correct / n_extract
                recall = n_correct / total if total > 0 else 0.0
                f1 = 2 * precision * recall / (precision + recall)
                ap += precision * (n_correct - previous)
                if f1 > best_f1:
                    best_f1, best_p, best_r = f1, precision, recall
                    threshold = (score + pairs[min(idx + 1, len(pairs) - 1)][0]) / 2
            previous = n_correct
        ap = ap / total if total > 0 else 0
        return {
            "average_precision": ap,
            "f1": best_f1,
            "precision": best_p,
            "recall": best_r,
            "threshold": threshold,
        }

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        logger.info("Paraphrase mining evaluation on the %s dataset%s", self.name, epoch_text(epoch, steps))
        emb = encode(
            model, self.sentences, None, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True, truncate_dim=self.truncate_dim,
        )  # fmt: skip
        pairs = mine_pairs(emb, self.query_chunk_size, self.corpus_chunk_size, self.max_pairs, self.top_k)
        m = self.score_pairs(pairs)
        if self.write_csv:
            row = [epoch, steps, m["precision"], m["recall"], m["f1"], m["threshold"], m["average_precision"]]
            append_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = self.prefix_name_to_metrics(m, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict:
        out = {
            "add_transitive_closure": self._add_transitive_closure,
            "max_pairs": self.max_pairs,
            "top_k": self.top_k,
        }
        if self.truncate_dim is not None:
            out["truncate_dim"] = self.truncate_dim
        return out


__all__ = ["ParaphraseMiningEvaluator", "mine_pairs", "transitive_closure"]
