"""raypipe.cli: the log level of raypipe's own messages."""

from __future__ import annotations

import logging

from raypipe.cli import _StderrHandler, main


def test_log_level_shows_raypipe_messages_on_stderr(tmp_path, capsys):
    missing = str(tmp_path / "missing.yaml")
    assert main(["eval", missing]) == 2  # a bad config: the logging is set up before the config is read
    assert main(["--log-level", "INFO", "eval", missing]) == 2
    logging.getLogger("raypipe.eval.cross").info("nDCG@10: 0.85")
    err = capsys.readouterr().err
    assert "missing.yaml" in err and "INFO raypipe.eval.cross: nDCG@10: 0.85" in err
    assert sum(isinstance(h, _StderrHandler) for h in logging.getLogger("raypipe").handlers) == 1  # not one per run
    assert not any(isinstance(h, _StderrHandler) for h in logging.getLogger().handlers)  # the root logger untouched

    assert main(["--log-level", "WARNING", "eval", missing]) == 2
    capsys.readouterr()
    logging.getLogger("raypipe.eval.cross").info("hidden")
    logging.getLogger("raypipe.jobs.train").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "WARNING raypipe.jobs.train: shown" in err
