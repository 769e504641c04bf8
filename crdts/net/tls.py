"""Regions over TCP with mutual TLS (stdlib ``ssl`` and ``asyncio``).

Every region listens on one port and dials the peers whose names sort after its own, so each pair of
regions shares one connection. Both sides present certificates signed by the deployment's CA; a peer's
identity is the DNS name in its certificate's subject alternative name, and it must be the name of a
configured peer (a certificate of another region, or none, is refused: the TLS handshake fails, or the
connection is closed before any frame is read). Frames are length-prefixed (4 bytes, big-endian) and never
larger than ``RegionLimits.max_frame_bytes``.

Per peer: a bounded send queue (``queue_frames``; the sync loop adds nothing while it is half full, and a
peer that lets it fill up, having stopped reading, is dropped: backpressure that never blocks the others),
keepalive pings (a peer silent for ``3 x keepalive`` seconds is dropped), reconnection with exponential
backoff and jitter (0.1 s doubling to ``max_backoff``), and on every new connection the region's volatile
per-peer sync state starts over from what the peer says it has (``hello``), so a stale cursor never
outlives a reconnect. A :class:`Faults` switch drops, duplicates and delays frames, or cuts peers off, for
chaos tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import struct
import time
from collections.abc import Iterable
from typing import Any

import attrs

from .region import Region

__all__ = ["Faults", "Link", "PeerAddress", "TLSHost", "client_context", "server_context"]

log = logging.getLogger("crdts.net")
_LEN = struct.Struct(">I")


def server_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """TLS for accepting peers: our certificate, and peers must present one signed by ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def client_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """TLS for dialing peers: our certificate, and theirs must be signed by ``ca`` and name the peer."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def peer_identity(writer: asyncio.StreamWriter) -> str | None:
    """The DNS name in the peer certificate's subject alternative name (None without one)."""
    cert = writer.get_extra_info("peercert")
    if not cert:
        return None
    names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    return names[0] if names else None


@attrs.define
class Faults:
    """A fault switch for tests and benchmarks: ``blocked`` peers get no frames and no connection (``"*"``:
    every peer, and over a bus the bus itself); each frame is duplicated with probability ``dup``, arrives
    ``latency`` seconds after it was sent (a fixed one-way latency: order and throughput are kept), and is
    held up to ``delay`` more seconds at random (jitter, which holds up the frames behind it)."""

    blocked: set[str] = attrs.field(factory=set)
    dup: float = 0.0
    delay: float = 0.0
    latency: float = 0.0
    rng: random.Random = attrs.field(factory=random.Random)

    def blocks(self, peer: str) -> bool:
        return peer in self.blocked or "*" in self.blocked


@attrs.frozen
class PeerAddress:
    name: str
    host: str
    port: int


class Link:
    """One live connection to a peer: a reader loop, a writer loop draining a bounded queue, keepalive."""

    def __init__(self, host: TLSHost, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.host = host
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=host.queue_frames)
        self.last_heard = time.monotonic()
        self.closed = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []

    async def send(self, data: bytes) -> None:
        """Queue a frame; never waits. A peer that lets its queue fill up (it stopped reading) is dropped:
        the connection is closed, and everything it has not acknowledged goes again on the next one."""
        if self.closed.is_set():
            return
        f = self.host.faults
        if f.blocks(self.peer):
            return
        copies = 2 if f.dup and f.rng.random() < f.dup else 1
        for _ in range(copies):
            try:
                self.queue.put_nowait((time.monotonic(), data))
            except asyncio.QueueFull:
                self.host.stats["queue_full"] = self.host.stats.get("queue_full", 0) + 1
                self.host.region._limit("queue", self.peer, f"{self.queue.maxsize} frames queued for {self.peer}: "
                                                            f"connection dropped")
                self.abort()
                return

    @property
    def busy(self) -> bool:
        """Half the send queue is taken: the sync loop waits before it adds more (backpressure)."""
        return self.queue.qsize() * 2 >= self.queue.maxsize

    async def run(self) -> None:
        region = self.host.region
        for f in region.connected(self.peer):
            await self.send(f)
        self.tasks = [asyncio.create_task(self._writer()), asyncio.create_task(self._keepalive())]
        try:
            await self._reader()
        finally:
            await self.close()

    async def _reader(self) -> None:
        region = self.host.region
        limit = region.limits.max_frame_bytes
        while True:
            head = await self.reader.readexactly(4)
            (n,) = _LEN.unpack(head)
            if n > limit:
                region._limit("frame_bytes", self.peer, f"a frame of {n} bytes announced: connection closed")
                return
            data = await self.reader.readexactly(n)
            self.last_heard = time.monotonic()
            if self.host.faults.blocks(self.peer):
                continue
            for reply in await region.receive(self.peer, data):
                await self.send(reply)

    async def _writer(self) -> None:
        f = self.host.faults
        while True:
            queued, data = await self.queue.get()
            if f.latency:
                wait = queued + f.latency - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            if f.delay:
                await asyncio.sleep(f.rng.uniform(0, f.delay))
            self.writer.write(_LEN.pack(len(data)) + data)
            self.host.region.sent(data)
            await self.writer.drain()

    async def _keepalive(self) -> None:
        from .frames import encode_frame

        every = self.host.keepalive
        while True:
            await asyncio.sleep(every)
            if time.monotonic() - self.last_heard > 3 * every:
                log.info("%s: %s silent for %.1f s: dropped", self.host.region.name, self.peer, 3 * every)
                self.abort()
                return
            await self.send(encode_frame("ping"))

    def abort(self) -> None:
        """Drop the connection now, unsent data and all (a close would wait for a peer that does not read)."""
        self.writer.transport.abort()

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for t in self.tasks:
            t.cancel()
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except Exception:
            self.abort()
        self.host._dropped(self)


