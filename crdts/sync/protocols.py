"""Anti-entropy protocols. Each is a strategy object owned by a :class:`~crdts.sync.node.Node`.

- ``state``: full-state gossip to every neighbour each round.
- ``delta``: Algorithm 1 of the delta-CRDT paper (transitive): the delta-group since the last round,
  with a full state every ``full_every`` rounds so that loss is repaired.
- ``causal``: Algorithm 2: delta-intervals with sequence numbers and acks, full-state fallback, GC of
  acknowledged deltas.
- ``bprr``: Algorithm 2 with the two fixes of Enes et al. (ICDE 2019): no back-propagation, and only the
  optimal delta Δ(d, X) of a received delta is buffered.
- ``digest``: Scuttlebutt-style: a per-origin log of deltas; neighbours exchange digests (highest
  contiguous sequence per origin) and send only what the other lacks; a snapshot when the log was
  truncated.
- ``op``: operation-based flooding over :class:`~crdts.ops.CausalBroadcast`: each operation (the one-op
  delta of a mutator) crosses every edge once, is delivered exactly once and in causal order, and is
  forwarded on delivery; each round's ``opsync`` (delivered vector) acknowledges (an operation leaves the
  log once every neighbour has acknowledged it) and repairs loss from the log, or with a snapshot once the
  log was compacted.
"""

from __future__ import annotations

from typing import Any

from ..codec import encode
from ..errors import CRDTError
from ..retention import call_archive
from .messages import Message, vv_to_wire

__all__ = ["PROTOCOLS", "BPRRProtocol", "CausalProtocol", "DeltaProtocol", "DigestProtocol", "OpProtocol",
           "StateProtocol"]


class SyncProtocol:
    """Base: the hooks a node calls. ``node.state`` is X; ``node.send`` emits a message.

    ``kinds`` names the messages the protocol speaks; the node refuses (and counts) any other kind.
    ``on_message`` may raise a ``CRDTError`` (or ``DecodeError``, ``TypeError``, ``ValueError``): the node
    counts the message as rejected; whatever the protocol did before raising must be complete and
    consistent on its own (a merge is all or nothing; nothing is acknowledged before it is merged).
    """

    name = "?"
    kinds: frozenset[str] = frozenset()

    def __init__(self, node: Any) -> None:
        self.node = node
        self._answers: dict[str, int] = {}   # expensive answers left this round, per neighbour

    def on_local(self, delta: Any) -> None:
        """A local mutation produced ``delta`` (already joined into X)."""

    def on_message(self, src: str, msg: Message) -> None:
        raise NotImplementedError

    def on_tick(self) -> None:
        raise NotImplementedError

    def on_crash(self) -> None:
        """Drop volatile state."""

    def on_restart(self) -> None:
        """Back from a crash (``node.state`` is the durable or a fresh state)."""

    def on_reincarnate(self) -> None:
        """The node continues under a new replica id (``node.replica``), with its state: drop what was tied
        to the old id, as a restart that lost the state would."""
        self.on_crash()
        self.on_restart()

    def buffer_units(self) -> int:
        """Units held besides the state (delta buffers, logs)."""
        return 0

    def log_metadata(self) -> dict[str, int]:
        """Sizes of what the protocol holds besides the state, by part (``log`` entries, ``log_dropped`` by the
        log bounds, ``buffer`` delta-intervals); {} when it holds nothing between rounds."""
        return {}

    def on_retirements(self) -> None:
        """The node's retirement registry changed or stepped: drop what is kept about replicas retired for good
        (per-origin logs, sequence numbers). Called at every tick of a node with a registry."""

    def forget_peer(self, peer: str) -> None:
        """``peer`` is no longer a neighbour (it left for good): drop what is kept about it."""

    def peer_lag(self, peer: str) -> tuple[int, float] | None:
        """(writes ``peer`` is known to lack, seconds since the oldest of them was made here), or None
        when the protocol keeps no per-peer knowledge (``state``, ``delta``)."""
        return None

    #: answers that cost the whole state or log (a digest's reply, a repair) per neighbour per round, at most
    answers_per_round = 2

    def _may_answer(self, src: str) -> bool:
        """Whether ``src`` may still get an expensive answer this round (refilled by :meth:`_refill`): a peer
        that sends a hundred small requests a round gets two answers, not a hundred full states."""
        left = self._answers.get(src, self.answers_per_round)
        if left <= 0:
            self.node.hit_limit("answers", src, "a request beyond the answers a peer gets per round")
            return False
        self._answers[src] = left - 1
        return True

    def _refill(self) -> None:
        self._answers.clear()

    def _merge(self, src: str, obj: Any) -> Any:
        """Admit ``obj`` from ``src`` (its grant) and merge it whole into X (validated: all or nothing), under the
        node's retirement registry if it has one (renamed, or refused whole). Returns what was merged."""
        node = self.node
        node.admit(src, obj)
        z = node.incoming(obj)
        node.merge_in(z)
        self._ship_dropped()
        return z

    def _ship_dropped(self) -> None:
        """Siblings a conflict type's bounds dropped on a merge leave as a local write's delta would (see
        ConflictRegister.take_dropped), so every replica learns of the removal."""
        take = getattr(self.node.state, "take_dropped", None)
        if take is not None:
            d = take()
            if d is not None:
                self.on_local(d)

    def _receive_delta(self, src: str, d: Any) -> tuple[Any, Any]:
        """Merge a received delta (or state) ``d``; return it as merged (renamed under the retirement registry)
        and Δ(d, X): the part of it X lacked.

        The whole of ``d`` is validated against X before anything changes, so a dot that ``d`` carries with a
        different payload than X (a forged delta, or two processes sharing a replica id) is refused as a
        direct merge would refuse it, even where Δ alone would have filtered it out.
        """
        node = self.node
        x = node.state
        node.admit(src, d)
        d = node.incoming(d)          # renamed under the retirement records, or refused whole
        x.check_merge(d)              # refuse a clash of our own id before Δ spends anything on it
        delta = d.delta_for(x)
        node.merge_in(d)
        return d, delta


