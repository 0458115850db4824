"""raypipe.runtime.ensure_ray without starting Ray: what it asks ray.init for."""

from __future__ import annotations

import pytest

runtime = pytest.importorskip("raypipe.runtime")
from raypipe.config.runtime import RayConfig  # noqa: E402


@pytest.fixture
def init_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(runtime.ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return calls


def test_embedded_ray_prestarts_no_idle_workers_by_default(init_calls):
    assert runtime.ensure_ray(RayConfig(num_cpus=2)) is True
    assert init_calls[0]["_system_config"] == {"enable_worker_prestart": False, "prestart_worker_first_driver": False}
    assert init_calls[0]["num_cpus"] == 2


def test_prestart_workers_keeps_rays_default(init_calls):
    runtime.ensure_ray(RayConfig(prestart_workers=True))
    assert init_calls[0]["_system_config"] is None


def test_a_cluster_keeps_its_own_settings(init_calls):
    runtime.ensure_ray(RayConfig(address="auto"))
    assert init_calls[0]["address"] == "auto" and "_system_config" not in init_calls[0]
