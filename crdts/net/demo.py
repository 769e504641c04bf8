"""``crdts region demo``: three regions as processes on loopback, replicating over mutual TLS (or NATS
JetStream). Each region adds items to a shared cart (an AWSet) and counts visits (a PNCounter) through its
HTTP API; one region is cut off while all keep writing, one is killed with ``kill -9`` and restarted, and at
the end every region holds every acknowledged write and the same values.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from .cluster import LocalCluster

__all__ = ["run_demo"]

NAMES = ["eu-west", "us-east", "ap-south"]


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def table(cluster: LocalCluster, phase: str, quiet: bool) -> None:
    """One line per region: what it holds now, its log position, and how far its peers lag behind it."""
    if quiet:
        return
    print(f"  {phase}")
    print(f"    {'region':<10} {'up':<4} {'cart':>5} {'visits':>6} {'lsn':>6} {'peers':<24} {'max lag':>8}")
    for n in cluster.names:
        if n not in cluster.procs:
            print(f"    {n:<10} {'no':<4}")
            continue
        try:
            h = cluster.health(n)
            cart = cluster.read(n, "cart") or []
            visits = cluster.read(n, "visits") or 0
        except OSError:
            print(f"    {n:<10} {'?':<4}")
            continue
        peers = h.get("peers", {})
        up = ",".join(p for p, v in sorted(peers.items()) if v.get("connected")) or "-"
        if "bus" in h:
            up = "bus" if h["bus"]["connected"] and not h["bus"]["cut_off"] else "cut off"
            lag = h["bus"]["unpublished"]
        else:
            lag = max((v.get("lag", 0) for v in peers.values()), default=0)
        print(f"    {n:<10} {'yes':<4} {len(cart):>5} {visits:>6} {h['lsn']:>6} {up:<24} {lag:>8}", flush=True)


def wait_converged(cluster: LocalCluster, keys: list[str], timeout: float) -> bool:
    """Poll until every running region reads the same value of every key (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = [tuple(repr(cluster.read(n, k)) for k in keys) for n in cluster.procs]
        if len(set(views)) == 1:
            return True
        time.sleep(0.1)
    return False


def run_demo(*, directory: str | None = None, transport: str = "tls", writes: int = 60, quiet: bool = False,
             seed: int = 7) -> int:
    rng = random.Random(seed)
    cluster = LocalCluster(NAMES, directory=directory, transport=transport, sync_interval=0.1)
    acked: dict[str, set[str]] = {n: set() for n in NAMES}
    visits = 0
    _say(quiet, f"starting {', '.join(NAMES)} over {transport} in {cluster.dir}")
    t0 = time.monotonic()
    try:
        cluster.start()
        cut = NAMES[2]
        for i in range(writes):
            if i == writes // 4:
                table(cluster, f"after {i * len(NAMES)} writes", quiet)
                _say(quiet, f"cutting {cut} off from the others (it keeps accepting writes)")
                cluster.cut_off(cut)
            if i == writes // 2:
                table(cluster, f"{cut} cut off, {i * len(NAMES)} writes", quiet)
                _say(quiet, f"kill -9 {NAMES[0]}, then restart it from its store")
                cluster.kill9(NAMES[0])
                table(cluster, f"{NAMES[0]} killed", quiet)
                cluster.start_region(NAMES[0])
            if i == 3 * writes // 4:
                table(cluster, f"{NAMES[0]} restarted, {i * len(NAMES)} writes", quiet)
                _say(quiet, f"healing: {cut} is back")
                cluster.heal()
            for n in NAMES:
                item = f"{n}-item-{i}"
                cluster.write(n, "cart", {"type": "AWSet", "op": "add", "args": [item]})
                acked[n].add(item)
                if rng.random() < 0.5:
                    cluster.write(n, "visits", {"type": "PNCounter", "op": "increment", "args": [1]})
                    visits += 1
        table(cluster, f"all {writes * len(NAMES)} writes acknowledged", quiet)
        ok = wait_converged(cluster, ["cart", "visits"], timeout=30)
        table(cluster, "converged" if ok else "NOT converged after 30 s", quiet)
        cart = set(cluster.read(NAMES[0], "cart") or [])
        want = set().union(*acked.values())
        lost = want - cart
        counted = cluster.read(NAMES[0], "visits")
        summary: dict[str, Any] = {"regions": len(NAMES), "transport": transport, "writes": writes * len(NAMES),
                                   "cart": len(cart), "lost": len(lost), "visits": counted, "visits_acked": visits,
                                   "converged": ok, "kill9": cluster.kills, "seconds": round(time.monotonic() - t0, 1)}
        print()
        w = max(len(k) for k in summary)
        for k, v in summary.items():
            print(f"{k:<{w}}  {v}", flush=True)
        good = ok and not lost and counted == visits
        if not good:
            print(f"the regions did not agree: logs in {cluster.dir}", file=sys.stderr)
        return 0 if good else 1
    finally:
        cluster.stop()
