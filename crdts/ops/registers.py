"""Op-based registers: last-writer-wins (hybrid logical clock) and multi-value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._base import thaw, value
from ..causal import HLC, Timestamp
from ..errors import InvariantError, MalformedOp
from ..registers import LWWRegister, MVRegister, ordered_values
from ._base import OpCRDT, StandIns, check_value
from .broadcast import CausalBroadcast, OpMessage
from .operations import Assign

__all__ = ["OpLWWRegister", "OpMVRegister"]


class OpLWWRegister(OpCRDT):
    """Op-based last-writer-wins register: ``assign(v)`` ships ``Assign(v, timestamp)``.

    The write with the highest hybrid-logical-clock timestamp wins (ties on wall time broken by the
    logical counter, then the replica id); applying a write observes its timestamp, so a write made
    after delivering another always wins over it. Delivery contract: the effect is a maximum, so it
    **tolerates duplicates and any order**: only eventual delivery is needed (the broadcast's causal
    order is harmless). Metadata: one timestamp, nothing per operation. Operations O(1).

    >>> t = iter(range(100, 1000))
    >>> a = OpLWWRegister("a", members=["a", "b"], clock=HLC("a", time_source=lambda: next(t)))
    >>> b = OpLWWRegister("b", members=["a", "b"], clock=HLC("b", time_source=lambda: 50))  # lags
    >>> _ = b.apply(a.assign("first"))
    >>> m = b.assign("second")                   # b delivered "first", so its write wins anyway
    >>> _ = a.apply(m); a.value, b.value
    ('second', 'second')
    """

    __slots__ = ("_clock", "_seq", "_ts", "_value")
    state_class = LWWRegister
    _clock: HLC | None

    def __init__(self, replica: str | None = None, members: Iterable[str] | None = None, *,
                 broadcast: CausalBroadcast | None = None, clock: HLC | None = None) -> None:
        super().__init__(replica, members, broadcast=broadcast)
        r = self._replica
        assert r is not None
        if clock is not None:
            if not isinstance(clock, HLC):
                raise TypeError(f"clock must be a crdts.HLC, got {type(clock).__name__}")
            if clock.replica != r:
                raise ValueError(f"clock belongs to replica {clock.replica!r}, not {r!r}")
        self._clock = clock if clock is not None else HLC(r)

    def _init_state(self) -> None:
        self._ts: tuple[int, int, str] | None = None
        self._seq = 0
        self._value: Any = None
        self._clock = None

    def assign(self, v: Any) -> OpMessage:
        """Write ``v`` with a fresh timestamp. O(size of v)."""
        self._need_replica("assign")
        v = value(v)
        clock = self._clock
        assert clock is not None
        return self._emit(Assign(v, clock.now()), "assign")

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        if type(op) is not Assign:
            raise MalformedOp(path, "Assign", op)
        ts = op.timestamp
        if type(ts) is not Timestamp or type(ts.wall) is not int or type(ts.logical) is not int \
                or ts.wall < 0 or ts.logical < 0 or type(ts.replica) is not str or not ts.replica:
            raise MalformedOp(f"{path}.timestamp", "a crdts.Timestamp(wall >= 0, logical >= 0, replica)", ts)
        check_value(op.value, f"{path}.value")

    def apply(self, msg: Any) -> tuple[OpMessage, ...]:
        if type(msg) is OpMessage and type(msg.op) is Assign and type(msg.op.timestamp) is Timestamp \
                and msg.op.timestamp.replica != msg.origin:
            raise MalformedOp("op.timestamp.replica", f"the origin {msg.origin!r}", msg.op.timestamp.replica)
        return super().apply(msg)

    def _effect(self, op: Any, m: OpMessage) -> None:
        ts = op.timestamp
        mine = self._ts
        if mine is None or ts > mine or (ts == mine and m.seq > self._seq):
            self._ts, self._seq, self._value = tuple(ts), m.seq, op.value
        if self._clock is not None:
            self._clock.observe(ts)

    @property
    def value(self) -> Any:
        """The winning value (None before any write)."""
        return thaw(self._value)

    @property
    def timestamp(self) -> Timestamp | None:
        """The winning write's timestamp."""
        return None if self._ts is None else Timestamp(*self._ts)

    def _tags(self) -> int:
        return 0

    def to_state(self) -> LWWRegister:
        """The equivalent :class:`crdts.LWWRegister` (unbound)."""
        s = LWWRegister()
        s._ts, s._value = self._ts, value(self._value)
        return s

    @classmethod
    def from_state(cls, state: Any, replica: str, members: Any, *, vv: Any = None,
                   clock: HLC | None = None) -> OpLWWRegister:
        """Bootstrap from a :class:`crdts.LWWRegister` snapshot; ``vv`` defaults to nothing delivered
        (replaying writes the snapshot already has is harmless: the effect is a maximum)."""
        if type(state) is not LWWRegister:
            raise TypeError(f"OpLWWRegister.from_state takes an LWWRegister, got {type(state).__name__}")
        state._check()
        obj = cls(broadcast=CausalBroadcast(replica, members, delivered=vv), clock=clock)
        obj._ts, obj._value = state._ts, value(state._value)
        if state._ts is not None and obj._clock is not None:
            obj._clock.observe(state._ts)
        return obj

    def _copy_state(self, other: Any) -> None:
        self._ts, self._seq, self._value = other._ts, other._seq, value(other._value)

    def __repr__(self) -> str:
        return f"OpLWWRegister(replica={self._replica!r}, value={self._value!r}, timestamp={self._ts!r})"


