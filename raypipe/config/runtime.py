"""The `ray:` section every command shares: which Ray to use and how it reports progress. Resources of a stage
(actors, workers, GPUs per actor) belong to that stage's own section, not here."""

from __future__ import annotations

from pydantic import Field

from raypipe.config.base import StrictModel

__all__ = ["RayConfig"]


class RayConfig(StrictModel):
    """Connect to a running cluster (`address`, or RAY_ADDRESS as `ray job submit` sets it) or start an embedded
    Ray on this machine."""

    address: str | None = Field(
        None, description="Ray cluster address ('auto', 'ray://host:10001', host:port); null: the cluster in "
                          "RAY_ADDRESS if set (as under `ray job submit`), else an embedded Ray on this machine")
    num_cpus: int | None = Field(
        None, ge=1, description="CPUs of an embedded Ray (null: all); ignored when connecting to a cluster")
    num_gpus: int | None = Field(
        None, ge=0, description="GPUs of an embedded Ray (null: all); ignored when connecting to a cluster")
    progress_bars: bool = Field(False, description="show Ray Data's per-operator progress bars on the terminal")
    include_dashboard: bool | None = Field(
        None, description="start the dashboard with an embedded Ray (null: Ray's default, on with ray[default]); "
                          "Ray Train's cleanup polls its state API")
    log_to_driver: bool = Field(True, description="show the output of Ray workers (training progress, logs) here")
    temp_dir: str | None = Field(None, description="session folder of an embedded Ray (null: Ray's default, "
                                                   "/tmp/ray); ignored when connecting to a cluster")
    prestart_workers: bool = Field(
        False, description="let an embedded Ray keep one idle Python worker per CPU ready (Ray's default): the "
                           "first task or actor starts ~0.6 s sooner, but the idle workers wake every few ms beside "
                           "the compute (2 CPUs: a third of Ray's background CPU); ignored when connecting")
    log_level: str = Field("WARNING", pattern="^(DEBUG|INFO|WARNING|ERROR)$",
                           description="log level of Ray Data's logger on the driver")