class StateProtocol(SyncProtocol):
    """Full-state gossip: every round, X goes to every neighbour."""

    name = "state"
    kinds = frozenset({"state"})

    def on_message(self, src: str, msg: Message) -> None:
        self._merge(src, self.node.decode_payload(msg))

    def on_tick(self) -> None:
        x = self.node.state
        if x.is_bottom() or not self.node.neighbours:
            return
        payload, units = encode(x), x.units()
        for j in self.node.neighbours:
            self.node.send(j, "state", payload=payload, units=units)


class DeltaProtocol(SyncProtocol):
    """Algorithm 1, transitive mode: received deltas join the outgoing delta-group too.

    The group D is volatile; every ``full_every`` rounds (default 10; 0 = never) the full state goes
    instead, which repairs lost messages and crashes.
    """

    name = "delta"
    kinds = frozenset({"delta", "state"})

    def __init__(self, node: Any, full_every: int = 10) -> None:
        super().__init__(node)
        self.full_every = full_every
        self.rounds = 0
        self.group: Any = None

    def _add(self, d: Any) -> None:
        if self.group is None:
            self.group = type(self.node.state)()
        self.group.merge(d)

    def on_local(self, delta: Any) -> None:
        self._add(delta)

    def on_message(self, src: str, msg: Message) -> None:
        d, delta = self._receive_delta(src, self.node.decode_payload(msg))
        if not delta.is_bottom():   # d ⋢ X: joined; pass the whole group on
            self._add(d)

    def on_tick(self) -> None:
        self.rounds += 1
        node = self.node
        if self.full_every and self.rounds % self.full_every == 0:
            out, kind = node.state, "state"
        else:
            out, kind = node.outgoing(self.group), "delta"
        self.group = None
        if out is None or out.is_bottom():
            return
        payload, units = encode(out), out.units()
        for j in node.neighbours:
            node.send(j, kind, payload=payload, units=units)

    def on_crash(self) -> None:
        self.group = None

    def buffer_units(self) -> int:
        return 0 if self.group is None else int(self.group.units())

    def log_metadata(self) -> dict[str, int]:
        return {"buffer": 0 if self.group is None else 1}


class CausalProtocol(SyncProtocol):
    """Algorithm 2 (causal delta-interval anti-entropy).

    Durable: X and the counter ``c``. Volatile: the buffer ``D`` (seq -> (origin, delta)) and the acks
    ``A`` (neighbour -> counter it acknowledged). Each round, each neighbour j gets the join of the
    buffered deltas in ``[A[j], c)``, or the full state when those were garbage-collected (or lost in a
    crash); deltas every neighbour acknowledged are dropped. A node that lost its state announces a
    reset so its neighbours start over with a full state.
    """

    name = "causal"
    kinds = frozenset({"seq", "full", "ack", "reset"})
    bp = False
    rr = False

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        self.c = 0                                   # durable
        self.buffer: dict[int, tuple[str, Any, float]] = {}  # volatile: seq -> (origin, delta, when)
        self.acks: dict[str, int] = {}               # volatile
        self.resets: set[str] = set()                # neighbours not yet told that we lost our state

    def _buffer(self, origin: str, d: Any) -> None:
        buf = self.buffer
        buf[self.c] = (origin, d, self.node.clock())
        self.c += 1
        cap = self.node.limits.max_buffer
        if len(buf) > cap:
            # A neighbour that never acknowledges must not make us hold every delta since: drop the oldest;
            # whoever still needed them gets a full state instead (the round sees the gap).
            for seq in sorted(buf)[:len(buf) - cap]:
                del buf[seq]
            self.node.hit_limit("buffer", None, f"more than {cap} unacknowledged delta-intervals")

    def on_local(self, delta: Any) -> None:
        if not delta.is_bottom():
            self._buffer(self.node.name, delta)

    def on_message(self, src: str, msg: Message) -> None:
        kind = msg.kind
        if kind in ("seq", "full"):
            # the part of d that X lacked (⊥ iff d ⊑ X); d is merged whole (renamed under the retirement records)
            d, delta = self._receive_delta(src, self.node.decode_payload(msg))
            if not delta.is_bottom():
                self._buffer(src, delta if self.rr else d)
            self.node.send(src, "ack", msg.meta[0])   # only what is merged is acknowledged
            if kind == "full":
                self.resets.discard(src)
        elif kind == "ack":
            n = msg.meta[0]
            if n > self.c:   # an ack of a counter we never sent is forged or corrupt
                from ..errors import InvariantError

                raise InvariantError(f"ack of interval {n}, but only {self.c} were sent")
            if self.acks.get(src, 0) < n:
                self.acks[src] = n
        elif kind == "reset":
            self.acks[src] = 0

    def on_tick(self) -> None:
        node = self.node
        x = node.state
        c = self.c
        for j in sorted(self.resets):
            node.send(j, "reset")
        full_payload: bytes | None = None
        oldest = min(self.buffer) if self.buffer else c   # once per round, not once per neighbour
        for j in node.neighbours:
            a = self.acks.get(j, 0)
            if a >= c:
                continue
            if oldest > a:
                if full_payload is None:
                    full_payload = encode(x)
                node.send(j, "full", c, payload=full_payload, units=x.units())
                continue
            group = None
            for seq in range(a, c):
                entry = self.buffer.get(seq)
                if entry is None or (self.bp and entry[0] == j):
                    continue
                if group is None:
                    group = type(x)()
                group.merge(entry[1])
            if group is None or group.is_bottom():
                self.acks[j] = c                  # everything pending came from j itself
                continue
            group = node.outgoing(group)
            node.send(j, "seq", c, payload=encode(group), units=group.units())
        self._gc()

    def _gc(self) -> None:
        if not self.buffer:
            return
        low = min((self.acks.get(j, 0) for j in self.node.neighbours), default=self.c)
        for seq in [s for s in self.buffer if s < low]:
            del self.buffer[seq]

    def on_crash(self) -> None:
        # c is kept even when the state is lost: a delayed ack must never name a counter we reuse.
        self.buffer.clear()
        self.acks.clear()

    def on_restart(self) -> None:
        if not self.node.durable:
            # Our neighbours think we hold what they sent us: ask them (until they answer with a full state).
            self.resets = set(self.node.neighbours)

    def on_reincarnate(self) -> None:
        # The state may be behind what the neighbours think we hold: ask them for full states. c stays.
        self.buffer.clear()
        self.acks.clear()
        self.resets = set(self.node.neighbours)

    def buffer_units(self) -> int:
        return sum(int(e[1].units()) for e in self.buffer.values())

    def log_metadata(self) -> dict[str, int]:
        return {"buffer": len(self.buffer)}

    def forget_peer(self, peer: str) -> None:
        self.acks.pop(peer, None)
        self.resets.discard(peer)
        self._answers.pop(peer, None)
        self._gc()

    def peer_lag(self, peer: str) -> tuple[int, float] | None:
        a = self.acks.get(peer, 0)
        pending = [e for s, e in self.buffer.items() if s >= a and not (self.bp and e[0] == peer)]
        if a < self.c and not pending and (not self.buffer or min(self.buffer) > a):
            return (self.c - a, 0.0)                # collected or lost: a full state is owed
        if not pending:
            return (0, 0.0)
        return (len(pending), max(0.0, self.node.clock() - min(e[2] for e in pending)))


