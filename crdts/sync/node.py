"""A transport-agnostic replica node: one CRDT object, one anti-entropy protocol, bytes in and out.

>>> from crdts import GSet
>>> from crdts.sync import Node, LocalTransport
>>> net = LocalTransport()
>>> a = Node("a", GSet, protocol="bprr", neighbours=["b"], transport=net)
>>> b = Node("b", GSet, protocol="bprr", neighbours=["a"], transport=net)
>>> _ = a.update(lambda s: s.add("x"))
>>> for _ in range(2):                 # a round: every node syncs, then the network delivers
...     a.tick(); b.tick(); _ = net.deliver_all()
>>> sorted(b.state.value), b.stats.units_sent, a.stats.units_sent
(['x'], 0, 1)
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from .._base import CRDT
from ..errors import (
    ClockDrift,
    ConflictingWrite,
    CRDTError,
    DecodeError,
    DoubleSpentDot,
    LimitExceeded,
    ReplicaClash,
    RetiredReplica,
    UnknownRetirement,
)
from .audit import AuditLog
from .messages import Message, decode_message, encode_message
from .signing import BadSignature
from .trust import Authorizer, Grant, SyncLimits, Unauthorized

__all__ = ["Event", "LocalTransport", "Node", "NodeStats", "PeerStats", "SendInfo", "Transport"]


def _stamp(state: Any, clock: Callable[[], float]) -> list[Any]:
    """The HLC reading of the state's clock when it has one, else the node clock in seconds."""
    hlc = state.clock
    if hlc is not None:
        wall, logical = hlc.peek()
        return [wall, logical, hlc.replica]
    return [clock()]


def _protocol_options(cls: type) -> set[str] | None:
    """The keyword options a protocol class takes (beyond the node); None if it takes any (``**kwargs``)."""
    params = list(inspect.signature(cls).parameters.values())[1:]  # after the node
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


@attrs.frozen(slots=True)
class SendInfo:
    """What a node tells the transport about a message: for accounting only, never needed to deliver it."""

    kind: str
    payload_bytes: int
    metadata_bytes: int
    units: int


class Transport(Protocol):
    """Carries bytes between nodes. ``send`` must not call back into the sender synchronously."""

    def send(self, src: str, dst: str, data: bytes, info: SendInfo) -> None: ...


@attrs.define(slots=True)
class PeerStats:
    """Traffic with one peer."""

    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    full_states_sent: int = 0


