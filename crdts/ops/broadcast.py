"""Tagged causal broadcast: exactly-once, causal-order delivery of operations, and causal stability.

Every operation leaves its replica inside an :class:`OpMessage` stamped with its ``origin``, its
``seq`` (1, 2, ... per origin) and ``deps``, the version vector of what the origin had delivered
from the other replicas when it sent it. Together they are the message's causal timestamp: a
message ``m`` happened before ``m'`` iff ``m'``'s clock counts ``m.seq`` for ``m.origin``.

:class:`CausalBroadcast` delivers each message exactly once and only after everything it depends on
(its origin's previous message and every dependency in ``deps``); messages that arrive early are
buffered, and :meth:`~CausalBroadcast.buffered` says which sequence numbers they are waiting for.
Duplicates (a sequence number already delivered, or already buffered) are dropped.

**Causal stability** (Baquero, Almeida, Shoker, "Making operation-based CRDTs operation-based",
2014): a delivered message is stable once every member of the group is known to have delivered it,
so no message concurrent with it can still arrive. Knowledge comes from the ``deps`` of delivered
messages and from :class:`Ack` messages (a replica with nothing to say acknowledges what it has
delivered). The stable version vector is the pointwise minimum over the members; the types use it
to drop per-operation metadata, and the broadcast drops stable messages from its log.

The log of delivered, not yet stable messages serves **catch-up**: a replica that was away sends its
delivered version vector, and :meth:`~CausalBroadcast.log_since` returns what it lacks, in an order
it can deliver at once.

**Retirement**: :meth:`~CausalBroadcast.retire` takes a replica that is gone for good out of the group
and out of every vector, so that the timestamps stamped afterwards do not name it (docs/retention.md).

>>> a = CausalBroadcast("a", members=["a", "b"])
>>> b = CausalBroadcast("b", members=["a", "b"])
>>> m1 = a.stamp("x"); m2 = a.stamp("y")
>>> m2
OpMessage(origin='a', seq=2, deps=(), op='y')
>>> b.receive(m2)                                  # early: held until a:1 arrives
()
>>> b.buffered()
[Buffered(id=Dot(replica='a', counter=2), missing=(('a', 1, 1),))]
>>> [m.seq for m in b.receive(m1)]                 # a:1 delivers, and releases a:2
[1, 2]
>>> b.receive(m1)                                  # a duplicate is dropped
()
>>> a.stable, a.metadata()["log"]                  # b has not told a what it delivered yet
(VersionVector({}), 2)
>>> a.receive_ack(b.ack())
>>> a.stable, a.metadata()["log"]                  # now both ops are stable and leave the log
(VersionVector({'a': 2}), 0)
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..causal import UINT_LIMIT, Dot, VersionVector
from ..errors import CausalGap, MalformedOp, ReplicaClash
from ..retention import call_archive

__all__ = ["Ack", "Buffered", "CausalBroadcast", "OpMessage"]

_U64 = UINT_LIMIT
Pairs = tuple[tuple[str, int], ...]


@attrs.frozen(slots=True)
class OpMessage:
    """One operation on the wire: ``op`` stamped with its causal timestamp.

    ``deps`` lists ``(replica, count)`` pairs sorted by replica, without ``origin`` (implied:
    ``seq - 1``) and without zero counts. Immutable and hashable.
    """

    origin: str
    seq: int
    deps: Pairs
    op: Any

    @property
    def dot(self) -> Dot:
        """The message's id, ``(origin, seq)``."""
        return Dot(self.origin, self.seq)

    def clock(self) -> dict[str, int]:
        """The full causal timestamp as a dict: ``deps`` plus ``origin: seq``. O(replicas)."""
        c = dict(self.deps)
        c[self.origin] = self.seq
        return c

    def covers(self, dot: tuple[str, int]) -> bool:
        """Whether the message identified by ``dot`` is in this one's causal past (or is this one). O(replicas)."""
        r, k = dot
        if r == self.origin:
            return k <= self.seq
        for rr, n in self.deps:
            if rr == r:
                return k <= n
        return False