class BPRRProtocol(CausalProtocol):
    """Algorithm 2 plus avoid back-propagation (BP) and remove redundant state (RR), as in Enes et al."""

    name = "bprr"
    bp = True
    rr = True


class DigestProtocol(SyncProtocol):
    """Scuttlebutt-style digest-driven sync over a per-origin log of deltas.

    Every local delta is logged as ``(origin, seq) -> bytes``. Each round a node sends each neighbour its
    digest (the highest contiguous seq it holds per origin); the neighbour answers with the log entries
    the digest lacks. Entries every neighbour has are garbage-collected; a peer that needs a collected
    or lost entry gets a snapshot (the full state plus the digest it covers) instead.

    The log is bounded by ``SyncLimits.max_log`` (entries held) and ``SyncLimits.log_ttl`` (seconds an entry
    is held, by the node's clock): past either the oldest entries go, a peer that needed them gets a
    snapshot. ``archive`` (option) is called with each batch of dropped entries, ``[(origin, seq, delta
    bytes), ...]``; :attr:`log_dropped` counts them, ``limits_hit["log"]``/``["log_ttl"]`` the times a bound
    dropped some.
    """

    name = "digest"
    kinds = frozenset({"digest", "log", "snapshot"})
    signs = True          # can run with signed deltas (entries are relayed as their origin made them)

    def __init__(self, node: Any, archive: Any = None) -> None:
        super().__init__(node)
        self.archive = archive                            # called with dropped entries (log bounds)
        self.log_dropped = 0                              # entries dropped by max_log or log_ttl
        self.archive_errors = 0                           # times the archive hook raised
        self.signed = node.keys is not None
        if self.signed:
            self.kinds = frozenset({"digest", "slog", "snapshot"})
        self.seq = 0                                      # durable: own deltas issued
        # origin -> seq -> (delta bytes, units, signature or None)
        self.log: dict[str, dict[int, tuple[bytes, int, bytes | None]]] = {}
        # signed entries whose causal context names writes not seen here yet: (origin, seq) -> (bytes, sig)
        self.unready: dict[tuple[str, int], tuple[bytes, bytes]] = {}
        self.held_at: dict[tuple[str, int], float] = {}  # (origin, seq) -> when it arrived here
        self.known: dict[str, int] = {}                  # origin -> highest contiguous seq held (in X)
        self.floor: dict[str, int] = {}                  # origin -> lowest seq still in the log
        self.peer_known: dict[str, dict[str, int]] = {}  # neighbour -> its last digest
        self.pending = 0                                  # log entries held beyond a gap (max_pending)

    def _origin(self) -> str:
        return str(self.node.replica)

    def _hold(self, origin: str, seq: int, data: bytes, units: int, sig: bytes | None = None) -> None:
        entries = self.log.setdefault(origin, {})
        entries[seq] = (data, units, sig)
        self.held_at[(origin, seq)] = self.node.clock()
        self.floor.setdefault(origin, seq)
        k = old = self.known.get(origin, 0)
        if seq > k + 1:
            self.pending += 1      # held beyond a gap: counts against max_pending until the gap closes
            return
        while k + 1 in entries:
            k += 1
        self.pending -= k - old - 1   # the entries the gap held back are contiguous now
        self.known[origin] = k
        self._cap_log()

    def _cap_log(self) -> None:
        cap = self.node.limits.max_log
        total = len(self.held_at)
        if total <= cap:
            return
        # Keep the newest; a peer that still needs a dropped entry gets a snapshot (the floor moves up).
        drop = sorted(self.held_at, key=self.held_at.__getitem__)[:total - cap]
        self._drop(drop, "log", f"more than {cap} log entries held")

    def _expire(self) -> None:
        """Drop the entries held ``log_ttl`` seconds or longer (held_at is in arrival order). O(dropped)."""
        ttl = self.node.limits.log_ttl
        if ttl is None or not self.held_at:
            return
        limit = self.node.clock() - ttl
        drop = []
        for key, t in self.held_at.items():
            if t > limit:
                break
            drop.append(key)
        if drop:
            self._drop(drop, "log_ttl", f"{len(drop)} log entries held longer than {ttl} s")

    def _drop(self, drop: list[tuple[str, int]], bound: str, detail: str) -> None:
        gone = []
        for o, s in drop:
            entries = self.log.get(o, {})
            entry = entries.pop(s, None)
            del self.held_at[(o, s)]
            if entry is not None:
                gone.append((o, s, entry[0]))
            if s <= self.known.get(o, 0):
                self.floor[o] = max(self.floor.get(o, 1), s + 1)
        self._recount_pending()
        self.log_dropped += len(gone)
        self.node.hit_limit(bound, None, detail)
        if self.archive is not None and gone and not call_archive(self.archive, gone, what="the digest log's"):
            self.archive_errors += 1

    def _recount_pending(self) -> None:
        self.pending = len(self.unready) + sum(1 for o, entries in self.log.items() for s in entries
                                               if s > self.known.get(o, 0))

    def on_local(self, delta: Any) -> None:
        if delta.is_bottom():
            return
        self.seq += 1
        data = encode(delta)
        me = self._origin()
        sig = self.node.signer.sign(me, self.seq, data) if self.signed else None
        self._hold(me, self.seq, data, delta.units(), sig)

    def on_message(self, src: str, msg: Message) -> None:
        node = self.node
        if msg.kind == "digest":
            theirs: dict[str, int] = msg.meta[0]
            self.peer_known[src] = theirs
            if not self._may_answer(src):
                return
            reg = node.retirements
            # With retirements, an empty digest asks for everything: the events renamed into archives are in
            # no log (the retired origins' entries were dropped), only a snapshot carries them.
            gap = not theirs and reg is not None and bool(reg.archives) and not node.state.is_bottom()
            if gap or any(theirs.get(o, 0) + 1 < self.floor.get(o, 1) and self.known.get(o, 0) > theirs.get(o, 0)
                          for o in self.known):
                x = node.state
                node.send(src, "snapshot", vv_to_wire(self.known), payload=encode(x), units=x.units())
                return
            out = []
            units = size = 0
            for o in sorted(self.log):
                have = theirs.get(o, 0)
                entries = self.log[o]
                for s in sorted(entries):
                    if s > have:
                        data, u, sig = entries[s]
                        out.append([o, s, data, sig] if self.signed else [o, s, data])
                        units += u
                        size += len(data)
            if out:
                node.send(src, "slog" if self.signed else "log", out, units=units, payload_bytes=size)
        elif msg.kind in ("log", "slog"):
            from ..errors import RetiredReplica

            took = False
            for entry in msg.meta[0]:
                try:
                    took = self._take(src, *entry) or took
                except RetiredReplica as exc:   # a late write of a retired origin: this entry only is refused
                    node._reject(src, "retired", f"log entry {entry[0]}:{entry[1]}: {exc}")
            if took and self.unready:
                self._retry_unready(src)
        elif msg.kind == "snapshot":
            if self.signed and not node.trusts_snapshots():
                from .trust import Unauthorized

                raise Unauthorized(src, "send a snapshot (with signed deltas, only peers trusted with snapshots may)")
            self._merge(src, node.decode_payload(msg))
            me = self._origin()
            for o, s in msg.meta[0].items():
                if o == me or not node.may_claim(src, o):
                    continue              # nobody knows our own writes better than we do
                s = self._believable(src, o, s)
                if s > self.known.get(o, 0):
                    entries = self.log.get(o, {})
                    for old in [q for q in entries if q <= s]:
                        del entries[old]
                        self.held_at.pop((o, old), None)
                    self.floor[o] = max(self.floor.get(o, 1), s + 1)
                    while s + 1 in entries:   # entries already held beyond the snapshot stay usable
                        s += 1
                    self.known[o] = s
                    self._recount_pending()

    def _take(self, src: str, origin: str, s: int, data: bytes, sig: bytes | None = None) -> bool:
        """Merge and hold one log entry; False if it was a duplicate or is held back."""
        node = self.node
        node.check_origin(src, origin)
        if s <= self.known.get(origin, 0) or s in self.log.get(origin, {}) or (origin, s) in self.unready:
            return False
        me = self._origin()
        if origin == me:   # entries of our own origin beyond what we issued: another process has our id
            from ..errors import ReplicaClash

            raise ReplicaClash(me, self.seq, s)
        if s > self.known.get(origin, 0) + 1 and self.pending >= node.limits.max_pending:
            node.hit_limit("pending", src, f"log entry {origin}:{s} beyond a gap not held")
            return False
        if self.signed:
            node.keys.verify(origin, s, data, sig)
        d = node.decode_bytes(data)
        if self.signed and not node.ready(origin, d):
            # Its context names writes of others we have not seen: it waits for them (they may never come:
            # a forged "remove" of what its origin never saw), within max_pending.
            if self.pending >= node.limits.max_pending:
                node.hit_limit("pending", src, f"signed entry {origin}:{s} waiting for its causal past not held")
                return False
            self.unready[(origin, s)] = (data, sig)  # type: ignore[assignment]
            self.pending += 1
            return False
        self._merge(src, d)
        self._hold(origin, s, data, d.units(), sig)
        return True

    def _retry_unready(self, src: str) -> None:
        progress = True
        while progress and self.unready:
            progress = False
            for (o, s), (data, sig) in list(self.unready.items()):
                d = self.node.decode_bytes(data)
                if self.node.ready(o, d):
                    del self.unready[(o, s)]
                    self.pending -= 1
                    if s > self.known.get(o, 0) and s not in self.log.get(o, {}):
                        try:
                            z = self.node.incoming(d)
                        except CRDTError:     # a late write of a retired origin, or a retirement not known yet
                            continue
                        self.node.merge_in(z)
                        self._hold(o, s, data, d.units(), sig)
                    progress = True

    def _believable(self, src: str, origin: str, claim: int) -> int:
        """A claim about ``origin``'s history, capped by what ``origin`` itself last said (when it is a
        neighbour): a peer cannot make us believe ``origin`` wrote more than ``origin`` says, which would
        shadow its real writes. Believing less only costs a retransmission."""
        if origin == src or origin not in self.node.neighbours:
            return claim
        own = self.peer_known.get(origin, {}).get(origin)
        return claim if own is None else min(claim, own)

    def on_tick(self) -> None:
        self._refill()
        self._expire()
        # a state lacking events renamed into an archive asks for a snapshot (an empty digest)
        digest = [] if self.node.archive_gap() else vv_to_wire(self.known)
        for j in self.node.neighbours:
            self.node.send(j, "digest", digest)
        self._gc()

    def on_retirements(self) -> None:
        """Forget the retired origins (their retirement performed): their log entries, sequence numbers and
        floors here, and what neighbours said of them. Entries of theirs that still arrive (from a neighbour
        that has not learned of the retirement yet) are renamed or refused on arrival, and forgotten again.
        O(tombstones) when none is held."""
        gone = self.node.retired()
        if not gone:
            return
        held = gone & (self.known.keys() | self.log.keys() | self.floor.keys())
        if not held:
            for theirs in self.peer_known.values():
                for o in gone & theirs.keys():
                    del theirs[o]
            return
        for o in held:
            for s in self.log.pop(o, {}):
                self.held_at.pop((o, s), None)
            self.known.pop(o, None)
            self.floor.pop(o, None)
        for key in [k for k in self.unready if k[0] in held]:
            del self.unready[key]
        for theirs in self.peer_known.values():
            for o in gone & theirs.keys():
                del theirs[o]
        self._recount_pending()

    def forget_peer(self, peer: str) -> None:
        self.peer_known.pop(peer, None)
        self._answers.pop(peer, None)

    def _gc(self) -> None:
        nbrs = self.node.neighbours
        if not nbrs or any(j not in self.peer_known for j in nbrs):
            return
        dropped = False
        for o, entries in self.log.items():
            low = min(self.peer_known[j].get(o, 0) for j in nbrs)
            for s in [s for s in entries if s <= low]:
                del entries[s]
                self.held_at.pop((o, s), None)
                dropped = True
            self.floor[o] = max(self.floor.get(o, 1), low + 1)
        if dropped and self.pending:
            self._recount_pending()

    def on_crash(self) -> None:
        self.peer_known.clear()
        # The log lives in memory: after a crash it is gone, but X (durable) still covers `known`.
        for o, k in self.known.items():
            self.floor[o] = k + 1
        self.log.clear()
        self.held_at.clear()
        self.unready.clear()
        if not self.node.durable:
            self.known.clear()
            self.floor.clear()
            self.seq = 0
        self.pending = 0

    def on_reincarnate(self) -> None:
        # A new origin id (its sequence starts again), and a state that may be behind what we claimed to
        # hold: claim nothing, so the neighbours send what we lack (entries, or a snapshot).
        for part in (self.peer_known, self.log, self.held_at, self.known, self.floor, self.unready):
            part.clear()
        self.seq = self.pending = 0

    def buffer_units(self) -> int:
        return sum(entry[1] for e in self.log.values() for entry in e.values())

    def log_metadata(self) -> dict[str, int]:
        return {"log": len(self.held_at), "log_origins": sum(1 for e in self.log.values() if e),
                "log_dropped": self.log_dropped, "pending": self.pending}

    def peer_lag(self, peer: str) -> tuple[int, float] | None:
        theirs = self.peer_known.get(peer)
        if theirs is None:
            return (sum(self.known.values()), 0.0) if self.known else (0, 0.0)
        missing = [(o, s) for o, k in self.known.items() for s in range(theirs.get(o, 0) + 1, k + 1)]
        if not missing:
            return (0, 0.0)
        now = self.node.clock()
        oldest = min((self.held_at.get(m, now) for m in missing), default=now)
        return (len(missing), max(0.0, now - oldest))


