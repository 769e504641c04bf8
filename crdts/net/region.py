"""A region: a durable keyspace of named CRDTs, replicated to its peers.

One :class:`Region` per process (per region). It holds every object of its keyspace in memory, the log of
changes since the snapshots, and per peer what it has sent and received; the :class:`~crdts.store.Store`
holds the same durably. Writes and merges change the objects at once and go into the next *group commit*;
nothing is acknowledged — to a writer, or to a peer — and no message carrying it leaves before the commit
that holds it returned.

Sync (over a transport that connects peers: :mod:`crdts.net.tls`): the log is the delta buffer of the
causal delta-interval algorithm, lifted to the keyspace. Each round a peer gets the log entries it has not
acknowledged (the writes of every object that changed since, batched in few frames; never the entries it
sent itself), and acknowledges them once it committed their merge; a received delta is merged whole
(validated first) and only the part of it that was new is logged and passed on. A round costs O(changes
since the peer's acknowledgement), whatever the size of the keyspace: idle objects cost nothing. A peer
that needs entries the log no longer holds (it was away past the log's retention, or restored from an old
backup) catches up with a Merkle exchange over the keyspace (4-way, eight levels: 65,536 leaf buckets by
the hash of the object name): only the buckets whose sums differ are opened, and only the objects whose
hashes differ travel, as full states (a small differing leaf sends its states at once).

Over a message bus (:mod:`crdts.net.jetstream`) the same region publishes its own log entries and merges
everyone else's; the bus keeps and redelivers them.

Guards: batches go to a peer only after its hello (which says where it resumes) and say where they start
(a receiver missing what comes before answers with a hello instead of an ack); an entry whose object has
another type here is skipped and counted, the rest goes on; catch-up states leave only once committed,
catch-up requests are answered only during a catch-up and within limits; with ``confirm_timeout`` writes
wait at start until every peer said hello (a store restored from an old backup is found out before a write
could reuse a dot).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs

from .. import codec
from .._base import CRDT
from ..causal import HLC
from ..errors import CRDTError, DecodeError, ReplicaClash
from ..store import Commit, LogEntry, Meta, Store, StoreError
from ..sync.node import Event
from ..sync.trust import Authorizer, Grant, Unauthorized
from .frames import Frame, decode_frame, encode_frame

__all__ = ["Region", "RegionLimits"]

log = logging.getLogger("crdts.net")

_LEVELS = 8                      # Merkle depth: 4**8 = 65,536 leaf buckets
_BITS = 2                        # bits of the leaf number per level
_FANOUT = 1 << _BITS             # 4-way: a differing object costs 4 sums per level below the shared ones
#: a differing leaf whose objects' states take at most this many bytes is answered with the states at once
_LEAF_STATES = 1024
#: a catch-up ships the objects changed since the peer's mark at once when they are at most this many, or
#: at most 1/_DIRECT_SHARE of the keyspace; more, and the Merkle exchange finds which of them differ
_DIRECT_MIN = 256
_DIRECT_SHARE = 16


def _leaf_of(name: str) -> int:
    """The leaf bucket of an object name (16 bits of its hash)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=2).digest(), "big")


def _prefix_int(prefix: bytes) -> int:
    n = 0
    for nib in prefix:
        n = n * _FANOUT + nib
    return n


@attrs.frozen(slots=True)
class RegionLimits:
    """Caps of a region, each with a counter in ``Region.stats["limits"]``.

    ``max_frame_bytes``: one frame (sent or accepted); ``max_batch_entries``: log entries per batch frame;
    ``max_log``: log entries kept for peers that have not acknowledged them (past it the oldest go after
    their objects are snapshotted, and a peer that needed them catches up with the Merkle exchange);
    ``max_objects``: objects in the keyspace (a write or merge that would create one more is refused);
    ``max_pending``: writes waiting for the next group commit (past it, writers wait).
    """

    max_frame_bytes: int = 4 * 1024 * 1024
    max_batch_entries: int = 4096
    max_log: int = 200_000
    max_objects: int = 10_000_000
    max_pending: int = 10_000


@attrs.define(slots=True)
class _Peer:
    name: str
    sent: int = 0            # durable: the last lsn of ours the peer committed
    received: int = 0        # the last lsn of the peer's we merged (durable once committed)
    received_durable: int = 0    # the last lsn of the peer's in a commit that returned: what we may ack
    inflight: int = 0        # volatile: the last lsn sent and not yet acknowledged
    inflight_at: float = 0.0
    connected: bool = False
    catching_up: bool = False        # we are pushing a Merkle catch-up to it
    catchup_mark: int = 0
    expecting: int = 0               # (being caught up) answers we still wait for
    incarnation: int = -1            # the peer's incarnation, as its last hello said
    hello_due: bool = False          # our incarnation changed: tell it (and it will catch us up)
    hello_seen: bool = False         # it said hello on this connection: only then do batches go to it
    catchup_at: float = 0.0          # when the catch-up we push to it started
    catchup_refused: bool = False    # (being caught up) a state it sent was refused: its mark is not acked
    force_catchup: bool = False      # it came back as a new incarnation: push it a full catch-up


