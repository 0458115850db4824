"""`raypipe` command line: `raypipe COMMAND CONFIG [key.path=value ...]` (commands: see `raypipe --help`).

Overrides use dotted keys into the YAML, values parsed as YAML, e.g. `raypipe mine cfg.yaml mining.num_negatives=5
output.dir=/tmp/out`. The config is checked (unknown keys, bad values, missing files, folders and models: every
problem at once) before any model loads or Ray starts; a bad config exits with code 2.
"""

from __future__ import annotations

import argparse
import sys

from raypipe.jobs import JOBS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raypipe", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of user errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for job in JOBS.values():
        p = sub.add_parser(job.name, help=job.help)
        p.add_argument("config", help=f"path to a {job.name} YAML config, e.g. pipelines/configs/{job.name}-*.yaml")
        p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    job = JOBS[args.command]
    from raypipe.config.base import load_config

    try:
        cfg = load_config(job.schema, args.config, args.overrides)
        result = job.run(cfg)
    except ValueError as err:  # user errors: bad config, bad data; one message, exit code 2
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
