"""Pydantic configs (extra="forbid", every error reported at once) and the `build_*` functions that turn them into
arguments for raypipe's pipelines."""

from raypipe.config.mining import (
    MiningConfig,
    apply_overrides,
    build_mining_job,
    format_validation_error,
    load_mining_config,
    resolve_path,
)

__all__ = ["MiningConfig", "load_mining_config", "build_mining_job", "apply_overrides", "resolve_path",
           "format_validation_error"]