class TLSHost:
    """Runs a :class:`Region` over mutual-TLS links to its peers (see the module)."""

    def __init__(self, region: Region, *, listen: tuple[str, int], peers: Iterable[PeerAddress],
                 server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext, keepalive: float = 2.0,
                 queue_frames: int = 256, max_backoff: float = 5.0, faults: Faults | None = None) -> None:
        self.region = region
        self.listen = listen
        self.peer_addresses = {p.name: p for p in peers}
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.keepalive = keepalive
        self.queue_frames = queue_frames
        self.max_backoff = max_backoff
        self.faults = faults or Faults()
        self.links: dict[str, Link] = {}
        self.stats: dict[str, int] = {"accepted": 0, "refused": 0, "dialed": 0, "dial_failures": 0}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.port = listen[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1], ssl=self.server_ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        me = self.region.name
        for name in self.peer_addresses:
            if me < name:
                self._tasks.append(asyncio.create_task(self._dial_forever(name)))
        self._tasks.append(asyncio.create_task(self._sync_loop()))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for link in list(self.links.values()):
            await link.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- connections ---------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        who = peer_identity(writer)
        if who is None or who not in self.peer_addresses or self.faults.blocks(who) \
                or self.region.grant(who) is None:
            self.stats["refused"] += 1
            self.region._reject(who, "unauthorized", f"a connection from {who or 'a peer without a name'} refused")
            writer.close()
            return
        self.stats["accepted"] += 1
        await self._run(who, reader, writer)

    async def _dial_forever(self, name: str) -> None:
        addr = self.peer_addresses[name]
        backoff = 0.1
        while True:
            if name in self.links or self.faults.blocks(name):
                await asyncio.sleep(0.2)
                continue
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    addr.host, addr.port, ssl=self.client_ssl, server_hostname=name), timeout=5)
            except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
                self.stats["dial_failures"] += 1
                log.debug("%s: dialing %s failed: %s", self.region.name, name, exc)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(self.max_backoff, backoff * 2)
                continue
            backoff = 0.1
            self.stats["dialed"] += 1
            await self._run(name, reader, writer)

    async def _run(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        old = self.links.get(name)
        if old is not None:
            await old.close()
        link = self.links[name] = Link(self, name, reader, writer)
        try:
            await link.run()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            await link.close()

    def _dropped(self, link: Link) -> None:
        if self.links.get(link.peer) is link:
            del self.links[link.peer]
            self.region.disconnected(link.peer)

    # --- sync rounds ----------------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        region = self.region
        while True:
            await asyncio.sleep(region.sync_interval * random.uniform(0.9, 1.1))
            for name, link in list(self.links.items()):
                if self.faults.blocks(name):
                    await link.close()
                    continue
                if link.busy:
                    continue
                for f in await region.round(name):
                    await link.send(f)
