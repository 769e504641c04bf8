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

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from .._base import CRDT
from ..errors import CRDTError, DecodeError
from .audit import AuditLog
from .messages import Message, decode_message, encode_message

__all__ = ["LocalTransport", "Node", "NodeStats", "PeerStats", "SendInfo", "Transport"]


def _stamp(state: Any, clock: Callable[[], float]) -> list[Any]:
    """The HLC reading of the state's clock when it has one, else the node clock in seconds."""
    hlc = getattr(state, "_clock", None)
    if hlc is not None and hasattr(hlc, "peek"):
        wall, logical = hlc.peek()
        return [wall, logical, hlc.replica]
    return [clock()]


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

    def peer(self, name: str) -> PeerStats:
        p = self.peers.get(name)
        if p is None:
            p = self.peers[name] = PeerStats()
        return p

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


class Node:
    """A replica: owns one CRDT object, runs one protocol, talks to its neighbours through a transport.

    ``crdt`` is a CRDT class (instantiated for this replica) or an object bound to the replica.
    ``durable=True`` (the default) keeps the state and the protocol's durable counters across
    :meth:`crash`/:meth:`restart`, as Algorithm 2 of the delta-CRDT paper requires; with
    ``durable=False`` a restart loses the state and comes back as a new incarnation (a new replica id,
    ``name~N``), so no dot is ever reused.
    """

    def __init__(self, name: str, crdt: type[CRDT] | CRDT, protocol: str = "bprr",
                 neighbours: Iterable[str] = (), transport: Transport | None = None, *,
                 durable: bool = True, options: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, audit: AuditLog | None = None) -> None:
        from .protocols import PROTOCOLS

        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
        self.name = name
        self.incarnation = 0
        if isinstance(crdt, type):
            self._factory: Callable[[str], CRDT] = crdt
            self.state: Any = crdt(name)  # type: ignore[call-arg]
        else:
            if crdt.replica is None:
                raise ValueError("the node's CRDT object must be bound to a replica")
            self._factory = lambda r: type(crdt)(r)  # type: ignore[call-arg]
            self.state = crdt
        self.neighbours = list(neighbours)
        self.transport = transport
        if transport is not None and hasattr(transport, "register"):
            transport.register(self)
        self.durable = durable
        self.up = True
        self.stats = NodeStats()
        self.clock = clock
        self.audit = audit
        self._watch_conflicts()
        self.protocol_name = protocol
        self.protocol = PROTOCOLS[protocol](self, **(options or {}))

    @property
    def replica(self) -> str:
        """The replica id the state currently mutates as (changes on a non-durable restart)."""
        return self.state.replica

    # --- the application side -------------------------------------------------------------------

    def update(self, fn: Callable[[Any], Any], actor: str | None = None, key: Any = None) -> Any:
        """Run one mutator on the state (``fn(state)`` returns its delta) and hand the delta to the protocol.

        With an audit log, the write is recorded (durably) before this returns: ``actor`` and ``key`` go
        into the record.
        """
        if not self.up:
            raise CRDTError(f"node {self.name!r} is down")
        t = time.process_time()
        delta = fn(self.state)
        if self.audit is not None:
            kind = "resolution" if getattr(delta, "is_resolution", False) else "write"
            self.audit.append(kind, region=self.name, ts=_stamp(self.state, self.clock), actor=actor, key=key,
                              detail={"type": type(self.state).__name__, "units": delta.units()})
        self.protocol.on_local(delta)
        self.stats.cpu_seconds += time.process_time() - t
        return delta

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
        """A snapshot: totals, buffer and state sizes, and per peer the replication lag and traffic."""
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
            "full_states_sent": st.full_states_sent, "rejected": st.rejected, "peers": peers,
        }

    # --- the network side -----------------------------------------------------------------------

    def receive(self, src: str, data: bytes) -> None:
        """Handle one message. Malformed input is counted in ``stats.rejected`` and changes nothing."""
        if not self.up:
            return
        t = time.process_time()
        self.stats.messages_received += 1
        self.stats.bytes_received += len(data)
        p = self.stats.peer(src)
        p.messages_received += 1
        p.bytes_received += len(data)
        try:
            msg = decode_message(data)
            self.protocol.on_message(src, msg)
        except (DecodeError, TypeError, ValueError, CRDTError):
            self.stats.rejected += 1
        finally:
            self.stats.cpu_seconds += time.process_time() - t

    def tick(self) -> None:
        """One anti-entropy round: the protocol sends what its neighbours need."""
        if not self.up:
            return
        t = time.process_time()
        self.protocol.on_tick()
        self.stats.cpu_seconds += time.process_time() - t

    def crash(self) -> None:
        """Stop: volatile protocol state is lost; the state survives only if the node is durable."""
        self.up = False
        self.protocol.on_crash()

    def restart(self) -> None:
        """Come back up, from durable state or (non-durable) as a fresh incarnation."""
        if self.up:
            return
        self.up = True
        if not self.durable:
            self.incarnation += 1
            self.state = self._factory(f"{self.name}~{self.incarnation}")
            self._watch_conflicts()
        if self.audit is not None:
            self.audit.reopen()
        self.protocol.on_restart()

    # --- helpers for protocols ------------------------------------------------------------------

    def send(self, dst: str, kind: str, *meta: Any, payload: bytes | None = None, units: int = 0,
             payload_bytes: int | None = None) -> None:
        """Encode and send one message. ``payload_bytes`` counts CRDT bytes carried inside ``meta`` (logs)."""
        data = encode_message(kind, *meta, payload=payload)
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
        if self.transport is not None:
            self.transport.send(self.name, dst, data, SendInfo(kind, pb, len(data) - pb, units))

    def decode_payload(self, msg: Message) -> Any:
        from ..codec import decode

        obj = decode(msg.payload)
        if type(obj) is not type(self.state):
            raise DecodeError(f"expected a {type(self.state).__name__} payload, got {type(obj).__name__}")
        return obj

    def memory_units(self) -> tuple[int, int]:
        """(state units, protocol buffer units): the memory measure of the sync benchmarks."""
        return self.state.units(), self.protocol.buffer_units()

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.protocol_name}, up={self.up})"
