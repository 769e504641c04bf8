"""Counters: grow-only, positive-negative, and the causal counter that nests in maps."""

from __future__ import annotations

from typing import Any

from ._base import _UNSET, COUNTER_BOUND, CRDT, Causal, T, check_own_entry, check_replica
from .causal import CausalContext
from .errors import InvariantError

__all__ = ["CCounter", "CausalCounter", "GCounter", "PNCounter"]


def _amount(n: Any, method: str) -> int:
    if type(n) is not int:
        raise TypeError(f"{method}(n) takes an int n >= 0, got {type(n).__name__}: {n!r}")
    if n < 0:
        raise ValueError(f"{method}(n) takes an int n >= 0, got {n!r}")
    return n


def _bounded(total: int, what: str) -> int:
    if not -COUNTER_BOUND < total < COUNTER_BOUND:
        raise ValueError(f"{what} would reach {total}, beyond the counters' range (below 2**64 in magnitude)")
    return total


def _check_entries(name: str, entries: dict[str, int]) -> None:
    for r, n in entries.items():
        if type(r) is not str or not r or type(n) is not int or n < 1:
            raise InvariantError(f"{name} entry {r!r}: {n!r} must map a replica id to an int >= 1")


class GCounter(CRDT):
    """Grow-only counter: one monotonic count per replica; the value is their sum.

    Concurrency: increments never conflict; merge keeps each replica's maximum.
    Metadata: one int per replica that ever incremented. ``increment`` O(1); ``value`` O(replicas).

    >>> a, b = GCounter("a"), GCounter("b")
    >>> d = a.increment(2); _ = b.increment(3)
    >>> b.merge(d); a.merge(b)
    >>> a.value, a == b
    (5, True)
    """

    __slots__ = ("_p",)

    def __init__(self, replica: str | None = None) -> None:
        self._replica = check_replica(replica)
        self._p: dict[str, int] = {}

    def increment(self, n: int = 1) -> GCounter:
        """Add ``n >= 0``; the delta holds this replica's new count only. O(1)."""
        r = self._replica
        if r is None:
            self._need_replica("increment")
        if type(n) is not int or n < 0:
            _amount(n, "increment")
        d = GCounter.__new__(GCounter)
        d._replica = None
        if n:
            c = self._p.get(r, 0) + n  # type: ignore[arg-type]
            if c >= COUNTER_BOUND:
                _bounded(c, "GCounter entry")
            self._p[r] = c  # type: ignore[index]
            d._p = {r: c}  # type: ignore[dict-item]
        else:
            d._p = {}
        return d

    @property
    def value(self) -> int:
        return sum(self._p.values())

    def __bool__(self) -> bool:
        return bool(self._p)  # every entry is >= 1

    @property
    def entries(self) -> dict[str, int]:
        """Per-replica counts (a copy)."""
        return dict(self._p)

    def merge(self, other: GCounter) -> None:
        """Pointwise maximum, in place. O(len(other)).

        Refuses (:class:`~crdts.errors.ReplicaClash`, nothing changes) a count of this replica's own id
        above its own: another process increments as this replica, or it was restored from an old snapshot.
        """
        self._check_other(other)
        p = self._p
        r = self._replica
        if r is not None and r in other._p:
            check_own_entry(r, p.get(r, 0), other._p[r])
        for r, n in other._p.items():
            if n > p.get(r, 0):
                p[r] = n

    def __eq__(self, other: object) -> bool:
        if type(other) is not GCounter:
            return NotImplemented
        return self._p == other._p

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = GCounter.__new__(GCounter)
        c._replica = self._replica if replica is _UNSET else check_replica(replica)
        c._p = dict(self._p)  # type: ignore[attr-defined]
        return c  # type: ignore[return-value]

    def _of(self, p: dict[str, int]) -> GCounter:
        d = GCounter.__new__(GCounter)
        d._replica = None
        d._p = p
        return d

    def delta_for(self, other: GCounter) -> GCounter:
        """The entries where this counter is ahead of ``other``. O(replicas)."""
        self._check_other(other)
        op = other._p
        return self._of({r: n for r, n in self._p.items() if n > op.get(r, 0)})

    def new_origins(self, other: GCounter) -> set[str] | None:
        p = self._p
        return {r for r, n in other._p.items() if n > p.get(r, 0)}

    def decompose(self) -> list[GCounter]:
        return [self._of({r: n}) for r, n in self._p.items()]

    def units(self) -> int:
        return len(self._p)

    def is_bottom(self) -> bool:
        return not self._p

    def _check(self) -> None:
        _check_entries("GCounter", self._p)

    def _rt_ids(self) -> set[str]:
        return set(self._p)

    def _rt_mark(self, replica: str) -> tuple[int, ...]:
        return (self._p.get(replica, 0),)

    def _rt_filter(self, replica: str, final: tuple[int, ...]) -> bool:
        from .retention import counter_filter

        return counter_filter(self._p, replica, final[0] if final else 0)

    def _rt_alias(self, replica: str, archive: str, base: tuple[int, ...], final: tuple[int, ...]) -> bool:
        """Fold ``replica``'s count into the archive's entry (see crdts.retention.counter_fold)."""
        from .retention import counter_fold

        return counter_fold(self._p, replica, archive, base[0] if base else 0, final[0] if final else 0)

    def __repr__(self) -> str:
        return f"GCounter(replica={self._replica!r}, value={self.value})"


