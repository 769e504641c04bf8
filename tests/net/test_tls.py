"""Regions over real mutual-TLS sockets on 127.0.0.1, in one event loop: convergence, faults, and who may connect."""

from __future__ import annotations

import asyncio
import ssl

import pytest

trustme = pytest.importorskip("trustme")

from crdts import AWSet, PNCounter  # noqa: E402
from crdts.net import Region  # noqa: E402
from crdts.net.frames import encode_frame  # noqa: E402
from crdts.net.tls import Faults, PeerAddress, TLSHost  # noqa: E402
from crdts.store import SQLiteStore  # noqa: E402
from crdts.sync.trust import Authorizer, Grant  # noqa: E402

NAMES = ["ap", "eu", "us"]


def contexts(ca, name, tmp_path):
    cert = ca.issue_cert(name)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    for ctx in (server, client):
        ca.configure_trust(ctx)
        cert.configure_cert(ctx)
    server.verify_mode = ssl.CERT_REQUIRED
    return server, client


class Mesh:
    def __init__(self, tmp_path, names=NAMES):
        self.tmp = tmp_path
        self.names = names
        self.ca = trustme.CA()
        self.hosts: dict[str, TLSHost] = {}
        self.ports: dict[str, int] = {}

    async def start(self, name, relay=True, **kw):
        from crdts.net.cluster import free_port

        port = self.ports.setdefault(name, free_port())
        region = Region(SQLiteStore(self.tmp / f"{name}.db", replica=name), peers=[n for n in self.names if n != name],
                        sync_interval=0.05, commit_delay=0, forward=relay,
                        authorizer=Authorizer({n: Grant(frozenset({n}), relay=relay) for n in self.names
                                               if n != name}))
        await region.start()
        server, client = contexts(self.ca, name, self.tmp)
        peers = [PeerAddress(n, "127.0.0.1", self.ports.setdefault(n, free_port())) for n in self.names if n != name]
        host = TLSHost(region, listen=("127.0.0.1", port), peers=peers, server_ssl=server, client_ssl=client,
                       keepalive=0.5, max_backoff=0.5, faults=Faults(), **kw)
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

    async def settle(self, names, key, timeout=20.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            values = [self.hosts[n].region.get(key) for n in names]
            if all(v is not None for v in values) and all(v.value == values[0].value for v in values):
                return values[0].value
            await asyncio.sleep(0.05)
        raise AssertionError(f"{key} did not converge: {[self.hosts[n].region.get(key) for n in names]}")


def test_three_regions_over_tls_converge_with_duplicated_and_delayed_frames(tmp_path):
    async def main():
        mesh = Mesh(tmp_path)
        try:
            for n in NAMES:
                await mesh.start(n)
            for h in mesh.hosts.values():
                h.faults.dup, h.faults.delay = 0.3, 0.02
            for i in range(30):
                for n in NAMES:
                    await mesh.hosts[n].region.write("cart", AWSet, lambda s, n=n, i=i: s.add(f"{n}{i}"))
                    await mesh.hosts[n].region.write("hits", PNCounter, lambda c: c.increment())
            assert len(await mesh.settle(NAMES, "cart")) == 90
            assert await mesh.settle(NAMES, "hits") == 90
            assert all(h.links for h in mesh.hosts.values())
        finally:
            await mesh.close()

    asyncio.run(main())


def test_a_cut_off_region_keeps_writing_and_converges_after_the_heal(tmp_path):
    async def main():
        mesh = Mesh(tmp_path)
        try:
            for n in NAMES:
                await mesh.start(n)
            await mesh.hosts["us"].region.write("cart", AWSet, lambda s: s.add("first"))
            await mesh.settle(NAMES, "cart")
            mesh.hosts["us"].faults.blocked = {"*"}
            for n in ("ap", "eu"):
                mesh.hosts[n].faults.blocked = {"us"}
            await mesh.hosts["us"].region.write("cart", AWSet, lambda s: s.remove("first"))
            await mesh.hosts["ap"].region.write("cart", AWSet, lambda s: s.add("second"))
            await asyncio.sleep(0.4)
            assert mesh.hosts["eu"].region.get("cart").value == {"first", "second"}   # the cut held
            assert mesh.hosts["us"].region.get("cart").value == set()
            for h in mesh.hosts.values():
                h.faults.blocked = set()
            assert await mesh.settle(NAMES, "cart") == {"second"}       # the remove won over what it saw
        finally:
            await mesh.close()

    asyncio.run(main())


def test_a_region_restarted_from_its_store_rejoins_and_catches_up(tmp_path):
    async def main():
        mesh = Mesh(tmp_path)
        try:
            for n in NAMES:
                await mesh.start(n)
            await mesh.hosts["eu"].region.write("cart", AWSet, lambda s: s.add("a"))
            await mesh.settle(NAMES, "cart")
            await mesh.stop("eu")
            await mesh.hosts["us"].region.write("cart", AWSet, lambda s: s.add("b"))
            await mesh.start("eu")
            assert await mesh.settle(NAMES, "cart") == {"a", "b"}
        finally:
            await mesh.close()

    asyncio.run(main())


async def _dial(port, ctx, server_hostname):
    """Connect with ``ctx``; returns what the server sent back before closing (b"" if it closed at once)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname=server_hostname), 5)
    except (ssl.SSLError, ConnectionError, OSError):
        return None
    try:
        frame = encode_frame("hello", "ap", 0, 0)
        writer.write(len(frame).to_bytes(4, "big") + frame)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    except (ssl.SSLError, ConnectionError, OSError, asyncio.TimeoutError):
        return None
    finally:
        writer.close()


def test_only_a_configured_peer_with_a_certificate_of_the_deployment_may_connect(tmp_path):
    async def main():
        mesh = Mesh(tmp_path, names=["eu", "us"])
        try:
            host = await mesh.start("eu")
            region = host.region
            await region.write("cart", AWSet, lambda s: s.add("secret"))
            port = host.port
            # a certificate of the deployment's CA, but of a name that is not a peer
            _, mallory = contexts(mesh.ca, "mallory", tmp_path)
            assert not await _dial(port, mallory, "eu")
            # a certificate of another CA, claiming a peer's name: the handshake fails
            forged_ca = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            mesh.ca.configure_trust(forged_ca)
            trustme.CA().issue_cert("us").configure_cert(forged_ca)
            assert not await _dial(port, forged_ca, "eu")
            # no certificate at all
            bare = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            mesh.ca.configure_trust(bare)
            assert not await _dial(port, bare, "eu")
            assert host.stats["accepted"] == 0
            assert host.stats["refused"] >= 1
            assert region.stats["rejected"].get("unauthorized", 0) >= 1
            # and the one peer that may: its frames are read
            _, us = contexts(mesh.ca, "us", tmp_path)
            got = await _dial(port, us, "eu")
            assert got is not None and len(got) > 4
            assert host.stats["accepted"] == 1
        finally:
            await mesh.close()

    asyncio.run(main())


def test_a_peer_announcing_a_giant_frame_is_dropped(tmp_path):
    async def main():
        mesh = Mesh(tmp_path, names=["eu", "us"])
        try:
            host = await mesh.start("eu")
            _, us = contexts(mesh.ca, "us", tmp_path)
            reader, writer = await asyncio.open_connection("127.0.0.1", host.port, ssl=us, server_hostname="eu")
            writer.write((1 << 31).to_bytes(4, "big") + b"x" * 100)
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), 5)        # the region closes the connection
            writer.close()
            assert host.region.stats["limits"].get("frame_bytes") == 1
            assert len(rest) < 1 << 16
        finally:
            await mesh.close()

    asyncio.run(main())


def test_a_listener_with_the_certificate_of_another_region_is_not_dialed_into(tmp_path):
    async def main():
        from crdts.net.cluster import free_port

        mesh = Mesh(tmp_path, names=["eu", "us"])
        mesh.ports["us"] = free_port()
        impostor, _ = contexts(mesh.ca, "ap", tmp_path)       # a real certificate, but of region "ap"
        reached = []

        async def handle(reader, writer):
            reached.append(await reader.read(100))
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", mesh.ports["us"], ssl=impostor)
        try:
            host = await mesh.start("eu")
            await host.region.write("cart", AWSet, lambda s: s.add("secret"))
            await asyncio.sleep(1.0)
            assert host.stats["dial_failures"] >= 1 and host.stats["dialed"] == 0
            assert "us" not in host.links and not any(reached)
        finally:
            server.close()
            await mesh.close()

    asyncio.run(main())


def test_a_peer_cannot_speak_as_another_region_nor_originate_its_writes(tmp_path):
    # A full mesh whose regions send only their own writes: a write is accepted only from its origin.
    async def main():
        mesh = Mesh(tmp_path)
        try:
            host = await mesh.start("eu", relay=False)
            region = host.region
            _, us = contexts(mesh.ca, "us", tmp_path)
            _reader, writer = await asyncio.open_connection("127.0.0.1", host.port, ssl=us, server_hostname="eu")

            def send(frame):
                writer.write(len(frame).to_bytes(4, "big") + frame)

            send(encode_frame("hello", "ap", 0, 0))              # "us" claims to be "ap"
            forged = AWSet("ap")
            delta = forged.add("planted")                         # a write only "ap" may originate
            from crdts import encode

            send(encode_frame("batch", 0, 1, [["cart", encode(delta)]]))
            await writer.drain()
            await asyncio.sleep(0.5)
            writer.close()
            assert region.stats["rejected"].get("unauthorized", 0) >= 2
            assert region.get("cart") is None
        finally:
            await mesh.close()

    asyncio.run(main())


def test_a_full_mesh_without_relaying_converges(tmp_path):
    async def main():
        mesh = Mesh(tmp_path)
        try:
            for n in NAMES:
                await mesh.start(n, relay=False)
            for i in range(10):
                for n in NAMES:
                    await mesh.hosts[n].region.write("cart", AWSet, lambda s, n=n, i=i: s.add(f"{n}{i}"))
            assert len(await mesh.settle(NAMES, "cart")) == 30
            assert not any(h.region.stats["rejected"] for h in mesh.hosts.values())
        finally:
            await mesh.close()

    asyncio.run(main())


def test_a_peer_that_stops_reading_is_dropped_and_the_others_keep_syncing(tmp_path):
    async def main():
        from crdts.net.cluster import free_port

        mesh = Mesh(tmp_path)
        mesh.ports["us"] = free_port()
        server, _ = contexts(mesh.ca, "us", tmp_path)
        conns = []

        async def frozen(reader, writer):              # "us": says hello, then never reads again
            conns.append(writer)
            hello = encode_frame("hello", "us", 0, 0)
            writer.write(len(hello).to_bytes(4, "big") + hello)
            await writer.drain()
            await asyncio.sleep(3600)

        srv = await asyncio.start_server(frozen, "127.0.0.1", mesh.ports["us"], ssl=server)
        try:
            await mesh.start("ap", queue_frames=8)
            eu = await mesh.start("eu", queue_frames=8)
            big = "x" * 200_000
            for i in range(40):
                await eu.region.write(f"blob{i}", AWSet, lambda s, i=i: s.add(big + str(i)))
                await asyncio.sleep(0.01)
            await eu.region.write("after", AWSet, lambda s: s.add("hello-ap"))
            await mesh.settle(["ap", "eu"], "after")             # the frozen peer holds up nobody else
            for _ in range(60):                                  # and it is dropped (silent), then dialed again
                if eu.stats["dialed"] >= 2:
                    break
                await asyncio.sleep(0.1)
            assert eu.stats["dialed"] >= 2
            assert eu.region.peers["us"].sent < eu.region.committed
        finally:
            for w in conns:
                w.transport.abort()
            srv.close()
            await mesh.close()

    asyncio.run(main())
