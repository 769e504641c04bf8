"""Hypothesis profiles: ``HYPOTHESIS_PROFILE=ci`` (derandomized, bounded) or ``dev`` (the default)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=30,
    deadline=None,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_addoption(parser):
    parser.addoption("--chaos-long", action="store_true", default=False,
                     help="run the region chaos tests for CRDTS_CHAOS_SECONDS (default 300) each, not seconds")


def pytest_configure(config):
    config.addinivalue_line("markers", "processes: starts real region processes (and a nats-server) on 127.0.0.1")