class PNCounter(CRDT):
    """Counter with increments and decrements: two grow-only counters, value = increments - decrements.

    Concurrency: operations never conflict. Metadata: two ints per replica. Mutators O(1).

    >>> a, b = PNCounter("a"), PNCounter("b")
    >>> d = a.increment(5); _ = b.decrement(2)
    >>> b.merge(d); a.merge(b)
    >>> a.value, a == b
    (3, True)
    """

    __slots__ = ("_n", "_p")

    def __init__(self, replica: str | None = None) -> None:
        self._replica = check_replica(replica)
        self._p: dict[str, int] = {}
        self._n: dict[str, int] = {}

    def _bump(self, part: dict[str, int], n: int, method: str, positive: bool) -> PNCounter:
        r = self._need_replica(method)
        _amount(n, method)
        d = PNCounter.__new__(PNCounter)
        d._replica = None
        d._p, d._n = {}, {}
        if n:
            c = _bounded(part.get(r, 0) + n, f"PNCounter {method} total")
            part[r] = c
            (d._p if positive else d._n)[r] = c
        return d

    def increment(self, n: int = 1) -> PNCounter:
        """Add ``n >= 0``. O(1)."""
        return self._bump(self._p, n, "increment", True)

    def decrement(self, n: int = 1) -> PNCounter:
        """Subtract ``n >= 0``. O(1)."""
        return self._bump(self._n, n, "decrement", False)

    @property
    def value(self) -> int:
        return sum(self._p.values()) - sum(self._n.values())

    def __bool__(self) -> bool:
        return self.value != 0

    def merge(self, other: PNCounter) -> None:
        """Pointwise maximum of both parts, in place. O(len(other)). Refuses counts of this replica's own id
        above its own, as :meth:`GCounter.merge` does."""
        self._check_other(other)
        r = self._replica
        if r is not None:
            check_own_entry(r, self._p.get(r, 0), other._p.get(r, 0))
            check_own_entry(r, self._n.get(r, 0), other._n.get(r, 0))
        for mine, theirs in ((self._p, other._p), (self._n, other._n)):
            for r, n in theirs.items():
                if n > mine.get(r, 0):
                    mine[r] = n

    def __eq__(self, other: object) -> bool:
        if type(other) is not PNCounter:
            return NotImplemented
        return self._p == other._p and self._n == other._n

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = PNCounter.__new__(PNCounter)
        c._replica = self._replica if replica is _UNSET else check_replica(replica)
        c._p = dict(self._p)  # type: ignore[attr-defined]
        c._n = dict(self._n)  # type: ignore[attr-defined]
        return c  # type: ignore[return-value]

    def _of(self, p: dict[str, int], n: dict[str, int]) -> PNCounter:
        d = PNCounter.__new__(PNCounter)
        d._replica = None
        d._p, d._n = p, n
        return d

    def new_origins(self, other: PNCounter) -> set[str] | None:
        p, n = self._p, self._n
        return {r for r, c in other._p.items() if c > p.get(r, 0)} | {r for r, c in other._n.items() if c > n.get(r, 0)}

    def delta_for(self, other: PNCounter) -> PNCounter:
        """The entries where this counter is ahead of ``other``. O(replicas)."""
        self._check_other(other)
        op, on = other._p, other._n
        return self._of({r: c for r, c in self._p.items() if c > op.get(r, 0)},
                        {r: c for r, c in self._n.items() if c > on.get(r, 0)})

    def decompose(self) -> list[PNCounter]:
        return [self._of({r: c}, {}) for r, c in self._p.items()] + \
            [self._of({}, {r: c}) for r, c in self._n.items()]

    def units(self) -> int:
        return len(self._p) + len(self._n)

    def is_bottom(self) -> bool:
        return not self._p and not self._n

    def _check(self) -> None:
        _check_entries("PNCounter increments", self._p)
        _check_entries("PNCounter decrements", self._n)

    def _rt_ids(self) -> set[str]:
        return set(self._p) | set(self._n)

    def _rt_mark(self, replica: str) -> tuple[int, ...]:
        return (self._p.get(replica, 0), self._n.get(replica, 0))

    def _rt_filter(self, replica: str, final: tuple[int, ...]) -> bool:
        from .retention import counter_filter

        fp, fn = (*final, 0, 0)[:2]
        a = counter_filter(self._p, replica, fp)
        return counter_filter(self._n, replica, fn) or a

    def _rt_alias(self, replica: str, archive: str, base: tuple[int, ...], final: tuple[int, ...]) -> bool:
        """Fold ``replica``'s increments and decrements into the archive's two entries, each on its own."""
        from .retention import counter_fold

        bp, bn = (*base, 0, 0)[:2]
        fp, fn = (*final, 0, 0)[:2]
        a = counter_fold(self._p, replica, archive, bp, fp)
        return counter_fold(self._n, replica, archive, bn, fn) or a

    def __repr__(self) -> str:
        return f"PNCounter(replica={self._replica!r}, value={self.value})"