@attrs.frozen(slots=True)
class Ack:
    """``origin`` has delivered ``delivered`` (sorted ``(replica, count)`` pairs, its own included).

    Sent by a replica that has nothing else to send, so that others learn what it has delivered and
    causal stability can advance.
    """

    origin: str
    delivered: Pairs


@attrs.frozen(slots=True)
class Buffered:
    """A message held back, and why: ``missing`` lists ``(replica, first, last)`` ranges of sequence
    numbers that must be delivered first."""

    id: Dot
    missing: tuple[tuple[str, int, int], ...]


def _pairs(vv: Any, what: str) -> dict[str, int]:
    """A version vector given as VersionVector, Mapping, Ack or pairs -> a dict (validated)."""
    if isinstance(vv, VersionVector):
        return vv.to_dict()
    if isinstance(vv, Ack):
        vv = vv.delivered
    items = vv.items() if isinstance(vv, Mapping) else vv
    out: dict[str, int] = {}
    for item in items:
        r, n = item
        if type(r) is not str or not r or type(n) is not int or n < 0:
            raise ValueError(f"{what}: entries map replica ids to ints >= 0, got {r!r}: {n!r}")
        if n:
            out[r] = n
    return out


def _check_pairs(pairs: Any, path: str, skip: str | None) -> None:
    # Entries may name replicas outside the group: a group bootstrapped from a delta-state snapshot
    # starts at that snapshot's version vector, whose writers need not be members.
    if type(pairs) is not tuple:
        raise MalformedOp(path, "a tuple of (replica, count) pairs", pairs)
    prev = ""
    for i, p in enumerate(pairs):
        if type(p) is not tuple or len(p) != 2:
            raise MalformedOp(f"{path}[{i}]", "a (replica, count) pair", p)
        r, n = p
        if type(r) is not str or not r:
            raise MalformedOp(f"{path}[{i}]", "a replica id (a non-empty str)", r)
        if r == skip:
            raise MalformedOp(f"{path}[{i}]", "no entry for the origin (its seq implies it)", r)
        if r <= prev:
            raise MalformedOp(f"{path}[{i}]", "pairs sorted by replica id, each replica once", r)
        if type(n) is not int or not 0 < n < _U64:
            raise MalformedOp(f"{path}[{r!r}]", "an int count >= 1", n)
        prev = r


def _check_ttl(ttl: Any) -> None:
    if ttl is not None and (type(ttl) not in (int, float) or ttl < 0):
        raise ValueError(f"log_ttl must be a number >= 0 or None, got {ttl!r}")


