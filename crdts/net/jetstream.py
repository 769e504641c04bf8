"""Regions over NATS JetStream (``nats-py``: the ``net`` extra).

Every region of a keyspace shares one stream, ``CRDTS_<keyspace>``, of subjects ``crdts.<keyspace>.w.<region>``:

* **Publishing.** A region publishes its own committed writes (never what it merged from others: they are in
  the stream already), in batches, each a ``batch`` frame with the headers ``Nats-Msg-Id``
  (``<region>.<incarnation>.<lsn>``: a batch published twice within the stream's duplicate window is stored
  once), ``Crdts-Lsn`` and ``Crdts-Incarnation``. The region's log keeps every entry until JetStream
  acknowledged it (the publishing cursor is stored with the region's commits), so a crash or a bus outage
  loses nothing: publishing resumes from the cursor.
* **Consuming.** A durable pull consumer per region (``r_<region>``) reads every region's subject. A fetched
  batch is merged (checked whole first, each delta), committed together with the stream position it
  reached, and only then acknowledged. The region's store, not the consumer, is the truth about what was
  merged: on every start the consumer is repositioned after the stored position, so a store restored from
  a backup re-reads what it lost. A region's own messages are skipped.
* **Catch-up.** When the stream no longer holds messages the region needs (it was away longer than the
  stream's ``max_age``, or joins a keyspace whose stream was trimmed, or the stream was recreated), it pulls
  a Merkle catch-up from every peer over request and reply (``crdts.<keyspace>.sync.<peer>.<asker>``: the
  asker is named by the subject, which NATS permissions tie to the region's user; only ``hello`` and
  ``want`` frames are answered there; each answer frame is one message to the asker's inbox, then an
  empty message ends the answer).
* **Restored stores.** On start the region reads the last message on its own subject: if it is of a later
  incarnation, or the same incarnation past our last commit, the store is older than what the region once
  published; it continues as a new incarnation (never reusing a dot) and catches up from its peers.

Trust: the subject names the origin, and that name is a claim. Restrict who may publish on
``crdts.<keyspace>.w.<region>`` with NATS accounts and permissions (each region's user may publish only its
own subject); the region still checks every entry against its authorizer's grant for that origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from typing import Any

import attrs

from ..errors import CRDTError, DecodeError
from ..store import StoreError
from .frames import MAX_COUNTER, decode_frame, encode_frame
from .region import Region
from .tls import Faults

__all__ = ["BUS", "STREAM_POSITION", "JetStreamHost"]

log = logging.getLogger("crdts.net")

#: the pseudo-peer whose acknowledgements (JetStream's) hold our log entries
BUS = "~bus"
#: where the region keeps the stream position it merged up to
STREAM_POSITION = "~stream"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_token(what: str, name: str) -> str:
    if not _TOKEN.match(name):
        raise ValueError(f"{what} {name!r}: over NATS it must be 1 to 64 letters, digits, '-' or '_'")
    return name


@attrs.define
class BusStats:
    published_batches: int = 0
    published_entries: int = 0
    publish_failures: int = 0
    duplicates: int = 0
    consumed: int = 0
    skipped_own: int = 0
    poison: int = 0
    gaps: int = 0
    catchups_pulled: int = 0
    catchup_failures: int = 0
    fetch_failures: int = 0


class JetStreamHost:
    """Runs a :class:`Region` over a JetStream stream shared by its keyspace (see the module)."""

    def __init__(self, region: Region, *, url: str, keyspace: str, max_age: float = 86400.0,
                 duplicate_window: float = 120.0, fetch_batch: int = 256, request_timeout: float = 10.0,
                 faults: Faults | None = None) -> None:
        self.region = region
        self.url = url
        self.keyspace = _check_token("keyspace", keyspace)
        _check_token("region", region.name)
        self.stream = f"CRDTS_{keyspace}"
        self.subject = f"crdts.{keyspace}.w.{region.name}"
        self.max_age = max_age
        self.duplicate_window = min(duplicate_window, max_age)
        self.fetch_batch = fetch_batch
        self.request_timeout = request_timeout
        self.faults = faults or Faults()
        self.stats = BusStats()
        self.nc: Any = None
        self.js: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        self._catchup_needed = asyncio.Event()
        self._first_seq = 0
        self._last_seq = 0
        self.port = 0
        region.add_peer(BUS)
        region.add_peer(STREAM_POSITION)
        if region.log_holders is None:
            region.log_holders = {BUS}

    @property
    def cut_off(self) -> bool:
        """A fault for tests: with ``"*"`` (or our own name) in ``faults.blocked`` the region neither publishes,
        consumes nor answers catch-ups, as if its link to the bus were cut. It keeps accepting writes."""
        b = self.faults.blocked
        return bool(b) and ("*" in b or self.region.name in b)

    @property
    def position(self) -> int:
        """The stream sequence merged (and committed) up to."""
        p = self.region.peers.get(STREAM_POSITION)
        return p.received if p is not None else 0

    def _peers(self) -> list[str]:
        return sorted(n for n in self.region.peers if not n.startswith("~"))

    async def start(self) -> None:
        import nats

        async def disconnected() -> None:
            log.info("%s: disconnected from NATS", self.region.name)

        async def reconnected() -> None:
            log.info("%s: reconnected to NATS", self.region.name)
            self._wake.set()

        async def error(exc: Exception) -> None:
            log.debug("%s: NATS: %s", self.region.name, exc)

        self.nc = await nats.connect(self.url, name=f"crdts-{self.region.name}", max_reconnect_attempts=-1,
                                     reconnect_time_wait=0.5, connect_timeout=5,
                                     disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error)
        self.js = self.nc.jetstream(timeout=self.request_timeout)
        budget = max(4096, self.nc.max_payload - 8192)
        if self.region.limits.max_frame_bytes > budget:
            self.region.limits = attrs.evolve(self.region.limits, max_frame_bytes=budget)
        await self._ensure_stream()
        await self._check_restored()
        await self.nc.subscribe(f"crdts.{self.keyspace}.sync.{self.region.name}.*", cb=self._answer)
        self.region.on_commit = self._wake.set
        self._tasks = [asyncio.create_task(self._publisher(), name="publish"),
                       asyncio.create_task(self._consumer(), name="consume"),
                       asyncio.create_task(self._catchups(), name="catchup")]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 5)

    def health(self) -> dict[str, Any]:
        bus = self.region.peers[BUS]
        return {"bus": {"connected": bool(self.nc and self.nc.is_connected), "stream": self.stream,
                        "published": bus.sent, "unpublished": self.region.committed - bus.sent,
                        "position": self.position, "stream_first": self._first_seq, "stream_last": self._last_seq,
                        "cut_off": self.cut_off, **attrs.asdict(self.stats)}}

    # --- the stream ----------------------------------------------------------------------------------------

    async def _ensure_stream(self) -> None:
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        cfg = StreamConfig(name=self.stream, subjects=[f"crdts.{self.keyspace}.w.*"], max_age=self.max_age,
                           storage=StorageType.FILE, duplicate_window=self.duplicate_window)
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            info = await self.js.add_stream(cfg)
        self._first_seq, self._last_seq = info.state.first_seq, info.state.last_seq
        if self.position > self._last_seq:
            # The stream is younger than what we merged from it: it was recreated. Start over in it, and
            # catch up from the peers what the old one held.
            self.region.event("catchup", "stream-recreated", None, f"the stream ends at {self._last_seq}, we "
                              f"merged up to {self.position}")
            self.region.peers[STREAM_POSITION].received = 0
            self.region._pending.received_reset[STREAM_POSITION] = 0
            self.region._pending.received.pop(STREAM_POSITION, None)
            self.region.peers[BUS].sent = self.region.peers[BUS].inflight = 0
            self.region._pending.sent_reset[BUS] = 0
            self.region._pending.sent.pop(BUS, None)
            self._catchup_needed.set()

    async def _check_restored(self) -> None:
        from nats.js.errors import NotFoundError

        r = self.region
        try:
            last = await self.js.get_last_msg(self.stream, self.subject)
        except NotFoundError:
            if r.peers[BUS].sent > 0:
                # We published, and the stream kept none of it (retention): it cannot tell whether our store
                # is current. To be safe, continue as a new incarnation.
                await r.reincarnate("the stream holds none of our writes any more: our store cannot be confirmed")
            r.confirm()
            return
        h = last.headers or {}
        try:
            lsn, inc = int(h.get("Crdts-Lsn", 0)), int(h.get("Crdts-Incarnation", 0))
            if not (0 <= lsn < MAX_COUNTER and 0 <= inc < MAX_COUNTER):
                raise ValueError("out of range")
        except ValueError:
            r._reject(None, "malformed", f"the last message on {self.subject} has no readable lsn: a new incarnation")
            await r.reincarnate("our last message on the stream cannot be read: our store cannot be confirmed")
            r.confirm()
            return
        if inc > r.incarnation or (inc == r.incarnation and lsn > r.committed):
            r._reject(None, "clash", f"the stream holds our writes up to lsn {lsn} of incarnation {inc}; our store "
                                     f"is at lsn {r.committed} of incarnation {r.incarnation}")
            await r.restored_behind(lsn, "the stream holds our writes beyond our last commit")
            self._catchup_needed.set()
        r.confirm()

    # --- publishing ------------------------------------------------------------------------------------------

    async def _publisher(self) -> None:
        r = self.region
        bus = r.peers[BUS]
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), r.sync_interval)
            self._wake.clear()
            while not self.cut_off and self.nc.is_connected:
                upto, entries = r.own_entries(bus.sent, r.limits.max_frame_bytes // 2)
                if upto <= bus.sent:
                    break
                if entries and not await self._publish(bus.sent, upto, entries):
                    await asyncio.sleep(r.sync_interval)
                    break
                r.acknowledged(BUS, upto)

    async def _publish(self, frm: int, upto: int, entries: list[Any]) -> bool:
        r = self.region
        frame = encode_frame("batch", frm, upto, [[e.name, e.delta] for e in entries])
        headers = {"Nats-Msg-Id": f"{r.name}.{r.incarnation}.{upto}", "Crdts-Lsn": str(upto),
                   "Crdts-Incarnation": str(r.incarnation)}
        f = self.faults
        if f.latency or f.delay:
            await asyncio.sleep(f.latency + f.rng.uniform(0, f.delay))
        try:
            ack = await self.js.publish(self.subject, frame, headers=headers)
            if f.dup and f.rng.random() < f.dup:      # a duplicate the dedup window cannot catch
                await self.js.publish(self.subject, frame, headers={k: v for k, v in headers.items()
                                                                    if k != "Nats-Msg-Id"})
        except Exception as exc:  # nats raises many kinds: timeouts, no responders, connection closed
            self.stats.publish_failures += 1
            log.debug("%s: publish failed: %s", r.name, exc)
            return False
        r.sent(frame)
        self.stats.published_batches += 1
        self.stats.published_entries += len(entries)
        if ack.duplicate:
            self.stats.duplicates += 1
        self._last_seq = max(self._last_seq, ack.seq)
        return True

    # --- consuming -------------------------------------------------------------------------------------------

    async def _subscribe(self) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        durable = f"r_{self.region.name}"
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(self.stream, durable)
        info = await self.js.stream_info(self.stream)
        self._first_seq, self._last_seq = info.state.first_seq, info.state.last_seq
        start = self.position + 1
        if start < self._first_seq:
            self.stats.gaps += 1
            self._catchup_needed.set()          # what was between is gone from the stream
            start = self._first_seq
        cfg = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, start),
                             ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=4 * self.fetch_batch,
                             filter_subject=f"crdts.{self.keyspace}.w.*")
        return await self.js.pull_subscribe(f"crdts.{self.keyspace}.w.*", durable=durable, stream=self.stream,
                                            config=cfg)

    async def _consumer(self) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        sub = None
        backoff = 0.1
        while True:
            if self.cut_off:
                sub = None
                await asyncio.sleep(0.2)
                continue
            try:
                if sub is None:
                    sub = await self._subscribe()
                msgs = await sub.fetch(self.fetch_batch, timeout=max(0.2, self.region.sync_interval))
            except (NatsTimeout, asyncio.TimeoutError):
                continue
            except Exception as exc:
                self.stats.fetch_failures += 1
                log.debug("%s: fetch failed: %s", self.region.name, exc)
                sub = None
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(5.0, backoff * 2)
                continue
            backoff = 0.1
            if self.cut_off:
                continue                         # cut off: what was fetched is not acked, and comes again
            try:
                await self._merge(msgs)
            except (StoreError, OSError) as exc:  # the store refused the commit: nothing is acked
                log.warning("%s: merging from the stream failed: %s", self.region.name, exc)
                await asyncio.sleep(self.region.sync_interval)
                sub = None

    async def _merge(self, msgs: list[Any]) -> None:
        r = self.region
        pos = self.position
        top = pos
        todo: list[tuple[str, list[tuple[str, bytes]]]] = []
        for m in msgs:
            seq = m.metadata.sequence.stream
            if seq <= top:
                continue                         # redelivered: merged already
            if seq > top + 1 and top:
                self.stats.gaps += 1             # the stream dropped messages we had not read
                self._catchup_needed.set()
            top = seq
            origin = m.subject.rpartition(".")[2]
            if origin == r.name:
                self.stats.skipped_own += 1
                continue
            try:
                if origin not in r.peers:
                    raise DecodeError(f"a write of region {origin!r}, which is not a peer")
                f = decode_frame(m.data, r.limits.max_frame_bytes)
                if f.kind != "batch":
                    raise DecodeError(f"a {f.kind!r} frame on a write subject")
                todo.append((origin, f.fields[2]))
            except DecodeError as exc:
                self.stats.poison += 1
                r._reject(origin, "malformed", f"stream message {seq}: {exc}")
        r.stats["frames_received"] += len(msgs)
        r.stats["bytes_received"] += sum(len(m.data) for m in msgs)
        for origin, entries in todo:
            try:
                await r.merge_entries(origin, entries, commit=False)
            except (CRDTError, TypeError, ValueError) as exc:
                # A bad entry is refused and counted; it stays refused, so it is acknowledged like the rest.
                self.stats.poison += 1
                r._reject(origin, "invalid", f"a stream batch of {origin}: {exc}")
        await r.merge_entries(STREAM_POSITION, (), cursor=(STREAM_POSITION, top) if top > pos else None)
        self.stats.consumed += len(msgs)
        for m in msgs:
            with contextlib.suppress(Exception):
                await m.ack()

    # --- catch-up over request and reply ---------------------------------------------------------------------

    async def _catchups(self) -> None:
        while True:
            await self._catchup_needed.wait()
            self._catchup_needed.clear()
            for peer in self._peers():
                while self.cut_off:
                    await asyncio.sleep(0.2)
                try:
                    await self.pull_catchup(peer)
                except Exception as exc:
                    self.stats.catchup_failures += 1
                    log.info("%s: catch-up from %s failed (will try again): %s", self.region.name, peer, exc)
                    self._catchup_needed.set()
            if self._catchup_needed.is_set():
                await asyncio.sleep(1.0)

    async def pull_catchup(self, peer: str) -> None:
        """Catch up from ``peer``: a Merkle exchange, we asking and it answering (only what differs travels)."""
        r = self.region
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        try:
            out = [encode_frame("hello", r.name, r.incarnation, 0)]
            rounds = 0
            while out:
                rounds += 1
                if rounds > 64:
                    raise CRDTError(f"a catch-up from {peer} that does not end")
                nxt: list[bytes] = []
                for frame in out:
                    await self.nc.publish(f"crdts.{self.keyspace}.sync.{peer}.{r.name}", frame,
                                          reply=inbox)
                    while True:
                        msg = await sub.next_msg(timeout=self.request_timeout)
                        if not msg.data:
                            break
                        nxt.extend(await r.receive(peer, msg.data))
                out = [f for f in nxt if decode_frame(f, r.limits.max_frame_bytes).kind == "want"]
            self.stats.catchups_pulled += 1
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _answer(self, msg: Any) -> None:
        """Answer a peer's catch-up request (each frame a message to its inbox, then an empty one). The asker
        is the last token of the subject; only the frames that ask (``hello``, ``want``) are taken here."""
        r = self.region
        if self.cut_off or not msg.reply:
            return
        peer = msg.subject.rpartition(".")[2]
        try:
            if peer.startswith("~") or peer == r.name or peer not in r.peers or r.grant(peer) is None:
                r._reject(peer, "unauthorized", "a catch-up request from a region that is not a peer")
                return
            f = decode_frame(msg.data, r.limits.max_frame_bytes)
            if f.kind not in ("hello", "want"):
                raise DecodeError(f"a {f.kind!r} frame is not a catch-up request")
            frames = await r.catchup_for(peer) if f.kind == "hello" else await r.receive(peer, msg.data)
        except (DecodeError, CRDTError) as exc:
            r._reject(peer, "malformed", f"a catch-up request: {exc}")
            return
        for frame in frames:
            await self.nc.publish(msg.reply, frame)
        await self.nc.publish(msg.reply, b"")

