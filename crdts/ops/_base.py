"""What every op-based type shares: the broadcast it rides, prepare/effect, validation, stability.

Private: the public names live in the type modules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, TypeVar

from .._base import element, value
from ..causal import CausalContext, VersionVector
from ..errors import MalformedOp, ReplicaRequired
from ..kernel import same
from .broadcast import Ack, CausalBroadcast, OpMessage

T = TypeVar("T", bound="OpCRDT")

#: How deep Update operations may nest (maps in maps).
MAX_NESTING = 16


def check_element(e: Any, path: str) -> None:
    """Raise MalformedOp unless ``e`` is a set element / map key in canonical form."""
    if type(e) is str:
        return
    try:
        c = element(e)
    except TypeError:
        raise MalformedOp(path, "a set element or map key (None, bool, int, float, str, bytes, tuples)",
                          e) from None
    if not _identical(c, e):
        raise MalformedOp(path, "the canonical form of the element (bools and integral floats as int)", e)


def _identical(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check_value(v: Any, path: str) -> None:
    """Raise MalformedOp unless ``v`` is a valid register value."""
    try:
        value(v)
    except TypeError as exc:
        raise MalformedOp(path, "a register value", v) from exc


def check_amount(n: Any, path: str) -> None:
    if type(n) is not int or not 0 <= n < 1 << 64:
        raise MalformedOp(path, "an int >= 0", n)


def sort_key(e: Any) -> Any:
    """A total order over elements of mixed types (None < numbers < str < bytes < tuples)."""
    t = type(e)
    if e is None:
        return (0,)
    if t is int or t is float or t is bool:
        return (1, e) if not (t is float and math.isnan(e)) else (1, math.inf)
    if t is str:
        return (2, e)
    if t is bytes:
        return (3, e)
    if t is tuple:
        return (4, tuple(sort_key(x) for x in e))
    return (5, repr(e))


class StandIns:
    """Distinct dots for stable entries that have dropped theirs, when exporting to a delta state.

    A stable entry is covered by every operation any replica can still send, so any dot below the
    stable vector stands for it faithfully; the dots are drawn in order (replica, counter), skipping
    the dots real entries still hold, so the exported state has every dot under one entry only.
    """

    __slots__ = ("_it", "_used")

    def __init__(self, stable: dict[str, int], used: set[tuple[str, int]]) -> None:
        self._used = used
        self._it = self._dots(stable)

    @staticmethod
    def _dots(stable: dict[str, int]) -> Iterator[tuple[str, int]]:
        for r in sorted(stable):
            for k in range(1, stable[r] + 1):
                yield (r, k)

    def next(self) -> tuple[str, int]:
        for d in self._it:
            if d not in self._used:
                return d
        raise AssertionError("stable vector exhausted: more stable entries than stable operations")


class OpCRDT:
    """Base of the op-based types: a replica bound to a :class:`CausalBroadcast`.

    Mutators *prepare* an operation from the local state, stamp it with the broadcast, apply its
    *effect* here and return the :class:`OpMessage` to ship. :meth:`apply` takes whatever the
    transport brings (messages in any order, duplicates, acks), lets the broadcast deliver what is
    causally ready, and applies each delivered operation's effect. After every change the type
    compacts what the broadcast reports newly stable.

    Nested values inside an :class:`~crdts.ops.OpORMap` are the same classes with no broadcast of
    their own: their mutators only prepare the operation, which the map stamps and applies.
    """

    __slots__ = ("_replica", "_tcb")

    #: The delta-state class this type exports to (and the name an OpORMap stores it under).
    state_class: ClassVar[Any]

    def __init__(self, replica: str | None = None, members: Iterable[str] | None = None, *,
                 broadcast: CausalBroadcast | None = None) -> None:
        if broadcast is None:
            if replica is None or members is None:
                raise TypeError(f"{type(self).__name__} needs its replica id and the group it replicates in, "
                                f"e.g. {type(self).__name__}('eu-west', members=['eu-west', 'us-east']), "
                                f"or broadcast=CausalBroadcast(...)")
            broadcast = CausalBroadcast(replica, members)
        elif not isinstance(broadcast, CausalBroadcast):
            raise TypeError(f"broadcast must be a CausalBroadcast, got {type(broadcast).__name__}")
        elif replica is not None and replica != broadcast.replica:
            raise ValueError(f"replica {replica!r} differs from the broadcast's {broadcast.replica!r}")
        self._tcb: CausalBroadcast | None = broadcast
        self._replica: str | None = broadcast.replica
        self._init_state()

    @classmethod
    def _view(cls: type[T], replica: str | None) -> T:
        """A nested value (no broadcast): mutators prepare only; ``replica=None`` makes it read-only."""
        obj = cls.__new__(cls)
        obj._tcb = None
        obj._replica = replica
        obj._init_state()
        return obj

    # -- per-type hooks ---------------------------------------------------------------------------

    def _init_state(self) -> None:
        raise NotImplementedError

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        """Raise MalformedOp unless ``op`` is an operation this type can apply. Never reads state."""
        raise NotImplementedError

    def _effect(self, op: Any, m: OpMessage) -> None:
        """Apply a delivered, checked operation. Never raises."""
        raise NotImplementedError

    def _reset(self, m: OpMessage) -> None:
        """Drop every effect ``m`` has seen (an enclosing map's remove or clear)."""
        raise NotImplementedError

    def _compact(self, stable: dict[str, int], changed: set[str]) -> None:
        """Drop metadata of operations that became causally stable."""

    def _empty(self) -> bool:
        raise NotImplementedError

    def _tags(self) -> int:
        """How many per-operation metadata items (dots) the state holds."""
        raise NotImplementedError

    def _dots_held(self) -> Iterator[tuple[str, int]]:
        """The real dots the state holds (stand-ins must avoid them)."""
        return iter(())

    def _store(self, alloc: StandIns) -> Any:
        """The dot store of the equivalent delta state."""
        raise NotImplementedError

    def _load(self, store: Any) -> None:
        """Fill an empty state from a delta-state dot store (entries start unstable)."""
        raise NotImplementedError

    def _copy_state(self, other: Any) -> None:
        raise NotImplementedError

    @property
    def value(self) -> Any:
        raise NotImplementedError

    # -- the shared machinery ---------------------------------------------------------------------

    @property
    def replica(self) -> str | None:
        """The replica id (None for a read-only nested copy)."""
        return self._replica

    @property
    def broadcast(self) -> CausalBroadcast:
        """The causal broadcast this replica rides (stability, buffer, log)."""
        if self._tcb is None:
            raise TypeError("a nested value has no broadcast of its own: use the map's")
        return self._tcb

    @property
    def delivered(self) -> VersionVector:
        """What this replica has delivered: the log position of its state (see :meth:`from_state`)."""
        return self.broadcast.delivered

    def _emit(self, op: Any, method: str) -> Any:
        tcb = self._tcb
        if tcb is None:
            if self._replica is None:
                raise ReplicaRequired(type(self).__name__, method)
            return op  # nested: the enclosing map stamps and applies it
        m = tcb.stamp(op)
        self._effect(op, m)
        self._stabilize(tcb)
        return m

    def _need_replica(self, method: str) -> str:
        r = self._replica
        if r is None:
            raise ReplicaRequired(type(self).__name__, method)
        return r

    def apply(self, msg: OpMessage | Ack) -> tuple[OpMessage, ...]:
        """Take a message (or an :class:`Ack`) from the transport; return the messages delivered.

        The broadcast drops duplicates, buffers what arrives early and delivers in causal order; the
        effect of each delivered operation is applied, then newly stable metadata is compacted.
        Raises :class:`~crdts.errors.MalformedOp` before any change if the message or its operation
        is malformed. Cost: the effects of the delivered operations plus O(replicas) each.
        """
        tcb = self.broadcast
        if type(msg) is Ack:
            tcb.receive_ack(msg)
            self._stabilize(tcb)
            return ()
        tcb.check(msg)
        assert type(msg) is OpMessage
        self._check_op(msg.op, "op", 0)
        delivered = tcb.receive(msg, check=False)
        if delivered:
            effect = self._effect
            for m in delivered:
                effect(m.op, m)
            self._stabilize(tcb)
        return delivered

    def ack(self) -> Ack:
        """An acknowledgement of what this replica has delivered (lets the others' stability advance)."""
        return self.broadcast.ack()

    def log_since(self, vv: Any) -> list[OpMessage]:
        """The messages a replica that delivered ``vv`` lacks (see :meth:`CausalBroadcast.log_since`)."""
        return self.broadcast.log_since(vv)

    def _stabilize(self, tcb: CausalBroadcast) -> None:
        changed = tcb.take_stable()
        if changed:
            self._compact(tcb._stable, changed)

    def metadata(self) -> dict[str, int]:
        """Sizes of the metadata kept: ``tags`` (per-operation dots in the state) and the broadcast's."""
        out = {"tags": self._tags()}
        if self._tcb is not None:
            out.update(self._tcb.metadata())
        return out

    # -- the bridge to delta-state types ----------------------------------------------------------

    def to_state(self) -> Any:
        """The equivalent delta-state object (unbound): equal in value, its context the delivered vector.

        Entries keep their dots, which are message ids ``(origin, seq)``; entries that compaction
        stripped get stand-in dots below the stable vector (see docs/ops.md, "The bridge").
        """
        tcb = self.broadcast
        used = set(self._dots_held())
        store = self._store(StandIns(tcb._stable, used))
        cls: Any = self.state_class
        return cls._delta(store, CausalContext(tcb._delivered))

    @classmethod
    def from_state(cls: type[T], state: Any, replica: str, members: Iterable[str], *,
                   vv: Any = None) -> T:
        """A replica bootstrapped from a delta-state snapshot, to follow the op log from ``vv`` on.

        ``vv`` is the log position the snapshot reflects (default: the snapshot's causal context,
        right for a snapshot made by :meth:`to_state`; it must cover that context). Then feed the
        replica the messages the log holds beyond ``vv`` (``peer.log_since(replica.delivered)``).
        """
        if type(state) is not cls.state_class:
            raise TypeError(f"{cls.__name__}.from_state takes a {cls.state_class.__name__}, "
                            f"got {type(state).__name__}")
        state._check()
        ctx = state._ctx
        if ctx.cloud_size():
            raise ValueError(f"the snapshot's causal context has gaps {sorted(ctx.cloud)}: an op log position "
                             f"is a version vector, so bootstrap from a causally complete snapshot")
        start = VersionVector(ctx.vv) if vv is None else _vv(vv)
        lacking = {r: n for r, n in ctx.vv.items() if start.get(r) < n}
        if lacking:
            raise ValueError(f"vv {start} must cover the snapshot's context {ctx.vv}; it lacks {lacking}")
        obj = cls(broadcast=CausalBroadcast(replica, members, delivered=start))
        obj._load(state._store)
        tcb = obj.broadcast
        if tcb._stable:  # a group of one: everything delivered is stable
            obj._compact(tcb._stable, set(tcb._stable))
        return obj

    # -- the rest of the protocol -----------------------------------------------------------------

    def _copy(self: T, replica: str | None) -> T:
        c = type(self)._view(replica)
        c._copy_state(self)
        return c

    def __eq__(self, other: object) -> bool:
        """Same class, same delivered operations, same value (compaction timing does not matter), compared
        as the wire format does (:func:`crdts.kernel.same`: ``0.0`` is not ``-0.0``, ``1`` is not ``True``)."""
        if type(other) is not type(self):
            return NotImplemented
        if self._tcb is not None and other._tcb is not None \
                and self._tcb._delivered != other._tcb._delivered:
            return False
        return same(self.value, other.value)

    __hash__ = None  # type: ignore[assignment]

    def _check(self) -> None:
        """Invariants (tests call it after every step). Raises InvariantError."""
        self._check_state(self._tcb._stable if self._tcb is not None else None)

    def _check_state(self, stable: dict[str, int] | None) -> None:
        """Type-specific invariants; ``stable`` is the stable vector (None for a nested copy)."""

    def _compactable(self) -> bool:
        """Whether the state holds metadata that stability could still compact."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(replica={self._replica!r}, value={self.value!r})"


def _vv(vv: Any) -> VersionVector:
    if isinstance(vv, VersionVector):
        return vv.copy()
    if isinstance(vv, Ack):
        vv = dict(vv.delivered)
    return VersionVector(dict(vv))