class Region:
    """A region's keyspace, its log and its sync state (see the module). Create it with its store, then
    ``await start()``; a transport calls :meth:`connected`, :meth:`receive` and :meth:`disconnected`,
    and sends the frames :meth:`round` returns."""

    def __init__(self, store: Store, *, peers: Iterable[str] = (), sync_interval: float = 0.5,
                 limits: RegionLimits | None = None, authorizer: Authorizer | None = None,
                 time_source: Callable[[], int] = time.time_ns, commit_delay: float = 0.002,
                 on_event: Callable[[Event], Any] | None = None, send: Callable[[str, bytes], Awaitable[None]]
                 | None = None, log_holders: Iterable[str] | None = None, forward: bool = True,
                 confirm_timeout: float | None = None) -> None:
        self.store = store
        self.limits = limits or RegionLimits()
        self.sync_interval = sync_interval
        #: a catch-up we push that is not acknowledged within this many seconds starts again
        self.catchup_timeout = max(5.0, 20 * sync_interval)
        #: pass on what we merged from one peer to the others (off: each region sends only its own writes,
        #: for meshes whose peers are granted no relaying)
        self.forward = forward
        self.commit_delay = commit_delay
        self.authorizer = authorizer
        self.on_event = on_event
        self._send = send
        meta = store.meta()
        self.name = meta.replica
        self.incarnation = meta.incarnation
        self.clock = HLC(meta.replica_id, time_source=time_source)
        if meta.clock:
            self.clock.observe((meta.clock, 0, meta.replica_id))
        self.lsn = self.committed = meta.lsn
        self.objects: dict[str, CRDT] = {}
        self.peers: dict[str, _Peer] = {p: _Peer(p) for p in peers}
        #: the peers whose acknowledgements hold log entries (None: every peer)
        self.log_holders = None if log_holders is None else set(log_holders)
        for p in self.log_holders or ():
            self.peers.setdefault(p, _Peer(p))
        for p, (sent, received) in store.peers().items():
            self.peers.setdefault(p, _Peer(p))
            self.peers[p].sent, self.peers[p].received = sent, received
            self.peers[p].received_durable = received
        self.log: deque[LogEntry] = deque()
        self._load()
        # Merkle: per-object hash (int of 8 bytes), sums per level; objects whose hash is stale.
        self._hash: dict[str, int] = {}
        self._sums: list[dict[int, int]] = [{} for _ in range(_LEVELS + 1)]
        self._leaf_names: dict[int, set[str]] = {}
        self._dirty: set[str] = set(self.objects)
        for name in self.objects:
            self._leaf_names.setdefault(_leaf_of(name), set()).add(name)
        # group commit
        self._pending = Commit()
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._touched: set[str] = set()
        self._wake = asyncio.Event() if _has_loop() else None
        self._tasks: list[asyncio.Task[Any]] = []
        self.events: deque[Event] = deque(maxlen=256)
        self.stats: dict[str, Any] = {"writes": 0, "merges": 0, "commits": 0, "commit_seconds": 0.0,
                                       "frames_sent": 0, "bytes_sent": 0, "frames_received": 0,
                                       "bytes_received": 0, "rejected": {}, "limits": {}, "catchups": 0,
                                       "catchup_bytes": 0, "incarnations": 0, "lag": {}}
        self._closed = False
        self._committer_task: asyncio.Task[None] | None = None
        self._inflight: list[tuple[int, asyncio.Future[None]]] = []
        #: how long ``close`` waits for the last commit
        self.close_timeout = 10.0
        #: called after every successful commit (a bus transport wakes its publisher)
        self.on_commit: Callable[[], Any] | None = None
        self._commit_failures = 0
        #: with a timeout, writes wait at start until every peer said hello (so a store restored from an old
        #: backup is found out before a write could reuse a dot); a peer silent for the timeout: we continue
        #: as a new incarnation, to be safe. None: the store is trusted to be current (no wait).
        self.confirm_timeout = confirm_timeout
        self._unconfirmed: set[str] = set()
        self._confirmed: asyncio.Event | None = None

    # --- identity and loading -----------------------------------------------------------------------

    @property
    def replica_id(self) -> str:
        return self.name if self.incarnation == 0 else f"{self.name}~{self.incarnation}"

    def _bind(self, obj: CRDT) -> CRDT:
        return obj.bind(self.replica_id, clock=self.clock) if obj.clock is not None or _takes_clock(obj) \
            else obj.bind(self.replica_id)

    def _load(self) -> None:
        self.objects = self._rebuild(None)
        self.log = deque(self.store.log())
        # the last lsn that changed each object (a snapshot's lsn is its object's last change before it)
        self._changed = {rec.name: rec.lsn for rec in self.store.objects()}
        for e in self.log:
            self._changed[e.name] = e.lsn

    def _rebuild(self, names: set[str] | None, also: Iterable[LogEntry] = ()) -> dict[str, CRDT]:
        """The committed state of the objects ``names`` (None: all): their snapshots joined with the log
        entries above them (and the entries ``also``), built unbound (our own writes replayed) and bound to
        this region at the end."""
        out: dict[str, CRDT] = {}
        covered: dict[str, int] = {}
        for rec in self.store.objects():
            if names is None or rec.name in names:
                out[rec.name] = codec.decode(rec.data, limits=_STORE_LIMITS)
                covered[rec.name] = rec.lsn
        for e in itertools.chain(self.store.log(), also):
            if (names is None or e.name in names) and e.lsn > covered.get(e.name, 0):
                d = codec.decode(e.delta, limits=_STORE_LIMITS)
                obj = out.get(e.name)
                if obj is None:
                    obj = out[e.name] = type(d)()
                obj.merge(d)
                self._observe(d)
        return {n: self._bind(o) for n, o in out.items()}

    def _reload(self, name: str) -> None:
        """Object ``name`` as its committed state plus its log entries waiting for the next commit."""
        obj = self._rebuild({name}, also=self._pending.log).get(name)
        if obj is None:
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj

    def _observe(self, d: Any) -> None:
        """Move the region clock past the timestamps a delta carries (LWW and conflict types)."""
        ts = _max_timestamp(d)
        if ts is not None:
            self.clock.observe(ts)

    # --- life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._committer_task = asyncio.create_task(self._committer(), name=f"{self.name}:commit")
        self._tasks.append(self._committer_task)
        self._unconfirmed = {n for n in self.peers if not n.startswith("~")}
        if self.confirm_timeout is None or not self._unconfirmed:
            self._confirmed.set()
        else:
            self._tasks.append(asyncio.create_task(self._confirm_deadline(self.confirm_timeout)))

    def confirm(self, peer: str | None = None) -> None:
        """``peer`` (None: the transport, for all of them) has shown that our store is current."""
        if peer is None:
            self._unconfirmed.clear()
        else:
            self._unconfirmed.discard(peer)
        if not self._unconfirmed and self._confirmed is not None:
            self._confirmed.set()

    async def _confirm_deadline(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if self._confirmed is not None and not self._confirmed.is_set():
            silent = sorted(self._unconfirmed)
            await self.reincarnate(f"{', '.join(silent)} could not confirm within {timeout} s that our store is "
                                   f"current (it may be an old backup)")
            self.confirm()

    async def close(self) -> None:
        """Stop: what is pending is committed first (a commit already being written always finishes; the
        store is closed only after it)."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        committer = self._committer_task
        if committer is not None and not committer.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(committer), self.close_timeout)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        # Writers still waiting (a commit that outlived close_timeout) get an answer: their write may or may
        # not be on disk, as after a timeout.
        exc = self._closed_error("before this write's commit returned (it may or may not be on disk)")
        for _, f in self._inflight + self._waiting:
            if not f.done():
                f.set_exception(exc)
        self._inflight, self._waiting = [], []
        try:       # the store waits for a commit still being written in its thread: not on the event loop
            await asyncio.wait_for(asyncio.to_thread(self.store.close), self.close_timeout)
        except asyncio.TimeoutError:
            self.event("store", "close-timeout", None, f"a commit outlived close_timeout ({self.close_timeout} s); "
                                                       f"the store closes when it returns")

    def _closed_error(self, when: str = "") -> StoreError:
        return StoreError(getattr(self.store, "path", "?"), f"the region is closed{' ' + when if when else ''}")

    # --- events and counters -------------------------------------------------------------------------

    def event(self, kind: str, reason: str, peer: str | None, detail: str) -> None:
        ev = Event(kind, reason, peer, detail)
        self.events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:
                log.exception("on_event hook failed for %r", ev)

    def _reject(self, peer: str | None, reason: str, detail: str) -> None:
        r = self.stats["rejected"]
        r[reason] = r.get(reason, 0) + 1
        self.event("rejected", reason, peer, detail)

    def _limit(self, name: str, peer: str | None, detail: str) -> None:
        lim = self.stats["limits"]
        lim[name] = lim.get(name, 0) + 1
        self.event("limit", name, peer, detail)

    # --- the application side ------------------------------------------------------------------------

    def get(self, name: str) -> CRDT | None:
        """The object ``name`` (None if absent). Read it, do not mutate it: write through :meth:`write`."""
        return self.objects.get(name)

    async def write(self, name: str, cls: type[CRDT], fn: Callable[[Any], Any], *, returns_delta: bool = False) -> int:
        """Run ``fn`` (one or more mutators) on object ``name`` of class ``cls`` (created if absent), and return
        once the change is committed: its log sequence number. Raises what ``fn`` raises (nothing changes),
        :class:`TypeError` if the object has another class, :class:`~crdts.store.StoreError` if the commit
        failed (the object is put back as it was).

        The change is found by comparing the object before and after ``fn`` (``obj.batch()``: O(size of the
        object)). With ``returns_delta=True``, ``fn`` promises to return the delta of everything it did (a
        single mutator's result, or a :class:`~crdts.DeltaBuffer`'s joined delta), and the write costs
        O(change) whatever the object's size."""
        _check_name(name)
        if self._closed:
            raise self._closed_error()
        if self._confirmed is not None and not self._confirmed.is_set():
            await self._confirmed.wait()
        while len(self._waiting) >= self.limits.max_pending:
            self._limit("pending", None, "writers wait for the group commit")
            await asyncio.sleep(self.commit_delay)
        obj = self.objects.get(name)
        created = obj is None
        if obj is None:
            if len(self.objects) >= self.limits.max_objects:
                self._limit("objects", None, f"object {name!r} not created")
                raise CRDTError(f"the keyspace holds {len(self.objects)} objects: the limit")
            obj = self._new(cls)
        elif type(obj) is not cls:
            raise TypeError(f"object {name!r} is a {type(obj).__name__}, not a {cls.__name__}")
        if returns_delta:
            delta = fn(obj)
            if type(delta) is not cls:
                if not created:                              # what fn changed is unknown: reload the object
                    self._reload(name)
                raise TypeError(f"write(returns_delta=True): fn returned a {type(delta).__name__}, not the "
                                f"delta (a {cls.__name__}) of its change")
        else:
            with obj.batch() as b:
                fn(obj)
            delta = b.delta
        if created:
            self.objects[name] = obj
            self._leaf_names.setdefault(_leaf_of(name), set()).add(name)
        if delta is None or delta.is_bottom():
            return self.committed
        lsn = self._append(name, None, codec.encode(delta))
        self.stats["writes"] += 1
        await self._committed(lsn)
        return lsn

    def _new(self, cls: type[CRDT]) -> CRDT:
        obj = cls(self.replica_id)  # type: ignore[call-arg]
        if obj.clock is not None or _takes_clock(obj):
            obj = obj.bind(self.replica_id, clock=self.clock)
        return obj

    def _append(self, name: str, origin: str | None, delta: bytes) -> int:
        self.lsn += 1
        e = LogEntry(self.lsn, name, origin, delta)
        self.log.append(e)
        self._pending.log.append(e)
        self._changed[name] = self.lsn
        self._touched.add(name)
        self._dirty.add(name)
        return self.lsn

    # --- group commit ----------------------------------------------------------------------------------

    async def _committed(self, lsn: int) -> None:
        if self._closed and (self._committer_task is None or self._committer_task.done()):
            raise self._closed_error()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((lsn, fut))
        assert self._wake is not None
        self._wake.set()
        await fut

    async def _durable(self, lsn: int) -> bool:
        """Wait until everything up to ``lsn`` is committed: False if a commit failed meanwhile (what was
        up to ``lsn`` may be gone)."""
        if lsn <= self.committed:
            return True
        failures = self._commit_failures
        try:
            await self._committed(lsn)
        except StoreError:
            return False
        return self._commit_failures == failures and self.committed >= lsn

    async def flush(self) -> None:
        """Wait until everything changed so far is committed."""
        if self._pending:
            await self._committed(self.lsn)

    async def _committer(self) -> None:
        assert self._wake is not None
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            if self.commit_delay:
                await asyncio.sleep(self.commit_delay)      # let more writes join this commit
            await self._commit_now()
        while self._pending or self._waiting:               # closing: what is pending still goes to disk
            await self._commit_now()

    async def _commit_now(self) -> None:
        c, self._pending = self._pending, Commit()
        waiting, self._waiting = self._waiting, []
        self._inflight = waiting          # close() answers them if this commit is cancelled
        touched, self._touched = self._touched, set()
        if not c:
            for _, f in waiting:
                if not f.done():
                    f.set_result(None)
            return
        c.meta = Meta(self.name, self.incarnation, self.lsn, self.clock.peek()[0])
        upto = self.lsn
        t0 = time.perf_counter()
        try:
            try:
                await asyncio.to_thread(self.store.commit, c)
            except StoreError:
                raise
            except Exception as exc:             # a backend bug must not kill the committer
                raise StoreError(getattr(self.store, "path", "?"), f"commit failed: {exc!r}") from exc
        except StoreError as exc:
            self._commit_failures += 1
            # What changed while this commit was being written was built on top of it: it goes too (its log
            # entries' deltas may leave out what the failed ones held). Acks and bookkeeping stay pending.
            later, later_waiting = self._pending, self._waiting
            touched |= self._touched
            self._waiting, self._touched = [], set()
            c.log.extend(later.log)
            c.received.update(later.received)
            later.log, later.received, later.snapshots, later.truncate_below = [], {}, [], None
            self._rollback(c, touched)
            self.event("store", "commit-failed", None, str(exc))
            for _, f in waiting + later_waiting:
                if not f.done():
                    f.set_exception(exc)
            return
        self.stats["commits"] += 1
        self.stats["commit_seconds"] += time.perf_counter() - t0
        self.committed = max(self.committed, upto)
        for name, n in c.received_reset.items():       # as the store applies them: resets, then advances
            if name in self.peers:
                self.peers[name].received_durable = n
        for name, n in c.received.items():
            peer = self.peers.get(name)
            if peer is not None and n > peer.received_durable:
                peer.received_durable = n
        for _, f in waiting:
            if not f.done():
                f.set_result(None)
        if self.on_commit is not None:
            self.on_commit()

    def _rollback(self, c: Commit, touched: set[str]) -> None:
        """A commit failed: the log entries it held are gone, and the objects they touched are rebuilt from
        the store (their last committed state). Peers get no ack for what was in it and send it again."""
        lost = {e.lsn for e in c.log}
        self.log = deque(e for e in self.log if e.lsn not in lost)
        self.lsn = self.committed
        for name in touched:
            self._changed[name] = min(self._changed.get(name, 0), self.committed)
        rebuilt = self._rebuild(touched)
        for name in touched:
            self._dirty.add(name)
            if name in rebuilt:
                self.objects[name] = rebuilt[name]
            else:
                self.objects.pop(name, None)
                self._leaf_names.get(_leaf_of(name), set()).discard(name)
        for p in c.received:
            peer = self.peers.get(p)
            if peer is not None:
                peer.received = peer.received_durable   # what the failed commit held is merged no more

    async def compact(self) -> int:
        """Drop log entries every peer has committed (at most ``max_log`` are kept for peers that have not),
        after snapshotting the objects they changed. Returns how many entries went."""
        if not self.log:
            return 0
        await self.flush()
        holders = [p for n, p in self.peers.items() if self.log_holders is None or n in self.log_holders]
        floor = min((p.sent for p in holders), default=self.committed)
        floor = min(floor, self.committed)
        if self.committed - floor > self.limits.max_log:
            floor = self.committed - self.limits.max_log
            self._limit("log", None, f"log entries up to {floor} dropped before every peer had them")
        if floor <= 0 or self.log[0].lsn > floor:
            return 0
        names = sorted({e.name for e in self.log if e.lsn <= floor} & self.objects.keys())
        # through the group commit (one writer to the store at a time): the snapshots hold what memory holds
        # now, and commit atomically with the log entries they cover
        self._pending.snapshots.extend(_record(n, codec.encode(self.objects[n]), self._changed.get(n, self.committed))
                                       for n in names)
        self._pending.truncate_below = max(floor, self._pending.truncate_below or 0)
        await self._committed(self.lsn)
        n = 0
        while self.log and self.log[0].lsn <= floor:
            self.log.popleft()
            n += 1
        return n

    def log_floor(self) -> int:
        """The lowest lsn the log still holds (committed + 1 when it is empty)."""
        return self.log[0].lsn if self.log else self.committed + 1

    # --- incarnations -------------------------------------------------------------------------------------

    async def reincarnate(self, reason: str) -> str:
        """Continue under a new replica id (``name~N``): every object is rebound, so no later write reuses a
        dot or a timestamp of the id our peers may have seen more of than we have (we were restored from an
        old store, or another process used our id)."""
        self.incarnation += 1
        rid = self.replica_id
        self.clock = self.clock.fresh(rid)
        self.objects = {n: self._bind(o.copy(replica=None)) for n, o in self.objects.items()}
        self._pending.meta = Meta(self.name, self.incarnation, self.lsn, self.clock.peek()[0])
        self.stats["incarnations"] += 1
        for p in self.peers.values():
            p.hello_due = True                  # peers learn it and push us what we may have lost
        self.event("incarnation", reason, None, f"continuing as {rid!r}")
        await self._committed(self.lsn)
        return rid

    async def restored_behind(self, lsn: int, reason: str) -> str:
        """Someone holds our log up to ``lsn``, past our last commit: we were restored from an old store (or
        lost our disk). Number no new entry as one they already have, and continue as a new incarnation."""
        self.lsn = self.committed = max(self.committed, lsn)
        return await self.reincarnate(reason)

    # --- the network side --------------------------------------------------------------------------------

    def connected(self, peer: str) -> list[bytes]:
        """A link to ``peer`` is up: its volatile sync state starts over; returns the frames to send first."""
        p = self.peers.get(peer)
        if p is None:
            p = self.peers[peer] = _Peer(peer)
        p.connected = True
        p.inflight = p.sent
        p.catching_up = False
        p.catchup_refused = False
        p.hello_seen = False
        p.expecting = 0
        return [encode_frame("hello", self.name, self.incarnation, p.received)]

    def disconnected(self, peer: str) -> None:
        p = self.peers.get(peer)
        if p is not None:
            p.connected = False
            p.inflight = p.sent
            p.catching_up = False

    def grant(self, identity: str) -> Grant | None:
        if self.authorizer is None:
            return Grant(frozenset({identity}))
        return self.authorizer.grant(identity)

    async def receive(self, peer: str, data: bytes) -> list[bytes]:
        """Handle one frame from ``peer``; returns the frames to send back (after what needed committing is
        committed). A bad frame is counted and refused, never answered."""
        self.stats["frames_received"] += 1
        self.stats["bytes_received"] += len(data)
        p = self.peers.get(peer)
        if p is None:
            self._reject(peer, "stranger", "a frame from a region that is not a peer")
            return []
        try:
            f = decode_frame(data, self.limits.max_frame_bytes)
        except DecodeError as exc:
            self._reject(peer, "malformed", str(exc))
            return []
        try:
            return await self._handle(p, f)
        except StoreError as exc:                 # our disk, not the peer: nothing acked, it sends again
            self.event("store", "commit-failed", peer, str(exc))
            return []
        except ReplicaClash as exc:
            self._reject(peer, "clash", str(exc))
            if exc.replica == self.replica_id:
                await self.reincarnate(f"{peer} holds our events beyond our counter")
            return []
        except Unauthorized as exc:
            self._reject(peer, "unauthorized", str(exc))
            return []
        except (DecodeError, CRDTError, TypeError, ValueError) as exc:
            self._reject(peer, "invalid", f"{f.kind}: {exc}")
            return []

    async def _handle(self, p: _Peer, f: Frame) -> list[bytes]:
        kind = f.kind
        if kind == "hello":
            region, _inc, theirs = f.fields
            if region != p.name:
                raise Unauthorized(p.name, f"speak as region {region!r}")
            inc = f.fields[1]
            if p.incarnation >= 0 and inc > p.incarnation:
                p.force_catchup = True          # it lost state and came back: give it everything we have
            p.incarnation = inc
            if theirs > self.committed:
                self._reject(p.name, "clash", f"{p.name} holds our log up to {theirs}, we have {self.committed}")
                await self.restored_behind(theirs, f"{p.name} holds our log beyond our last commit")
            if theirs < p.sent:
                self._pending.sent_reset[p.name] = theirs     # it lost state: start over from what it has
                self._pending.sent.pop(p.name, None)
            p.sent = p.inflight = theirs
            p.hello_seen = True
            self.confirm(p.name)
            return []
        if kind == "batch":
            frm, upto, entries = f.fields
            if len(entries) > self.limits.max_batch_entries:
                self._limit("batch_entries", p.name, f"a batch of {len(entries)} entries")
                raise CRDTError(f"a batch of {len(entries)} entries, over the limit")
            if upto > p.received:
                if frm > p.received:
                    # entries between what we have and this batch are missing (it resumed from a mark we no
                    # longer hold): tell it where we are, it starts over from there
                    self.event("gap", "batch", p.name, f"a batch from {frm}, we have {p.received}")
                    return [encode_frame("hello", self.name, self.incarnation, p.received)]
                for name, delta in entries:
                    self._merge_or_skip(p.name, name, delta)
                p.received = upto
                self._pending.received[p.name] = upto
            if upto > p.received_durable:
                # merged now, or by a frame still waiting for its commit (a resend over a new connection)
                await self._committed(self.lsn)
                if upto > p.received_durable:
                    return []                     # that commit failed: no ack, the peer sends it again
            return [encode_frame("ack", upto)]
        if kind == "ack":
            (upto,) = f.fields
            if upto > self.committed:
                raise CRDTError(f"an ack of lsn {upto}, but only {self.committed} were committed")
            if upto > p.sent:
                p.sent = upto
                self._pending.sent[p.name] = upto
            if upto > p.inflight:
                p.inflight = upto
            if p.catching_up and upto >= p.catchup_mark:
                p.catching_up = False
            return []
        if kind == "ping":
            return [encode_frame("pong")]
        if kind == "pong":
            return []
        return await self._catchup(p, f)

    def _merge_or_skip(self, peer: str, name: str, delta: bytes) -> bool:
        """Merge one entry; an entry whose object has another type here is skipped and counted (a type clash
        of one object must not hold up every other object behind it). Anything else wrong raises: the frame
        is refused and comes again."""
        try:
            self._merge_from(peer, name, delta)
            return True
        except _TypeClash as exc:
            self._reject(peer, "type_clash", str(exc))
            return False

    def _merge_from(self, peer: str, name: str, delta: bytes) -> None:
        d = codec.decode(delta, limits=self._codec_limits())
        if not isinstance(d, CRDT):
            raise DecodeError(f"object {name!r}: the delta is a {type(d).__name__}, not a CRDT")
        _check_name(name)
        obj = self.objects.get(name)
        if obj is None:
            if len(self.objects) >= self.limits.max_objects:
                self._limit("objects", peer, f"object {name!r} not created")
                raise CRDTError("the keyspace is full")
            obj = self._bind(type(d)())
            new = True
        else:
            new = False
            if type(obj) is not type(d):
                raise _TypeClash(f"object {name!r} is a {type(obj).__name__} here, the delta a {type(d).__name__}")
        grant = self.grant(peer)
        if grant is not None and not grant.relay:
            origins = obj.new_origins(d)
            if origins and any(not grant.may_originate(r) for r in origins):
                raise Unauthorized(peer, f"relay writes of {sorted(origins)}")
        obj.check_merge(d)
        delta_new = d.delta_for(obj)
        obj.merge(d)
        self._observe(d)
        if new:
            self.objects[name] = obj
            self._leaf_names.setdefault(_leaf_of(name), set()).add(name)
        self.stats["merges"] += 1
        if not delta_new.is_bottom():
            self._append(name, peer, codec.encode(delta_new))

    def _codec_limits(self) -> codec.Limits:
        return codec.Limits(max_bytes=self.limits.max_frame_bytes)

    # --- a sync round ----------------------------------------------------------------------------------------

    async def round(self, peer: str) -> list[bytes]:
        """The frames ``peer`` needs now: log entries it has not acknowledged (in batches), or a catch-up when
        the log no longer holds them. Only committed changes leave: log entries above the last commit wait,
        and catch-up states (taken from memory) go only once a commit holding everything in them returned."""
        p = self.peers.get(peer)
        if p is None or not p.connected:
            return []
        now = time.monotonic()
        out: list[bytes] = []
        if p.hello_due:
            p.hello_due = False
            out.append(encode_frame("hello", self.name, self.incarnation, p.received))
        if not p.hello_seen:
            return out                                # where to resume is what its hello says
        if p.inflight > p.sent and now - p.inflight_at > 4 * self.sync_interval:
            p.inflight = p.sent                                   # unacknowledged: send again
        if p.catching_up:
            if now - p.catchup_at < self.catchup_timeout:
                return out
            p.catching_up = False                 # no acknowledgement of the catch-up: start it again
        if p.force_catchup or (p.inflight + 1 < self.log_floor() and p.inflight < self.committed):
            # A peer that came back as a new incarnation lost state, maybe its own writes too (which our log
            # never sends back to it): the Merkle exchange. A peer that was only away: what changed since.
            since = None if p.force_catchup else p.inflight
            p.force_catchup = False
            upto = self.lsn
            frames = self._start_catchup(p, since=since)
            if not await self._durable(upto):
                p.catching_up = False
                return out
            return out + frames
        entries: list[list[Any]] = []
        size = 0
        frm = upto = p.inflight
        for e in self._log_after(p.inflight):
            if e.lsn > self.committed:
                break
            upto = e.lsn
            if e.origin == peer or (e.origin is not None and not self.forward):
                continue
            entries.append([e.name, e.delta])
            size += len(e.delta) + len(e.name) + 8
            if len(entries) >= self.limits.max_batch_entries or size > self.limits.max_frame_bytes // 2:
                out.append(encode_frame("batch", frm, upto, entries))
                frm, entries, size = upto, [], 0
        if upto > frm:
            out.append(encode_frame("batch", frm, upto, entries))
        if upto > p.inflight:
            p.inflight = upto
            p.inflight_at = now
        self.stats["lag"][peer] = self.committed - p.sent
        return out

    def own_entries(self, after: int, max_bytes: int, max_entries: int | None = None) -> tuple[int, list[LogEntry]]:
        """Our own committed writes (not merges) after lsn ``after``, at most about ``max_bytes`` of deltas:
        ``(upto, entries)``, where ``upto`` is the last lsn they cover (merged entries in between are
        skipped and covered). What a bus transport publishes."""
        cap = max_entries or self.limits.max_batch_entries
        out: list[LogEntry] = []
        size = 0
        upto = after
        for e in self._log_after(after):
            if e.lsn > self.committed:
                break
            if e.origin is None:
                if out and (size + len(e.delta) + len(e.name) > max_bytes or len(out) >= cap):
                    break
                out.append(e)
                size += len(e.delta) + len(e.name) + 8
            upto = e.lsn
        return upto, out

    def acknowledged(self, peer: str, upto: int) -> None:
        """``peer`` (a region, or a bus) holds our log up to ``upto``; durable with the next commit."""
        p = self.peers[peer]
        if upto > self.committed:
            raise CRDTError(f"an acknowledgement of lsn {upto}, but only {self.committed} were committed")
        if upto > p.sent:
            p.sent = p.inflight = upto
            self._pending.sent[peer] = upto

    def add_peer(self, name: str) -> None:
        """Keep sync state for ``name`` (a region, or a transport's own bookkeeping such as a bus cursor)."""
        self.peers.setdefault(name, _Peer(name))

    async def merge_entries(self, peer: str, entries: Iterable[tuple[str, bytes]], *, cursor: tuple[str, int]
                            | None = None, commit: bool = True) -> None:
        """Merge the log entries ``peer`` wrote (each delta checked whole before it is merged), and with
        ``cursor`` (``(name, position)``) record that position durably in the same commit. With ``commit``
        returns once all of it is committed. A bad entry raises; the entries before it stay merged."""
        for name, delta in entries:
            try:
                self._merge_or_skip(peer, name, delta)
            except ReplicaClash as exc:
                if exc.replica != self.replica_id:
                    raise
                self._reject(peer, "clash", str(exc))
                await self.reincarnate(f"{peer} holds our events beyond our counter")
                self._merge_or_skip(peer, name, delta)     # our old id is just another replica's now
        if cursor is not None:
            name, pos = cursor
            self.add_peer(name)
            p = self.peers[name]
            p.received = max(p.received, pos)
            self._pending.received[name] = p.received
        if commit:
            await self._committed(self.lsn)

    async def catchup_for(self, peer: str) -> list[bytes]:
        """``peer`` asks for a Merkle catch-up (over a bus: request and reply): the first frame of it."""
        p = self.peers.get(peer)
        if p is None:
            raise Unauthorized(peer, "ask for a catch-up (not a peer)")
        upto = self.lsn
        frames = self._start_catchup(p)
        return frames if await self._durable(upto) else []

    def _log_after(self, lsn: int) -> Iterable[LogEntry]:
        log_ = self.log
        if not log_ or log_[-1].lsn <= lsn:
            return ()
        first = log_[0].lsn
        start = max(0, lsn - first + 1)
        if start < len(log_) and log_[start].lsn == lsn + 1:
            return (log_[i] for i in range(start, len(log_)))
        return (e for e in log_ if e.lsn > lsn)

    def sent(self, data: bytes) -> None:
        self.stats["frames_sent"] += 1
        self.stats["bytes_sent"] += len(data)

    # --- Merkle catch-up ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Recompute the hashes of the objects that changed, and the sums above them. O(changed objects)."""
        if not self._dirty:
            return
        sums = self._sums
        for name in self._dirty:
            obj = self.objects.get(name)
            new = 0 if obj is None else int.from_bytes(hashlib.blake2b(
                name.encode("utf-8") + codec.encode(obj), digest_size=8).digest(), "big")
            old = self._hash.get(name, 0)
            if new == old:
                continue
            if obj is None:
                self._hash.pop(name, None)
            else:
                self._hash[name] = new
            x = old ^ new
            leaf = _leaf_of(name)
            for level in range(_LEVELS + 1):
                key = leaf >> (_BITS * (_LEVELS - level))
                sums[level][key] = sums[level].get(key, 0) ^ x
        self._dirty.clear()

    def _sums_of(self, prefix: bytes) -> bytes:
        """The 16 child sums under ``prefix`` (a bucket of ``len(prefix)`` levels)."""
        level = len(prefix) + 1
        base = _prefix_int(prefix) * _FANOUT
        s = self._sums[level]
        return b"".join(s.get(base + i, 0).to_bytes(8, "big") for i in range(_FANOUT))

    def _start_catchup(self, p: _Peer, since: int | None = None) -> list[bytes]:
        """Catch ``p`` up past our log. With ``since`` (the last lsn of ours it committed), when few objects
        changed after it, their states go at once; otherwise (or without ``since``) the Merkle exchange finds
        what differs (the peer may hold much of it already, from other peers)."""
        p.catching_up = True
        p.catchup_at = time.monotonic()
        p.catchup_mark = self.committed
        self.stats["catchups"] += 1
        if since is not None:
            changed = [n for n, lsn in self._changed.items() if lsn > since and n in self.objects]
            if len(changed) <= _DIRECT_MIN or len(changed) * _DIRECT_SHARE <= len(self.objects):
                out = self._states(sorted(changed))
                if out is not None:
                    self.event("catchup", "changed", p.name, f"{p.name} is behind our log (acknowledged {since}, "
                                                             f"log from {self.log_floor()}): {len(changed)} objects "
                                                             f"changed")
                    self.stats["catchup_bytes"] += sum(len(x) for x in out)
                    return out
                # too many bytes for one answer: the Merkle exchange asks for them bucket by bucket
        self._refresh()
        self.event("catchup", "merkle", p.name, f"{p.name} is behind our log (acknowledged {p.sent}, log from "
                                                f"{self.log_floor()}): Merkle exchange")
        f = encode_frame("sums", b"", self._sums_of(b""))
        self.stats["catchup_bytes"] += len(f)
        return [f]

    async def _catchup(self, p: _Peer, f: Frame) -> list[bytes]:
        out: list[bytes] = []
        kind = f.kind
        # --- as the region being caught up: ask for what differs, count the answers we wait for -------------
        if kind == "sums":
            self._refresh()
            prefix, hashes = f.fields
            if len(prefix) >= _LEVELS or len(hashes) != 8 * _FANOUT or any(n >= _FANOUT for n in prefix):
                raise DecodeError(f"sums: a bucket prefix of at most {_LEVELS - 1} steps (each below {_FANOUT}) "
                                  f"and {_FANOUT} hashes")
            if prefix:
                p.expecting -= 1
            else:
                p.expecting = 0                                    # a catch-up (re)starts
            mine = self._sums_of(prefix)
            differ = [prefix + bytes([i]) for i in range(_FANOUT)
                      if hashes[8 * i:8 * i + 8] != mine[8 * i:8 * i + 8]]
            if differ:
                p.expecting += len(differ)
                out.append(encode_frame("want", differ, []))
        elif kind == "keys":
            self._refresh()
            _prefix, pairs = f.fields
            p.expecting -= 1
            want = [n for n, h in pairs if self._hash.get(n, 0).to_bytes(8, "big") != h]
            if want:
                p.expecting += 1
                out.append(encode_frame("want", [], want))
        elif kind == "states":
            pairs, final = f.fields
            for name, data in pairs:
                try:
                    self._merge_or_skip(p.name, name, data)
                except Unauthorized as exc:
                    # A state carries every origin's writes; a peer that may not relay cannot bring those of
                    # others yet. The object stays as it is here and the catch-up goes on, but it is not
                    # acknowledged: the peer starts it again later (when the origins have delivered).
                    p.catchup_refused = True
                    self._reject(p.name, "unauthorized", f"catch-up of {name!r}: {exc}")
            if pairs:
                await self._committed(self.lsn)
            if final:
                p.expecting -= 1
        elif kind == "done":
            (mark,) = f.fields
            if p.catchup_refused:
                p.catchup_refused = False
                return out
            if mark > p.received:
                p.received = mark
                self._pending.received[p.name] = mark
            await self._committed(self.lsn)
            if mark > p.received_durable:
                return out
            out.append(encode_frame("ack", mark))
            return out
        # --- as the region catching a peer up: answer what it asks ------------------------------------------
        elif kind == "want":
            prefixes, names = f.fields
            if not p.catching_up:
                raise CRDTError("a catch-up request, but no catch-up of it is under way")
            prefixes, names = list(dict.fromkeys(prefixes)), list(dict.fromkeys(names))
            if len(prefixes) + len(names) > self.limits.max_batch_entries:
                self._limit("want", p.name, f"a catch-up request for {len(prefixes) + len(names)} items")
                raise CRDTError("a catch-up request over the limit")
            upto = self.lsn
            if prefixes:
                self._refresh()                  # the hashes of what changed (states and "done" need none)
            for pre in prefixes:
                if not 0 < len(pre) <= _LEVELS or any(n >= _FANOUT for n in pre):
                    raise DecodeError("want: bad bucket prefix")
                if len(pre) < _LEVELS:
                    out.append(encode_frame("sums", pre, self._sums_of(pre)))
                    continue
                keys = sorted(n for n in self._leaf_names.get(_prefix_int(pre), ()) if n in self.objects)
                states = [[n, codec.encode(self.objects[n])] for n in keys]
                if sum(len(s) for _, s in states) <= _LEAF_STATES:
                    out.append(encode_frame("states", states, 1))      # small: the states at once
                else:
                    out.append(encode_frame("keys", pre, [[n, self._hash.get(n, 0).to_bytes(8, "big")]
                                                          for n in keys]))
            if names:
                answer = self._states(names)
                if answer is None:
                    self._limit("want", p.name, f"a catch-up request for {len(names)} objects of over "
                                                f"{self._answer_cap()} bytes")
                    raise CRDTError("a catch-up request whose answer is over the limit")
                out.extend(answer)
            if not prefixes and not names:
                out.append(encode_frame("done", p.catchup_mark))  # it has all it asked for: it acks our mark
            if not await self._durable(upto):        # states from memory leave once they are committed
                return []
            self.stats["catchup_bytes"] += sum(len(x) for x in out)
            return out
        if (kind in ("sums", "keys") or (kind == "states" and f.fields[1])) and p.expecting <= 0:
            p.expecting = 0
            out.append(encode_frame("want", [], []))               # every answer arrived: we are done
        self.stats["catchup_bytes"] += sum(len(x) for x in out)
        return out

    def _answer_cap(self) -> int:
        """The most bytes of states one answer carries (a catch-up request or the states that changed)."""
        return 16 * self.limits.max_frame_bytes

    def _states(self, names: list[str]) -> list[bytes] | None:
        """The states of ``names`` (those we hold) in frames of about half the frame limit; None when they
        come to more than :meth:`_answer_cap` bytes."""
        out = []
        batch: list[list[Any]] = []
        total = start = 0            # bytes so far; where the current frame's began
        cap = self._answer_cap()
        for n in names:
            obj = self.objects.get(n)
            if obj is None:
                continue
            data = codec.encode(obj)
            batch.append([n, data])
            total += len(data) + len(n)
            if total > cap:
                return None
            if total - start > self.limits.max_frame_bytes // 2:
                out.append(encode_frame("states", batch, 0))
                batch, start = [], total
        out.append(encode_frame("states", batch, 1))
        return out


# --- helpers ------------------------------------------------------------------------------------------------

class _TypeClash(TypeError):
    """An object of one name has another type at the peer (skipped entry by entry, not a refused frame)."""


#: The store's own bytes: trusted (we wrote them) but still decoded with every check.
_STORE_LIMITS = codec.Limits(max_bytes=1 << 30, max_entries=1 << 30, max_replicas=1 << 20)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _takes_clock(obj: Any) -> bool:
    return hasattr(obj, "_clock")


def _max_timestamp(d: Any) -> tuple[int, int, str] | None:
    ts = getattr(d, "_ts", None)
    if type(ts) is tuple:
        return ts
    entries = getattr(d, "_entries", None)
    if type(entries) is dict and entries:
        return max(e[0] for e in entries.values())
    stamps = getattr(d, "_timestamps", None)
    if callable(stamps):
        got = list(stamps())
        return max(got) if got else None
    return None


def _check_name(name: Any) -> None:
    if type(name) is not str or not name or len(name.encode("utf-8")) > 1024:
        raise ValueError(f"object names are text of 1 to 1,024 bytes, got {name!r:.40}")


def _record(name: str, data: bytes, lsn: int) -> Any:
    from ..store import ObjectRecord

    return ObjectRecord(name, data, lsn)
