"""Configs: the strict pydantic base every command shares (`base.py`), path kinds and checks (`paths.py`), the
shared `ray:` section (`runtime.py`), and one schema module per command (`mine.py`, ...). Command schemas are
imported from their own modules so that loading the base never pulls in a command's dependencies."""

from raypipe.config.base import (
           ConfigError,
           StrictModel,
           apply_overrides,
           format_validation_error,
           load_config,
)
from raypipe.config.paths import InputPath, ModelPath, OutputPath, check_paths, resolve_path
from raypipe.config.runtime import RayConfig

__all__ = ["ConfigError", "StrictModel", "load_config", "apply_overrides", "format_validation_error", "InputPath",
           "ModelPath", "OutputPath", "check_paths", "resolve_path", "RayConfig"]
