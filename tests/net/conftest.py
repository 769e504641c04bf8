"""Every test of regions is bounded in time: one that hangs fails (with the stacks) instead of stalling CI."""

from __future__ import annotations

import faulthandler
import signal
import sys

import pytest

LIMIT = 240  # seconds; the longest default test (the chaos runs) takes well under a minute


class Hung(Exception):
    pass


@pytest.fixture(autouse=True)
def time_limit(request):
    if not hasattr(signal, "SIGALRM") or request.config.getoption("--chaos-long"):
        yield
        return

    def expired(signum, frame):
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        raise Hung(f"{request.node.nodeid} ran over {LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
