"""`raypipe` command line: `raypipe COMMAND CONFIG [key.path=value ...]` (commands: see `raypipe --help`).

Overrides use dotted keys into the YAML, values parsed as YAML, e.g. `raypipe mine cfg.yaml mining.num_negatives=5
output.dir=/tmp/out`. The config is checked (unknown keys, bad values, missing files, folders and models: every
problem at once) before any model loads or Ray starts; a bad config exits with code 2. raypipe's own log messages
(an evaluator's metrics, a reused initial model, ignored settings) go to stderr at `--log-level` (INFO by default);
other libraries' loggers are left as they are.
"""

from __future__ import annotations

import argparse
import logging
import sys

from raypipe.jobs import JOBS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raypipe", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of user errors")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="level of raypipe's own log messages on stderr (default: INFO)")
    sub = parser.add_subparsers(dest="command", required=True)
    for job in JOBS.values():
        p = sub.add_parser(job.name, help=job.help)
        p.add_argument("config", help=f"path to a {job.name} YAML config, e.g. pipelines/configs/{job.name}-*.yaml")
        p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message is logged (a captured or redirected stderr included)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it; the property always answers sys.stderr
        pass


def _configure_logging(level: str) -> None:
    """A stderr handler on the `raypipe` logger only (the root logger and other libraries' are not touched), added
    once however often `main` runs in one process."""
    log = logging.getLogger("raypipe")
    log.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        log.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
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