class OpMVRegister(OpCRDT):
    """Op-based multi-value register: ``assign(v)`` ships ``Assign(v)``, and the message's causal
    timestamp says which writes it replaces (those in its causal past).

    Concurrent writes are all kept; ``values`` are in the canonical order of the values (that of
    :class:`crdts.MVRegister`), the same everywhere.
    Delivery contract: **causal order** (a write must be applied after the writes it replaces).
    Metadata: one dot per surviving write. Surviving writes are pairwise concurrent, so there is at
    most one per replica: bounded by the group size whether stable or not (the PO-Log's full vector
    timestamps are not kept: with causal delivery a dot decides coverage). Operations O(siblings).

    >>> a = OpMVRegister("a", members=["a", "b"]); b = OpMVRegister("b", members=["a", "b"])
    >>> m1 = a.assign("red"); m2 = b.assign("blue")          # concurrent: both kept
    >>> _ = a.apply(m2); _ = b.apply(m1)
    >>> a.values, b.values
    (('red', 'blue'), ('red', 'blue'))
    >>> _ = b.apply(a.assign("green")); b.values             # a saw both, so it replaces both
    ('green',)
    """

    __slots__ = ("_dots",)
    state_class = MVRegister

    def _init_state(self) -> None:
        self._dots: dict[tuple[str, int], Any] = {}

    def assign(self, v: Any) -> Any:
        """Write ``v``, replacing every value this replica has delivered. O(size of v)."""
        self._need_replica("assign")
        return self._emit(Assign(value(v)), "assign")

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        if type(op) is not Assign:
            raise MalformedOp(path, "Assign", op)
        if op.timestamp is not None:
            raise MalformedOp(f"{path}.timestamp", "None (a multi-value write is ordered by causality)",
                              op.timestamp)
        check_value(op.value, f"{path}.value")

    def _effect(self, op: Any, m: OpMessage) -> None:
        dots = self._dots
        if dots:
            for d in [d for d in dots if m.covers(d)]:
                del dots[d]
        dots[(m.origin, m.seq)] = op.value

    def _reset(self, m: OpMessage) -> None:
        dots = self._dots
        for d in [d for d in dots if m.covers(d)]:
            del dots[d]

    def _empty(self) -> bool:
        return not self._dots

    @property
    def values(self) -> tuple[Any, ...]:
        """The concurrent values, in the canonical order of :func:`crdts.registers.ordered_values`."""
        return ordered_values(self._dots)

    @property
    def value(self) -> tuple[Any, ...]:
        """Same as :attr:`values`."""
        return self.values

    def _tags(self) -> int:
        return len(self._dots)

    def _dots_held(self) -> Any:
        return iter(self._dots)

    def _store(self, alloc: StandIns) -> Any:
        return {d: value(v) for d, v in self._dots.items()}

    def _load(self, store: Any) -> None:
        self._dots = {d: value(v) for d, v in store.items()}

    def _copy_state(self, other: Any) -> None:
        self._dots = {d: value(v) for d, v in other._dots.items()}

    def _check_state(self, stable: dict[str, int] | None) -> None:
        for d, v in self._dots.items():
            try:
                value(v)
            except TypeError as exc:
                raise InvariantError(f"OpMVRegister dot {d!r}: {exc}") from None
