"""`raypipe` command line: `raypipe mine CONFIG [key.path=value ...]`.

Overrides use dotted keys into the YAML, values parsed as YAML: `raypipe mine cfg.yaml mining.num_negatives=5
ray.executor=local output.dir=/tmp/out`.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main", "run_mine"]


def run_mine(config: str, overrides: list[str]) -> int:
    """Validate the config (all errors at once), start/attach Ray if asked, mine, print stats and output."""
    from raypipe.config import build_mining_job, load_mining_config

    cfg = load_mining_config(config, overrides)
    if cfg.ray.executor == "ray":
        import logging

        import ray.data

        from raypipe.mining.ray_stages import ensure_ray

        ensure_ray(cfg.ray.address, cfg.ray.num_cpus)
        # keep the terminal for the statistics table; Ray Data's per-operator progress goes to its log files
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ray.data.DataContext.get_current().enable_progress_bars = False
    from raypipe.mining import mine

    t0 = time.perf_counter()
    job = build_mining_job(cfg)
    result = mine(**job)
    info = result.info
    print(f"Mined {info['rows']:,} rows ({cfg.mining.output_format}) for {info['queries']:,} queries against "
          f"{info['documents']:,} documents in {time.perf_counter() - t0:.1f}s "
          f"(newly embedded: {info['embedded_documents']:,} documents, {info['embedded_queries']:,} queries; "
          f"embedding cache: {info['cache_dir']}).")
    print(f"Output written to {result.output_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raypipe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_mine = sub.add_parser("mine", help="mine hard negatives from a YAML config")
    p_mine.add_argument("config", help="path to a mining YAML, e.g. pipelines/configs/mine-debian.yaml")
    p_mine.add_argument("overrides", nargs="*", help="key.path=value overrides")
    args = parser.parse_args(argv)
    try:
        if args.command == "mine":
            return run_mine(args.config, args.overrides)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
