"""Peak memory of one training step (forward + backward): MultipleNegativesRankingLoss vs
CachedMultipleNegativesRankingLoss, as the batch grows (default 32..512, mini_batch_size 32, sequence length 64).

Measurement: torch.profiler on CPU with profile_memory=True. Every allocator event ("[memory]", +bytes / -bytes) in
the profiled window (loss forward + loss.backward(), tokenization excluded) is summed in time order; the maximum of
that running sum is the peak of memory allocated *during the step*, on top of what existed before (weights,
tokenized inputs). tracemalloc is not used because it does not see torch's tensor allocator.

Model: a small random BERT built locally (default hidden 128, 2 layers, 2 heads, WordPiece vocab from
tests/fixtures), mean pooling, (anchor, positive) pairs of random words truncated to --seq-len tokens.

    python bench/cached_memory.py [--batch-sizes 32,64,128,256,512] [--mini-batch-size 32] [--hidden 128]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from raypipe import SentenceTransformer  # noqa: E402
from raypipe.losses.dense.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss  # noqa: E402
from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss  # noqa: E402
from tests.fixtures.tiny_models import WORDS, bert_config, build_tokenizer  # noqa: E402


def build_model(path: str, hidden: int, layers: int, seq_len: int) -> SentenceTransformer:
    from transformers import BertModel

    torch.manual_seed(0)
    BertModel(bert_config(dropout=0.0, hidden=hidden, layers=layers)).save_pretrained(path)
    build_tokenizer(max_length=seq_len).save_pretrained(path)
    return SentenceTransformer(path)


def random_texts(n: int, words: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(n)]


def peak_step_memory(loss, model, features) -> tuple[float, float]:
    """(peak MiB allocated during forward + backward, seconds)."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        loss(features, None).backward()
    seconds = time.perf_counter() - start
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        current += event.nbytes()
        peak = max(peak, current)
    model.zero_grad(set_to_none=True)
    return peak / 2**20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-sizes", default="32,64,128,256,512")
    parser.add_argument("--mini-batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(tmp, args.hidden, args.layers, args.seq_len)
        model.train()
        plain = MultipleNegativesRankingLoss(model)
        cached = CachedMultipleNegativesRankingLoss(model, mini_batch_size=args.mini_batch_size)
        print(
            f"model: random BERT hidden={args.hidden} layers={args.layers}, seq_len={args.seq_len}, (anchor, positive) "
            f"pairs, mini_batch_size={args.mini_batch_size}, torch threads={args.threads}\n"
            "peak = max running sum of CPU allocator events during forward+backward (torch.profiler profile_memory)\n"
        )
        print(
            "| batch | tokens/column | MNRL peak MiB | Cached MNRL peak MiB | MNRL s | Cached s | loss MNRL | loss cached |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            # ~2 tokens per word with this vocab's sub-words; long enough to hit seq_len truncation
            columns = [random_texts(batch, args.seq_len, rng) for _ in range(2)]
            features = [model.tokenize(c) for c in columns]
            tokens = int(features[0]["attention_mask"].sum())
            with torch.no_grad():
                loss_plain = plain(features, None).item()
                loss_cached = cached(features, None).item()
            mem_plain, t_plain = peak_step_memory(plain, model, features)
            mem_cached, t_cached = peak_step_memory(cached, model, features)
            print(
                f"| {batch} | {tokens} | {mem_plain:.1f} | {mem_cached:.1f} | {t_plain:.2f} | {t_cached:.2f} "
                f"| {loss_plain:.5f} | {loss_cached:.5f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
