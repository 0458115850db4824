"""The one Ray runtime helper every job uses: connect to a cluster or start an embedded Ray, and set Ray Data's
logging and progress settings. Ray-facing (imports Ray).

    with ray_runtime(cfg.ray):
        ...   # Ray is up; stopped on exit only if this call started it

Connecting to an existing cluster (an address in the config, RAY_ADDRESS as `ray job submit` sets it, or a Ray
already initialized in this process) never passes num_cpus/num_gpus: Ray refuses them there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import ray

from raypipe.config.runtime import RayConfig

__all__ = ["ray_runtime", "ensure_ray", "apply_data_settings", "cluster_resources"]

logger = logging.getLogger(__name__)


# An embedded Ray starts no idle workers ahead of need. Idle, Ray's processes on 2 CPUs used 1.37 CPU-s every 20 s
# with its two prestarted workers and 0.88 without; each wake-up can stall a torch parallel region on the cores it
# shares (both OpenMP threads wait at the barrier for the one preempted). Cost: ~0.6 s to start the first worker.
NO_PRESTART = {"enable_worker_prestart": False, "prestart_worker_first_driver": False}


def ensure_ray(cfg: RayConfig | None = None) -> bool:
    """Make sure Ray is initialized; returns True when this call started it (embedded or connected).
    A Ray already running keeps its settings unless a config is given."""
    if ray.is_initialized():
        if cfg is not None:
            _configure_data(cfg)
        return False
    cfg = cfg or RayConfig()
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        if cfg.num_cpus is not None or cfg.num_gpus is not None:
            logger.info("ray.num_cpus/num_gpus are ignored when connecting to the cluster at %s.", address)
        ray.init(address=address, log_to_driver=cfg.log_to_driver, ignore_reinit_error=True)
    else:
        ray.init(num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, include_dashboard=cfg.include_dashboard,
                 log_to_driver=cfg.log_to_driver, ignore_reinit_error=True,
                 _temp_dir=os.path.abspath(cfg.temp_dir) if cfg.temp_dir else None,
                 _system_config=None if cfg.prestart_workers else NO_PRESTART)
    _configure_data(cfg)
    return True


_DATA_SETTINGS: RayConfig | None = None  # the runtime config whose Ray Data settings apply_data_settings uses


def _configure_data(cfg: RayConfig) -> None:
    # ray.data is imported only where something uses it (MiningResult.to_ray, a user's own datasets): in a driver
    # that never does it costs ~0.4 s and ~64 MB; the settings are applied now if it is already loaded, else then.
    global _DATA_SETTINGS
    _DATA_SETTINGS = cfg
    if "ray.data" in sys.modules:
        apply_data_settings()


def apply_data_settings() -> None:
    """Ray Data's log level and progress bars from the runtime config of the last `ensure_ray` (defaults if none);
    call before building a Ray Dataset."""
    import ray.data

    cfg = _DATA_SETTINGS or RayConfig()
    logging.getLogger("ray.data").setLevel(cfg.log_level)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = cfg.progress_bars
    ctx.print_on_execution_start = cfg.progress_bars


@contextlib.contextmanager
def ray_runtime(cfg: RayConfig | None = None) -> Iterator[None]:
    """Ray for the duration of the block; shut down at the end only if this block started it."""
    started = ensure_ray(cfg)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def cluster_resources() -> dict[str, float]:
    """Total resources of the connected cluster (CPU, GPU, memory, custom)."""
    return dict(ray.cluster_resources())
