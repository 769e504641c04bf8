"""Op-based counters: the pure PN counter, and the causal counter that nests in an OpORMap."""

from __future__ import annotations

from typing import Any

from ..counters import CCounter, PNCounter
from ..errors import InvariantError, MalformedOp
from ._base import OpCRDT, StandIns, check_amount
from .broadcast import CausalBroadcast, OpMessage
from .operations import Decrement, Increment

__all__ = ["OpCCounter", "OpPNCounter"]


class OpPNCounter(OpCRDT):
    """Pure op-based PN counter: ``increment(n)`` ships ``Increment(n)``, and every replica adds it.

    Delivery contract: effects commute, so **exactly-once** delivery suffices (no causal order);
    a duplicate would count twice, which the broadcast prevents. Metadata: two ints per replica
    that ever counted (kept so :meth:`to_state` can give the equivalent :class:`crdts.PNCounter`);
    nothing per operation, so there is nothing for stability to compact. Operations O(1).

    >>> a = OpPNCounter("a", members=["a", "b"]); b = OpPNCounter("b", members=["a", "b"])
    >>> m1 = a.increment(5); m2 = b.decrement(2)
    >>> m1.op, m2.op
    (Increment(n=5, total=None), Decrement(n=2, total=None))
    >>> _ = b.apply(m1); _ = a.apply(m2)
    >>> a.value, b.value, a == b
    (3, 3, True)
    >>> a.to_state() == b.to_state(), a.to_state().value
    (True, 3)
    """

    __slots__ = ("_n", "_p")
    state_class = PNCounter

    def _init_state(self) -> None:
        self._p: dict[str, int] = {}
        self._n: dict[str, int] = {}

    def increment(self, n: int = 1) -> OpMessage:
        """Add ``n >= 0``. O(1)."""
        if type(n) is not int or n < 0:
            raise ValueError(f"increment(n) takes an int n >= 0, got {n!r}")
        return self._emit(Increment(n), "increment")

    def decrement(self, n: int = 1) -> OpMessage:
        """Subtract ``n >= 0``. O(1)."""
        if type(n) is not int or n < 0:
            raise ValueError(f"decrement(n) takes an int n >= 0, got {n!r}")
        return self._emit(Decrement(n), "decrement")

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        t = type(op)
        if t is not Increment and t is not Decrement:
            raise MalformedOp(path, "Increment or Decrement", op)
        check_amount(op.n, f"{path}.n")
        if op.total is not None:
            raise MalformedOp(f"{path}.total", "None (only a counter nested in a map carries totals)", op.total)

    def _effect(self, op: Any, m: OpMessage) -> None:
        n = op.n
        if n:
            part = self._p if type(op) is Increment else self._n
            part[m.origin] = part.get(m.origin, 0) + n

    @property
    def value(self) -> int:
        return sum(self._p.values()) - sum(self._n.values())

    def _tags(self) -> int:
        return 0

    def to_state(self) -> PNCounter:
        """The equivalent :class:`crdts.PNCounter` (unbound): per replica, its increments and decrements."""
        s = PNCounter()
        s._p = dict(self._p)
        s._n = dict(self._n)
        return s

    @classmethod
    def from_state(cls, state: Any, replica: str, members: Any, *, vv: Any = None) -> OpPNCounter:
        """Bootstrap from a :class:`crdts.PNCounter` snapshot taken at log position ``vv`` (required: a
        counter has no causal context, and replaying an operation the snapshot counts would count it
        twice; pass ``vv={}`` for a snapshot that every replica starts from)."""
        if type(state) is not PNCounter:
            raise TypeError(f"OpPNCounter.from_state takes a PNCounter, got {type(state).__name__}")
        if vv is None:
            raise TypeError("OpPNCounter.from_state needs vv=, the log position of the snapshot")
        state._check()
        obj = cls(broadcast=CausalBroadcast(replica, members, delivered=vv))
        obj._p = dict(state._p)
        obj._n = dict(state._n)
        return obj

    def _copy_state(self, other: Any) -> None:
        self._p = dict(other._p)
        self._n = dict(other._n)

    def _check_state(self, stable: dict[str, int] | None) -> None:
        for part in (self._p, self._n):
            for r, n in part.items():
                if type(n) is not int or n < 1:
                    raise InvariantError(f"OpPNCounter entry {r!r}: {n!r}")


class OpCCounter(OpCRDT):
    """The causal counter, op-based: what a counter in an :class:`~crdts.ops.OpORMap` is.

    Each operation carries its origin's running total; the state keeps, per replica, the dot of its
    latest operation and that total (:class:`crdts.CCounter` as operations). A map remove drops the
    totals it saw; an increment concurrent with the remove carries its origin's whole running total,
    the reset-remove semantics of the delta-state map. Delivery contract: **causal order** (an
    operation replaces its origin's earlier one, and a remove must see what it resets). Metadata: one
    dot and one int per replica, stable or not. Operations O(replicas).

    >>> a = OpCCounter("a", members=["a", "b"]); b = OpCCounter("b", members=["a", "b"])
    >>> m = a.increment(4); m.op
    Increment(n=4, total=4)
    >>> _ = b.apply(m); _ = a.apply(b.decrement(1))
    >>> a.value, b.value
    (3, 3)
    """

    __slots__ = ("_dots",)
    state_class = CCounter

    def _init_state(self) -> None:
        self._dots: dict[tuple[str, int], int] = {}

    def _mine(self, r: str) -> int:
        return sum(t for d, t in self._dots.items() if d[0] == r)

    def increment(self, n: int = 1) -> Any:
        """Add ``n >= 0``. O(replicas)."""
        r = self._need_replica("increment")
        if type(n) is not int or n < 0:
            raise ValueError(f"increment(n) takes an int n >= 0, got {n!r}")
        return self._emit(Increment(n, self._mine(r) + n), "increment")

    def decrement(self, n: int = 1) -> Any:
        """Subtract ``n >= 0``. O(replicas)."""
        r = self._need_replica("decrement")
        if type(n) is not int or n < 0:
            raise ValueError(f"decrement(n) takes an int n >= 0, got {n!r}")
        return self._emit(Decrement(n, self._mine(r) - n), "decrement")

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        t = type(op)
        if t is not Increment and t is not Decrement:
            raise MalformedOp(path, "Increment or Decrement", op)
        check_amount(op.n, f"{path}.n")
        if type(op.total) is not int or not -(1 << 64) < op.total < 1 << 64:
            raise MalformedOp(f"{path}.total", "the origin's running total (an int)", op.total)

    def _effect(self, op: Any, m: OpMessage) -> None:
        o = m.origin
        dots = self._dots
        for d in [d for d in dots if d[0] == o]:  # the origin's earlier operations: all in m's past
            del dots[d]
        dots[(o, m.seq)] = op.total

    def _reset(self, m: OpMessage) -> None:
        dots = self._dots
        for d in [d for d in dots if m.covers(d)]:
            del dots[d]

    def _empty(self) -> bool:
        return not self._dots

    @property
    def value(self) -> int:
        return sum(self._dots.values())

    def _tags(self) -> int:
        return len(self._dots)

    def _dots_held(self) -> Any:
        return iter(self._dots)

    def _store(self, alloc: StandIns) -> Any:
        return dict(self._dots)

    def _load(self, store: Any) -> None:
        self._dots = dict(store)

    def _copy_state(self, other: Any) -> None:
        self._dots = dict(other._dots)

    def _check_state(self, stable: dict[str, int] | None) -> None:
        for d, t in self._dots.items():
            if type(t) is not int:
                raise InvariantError(f"OpCCounter dot {d!r} must carry an int total")