def _base_name(replica: str) -> tuple[str, int]:
    name, _, inc = replica.partition("~")
    return name, int(inc) if inc.isascii() and inc.isdecimal() else 0


class OpProtocol(SyncProtocol):
    """Operation-based flooding with causal delivery (:class:`~crdts.ops.CausalBroadcast`).

    The operation of a local write is its one-op delta, stamped with the writer's causal timestamp and
    sent to every neighbour; a node delivers each operation once, in causal order (holding early ones),
    joins it into X and forwards it to its other neighbours, so each operation crosses each edge about
    once. Each round a node tells its neighbours what it has delivered (``opsync``): that acknowledges,
    and lets a neighbour resend what was lost, from its log, or a snapshot (state plus delivered vector)
    when those operations were already compacted away.

    The log serves the neighbours' repairs only, so an operation leaves it once every neighbour has
    acknowledged it in an ``opsync`` (or once it is causally stable). Each neighbour speaks for itself
    only: what it says others delivered is never believed, so a hostile neighbour can make this node
    forget only what that neighbour itself would have asked for. Durable: X and the delivered vector;
    the log, the buffer and the acknowledgements are volatile. ``members`` (option) names the group;
    unknown replicas are admitted when first heard from.

    The log is bounded by ``SyncLimits.max_log`` and ``SyncLimits.log_ttl`` (see
    :class:`~crdts.ops.CausalBroadcast`); a neighbour that needed a dropped operation gets a snapshot.
    ``archive`` (option) is called with each batch of dropped :class:`~crdts.ops.OpMessage`;
    :attr:`log_dropped` counts them, ``limits_hit["log"]``/``["log_ttl"]`` the times a bound dropped some.

    With a retirement registry, a replica whose retirement is performed leaves the broadcast
    (:meth:`on_retirements`), so the vectors on the wire name only live replicas and pending retirements.
    """

    name = "op"
    kinds = frozenset({"ops", "opsync", "snapshot"})
    signs = True          # can run with signed deltas (each operation is relayed as its origin signed it)

    def __init__(self, node: Any, members: list[str] | None = None, archive: Any = None) -> None:
        super().__init__(node)
        self.archive = archive                              # called with dropped operations (log bounds)
        self.log_dropped = 0                                # operations dropped by max_log or log_ttl
        self.signed = node.keys is not None
        self.ops_kind = "sops" if self.signed else "ops"
        if self.signed:
            self.kinds = frozenset({"sops", "opsync", "snapshot"})
        self.sigs: dict[tuple[str, int], bytes] = {}       # signed mode: the signature of each logged op
        self._members = list(members) if members else [node.replica, *node.neighbours]
        self._new_broadcast({})
        self.behind: dict[str, set[tuple[str, int]]] = {}   # neighbour -> ops it lacked at its last opsync
        self.seen_at: dict[tuple[str, int], float] = {}     # op -> when it was made or delivered here
        self._ready: dict[tuple[str, int], Any] = {}        # decoded ops not yet delivered (apply takes them)
        self._applied: list[int] = []                       # units of the ops applied by the last receive
        # neighbour -> (the replica it acknowledged as, what it said it delivered, capped at what we delivered)
        self.acked: dict[str, tuple[str, dict[str, int]]] = {}

    def _new_broadcast(self, delivered: dict[str, int]) -> None:
        from ..ops.broadcast import CausalBroadcast

        me = self.node.replica
        gone = self.node.retired() - {me}
        self._ttl_hits = 0
        self.bc = CausalBroadcast(me, {*self._members, me} - gone,
                                  delivered={r: n for r, n in delivered.items() if r not in gone},
                                  log_ttl=self.node.limits.log_ttl, clock=self.node.clock, archive=self._archived)
        for r in gone:
            self.bc.retire(r)
        self._ready = {}

    def _archived(self, msgs: list[Any]) -> None:
        """The broadcast dropped ``msgs`` from its log (max_log via _cap_log, or log_ttl): count, report, archive."""
        self.log_dropped += len(msgs)
        if self.bc.log_ttl is not None and self.bc.bounds_hit.get("log_ttl", 0) > self._ttl_hits:
            self._ttl_hits = self.bc.bounds_hit["log_ttl"]
            self.node.hit_limit("log_ttl", None, f"{len(msgs)} operations held longer than {self.bc.log_ttl} s "
                                "dropped from the catch-up log")
        if self.archive is not None:
            self.archive(msgs)    # CausalBroadcast logs and counts a hook that raises

    def _admit(self, src: str, replica: str, delivered: dict[str, int] | None = None) -> None:
        bc = self.bc
        if replica in bc.members or bc.is_retired(replica):
            return
        if len(bc.members) >= self.node.limits.max_members:
            from ..errors import LimitExceeded

            self.node.hit_limit("members", src, f"replica {replica!r} not admitted")
            raise LimitExceeded("members of the op group", len(bc.members) + 1, self.node.limits.max_members)
        floor = bc.stable.to_dict()
        for r, n in (delivered or {}).items():
            floor[r] = max(floor.get(r, 0), n)
        bc.add_member(replica, floor)          # first: between the two, stability would count neither
        base, inc = _base_name(replica)
        for m in list(bc.members):
            b, i = _base_name(m)
            if b == base and i < inc and m != bc.replica:
                bc.remove_member(m)            # an older incarnation is gone for good
        if replica not in self._members:
            self._members.append(replica)

    def on_local(self, delta: Any) -> None:
        if delta.is_bottom():
            return
        m = self.bc.stamp(encode(delta))
        self.seen_at[(m.origin, m.seq)] = self.node.clock()
        if self.signed:
            self.sigs[(m.origin, m.seq)] = self.node.signer.sign(m.origin, m.seq, m.op, vv_to_wire(dict(m.deps)))
        entry = self._entry(m)
        for j in self.node.neighbours:
            self.node.send(j, self.ops_kind, [entry], units=delta.units(), payload_bytes=len(m.op))
        self._cap_log()

    def _entry(self, m: Any) -> list[Any]:
        entry = [m.origin, m.seq, vv_to_wire(dict(m.deps)), m.op]
        if self.signed:
            entry.append(self.sigs[(m.origin, m.seq)])
        return entry

    def _cap_log(self) -> None:
        dropped = self.bc.shed_log(self.node.limits.max_log)
        if dropped:
            self.node.hit_limit("log", None, f"{dropped} operations dropped from the catch-up log")

    def on_message(self, src: str, msg: Message) -> None:
        from ..ops.broadcast import Ack, OpMessage

        node = self.node
        bc = self.bc
        if msg.kind in ("ops", "sops"):
            me = bc.replica
            for origin, seq, deps, data, *sig in msg.meta[0]:
                node.check_origin(src, origin)
                m = OpMessage(origin, seq, tuple(sorted(deps.items())), data)
                if bc.is_retired(origin):
                    if self.signed:
                        node.keys.verify(origin, seq, data, sig[0], vv_to_wire(deps))
                    d = node.decode_bytes(data)
                    node.admit(src, d)
                    self._late(src, m, d, sig[0] if self.signed else None)
                    continue
                if origin == me and seq > bc.delivered.get(me):
                    from ..errors import ReplicaClash

                    raise ReplicaClash(me, bc.delivered.get(me), seq)
                self._admit(src, origin)
                for r in deps:
                    self._admit(src, r)
                bc.check(m)                  # a malformed stamp is refused before anything is decoded or held
                if not bc.is_new(m):
                    bc.receive(m, check=False)   # a duplicate: counted, dropped
                    continue
                if not bc.is_ready(m) and bc.metadata()["buffered"] >= node.limits.max_pending:
                    node.hit_limit("pending", src, f"early operation {origin}:{seq} not buffered")
                    continue
                if self.signed:             # before anything else: a relay cannot forge or alter an operation
                    node.keys.verify(origin, seq, data, sig[0], vv_to_wire(deps))
                d = node.decode_bytes(data)    # an undecodable op is refused before the broadcast sees it
                node.admit(src, d)
                self._ready[(origin, seq)] = d
                if self.signed:
                    self.sigs[(origin, seq)] = sig[0]
                self._applied = []
                for dm in bc.receive(m, check=False, apply=self._apply):
                    units = self._applied.pop(0)
                    self.seen_at[(dm.origin, dm.seq)] = node.clock()
                    entry = self._entry(dm)
                    for j in node.neighbours:
                        if j != src:
                            node.send(j, self.ops_kind, [entry], units=units, payload_bytes=len(dm.op))
                if bc.failed:
                    failed, exc = bc.failed[0]
                    bc.failed.clear()
                    self._ready.pop((failed.origin, failed.seq), None)
                    self.sigs.pop((failed.origin, failed.seq), None)
                    try:
                        raise exc
                    finally:          # no frame -> traceback -> exception cycle keeping the payload alive
                        exc = failed = d = None  # type: ignore[assignment]
            self._cap_log()
        elif msg.kind == "opsync":
            replica, theirs = msg.meta
            if _base_name(replica)[0] != src and not (node.grant is not None and node.grant.may_originate(replica)):
                from .trust import Unauthorized

                raise Unauthorized(src, f"acknowledge for replica {replica!r}")
            self._admit(src, replica, theirs)
            bc.receive_ack(Ack(replica, tuple(sorted(theirs.items()))))
            seen = self._acknowledge(src, replica, theirs)
            self._cap_log()
            self._tidy()            # what left the log (acknowledged by every neighbour, or stable) leaves the rest
            if self._may_answer(src):
                self._repair(src, seen, everything=not theirs)
        elif msg.kind == "snapshot":
            if self.signed and not node.trusts_snapshots():
                from .trust import Unauthorized

                raise Unauthorized(src, "send a snapshot (with signed deltas, only peers trusted with snapshots may)")
            vv = msg.meta[0]
            me = bc.replica
            mine = bc.delivered.to_dict()
            if vv.get(me, 0) > mine.get(me, 0):
                from ..errors import ReplicaClash

                raise ReplicaClash(me, mine.get(me, 0), vv[me])
            snap = node.decode_payload(msg)
            self._merge(src, snap)
            claims = {r: n for r, n in vv.items() if not bc.is_retired(r) and node.may_claim(src, r)}
            if any(n > mine.get(r, 0) for r, n in claims.items()):
                for r, n in claims.items():
                    mine[r] = max(mine.get(r, 0), n)
                if len([r for r in mine if r not in self._members]) + len(self._members) > node.limits.max_members:
                    from ..errors import LimitExceeded

                    raise LimitExceeded("members of the op group", len(mine), node.limits.max_members)
                for r in mine:
                    if r not in self._members:
                        self._members.append(r)
                self._new_broadcast(mine)

    def _acknowledge(self, src: str, replica: str, theirs: dict[str, int]) -> dict[str, int]:
        """Record what neighbour ``src`` (as ``replica``) says it delivered, and forget the operations every
        neighbour has now acknowledged. Returns what ``src`` is known to have delivered: ``theirs``, raised
        to what it acknowledged before (an ``opsync`` overtaken by a later one says less than is known).

        Only origins we delivered are recorded, capped at what we delivered: the record is bounded by our
        delivered vector, never by the claim. O(len(theirs) * neighbours + operations forgotten).
        """
        rec = self.acked.get(src)
        if rec is None or rec[0] != replica:
            if rec is not None:
                (b_old, i_old), (b_new, i_new) = _base_name(rec[0]), _base_name(replica)
                if b_old == b_new and i_new < i_old:
                    return theirs          # a late opsync of an earlier incarnation: says nothing of this one
            rec = self.acked[src] = (replica, {})   # a new incarnation has delivered only what it says
        got = rec[1]
        mine = self.bc.delivered_view
        changed = []
        for r, n in theirs.items():
            m = mine.get(r, 0)
            if m < n:
                n = m
            if n > got.get(r, 0):
                got[r] = n
                changed.append(r)
        if changed:
            upto: dict[str, int] = {}
            acked = self.acked
            for r in changed:
                low = got[r]
                for j in self.node.neighbours:      # the least any neighbour acknowledged (0: one has not spoken)
                    other = acked.get(j)
                    v = other[1].get(r, 0) if other is not None else 0
                    if v < low:
                        low = v
                        if not low:
                            break
                if low:
                    upto[r] = low
            if upto:
                self.bc.forget(upto)
        behind = {r: n for r, n in got.items() if n > theirs.get(r, 0)}
        return {**theirs, **behind} if behind else theirs

    def _tidy(self) -> None:
        """Forget the times and signatures of operations that left the log (and wait nowhere). Amortized
        O(1) per operation: a pass runs only when at least half of what it walks goes."""
        held = self.bc.log_size
        if len(self.seen_at) > 2 * held:
            self.seen_at = {op: t for op, t in self.seen_at.items() if self.bc.in_log(op)}
        if len(self.sigs) > 2 * (held + len(self._ready)):
            self.sigs = {op: s for op, s in self.sigs.items() if self.bc.in_log(op) or op in self._ready}

    def _apply(self, m: Any) -> None:
        """Apply one operation as it is delivered (raises: not delivered, see CausalBroadcast.receive);
        its size in units goes to ``_applied`` for the accounting of its forwarding."""
        d = self._ready.pop((m.origin, m.seq), None)
        if d is None:
            d = self.node.decode_bytes(m.op)
        if self.signed and not self.node.ready(m.origin, d):
            from .trust import Unauthorized

            raise Unauthorized(m.origin, "name writes of others beyond its causal past (a forged context)")
        reg = self.node.retirements
        if reg is not None:
            # Renamed under the retirement records; a late write of a retired replica is dropped, not refused:
            # the operation is delivered (as nothing), so the operations that depend on it are not held forever.
            reg.check(d)
            d = reg.normalized(d)
        self.node.merge_in(d)
        self._applied.append(int(d.units()))

    def on_retirements(self) -> None:
        """Take the replicas whose retirement is performed out of the broadcast (``CausalBroadcast.retire``): out of
        the group, the delivered vector, what each neighbour acknowledged, the log; the operations stamped here from
        then on no longer name them, and a dependency on them counts as met (an operation stamped before still
        delivers). A retired replica's operation that is still buffered, or arrives later, goes outside the
        broadcast (:meth:`_late`). A retirement whose tombstone expired is forgotten here too, so what is kept is
        bounded by the tombstones. O(tombstones) when nothing changed."""
        bc = self.bc
        gone = self.node.retired() - {bc.replica}
        for r in bc.retired - gone:
            bc.release(r)
        new = gone - bc.retired
        if not new:
            return
        node = self.node
        for r in sorted(new):
            self._applied = []
            delivered, orphaned = bc.retire(r, apply=self._apply)
            for dm in delivered:       # waited only for r: delivered now, and passed on as on arrival
                units = self._applied.pop(0)
                self.seen_at[(dm.origin, dm.seq)] = node.clock()
                entry = self._entry(dm)
                for j in node.neighbours:
                    node.send(j, self.ops_kind, [entry], units=units, payload_bytes=len(dm.op))
            for failed, _ in bc.failed:   # the operation is dropped; a good copy may still come (a repair)
                self._ready.pop((failed.origin, failed.seq), None)
                self.sigs.pop((failed.origin, failed.seq), None)
            bc.failed.clear()
            for m in orphaned:
                d = self._ready.pop((m.origin, m.seq), None)
                sig = self.sigs.pop((m.origin, m.seq), None)
                try:
                    self._late(None, m, node.decode_bytes(m.op) if d is None else d, sig)
                except CRDTError as exc:    # refused as it would have been on arrival (counted the same way)
                    from .node import _REASONS

                    reason = next((why for cls, why in _REASONS if isinstance(exc, cls)), "malformed")
                    node._reject(None, reason, f"buffered operation {m.origin}:{m.seq}: {exc}")
            if r in self._members:
                self._members.remove(r)
            for _, got in self.acked.values():
                got.pop(r, None)
            for lacking in self.behind.values():
                for key in [k for k in lacking if k[0] == r]:
                    lacking.discard(key)
            for part in (self.seen_at, self.sigs, self._ready):
                for key in [k for k in part if k[0] == r]:
                    del part[key]

    def _late(self, src: str | None, m: Any, d: Any, sig: bytes | None) -> None:
        """An operation ``m`` (decoded: ``d``) of a replica retired from the broadcast: it may be a duplicate (its
        events are in every member's state: that is when a retirement is performed), a late write (events beyond
        the recorded history: dropped) or a removal that creates no event of its own, which must not be lost. So
        it is renamed under the records and merged as a delta-state if it brings anything the state lacks, and
        then passed on to the other neighbours (once: a node that has it merged drops the next copy), with no
        causal wait (a join needs none). Otherwise it is dropped."""
        node = self.node
        reg = node.retirements
        assert reg is not None
        if self.signed and not node.ready(m.origin, d):
            from .trust import Unauthorized

            raise Unauthorized(m.origin, "name writes of others beyond its causal past (a forged context)")
        reg.check(d)                      # names a retirement not known here yet: refused (UnknownRetirement)
        late = reg.late(d)
        if late:
            node._reject(src, "retired", f"operation {m.origin}:{m.seq}: a late write of {sorted(late)}")
        z = reg.normalized(d)
        x = node.state
        x.check_merge(z)
        if z.delta_for(x).is_bottom():
            self.bc.retired_dropped += 1
            return
        node.merge_in(z)
        entry = [m.origin, m.seq, vv_to_wire(dict(m.deps)), m.op]
        if sig is not None:
            entry.append(sig)
        for j in node.neighbours:
            if j != src:
                node.send(j, self.ops_kind, [entry], units=z.units(), payload_bytes=len(m.op))

    def _repair(self, src: str, theirs: dict[str, int], everything: bool = False) -> None:
        """Send ``src`` what it lacks of what we delivered: the operations from the log, or a snapshot. With
        retirements, an empty ``opsync`` (``everything``) asks for a snapshot: the events renamed into archives
        are in no log (a retired replica's operations leave it), only a snapshot carries them."""
        from ..errors import CausalGap

        node = self.node
        mine = self.bc.delivered.to_dict()
        missing = sum(max(0, n - theirs.get(r, 0)) for r, n in mine.items())
        if (everything and mine and node.retirements is not None) or missing > max(1024, 4 * self.bc.metadata()["log"]):
            # Far behind (or a claim we cannot serve from the log): a snapshot, without listing every op.
            x = node.state
            node.send(src, "snapshot", vv_to_wire(mine), payload=encode(x), units=x.units())
            self.behind[src] = set()
            return
        lacking = {(r, s) for r, n in mine.items() for s in range(theirs.get(r, 0) + 1, n + 1)}
        before = self.behind.get(src, set())
        self.behind[src] = lacking
        stuck = lacking & before           # lacking at two syncs in a row: not merely in flight
        if not stuck:
            return
        try:
            msgs = [m for m in self.bc.log_since(theirs) if (m.origin, m.seq) in stuck]
        except CausalGap:
            x = node.state
            node.send(src, "snapshot", vv_to_wire(mine), payload=encode(x), units=x.units())
            self.behind[src] = set()
            return
        if msgs:
            entries = [self._entry(m) for m in msgs]
            units = sum(node.decode_bytes(m.op).units() for m in msgs)
            node.send(src, self.ops_kind, entries, units=units, payload_bytes=sum(len(m.op) for m in msgs))

    def _ship_dropped(self) -> None:
        pass   # not in the middle of a delivery: on_tick ships what the bounds dropped

    def on_tick(self) -> None:
        self._refill()
        self.bc.log_ttl = self.node.limits.log_ttl     # limits may be replaced while the node runs
        self.bc.expire()
        SyncProtocol._ship_dropped(self)
        # a state lacking events renamed into an archive asks for a snapshot (an empty opsync)
        vv = [] if self.node.archive_gap() else vv_to_wire(self.bc.delivered.to_dict())
        for j in self.node.neighbours:
            self.node.send(j, "opsync", self.bc.replica, vv)
        self._tidy()                 # operations that became stable or were shed since the last round

    def forget_peer(self, peer: str) -> None:
        self.acked.pop(peer, None)
        self.behind.pop(peer, None)
        self._answers.pop(peer, None)

    def on_crash(self) -> None:
        self.behind.clear()
        self.seen_at.clear()
        self.acked.clear()

    def on_restart(self) -> None:
        # The delivered vector is durable with X; the log and the buffer are not.
        delivered = {} if not self.node.durable else self.bc.delivered.to_dict()
        self._new_broadcast(delivered)

    def on_reincarnate(self) -> None:
        # The old id leaves the group; the state may be behind what we said we delivered: start from
        # nothing delivered, so the neighbours resend (from their logs, or a snapshot).
        old = self.bc.replica
        self._members = [r for r in self._members if r != old]
        self.behind.clear()
        self.seen_at.clear()
        self.acked.clear()
        self._new_broadcast({})

    def buffer_units(self) -> int:
        meta = self.bc.metadata()
        return int(meta["log"] + meta["buffered"])

    def log_metadata(self) -> dict[str, int]:
        meta = self.bc.metadata()
        return {"log": meta["log"], "log_dropped": self.log_dropped, "buffered": meta["buffered"],
                "delivered": meta["delivered"], "known": meta["known"]}

    def held(self) -> dict[str, int]:
        """What this node holds per operation, by part: ``log`` (kept to repair neighbours), ``buffered``
        (arrived early, waiting for what they depend on) and ``decoded`` (their decoded payloads), ``times``
        and ``signatures`` (of logged operations), ``lacking`` (operations the neighbours lacked at their
        last ``opsync``) and ``pending_acks`` (acknowledgements waiting for their sender's own operations).
        Every part is 0 once every node has delivered every operation and every neighbour has said so
        (see docs/sync.md for when that is)."""
        meta = self.bc.metadata()
        return {"log": meta["log"], "buffered": meta["buffered"], "decoded": len(self._ready),
                "times": len(self.seen_at), "signatures": len(self.sigs),
                "lacking": sum(len(v) for v in self.behind.values()), "pending_acks": meta["pending_acks"]}

    def peer_lag(self, peer: str) -> tuple[int, float] | None:
        lacking = self.behind.get(peer, ())
        if not lacking:
            return (0, 0.0)
        now = self.node.clock()
        return (len(lacking), max(0.0, now - min(self.seen_at.get(op, now) for op in lacking)))


PROTOCOLS: dict[str, type[SyncProtocol]] = {
    "state": StateProtocol,
    "delta": DeltaProtocol,
    "causal": CausalProtocol,
    "bprr": BPRRProtocol,
    "digest": DigestProtocol,
    "op": OpProtocol,
}