class CCounter(Causal):
    """Causal counter: increments and decrements that can be reset by an observed remove.

    This is the counter that nests in an :class:`~crdts.maps.ORMap` (``update(key, PNCounter, ...)`` and
    ``update(key, GCounter, ...)`` both give one). Each replica holds one dot carrying its running total;
    each operation replaces it with a new dot. Concurrency: operations never conflict; a map remove
    resets the totals it saw, and a replica that increments concurrently with that remove keeps its
    whole running total (the remove did not see the new dot), the reset-remove anomaly of the
    literature. Metadata: one dot and one int per replica, plus the causal context.

    >>> a, b = CCounter("a"), CCounter("b")
    >>> d = a.increment(4); _ = b.decrement(1)
    >>> b.merge(d); a.merge(b)
    >>> a.value, a == b
    (3, True)
    """

    __slots__ = ()
    _kind = dict

    def _add(self, n: int, method: str) -> CCounter:
        self._need_replica(method)
        _amount(n, method)
        if method == "decrement":
            n = -n
        r = self._replica
        store = self._store
        old = [d for d in store if d[0] == r]
        base = sum(store[d] for d in old)
        _bounded(base + n, "CCounter total")
        dot = self._new_dot(method)
        for d in old:
            del store[d]
        store[dot] = base + n
        return CCounter._delta({dot: base + n}, CausalContext._of_dots({dot, *old}))

    def increment(self, n: int = 1) -> CCounter:
        """Add ``n >= 0``. O(replicas)."""
        return self._add(n, "increment")

    def decrement(self, n: int = 1) -> CCounter:
        """Subtract ``n >= 0``. O(replicas)."""
        return self._add(n, "decrement")

    def reset(self) -> CCounter:
        """Drop every contribution this replica has seen (what a map remove does). O(replicas)."""
        self._need_replica("reset")
        gone = set(self._store)
        self._store.clear()
        return CCounter._delta({}, CausalContext._of_dots(gone))

    @property
    def value(self) -> int:
        return sum(self._store.values())

    def __bool__(self) -> bool:
        return self.value != 0

    def _check_payload(self) -> None:
        for d, v in self._store.items():
            if type(v) is not int:
                raise InvariantError(f"CCounter dot {d!r} must carry an int, got {v!r}")


CausalCounter = CCounter