class CausalBroadcast:
    """Exactly-once, causally ordered delivery of :class:`OpMessage` within a fixed group of replicas.

    ``members`` is the group (it must include ``replica``): causal stability needs to know who could
    still send. ``delivered`` starts the broadcast at a version vector (a replica bootstrapped from a
    state snapshot). ``keep_log=False`` keeps no log (no catch-up served from here).

    Bounds on the log (see docs/retention.md, "Bounded logs and siblings"): ``max_log`` (default None: no
    cap besides stability) keeps at most that many messages, dropping the oldest; ``log_ttl`` (seconds by
    ``clock``, default ``time.monotonic``; default None: no TTL) drops messages logged longer ago, at each
    :meth:`stamp`, :meth:`receive` and :meth:`expire`. Dropped messages go to ``archive`` (a callable given
    the list of them, in log order; default None) and are counted in :attr:`log_dropped` and, per bound,
    :attr:`bounds_hit`. A replica that later needs a dropped message gets :class:`~crdts.errors.CausalGap`
    from :meth:`log_since` and bootstraps from a state snapshot, as after :meth:`shed_log`: dropping never
    breaks convergence, it only makes catch-up cost a snapshot.

    Metadata: the delivered vector, one vector per member (what it is known to have delivered), the
    log of delivered messages that are not yet stable, and the buffer. ``stamp`` is O(replicas);
    ``receive`` is O(replicas) per delivered message plus O(members) per advanced stable entry.
    """

    __slots__ = ("_acks", "_apply", "_buffer", "_delivered", "_deps", "_floor", "_keep_log", "_known", "_log",
                 "_log_at", "_log_ttl", "_members", "_newly", "_retired", "_stable", "_waiting", "archive",
                 "bounds_hit", "clock", "duplicates", "failed", "log_dropped", "max_log", "replica", "retired_dropped")

    def __init__(self, replica: str, members: Iterable[str], *, delivered: Any = None,
                 keep_log: bool = True, max_log: int | None = None, log_ttl: float | None = None,
                 archive: Callable[[list[OpMessage]], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if type(replica) is not str or not replica:
            raise TypeError(f"replica must be a non-empty str, got {replica!r}")
        ms = frozenset(members)
        for m in ms:
            if type(m) is not str or not m:
                raise TypeError(f"members are non-empty str replica ids, got {m!r}")
        if replica not in ms:
            raise ValueError(f"members {sorted(ms)} must include this replica {replica!r}")
        self.replica = replica
        self._members = ms
        self._delivered: dict[str, int] = _pairs(delivered or {}, "delivered")
        self._known: dict[str, dict[str, int]] = {m: {} for m in ms}
        self._known[replica] = self._delivered  # what we know we have delivered: all of it
        self._stable: dict[str, int] = {}
        self._newly: set[str] = set()
        self._floor: dict[str, int] = dict(self._delivered)  # log holds seqs above this, per origin
        self._log: dict[tuple[str, int], OpMessage] = {}
        self._keep_log = keep_log
        self._buffer: dict[tuple[str, int], OpMessage] = {}
        self._waiting: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self._acks: dict[str, dict[str, int]] = {}
        self._deps: Pairs | None = None
        self.duplicates = 0
        self._retired: set[str] = set()   # replicas retired for good (see retire): in no vector, never waited for
        #: messages of retired replicas dropped on arrival (see :meth:`retire`)
        self.retired_dropped = 0
        self._apply: Callable[[OpMessage], Any] | None = None
        #: messages whose ``apply`` raised, with the error: not delivered (see :meth:`receive`)
        self.failed: list[tuple[OpMessage, Exception]] = []
        if max_log is not None and (type(max_log) is not int or max_log < 0):
            raise ValueError(f"max_log must be an int >= 0 or None, got {max_log!r}")
        _check_ttl(log_ttl)
        #: bounds on the log (None: unbounded), the archive hook and the clock of ``log_ttl``
        self.max_log = max_log
        self.archive = archive
        self.clock = clock
        self._log_at: dict[tuple[str, int], float] = {}   # when each logged message was logged (with log_ttl)
        self._log_ttl = log_ttl
        #: messages dropped from the log by a bound (``max_log``, ``log_ttl``, :meth:`shed_log`)
        self.log_dropped = 0
        #: how often each bound dropped messages: ``{"max_log": n, "log_ttl": n, "shed_log": n}``
        self.bounds_hit: dict[str, int] = {}
        self._update_stable(set(self._delivered))
        self._newly.clear()

    # -- reads ---------------------------------------------------------------------------------

    @property
    def members(self) -> frozenset[str]:
        """The group: every replica that may send."""
        return self._members

    @property
    def delivered(self) -> VersionVector:
        """What this replica has delivered (a copy). Send it to a peer to ask for :meth:`log_since`."""
        return VersionVector(self._delivered)

    @property
    def delivered_view(self) -> Mapping[str, int]:
        """What this replica has delivered, as a read-only live view (no copy). O(1)."""
        return MappingProxyType(self._delivered)

    @property
    def retired(self) -> frozenset[str]:
        """The replicas retired for good (:meth:`retire`) and not released since (a copy)."""
        return frozenset(self._retired)

    def is_retired(self, replica: str) -> bool:
        """Whether ``replica`` is in :attr:`retired`. O(1), no copy."""
        return replica in self._retired

    @property
    def stable(self) -> VersionVector:
        """The causally stable version vector: delivered by every member (a copy)."""
        return VersionVector(self._stable)

    def is_stable(self, dot: tuple[str, int]) -> bool:
        """Whether the message ``dot`` is causally stable here. O(1)."""
        return dot[1] <= self._stable.get(dot[0], 0)

    def buffered(self) -> list[Buffered]:
        """The messages held back, sorted by id, each with the sequence ranges it waits for. O(buffer)."""
        d = self._delivered
        out = []
        for key in sorted(self._buffer):
            m = self._buffer[key]
            missing = []
            have = d.get(m.origin, 0)
            if m.seq > have + 1:
                missing.append((m.origin, have + 1, m.seq - 1))
            for r, n in m.deps:
                h = d.get(r, 0)
                if h < n and r not in self._retired:
                    missing.append((r, h + 1, n))
            out.append(Buffered(Dot(*key), tuple(sorted(missing))))
        return out

    def missing(self) -> dict[str, tuple[int, int]]:
        """Per replica, the range of sequence numbers the buffered messages wait for. O(buffer)."""
        out: dict[str, tuple[int, int]] = {}
        for b in self.buffered():
            for r, lo, hi in b.missing:
                cur = out.get(r)
                out[r] = (lo, hi) if cur is None else (min(cur[0], lo), max(cur[1], hi))
        return out

    def metadata(self) -> dict[str, int]:
        """Sizes of what the broadcast keeps: vector entries, logged and buffered messages."""
        return {
            "delivered": len(self._delivered),
            "known": sum(len(v) for r, v in self._known.items() if r != self.replica),
            "stable": len(self._stable),
            "log": len(self._log),
            "buffered": len(self._buffer),
            "pending_acks": len(self._acks),
            "log_dropped": self.log_dropped,
            "retired": len(self._retired),
        }

    # -- sending -------------------------------------------------------------------------------

    def stamp(self, op: Any) -> OpMessage:
        """Stamp a local operation, deliver it here (log it) and return the message to broadcast. O(replicas)."""
        r = self.replica
        d = self._delivered
        deps = self._deps
        if deps is None:
            deps = self._deps = tuple(sorted((k, v) for k, v in d.items() if k != r))
        seq = d.get(r, 0) + 1
        m = OpMessage(r, seq, deps, op)
        d[r] = seq
        if self._keep_log:
            self._log[(r, seq)] = m
            if self._log_ttl is not None:
                self._log_at[(r, seq)] = self.clock()
        else:
            self._floor[r] = seq
        if len(self._members) == 1:
            self._update_stable({r})
        self._bound_log()
        return m

    def ack(self) -> Ack:
        """An :class:`Ack` of everything delivered here, to send when there is nothing else to send."""
        return Ack(self.replica, tuple(sorted(self._delivered.items())))

    # -- receiving -----------------------------------------------------------------------------

    def check(self, msg: Any) -> None:
        """Raise :class:`~crdts.errors.MalformedOp` unless ``msg`` is a well-formed message from a member."""
        if type(msg) is not OpMessage:
            raise MalformedOp("message", "an OpMessage", type(msg).__name__)
        o, s = msg.origin, msg.seq
        if type(o) is not str or o not in self._members:
            raise MalformedOp("origin", f"a member replica id ({sorted(self._members)})", o)
        if type(s) is not int or not 0 < s < _U64:
            raise MalformedOp("seq", "an int >= 1", s)
        if o == self.replica and s > self._delivered.get(o, 0):
            raise ReplicaClash(o, self._delivered.get(o, 0), s)
        _check_pairs(msg.deps, "deps", o)

    def in_log(self, dot: tuple[str, int]) -> bool:
        """Whether the message ``dot`` is in the catch-up log. O(1)."""
        return dot in self._log

    def is_new(self, msg: OpMessage) -> bool:
        """Whether ``msg`` is neither delivered nor buffered here (a :meth:`receive` would not drop it). O(1)."""
        return msg.seq > self._delivered.get(msg.origin, 0) and (msg.origin, msg.seq) not in self._buffer

    def is_ready(self, msg: OpMessage) -> bool:
        """Whether everything ``msg`` depends on is delivered (a :meth:`receive` would not buffer it). O(replicas)."""
        return self._unmet(msg) is None

    def receive(self, msg: OpMessage, *, check: bool = True,
                apply: Callable[[OpMessage], Any] | None = None) -> tuple[OpMessage, ...]:
        """Take a message from the transport; return the messages it lets this replica deliver, in order.

        A duplicate returns ``()``; an early message is buffered and returns ``()``; a message that
        completes a causal prefix returns itself and every buffered message it releases. Raises
        :class:`~crdts.errors.MalformedOp` (and changes nothing) for a malformed message.

        ``apply`` is called with each message as it is delivered, before it counts as delivered: if it
        raises, the message is *not* delivered (it is dropped, and what depends on it stays buffered until
        a good copy arrives); the message and the error are added to :attr:`failed`. So a message counts
        as delivered only once it was applied. O(replicas) per delivered message.
        """
        o = getattr(msg, "origin", None)
        if type(o) is str and o in self._retired:
            self.retired_dropped += 1
            return ()
        if check:
            self.check(msg)
        o, s = msg.origin, msg.seq
        d = self._delivered
        key = (o, s)
        if s <= d.get(o, 0) or key in self._buffer:
            self.duplicates += 1
            return ()
        unmet = self._unmet(msg)
        if unmet is not None:
            self._buffer[key] = msg
            self._waiting.setdefault(unmet, []).append(key)
            return ()
        out: list[OpMessage] = []
        changed: set[str] = set()
        self._apply = apply
        try:
            if self._deliver(msg, out, changed) and self._waiting:
                self._release(key, out, changed)
        finally:
            self._settle(out, changed)
        return tuple(out)

    def _settle(self, out: list[OpMessage], changed: set[str]) -> None:
        """After a batch of deliveries (even one cut short by an exception): no apply callback any more, the
        stable vector of the replicas in ``changed`` brought up to date, and the log bounded if anything was
        delivered."""
        self._apply = None
        self._update_stable(changed)
        if out:
            self._bound_log()

    def _release(self, key: tuple[str, int], out: list[OpMessage], changed: set[str]) -> None:
        """Deliver the buffered messages that waited for ``key``, and those they release in turn."""
        waiting, buffer = self._waiting, self._buffer
        ready = deque([key])
        while ready:
            woken = waiting.pop(ready.popleft(), None)
            if not woken:
                continue
            for k in woken:
                b = buffer[k]
                u = self._unmet(b)
                if u is None:
                    del buffer[k]
                    if self._deliver(b, out, changed):
                        ready.append(k)
                else:
                    waiting.setdefault(u, []).append(k)

    def receive_ack(self, ack: Ack, *, check: bool = True) -> None:
        """Learn what ``ack.origin`` has delivered (once its own messages up to there are delivered here).
        An ack of a retired replica is ignored, and so are the entries of retired replicas in any ack."""
        if check:
            if type(ack) is not Ack:
                raise MalformedOp("ack", "an Ack", type(ack).__name__)
            if type(ack.origin) is str and ack.origin in self._retired:
                return
            if type(ack.origin) is not str or ack.origin not in self._members:
                raise MalformedOp("origin", f"a member replica id ({sorted(self._members)})", ack.origin)
            _check_pairs(ack.delivered, "delivered", None)
        o = ack.origin
        if o == self.replica or o in self._retired:
            return
        vv = dict(ack.delivered)
        if self._retired:
            for r in self._retired & vv.keys():
                del vv[r]
        changed: set[str] = set()
        if self._delivered.get(o, 0) >= vv.get(o, 0):
            self._learn(o, vv, changed)
        else:
            # Messages o sent before this ack are not all delivered here yet: knowing more of o now
            # could let a message concurrent with a "stable" one arrive later. Hold it until then.
            pend = self._acks.setdefault(o, {})
            for r, n in vv.items():
                if n > pend.get(r, 0):
                    pend[r] = n
        self._update_stable(changed)

    def log_since(self, vv: Any) -> list[OpMessage]:
        """The logged messages a replica that has delivered ``vv`` lacks, in an order it can deliver.

        ``vv`` is a :class:`~crdts.causal.VersionVector`, a mapping, pairs or an :class:`Ack`.
        Raises :class:`~crdts.errors.CausalGap` when part of what it lacks has left the log (it was
        stable here, so every member had it: the requester lost its state, or is new); such a
        replica bootstraps from a state snapshot instead. O(log).
        """
        have = _pairs(vv, "log_since")
        for r, n in self._delivered.items():
            h = have.get(r, 0)
            if h < n and h < self._floor.get(r, 0):
                raise CausalGap(r, h + 1, self._floor[r] + 1)
        return [m for (o, s), m in self._log.items() if s > have.get(o, 0)]

    def shed_log(self, keep: int) -> int:
        """Drop the oldest logged messages until at most ``keep`` remain; returns how many went.

        A replica that later needs one of them gets :class:`~crdts.errors.CausalGap` from
        :meth:`log_since` (and bootstraps from a snapshot). The log is in delivery order, so each origin
        loses a prefix of its messages. The dropped messages go to :attr:`archive` and are counted in
        :attr:`log_dropped`. O(dropped).
        """
        return self._drop_oldest(len(self._log) - keep, "shed_log")

    @property
    def log_ttl(self) -> float | None:
        """Seconds (by ``clock``) a message stays in the log; None: no TTL. Settable: turning it on counts the
        messages already logged as logged now. O(log) when turned on, O(1) otherwise."""
        return self._log_ttl

    @log_ttl.setter
    def log_ttl(self, ttl: float | None) -> None:
        _check_ttl(ttl)
        if ttl is None:
            self._log_at.clear()
        elif self._log_ttl is None:
            now = self.clock()
            self._log_at = dict.fromkeys(self._log, now)
        self._log_ttl = ttl

    def expire(self, now: float | None = None) -> int:
        """Drop the messages logged ``log_ttl`` or more ago (by ``clock``, or at ``now``); returns how many went.
        Called on every :meth:`stamp` and :meth:`receive`; call it when idle, too. O(dropped)."""
        ttl = self._log_ttl
        if ttl is None or not self._log:
            return 0
        limit = (self.clock() if now is None else now) - ttl
        at = self._log_at
        n = 0
        for key in self._log:      # delivery order is logging order: the oldest come first
            t = at.get(key)
            if t is not None and t > limit:
                break
            n += 1
        return self._drop_oldest(n, "log_ttl")

    def _bound_log(self) -> None:
        if self.max_log is not None and len(self._log) > self.max_log:
            self._drop_oldest(len(self._log) - self.max_log, "max_log")
        if self._log_ttl is not None:
            self.expire()

    def _drop_oldest(self, n: int, bound: str) -> int:
        if n <= 0:
            return 0
        log, floor, at = self._log, self._floor, self._log_at
        dropped = []
        for key in list(itertools.islice(log, n)):
            dropped.append(log.pop(key))
            at.pop(key, None)
            if key[1] > floor.get(key[0], 0):
                floor[key[0]] = key[1]
        self.log_dropped += n
        self.bounds_hit[bound] = self.bounds_hit.get(bound, 0) + 1
        if self.archive is not None and not call_archive(self.archive, dropped, what="the op log's"):
            self.bounds_hit["archive_errors"] = self.bounds_hit.get("archive_errors", 0) + 1
        return n

    def forget(self, upto: Any) -> int:
        """Drop from the log every message of each origin ``r`` up to ``upto[r]``; returns how many went.

        For a log that serves a known set of peers (the neighbours of a flooding protocol): once each of
        them has said it delivered a message, none of them will ask for it, even if the message is not
        stable yet. Stability is not changed. A replica that later asks for a forgotten message gets
        :class:`~crdts.errors.CausalGap` from :meth:`log_since`, as after :meth:`shed_log`. Entries above
        what is delivered here count as what is delivered here (a claim cannot reach past the log), so the
        cost is O(len(upto) + dropped): the log holds, per origin, every delivered message above its floor.
        """
        items = upto.items() if isinstance(upto, Mapping) else _pairs(upto, "forget").items()
        log, floor, d = self._log, self._floor, self._delivered
        n = 0
        for r, k in items:
            if type(k) is not int:
                raise ValueError(f"forget: entries map replica ids to ints, got {r!r}: {k!r}")
            hi = d.get(r, 0)
            if k < hi:
                hi = k
            lo = floor.get(r, 0)
            if hi <= lo:
                continue
            for c in range(lo + 1, hi + 1):
                if log.pop((r, c), None) is not None:
                    n += 1
                    self._log_at.pop((r, c), None)
            floor[r] = hi
        return n

    @property
    def log_size(self) -> int:
        """How many messages the log holds. O(1)."""
        return len(self._log)

    # -- membership ----------------------------------------------------------------------------

    def add_member(self, replica: str, delivered: Any = None) -> None:
        """Admit ``replica``, which has delivered ``delivered`` (e.g. the version vector of the snapshot it
        bootstrapped from). That must cover the stable vector: what is stable here may already be
        compacted away, so a newcomer must start from a state that includes it."""
        if type(replica) is not str or not replica:
            raise TypeError(f"replica must be a non-empty str, got {replica!r}")
        if replica in self._members:
            return
        if replica in self._retired:
            raise ValueError(f"{replica!r} is retired: a replica that comes back joins under a new id")
        vv = _pairs(delivered or {}, "delivered")
        for r in self._retired & vv.keys():
            del vv[r]
        behind = {r: n for r, n in self._stable.items() if vv.get(r, 0) < n}
        if behind:
            raise ValueError(f"{replica!r} must join with a snapshot covering the stable vector {self._stable}; "
                             f"it lacks {behind}")
        self._members = self._members | {replica}
        self._known[replica] = vv

    def remove_member(self, replica: str) -> None:
        """Forget a replica that has left for good (its messages are no longer accepted); stability may advance."""
        if replica == self.replica:
            raise ValueError("a replica cannot remove itself")
        if replica not in self._members:
            return
        self._members = self._members - {replica}
        self._known.pop(replica, None)
        self._acks.pop(replica, None)
        self._update_stable(set(self._delivered) | set(self._stable))

    def retire(self, replica: str, *, apply: Callable[[OpMessage], Any] | None = None
               ) -> tuple[tuple[OpMessage, ...], tuple[OpMessage, ...]]:
        """Forget ``replica`` for good: it leaves the group and every vector (delivered, stable, what each member
        is known to have delivered, the floor), so the messages stamped here from now on no longer name it.
        Returns ``(delivered, orphaned)``: the buffered messages that waited only for ``replica`` and are
        delivered now (through ``apply``, as :meth:`receive` does), and ``replica``'s own buffered messages,
        which will never be delivered here.

        From then on a message of ``replica`` is dropped on arrival (counted in :attr:`retired_dropped`), its
        acks are ignored, and a dependency on it counts as met: a message stamped before the retirement still
        delivers. So retire a replica only once its messages need no causal delivery any more: every member
        has delivered all it sent (e.g. it left, and its last message is stable), or, as the ``op`` sync
        protocol does, its late messages are handled outside the broadcast (their effect merged as a state).
        Its log entries go (not counted as dropped: nobody will ask for them). :meth:`release` forgets the
        retirement itself. O(log + buffer + members)."""
        if type(replica) is not str or not replica:
            raise TypeError(f"replica must be a non-empty str, got {replica!r}")
        if replica == self.replica:
            raise ValueError("a replica cannot retire itself from its own broadcast")
        if replica in self._retired:
            return (), ()
        self._retired.add(replica)
        self._members = self._members - {replica}
        self._known.pop(replica, None)
        self._acks.pop(replica, None)
        for kn in self._known.values():   # our own entry is the delivered vector
            kn.pop(replica, None)
        for pend in self._acks.values():
            pend.pop(replica, None)
        self._delivered.pop(replica, None)
        self._deps = None
        self._stable.pop(replica, None)
        self._floor.pop(replica, None)
        self._newly.discard(replica)
        for key in [k for k in self._log if k[0] == replica]:
            del self._log[key]
            self._log_at.pop(key, None)
        buffer, waiting = self._buffer, self._waiting
        orphaned = [buffer.pop(k) for k in sorted(k for k in buffer if k[0] == replica)]
        gone = {m.dot for m in orphaned}
        woken: list[tuple[str, int]] = []
        for dot in [w for w in waiting if w[0] == replica]:
            woken.extend(waiting.pop(dot))
        if gone:
            for dot in list(waiting):
                keep = [k for k in waiting[dot] if k not in gone]
                if keep:
                    waiting[dot] = keep
                else:
                    del waiting[dot]
        out: list[OpMessage] = []
        changed = set(self._delivered) | set(self._stable)   # fewer members: stability may advance
        self._apply = apply
        try:
            for k in sorted(k for k in woken if k not in gone):
                b = buffer.get(k)
                if b is None:    # delivered meanwhile, released by an earlier one
                    continue
                u = self._unmet(b)
                if u is not None:
                    waiting.setdefault(u, []).append(k)
                    continue
                del buffer[k]
                if self._deliver(b, out, changed):
                    self._release(k, out, changed)
        finally:
            self._settle(out, changed)
        return tuple(out), tuple(orphaned)

    def release(self, replica: str) -> None:
        """Forget that ``replica`` was retired (its retirement's tombstone expired): a message of it is then taken
        as one of any replica outside the group. Keeps the retired set as bounded as the tombstones. O(1)."""
        self._retired.discard(replica)

    # -- internals -----------------------------------------------------------------------------

    def _unmet(self, m: OpMessage) -> tuple[str, int] | None:
        """The first dependency of ``m`` not delivered yet, as the dot whose delivery to wait for."""
        d = self._delivered
        if m.seq > d.get(m.origin, 0) + 1:
            return (m.origin, m.seq - 1)
        for r, n in m.deps:
            if d.get(r, 0) < n and r not in self._retired:   # a retired replica's messages are not waited for
                return (r, n)
        return None

    def _deliver(self, m: OpMessage, out: list[OpMessage], changed: set[str]) -> bool:
        apply = self._apply
        if apply is not None:
            try:
                apply(m)
            except Exception as exc:
                self.failed.append((m, exc))
                return False
        o, s = m.origin, m.seq
        d = self._delivered
        d[o] = s
        self._deps = None
        if self._keep_log:
            self._log[(o, s)] = m
            if self._log_ttl is not None:
                self._log_at[(o, s)] = self.clock()
        else:
            self._floor[o] = s
        kn = self._known.get(o)
        if kn is not None and kn is not d:
            for r, n in m.deps:
                if n > kn.get(r, 0) and r not in self._retired:
                    kn[r] = n
                    changed.add(r)
            if s > kn.get(o, 0):
                kn[o] = s
        changed.add(o)
        pend = self._acks.get(o)
        if pend is not None and s >= pend.get(o, 0):
            del self._acks[o]
            self._learn(o, pend, changed)
        out.append(m)
        return True

    def _learn(self, o: str, vv: dict[str, int], changed: set[str]) -> None:
        kn = self._known[o]
        for r, n in vv.items():
            if n > kn.get(r, 0) and r not in self._retired:
                kn[r] = n
                changed.add(r)

    def _update_stable(self, changed: Iterable[str]) -> None:
        stable = self._stable
        known = self._known.values()
        for r in changed:
            old = stable.get(r, 0)
            v = 0
            for k in known:  # the minimum, given up as soon as it cannot exceed the old value
                n = k.get(r, 0)
                if n <= old:
                    v = 0
                    break
                if not v or n < v:
                    v = n
            if v > old:
                stable[r] = v
                self._newly.add(r)
                if self._floor.get(r, 0) < v:
                    log = self._log
                    lo = max(old, self._floor.get(r, 0)) + 1
                    at = self._log_at
                    if v + 1 - lo <= len(log):
                        for c in range(lo, v + 1):
                            if log.pop((r, c), None) is not None and at:
                                at.pop((r, c), None)
                    else:  # a long range (a large claim): walk the log instead
                        for key in [k for k in log if k[0] == r and lo <= k[1] <= v]:
                            del log[key]
                            at.pop(key, None)
                    self._floor[r] = v

    def take_stable(self) -> set[str] | None:
        """The replicas whose stable entry advanced since the last call (None if none). Used by the types."""
        if not self._newly:
            return None
        out = self._newly
        self._newly = set()
        return out

    def __repr__(self) -> str:
        return (f"CausalBroadcast({self.replica!r}, members={sorted(self._members)}, "
                f"delivered={dict(sorted(self._delivered.items()))}, buffered={len(self._buffer)})")