@attrs.define(slots=True)
class NodeStats:
    """Per-node counters. Bytes are split into CRDT payload (codec bytes) and protocol metadata."""

    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    payload_bytes_sent: int = 0
    metadata_bytes_sent: int = 0
    units_sent: int = 0
    bytes_received: int = 0
    full_states_sent: int = 0
    rejected: int = 0
    conflicts: int = 0
    cpu_seconds: float = 0.0
    by_kind: dict[str, int] = attrs.field(factory=dict)
    peers: dict[str, PeerStats] = attrs.field(factory=dict)
    #: why messages were refused: reason -> count (they add up to ``rejected``)
    rejected_by: dict[str, int] = attrs.field(factory=dict)
    #: which limit was reached, and how often (see :class:`~crdts.sync.trust.SyncLimits`)
    limits_hit: dict[str, int] = attrs.field(factory=dict)
    #: new incarnations this node started (see :meth:`Node.reincarnate`)
    incarnations: int = 0

    def peer(self, name: str) -> PeerStats:
        p = self.peers.get(name)
        if p is None:
            p = self.peers[name] = PeerStats()
        return p

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.rejected_by[reason] = self.rejected_by.get(reason, 0) + 1

    def limit(self, name: str) -> None:
        self.limits_hit[name] = self.limits_hit.get(name, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(slots=True)
class Event:
    """Something an operator should hear of: a refused message (``kind="rejected"``, with the ``reason``),
    a clash of replica ids, a limit reached, a new incarnation. ``detail`` says what happened."""

    kind: str
    reason: str
    peer: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class LocalTransport:
    """An in-process transport with a FIFO queue: deliver by hand (``deliver_all``). For tests and examples."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.queue: deque[tuple[str, str, bytes]] = deque()

    def register(self, node: Node) -> None:
        self.nodes[node.name] = node

    def send(self, src: str, dst: str, data: bytes, info: SendInfo) -> None:
        self.queue.append((src, dst, data))

    def deliver_all(self) -> int:
        """Deliver every queued message (and those sent in reply), in order. Returns how many."""
        n = 0
        while self.queue:
            src, dst, data = self.queue.popleft()
            node = self.nodes.get(dst)
            if node is not None:
                node.receive(src, data)
            n += 1
        return n



#: Exceptions a message can raise in a protocol, and the reason they are counted under.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (BadSignature, "signature"),
    (Unauthorized, "unauthorized"),
    (ReplicaClash, "clash"),
    (DoubleSpentDot, "clash"),
    (ConflictingWrite, "clash"),
    (ClockDrift, "clock"),
    (LimitExceeded, "limit"),
    (RetiredReplica, "retired"),
    (UnknownRetirement, "unknown_retirement"),
    (DecodeError, "malformed"),
    (CRDTError, "invalid"),
    (TypeError, "malformed"),
    (ValueError, "malformed"),
)


class Node:
    """A replica: owns one CRDT object, runs one protocol, talks to its neighbours through a transport.

    ``crdt`` is a CRDT class (instantiated for this replica) or an object bound to the replica.
    ``durable=True`` (the default) keeps the state and the protocol's durable counters across
    :meth:`crash`/:meth:`restart`, as Algorithm 2 of the delta-CRDT paper requires; with
    ``durable=False`` a restart loses the state and comes back as a new incarnation (a new replica id,
    ``name~N``), so no dot is ever reused.

    **Trust.** Only messages from ``neighbours`` are accepted; with an ``authorizer`` the sender's
    authenticated identity (``receive(..., identity=)``, by default the sender's name) must also have a
    :class:`~crdts.sync.trust.Grant`. Everything a message claims is checked before anything changes;
    a refused message is counted in ``stats.rejected`` (by reason in ``stats.rejected_by``), reported as an
    :class:`Event` and never answered. ``limits`` caps what peers can make the node hold.

    **Threads.** Every public method takes the node's lock: a node may be shared by threads (writers,
    a network loop, a ticker). The CRDT object it owns is not thread-safe on its own: touch it only
    through :meth:`update` (or hold :attr:`lock`).

    **Retirement.** With ``retirements`` (a :class:`~crdts.retention.Retirements` registry for this object,
    owned by this replica) the node takes part in retiring replicas that are gone (docs/retention.md): the
    registry rides on the messages to a neighbour whenever it changed since it was last sent there (and every
    ``registry_every`` rounds in any case, to repair a lost message), a registry that arrives is decoded and
    validated before anything else of its message (refused whole, counted under ``malformed``, when it does not
    decode), every state, delta, log entry or operation that arrives goes through the registry (renamed when it
    names retired replicas; refused, counted under ``retired`` or ``unknown_retirement``, when it holds a late
    write of a retired replica or names retirements not known yet), what the node sends is normalized, and each
    :meth:`tick` runs :meth:`Retirements.step <crdts.retention.Retirements.step>` first.
    """

    def __init__(self, name: str, crdt: type[CRDT] | CRDT, protocol: str = "bprr",
                 neighbours: Iterable[str] = (), transport: Transport | None = None, *,
                 durable: bool = True, options: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, audit: AuditLog | None = None,
                 authorizer: Authorizer | None = None, limits: SyncLimits | None = None,
                 on_event: Callable[[Event], Any] | None = None, signer: Any = None, keys: Any = None,
                 retirements: Any = None, registry_every: int = 30) -> None:
        from .protocols import PROTOCOLS

        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
        self.name = name
        self.incarnation = 0
        if isinstance(crdt, type):
            self.state: Any = crdt(name)  # type: ignore[call-arg]
        else:
            if crdt.replica is None:
                raise ValueError("the node's CRDT object must be bound to a replica")
            self.state = crdt
        self.neighbours = list(neighbours)
        self.transport = transport
        self.durable = durable
        self.up = True
        self.stats = NodeStats()
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer
        self.limits = limits or SyncLimits()
        self.on_event = on_event
        self.events: deque[Event] = deque(maxlen=256)
        self.lock = threading.RLock()
        self.grant: Grant | None = None       # the grant of the peer whose message is being handled
        self.signer = signer                  # with keys: signed deltas (crdts.sync.signing)
        self.keys = keys
        self._watch_conflicts()
        from ..retention import Retirements

        if retirements is not None and type(retirements) is not Retirements:
            raise TypeError(f"retirements must be a crdts.retention.Retirements, got {type(retirements).__name__}")
        if type(registry_every) is not int or registry_every < 1:
            raise ValueError(f"registry_every must be an int >= 1, got {registry_every!r}")
        self.retirements: Retirements | None = retirements
        self.registry_every = registry_every
        self._registry_sent: dict[str, int] = {}    # neighbour -> the registry version last sent to it
        self._registry_bytes: tuple[int, bytes] | None = None
        # neighbour -> (records, archives) as it is known to hold them (what was sent to it, what it sent)
        self._registry_view: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._registry_next: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._rounds = 0
        self.protocol_name = protocol
        cls = PROTOCOLS[protocol]
        if keys is not None:
            if not getattr(cls, "signs", False):
                raise ValueError(f"signed deltas need a protocol that relays each write as its origin signed it "
                                 f"(digest or op); {protocol!r} joins writes of several origins into one delta")
            if signer is None or signer.replica != name.partition("~")[0]:
                raise ValueError(f"a signed node needs the signer of its own replica id {name!r}")
        accepted = _protocol_options(cls)
        unknown = [] if accepted is None else sorted(set(options or {}) - accepted)
        if unknown and accepted is not None:
            takes = ", ".join(sorted(accepted)) or "none"
            raise TypeError(f"protocol {protocol!r} takes no option {', '.join(map(repr, unknown))} "
                            f"(its options: {takes})")
        self.protocol = cls(self, **(options or {}))
        if transport is not None and hasattr(transport, "register"):
            transport.register(self)

    @property
    def replica(self) -> str:
        """The replica id the state currently mutates as (changes on a new incarnation)."""
        return self.state.replica

    # --- the application side -------------------------------------------------------------------

    def update(self, fn: Callable[[Any], Any], actor: str | None = None, key: Any = None) -> Any:
        """Run one mutator on the state (``fn(state)`` returns its delta) and hand the delta to the protocol.

        Atomic: with an audit log, the write is recorded (durably) before this returns, and if the record
        cannot be written (disk full, I/O error) the state is put back as it was and the error raised, so
        the state, the audit trail and the protocol all see the write or none does. ``actor`` and ``key``
        go into the record. Cost: the mutator's, plus (with an audit log) a copy of the state for the
        rollback.
        """
        with self.lock:
            if not self.up:
                raise CRDTError(f"node {self.name!r} is down")
            t = time.process_time()
            saved = self.state.copy() if self.audit is not None else None
            try:
                delta = fn(self.state)
                if not isinstance(delta, CRDT) or type(delta) is not type(self.state):
                    raise TypeError(f"Node.update: fn must call a mutator of the {type(self.state).__name__} it is "
                                    f"given and return its delta, got {delta!r:.80}")
                if self.audit is not None:
                    kind = "resolution" if getattr(delta, "is_resolution", False) else "write"
                    self.audit.append(kind, region=self.name, ts=_stamp(self.state, self.clock), actor=actor,
                                      key=key, detail={"type": type(self.state).__name__, "units": delta.units()})
            except BaseException:
                if saved is not None:
                    self._restore_state(saved)
                raise
            self.protocol.on_local(delta)
            self.stats.cpu_seconds += time.process_time() - t
            return delta

    def _restore_state(self, saved: Any) -> None:
        """Put back, in place, the copy of the state taken before a failed update: the object (and whoever
        holds it, its subscribers) stays the same."""
        self.state.restore_from(saved)

    def _watch_conflicts(self) -> None:
        sub = getattr(self.state, "subscribe", None)
        if sub is not None:
            sub(on_conflict=self._on_conflict)

    def _on_conflict(self, ev: Any) -> None:
        if ev.kind != "conflict":
            return
        self.stats.conflicts += 1
        if self.audit is not None:
            self.audit.append("conflict", region=self.name, ts=_stamp(self.state, self.clock), key=ev.key,
                              detail={"regions": list(ev.regions), "siblings": [
                                  {"value": s.value, "replica": s.replica, "timestamp": list(s.timestamp),
                                   "actor": s.actor} for s in ev.siblings]})

    def metrics(self) -> dict[str, Any]:
        """A snapshot: totals, buffer and state sizes, per peer the replication lag and traffic, and the sizes
        of the metadata (``metadata``: see :func:`crdts.sync.metrics.metadata_of`)."""
        from .metrics import metadata_of

        with self.lock:
            st = self.stats
            peers: dict[str, Any] = {}
            for j in sorted(set(self.neighbours) | set(st.peers)):
                p = st.peer(j)
                lag = self.protocol.peer_lag(j) if self.up else None
                peers[j] = {"lag_ops": None if lag is None else lag[0],
                            "lag_seconds": None if lag is None else lag[1],
                            **attrs.asdict(p)}
            return {
                "node": self.name, "replica": self.replica, "protocol": self.protocol_name, "up": self.up,
                "state_units": self.state.units(), "buffer_units": self.protocol.buffer_units(),
                "conflicts": st.conflicts, "messages_sent": st.messages_sent, "bytes_sent": st.bytes_sent,
                "messages_received": st.messages_received, "bytes_received": st.bytes_received,
                "full_states_sent": st.full_states_sent, "rejected": st.rejected,
                "rejected_by": dict(st.rejected_by), "limits_hit": dict(st.limits_hit),
                "incarnation": self.incarnation, "peers": peers, "metadata": metadata_of(self),
            }

    # --- events -----------------------------------------------------------------------------------

    def event(self, kind: str, reason: str, peer: str | None, detail: str) -> None:
        """Record an :class:`Event` (the last 256 are kept in ``events``) and pass it to ``on_event``."""
        ev = Event(kind, reason, peer, detail)
        self.events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # an operator's hook must not break replication
                import logging

                logging.getLogger("crdts").exception("on_event hook failed for %r", ev)

    def _reject(self, peer: str | None, reason: str, detail: str) -> None:
        self.stats.reject(reason)
        self.event("rejected", reason, peer, detail)

    def hit_limit(self, name: str, peer: str | None, detail: str) -> None:
        """Count that a limit was reached (protocols call this) and report it."""
        self.stats.limit(name)
        self.event("limit", name, peer, detail)

    # --- the network side -----------------------------------------------------------------------

    def receive(self, src: str, data: bytes, identity: str | None = None) -> None:
        """Handle one message from neighbour ``src``; ``identity`` is what the transport authenticated
        (defaults to ``src``). A message that is malformed, from a stranger, or claims what the sender
        may not claim is refused whole: counted, reported, never answered, and nothing changes."""
        with self.lock:
            if not self.up:
                return
            t = time.process_time()
            try:
                self._receive(src, data, src if identity is None else identity)
            finally:
                self.grant = None
                self.stats.cpu_seconds += time.process_time() - t

    def _receive(self, src: str, data: bytes, identity: str) -> None:
        st = self.stats
        st.messages_received += 1
        size = len(data) if isinstance(data, (bytes, bytearray, memoryview)) else 0
        st.bytes_received += size
        if src not in self.neighbours:
            self._reject(src, "stranger", "a message from a peer that is not a neighbour")
            return
        grant = None
        if self.authorizer is not None:
            grant = self.authorizer.grant(identity)
            if grant is None:
                self._reject(src, "unauthorized", f"identity {identity!r} has no grant")
                return
        p = st.peer(src)
        p.messages_received += 1
        p.bytes_received += size
        if size > self.limits.max_message_bytes:
            self.hit_limit("message_bytes", src, f"a message of {size} bytes")
            self._reject(src, "too_large", f"{size} bytes, over max_message_bytes={self.limits.max_message_bytes}")
            return
        try:
            msg = decode_message(data, self.limits.max_message_bytes)
        except DecodeError as exc:
            self._reject(src, "malformed", str(exc))
            return
        if msg.kind not in self.protocol.kinds and not (msg.kind == "registry" and self.retirements is not None):
            self._reject(src, "kind", f"{self.protocol_name!r} does not speak {msg.kind!r}")
            return
        if msg.registry is not None and self.retirements is not None and not self._take_registry(src, grant,
                                                                                                msg.registry):
            return
        if msg.kind == "registry":
            return
        self.grant = grant
        try:
            self.protocol.on_message(src, msg)
        except Exception as exc:
            reason = next((r for cls, r in _REASONS if isinstance(exc, cls)), None)
            if reason is None:
                raise
            self._reject(src, reason, f"{msg.kind}: {exc}")
            if isinstance(exc, ReplicaClash) and exc.replica == self.replica:
                self.event("clash", "own-id", src, str(exc))

    def _take_registry(self, src: str, grant: Grant | None, data: bytes) -> bool:
        """Decode, check and merge a registry a message carried; False (the message refused whole, counted)
        if it does not decode or the sender may not speak of retirements."""
        from ..codec import decode
        from ..retention import Retirements

        reg = self.retirements
        assert reg is not None
        if self.authorizer is not None and (grant is None or not grant.snapshots):
            self._reject(src, "unauthorized", "a retirement registry from a peer whose grant does not trust its "
                                              "claims about other replicas (snapshots)")
            return False
        try:
            other = decode(data, limits=self.limits.codec)
            if type(other) is not Retirements:
                raise DecodeError(f"expected a Retirements registry, got {type(other).__name__}")
        except (DecodeError, TypeError, ValueError) as exc:
            self._reject(src, "malformed", f"retirement registry: {exc}")
            return False
        if reg.merge(other):
            reg.normalize(self.state)
            self.protocol.on_retirements()
        view = self._registry_view.get(src)
        if view is not None:     # what src just said it holds need not go back to it
            recs, archives = view
            for r, rec in other.records.items():
                seen = recs.get(r)
                if seen is None:
                    recs[r] = rec.copy()
                else:            # src holds at least what it was sent and what it sent (records are joins)
                    seen = seen.copy()
                    seen.merge(rec)
                    recs[r] = seen
            for a, top in other.archives.items():
                if reg.archives.get(a) == top:
                    archives[a] = top
        return True

    def _registry_for(self, dst: str) -> bytes | None:
        """What ``dst`` should be sent of the registry, as codec bytes: nothing (None) when it has been sent
        the current version; the records and archives that changed since it was last sent some (a registry
        is a join of its records: a part of it merges as well as the whole); the whole registry the first
        time and every ``registry_every`` rounds. O(records)."""
        from ..codec import encode
        from ..retention import Retirements

        reg = self.retirements
        if reg is None or not reg or self._registry_sent.get(dst) == reg.version:
            return None
        now = (dict(reg.records), dict(reg.archives))
        view = self._registry_view.get(dst)
        if view is None:
            cached = self._registry_bytes
            if cached is None or cached[0] != reg.version:
                cached = self._registry_bytes = (reg.version, encode(reg))
            self._registry_next[dst] = (now[0], now[1])
            return cached[1]
        recs, archives = view
        part = Retirements()
        part.records = {}
        for r, rec in reg.records.items():     # a changed record goes as its change (the votes that changed)
            old = recs.get(r)
            if old != rec:
                part.records[r] = rec if old is None else rec.since(old)
        part.archives = {a: top for a, top in reg.archives.items() if archives.get(a) != top}
        if not part:
            self._registry_sent[dst] = reg.version
            return None
        # the archives of the part's performed records go along (the decoder checks their blocks against them);
        # not the others: an archive sent without its record could come back where its record expired
        for rec in part.records.values():
            p = rec.performed
            if p is not None and p.archive in reg.archives:
                part.archives[p.archive] = reg.archives[p.archive]
        self._registry_next[dst] = now
        return encode(part)

    # --- retirement, for protocols ----------------------------------------------------------------

    def incoming(self, d: Any) -> Any:
        """``d`` (a state, delta or operation from elsewhere) as the registry has it merged: itself when no
        retirement applies, else renamed. Raises RetiredReplica (a late write of a retired replica) or
        UnknownRetirement (names retirements not known here yet), changing nothing."""
        reg = self.retirements
        if reg is None or d is None:
            return d
        return reg.admit(d)

    def merge_in(self, d: Any) -> None:
        """Join ``d`` (already passed through :meth:`incoming`) into the state, and keep the state normalized."""
        self.state.merge(d)
        reg = self.retirements
        if reg is not None and reg.records:
            reg.normalize(self.state)

    def outgoing(self, d: Any) -> Any:
        """``d`` (a buffered delta or group) with the records applied, before it is sent: renamed, and a late
        write of a retired replica it may hold (taken before the retirement was known) dropped."""
        reg = self.retirements
        return d if reg is None or d is None else reg.normalized(d)

    def retired(self) -> set[str]:
        """Replicas whose retirement this node knows to be performed (empty without a registry)."""
        reg = self.retirements
        return set() if reg is None else reg.tombstones()

    def archive_gap(self) -> bool:
        """Whether the state lacks renamed events that the registry says exist (it joined while a retirement
        was under way and its bootstrap missed some of the retired replica's writes): the protocol should then
        ask for a full state. Archives whose heir is itself retiring are skipped (their events move on)."""
        reg = self.retirements
        if reg is None or not reg.archives:
            return False
        from ..retention import ARCHIVE_SUFFIX, _le

        x = self.state
        return any(not _le(top, x._rt_mark(a)) for a, top in reg.archives.items()
                   if a[:-len(ARCHIVE_SUFFIX)] not in reg.records)

    def remove_neighbour(self, name: str) -> None:
        """Stop syncing with ``name`` (it left for good): drop what the protocol keeps about it."""
        with self.lock:
            if name in self.neighbours:
                self.neighbours.remove(name)
            self._registry_sent.pop(name, None)
            self._registry_view.pop(name, None)
            self.protocol.forget_peer(name)

    def add_neighbour(self, name: str) -> None:
        """Start syncing with ``name`` (a replica that joined)."""
        with self.lock:
            if name not in self.neighbours:
                self.neighbours.append(name)

    def tick(self) -> None:
        """One anti-entropy round: the protocol sends what its neighbours need."""
        with self.lock:
            if not self.up:
                return
            t = time.process_time()
            reg = self.retirements
            if reg is not None:
                self._rounds += 1
                if self._rounds % self.registry_every == 0:
                    self._registry_sent.clear()     # every few rounds the registry goes again (a lost message)
                    self._registry_view.clear()
                reg.step(self.state)
                self.protocol.on_retirements()
            self.protocol.on_tick()
            if reg is not None:
                for j in self.neighbours:       # a neighbour the round sent nothing gets the registry alone
                    part = self._registry_for(j)
                    if part is not None:
                        self.send(j, "registry", registry=part)
            self.stats.cpu_seconds += time.process_time() - t

    def crash(self) -> None:
        """Stop: volatile protocol state is lost; the state survives only if the node is durable."""
        with self.lock:
            self.up = False
            self.protocol.on_crash()

    def restart(self) -> None:
        """Come back up, from durable state or (non-durable) as a fresh incarnation."""
        with self.lock:
            if self.up:
                return
            self.up = True
            if not self.durable:
                # an empty object with the state's configuration (policy, clock's time source)
                self._new_incarnation(self.state.fresh(self._next_replica()))
            if self.audit is not None:
                self.audit.reopen()
            self.protocol.on_restart()

    def _next_replica(self) -> str:
        self.incarnation += 1
        return f"{self.name}~{self.incarnation}"

    def _new_incarnation(self, state: Any) -> None:
        self.state = state
        if self.retirements is not None and state.replica is not None:
            self.retirements.rebind(state.replica)
        self.stats.incarnations += 1
        self._watch_conflicts()

    def reincarnate(self) -> str:
        """Continue under a new replica id (``name~N``), keeping the state: every write from now on has dots
        no earlier process made. Call it when the state may be behind what peers have seen from this
        replica (restored from a snapshot, or the same id found live elsewhere). Returns the new id."""
        with self.lock:
            replica = self._next_replica()
            self._new_incarnation(self.state.copy(replica=replica))
            self.protocol.on_reincarnate()
            self.event("incarnation", "reincarnate", None, f"continuing as {replica!r}")
            return replica

    def restore(self, state: Any, *, current: bool = False) -> None:
        """Replace the state with ``state`` (e.g. decoded from a backup). Unless ``current`` says it holds
        every write this replica ever made (its latest durable copy), the node continues as a new
        incarnation, so a write made after the backup was taken is never overwritten by a reused dot."""
        with self.lock:
            if type(state) is not type(self.state):
                raise TypeError(f"restore needs a {type(self.state).__name__}, got {type(state).__name__}")
            if current:
                self._new_incarnation(state.copy(replica=self.replica))
                self.stats.incarnations -= 1
                self.protocol.on_restart()
            else:
                replica = self._next_replica()
                self._new_incarnation(state.copy(replica=replica))
                self.protocol.on_reincarnate()
                self.event("incarnation", "restore", None, f"restored from a snapshot as {replica!r}")

    # --- helpers for protocols ------------------------------------------------------------------

    def send(self, dst: str, kind: str, *meta: Any, payload: bytes | None = None, units: int = 0,
             payload_bytes: int | None = None, registry: bytes | None = None) -> bool:
        """Encode and send one message. ``payload_bytes`` counts CRDT bytes carried inside ``meta`` (logs).
        ``registry``: what :meth:`_registry_for` already gave for ``dst`` (else it is asked here).
        A message over ``limits.max_message_bytes`` is not sent (its receiver would refuse it): counted
        under ``limits_hit["send_bytes"]``; returns False."""
        if registry is None and self.retirements is not None:
            registry = self._registry_for(dst)
        data = encode_message(kind, *meta, payload=payload, registry=registry)
        if len(data) > self.limits.max_message_bytes and registry is not None:
            registry = None                          # the registry goes with a later, smaller message
            data = encode_message(kind, *meta, payload=payload)
        if len(data) > self.limits.max_message_bytes:
            self.hit_limit("send_bytes", dst, f"a {kind!r} message of {len(data)} bytes was not sent")
            return False
        pb = (0 if payload is None else len(payload)) if payload_bytes is None else payload_bytes
        st = self.stats
        st.messages_sent += 1
        st.bytes_sent += len(data)
        st.payload_bytes_sent += pb
        st.metadata_bytes_sent += len(data) - pb
        st.units_sent += units
        st.by_kind[kind] = st.by_kind.get(kind, 0) + 1
        p = st.peer(dst)
        p.messages_sent += 1
        p.bytes_sent += len(data)
        if kind in ("state", "full", "snapshot"):
            st.full_states_sent += 1
            p.full_states_sent += 1
        if registry is not None:
            assert self.retirements is not None
            self._registry_sent[dst] = self.retirements.version
            nxt = self._registry_next.pop(dst, None)
            if nxt is not None:   # copies: a record merged into later must not change what was sent
                self._registry_view[dst] = ({r: rec.copy() for r, rec in nxt[0].items()}, nxt[1])
        if self.transport is not None:
            self.transport.send(self.name, dst, data, SendInfo(kind, pb, len(data) - pb, units))
        return True

    def decode_payload(self, msg: Message) -> Any:
        return self.decode_bytes(msg.payload)

    def decode_bytes(self, data: Any) -> Any:
        """Decode a CRDT payload of this node's type (with the node's codec limits); DecodeError otherwise."""
        from ..codec import decode

        obj = decode(data, limits=self.limits.codec)
        if type(obj) is not type(self.state):
            raise DecodeError(f"expected a {type(self.state).__name__} payload, got {type(obj).__name__}")
        return obj

    def admit(self, src: str, d: Any) -> None:
        """Check what a peer sends against its grant before it is merged: without ``relay``, every event in
        ``d`` that this node has not seen must be one the peer may originate. Raises Unauthorized."""
        grant = self.grant
        if grant is None or grant.relay:
            return
        new = self.state.new_origins(d)
        if new:
            bad = sorted(r for r in new if not grant.may_originate(r))
            if bad:
                raise Unauthorized(src, f"relay writes of {bad} (its grant does not allow relaying)")

    def check_origin(self, src: str, origin: str) -> None:
        """Refuse an entry attributed to ``origin`` (a log entry, an operation) from a peer whose grant does
        not let it relay others' writes and does not cover ``origin``. Raises Unauthorized."""
        grant = self.grant
        if grant is not None and not grant.relay and not grant.may_originate(origin):
            raise Unauthorized(src, f"relay writes of {origin!r} (its grant does not allow relaying)")

    def ready(self, origin: str, d: Any) -> bool:
        """Whether everything ``d`` (a write of ``origin``) claims to have seen of other replicas is here: a
        signed write may only name others' events that this node has (a "remove" of what its origin never
        saw would otherwise be taken on the origin's word)."""
        new = self.state.new_origins(d)
        if not new:
            return True
        base = origin.partition("~")[0]
        return all(r.partition("~")[0] == base for r in new)

    def trusts_snapshots(self) -> bool:
        """With signed deltas a snapshot (a state nobody signed) is taken only from a peer whose grant says so."""
        return self.authorizer is not None and self.grant is not None and self.grant.snapshots

    def may_claim(self, src: str, origin: str) -> bool:
        """Whether ``src``'s claims about ``origin``'s history (in digests and snapshots) are believed:
        always about itself; about others only if its grant trusts its snapshots (or there is no authorizer)."""
        if origin == src or origin.partition("~")[0] == src:
            return True
        grant = self.grant
        if self.authorizer is None:
            return True
        return grant is not None and (grant.may_originate(origin) or grant.snapshots)

    def memory_units(self) -> tuple[int, int]:
        """(state units, protocol buffer units): the memory measure of the sync benchmarks."""
        return self.state.units(), self.protocol.buffer_units()

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.protocol_name}, up={self.up})"
