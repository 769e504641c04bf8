"""Sets: grow-only, two-phase, add-wins (observed-remove) and remove-wins.

Elements are hashable plain data (see :func:`crdts._base.element`): 1, 1.0 and True are one element,
stored as the int 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic

from ._base import _UNSET, CRDT, Causal, E, KeyedStoreReads, T, check_replica, element
from .causal import CausalContext
from .errors import InvariantError
from .kernel import DotMap, DotSetMap, _take, dots_of

__all__ = ["AWSet", "GSet", "ORSet", "RWSet", "TwoPSet"]

_CANONICAL_AS_IS = frozenset({str, bytes, int, type(None)})


class _SetReads(Generic[E]):
    """Reads shared by the set types: ``value``, ``in``, ``len`` and iteration."""

    __slots__ = ()

    @property
    def value(self) -> frozenset[E]:
        raise NotImplementedError

    def __contains__(self, e: object) -> bool:
        try:
            return element(e) in self.value
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self.value)

    def __bool__(self) -> bool:
        return len(self) != 0

    def __iter__(self) -> Iterator[E]:
        return iter(self.value)


class GSet(_SetReads[E], CRDT):
    """Grow-only set: elements are added, never removed. Merge is set union.

    Metadata: none beyond the elements. ``add`` O(1); merge O(len(other)).

    >>> a, b = GSet("a"), GSet("b")
    >>> d = a.add("x"); _ = b.add("y")
    >>> b.merge(d); a.merge(b)
    >>> sorted(a.value), a == b
    (['x', 'y'], True)
    """

    __slots__ = ("_elems",)

    def __init__(self, replica: str | None = None) -> None:
        self._replica = check_replica(replica)
        self._elems: set[Any] = set()

    def add(self, e: E) -> GSet[E]:
        """Add ``e``; return the delta ``{e}``. O(1)."""
        if self._replica is None:
            self._need_replica("add")
        if type(e) is not str:
            e = element(e)
        self._elems.add(e)
        d = GSet.__new__(GSet)
        d._replica = None
        d._elems = {e}
        return d

    @property
    def value(self) -> frozenset[E]:
        return frozenset(self._elems)

    def __contains__(self, e: object) -> bool:
        try:
            return element(e) in self._elems
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._elems)

    def merge(self, other: GSet[E]) -> None:
        """Set union, in place. O(len(other))."""
        self._check_other(other)
        self._elems |= other._elems

    def __eq__(self, other: object) -> bool:
        if type(other) is not GSet:
            return NotImplemented
        return self._elems == other._elems

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = GSet.__new__(GSet)
        c._replica = self._replica if replica is _UNSET else check_replica(replica)
        c._elems = set(self._elems)  # type: ignore[attr-defined]
        return c  # type: ignore[return-value]

    def _of(self, elems: set[Any]) -> GSet[E]:
        d = GSet.__new__(GSet)
        d._replica = None
        d._elems = elems
        return d

    def delta_for(self, other: GSet[E]) -> GSet[E]:
        """The elements ``other`` lacks. O(len(self))."""
        self._check_other(other)
        return self._of(self._elems - other._elems)

    def decompose(self) -> list[GSet[E]]:
        return [self._of({e}) for e in self._elems]

    def units(self) -> int:
        return len(self._elems)

    def is_bottom(self) -> bool:
        return not self._elems

    def _check(self) -> None:
        for e in self._elems:
            if element(e) != e or type(element(e)) is not type(e):
                raise InvariantError(f"GSet element {e!r} is not in canonical form")

    def __repr__(self) -> str:
        return f"GSet(replica={self._replica!r}, value={set(self._elems)!r})"


class TwoPSet(_SetReads[E], CRDT):
    """Two-phase set: an element can be added and later removed, and once removed it never returns.

    Concurrency: a remove wins over every add of the same element, past or future. Metadata: one
    tombstone per removed element, kept forever. Removing an element that was never added is allowed
    and bars it for good. Operations O(1); merge O(len(other)).

    >>> a, b = TwoPSet("a"), TwoPSet("b")
    >>> b.merge(a.add("x"))
    >>> d1 = a.remove("x"); d2 = b.add("x")      # concurrent: remove wins
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    (frozenset(), True)
    """

    __slots__ = ("_added", "_removed")

    def __init__(self, replica: str | None = None) -> None:
        self._replica = check_replica(replica)
        self._added: set[Any] = set()
        self._removed: set[Any] = set()

    def _delta_of(self, added: set[Any], removed: set[Any]) -> TwoPSet[E]:
        d = TwoPSet.__new__(TwoPSet)
        d._replica = None
        d._added = added
        d._removed = removed
        return d

    def add(self, e: E) -> TwoPSet[E]:
        """Add ``e`` (no effect if it was ever removed); return the delta. O(1)."""
        self._need_replica("add")
        e = element(e)
        self._added.add(e)
        return self._delta_of({e}, set())

    def remove(self, e: E) -> TwoPSet[E]:
        """Remove ``e`` for ever; return the delta. O(1)."""
        self._need_replica("remove")
        e = element(e)
        self._removed.add(e)
        return self._delta_of(set(), {e})

    @property
    def value(self) -> frozenset[E]:
        return frozenset(self._added - self._removed)

    @property
    def tombstones(self) -> frozenset[E]:
        """The removed elements (kept forever)."""
        return frozenset(self._removed)

    def merge(self, other: TwoPSet[E]) -> None:
        """Union of both parts, in place. O(len(other))."""
        self._check_other(other)
        self._added |= other._added
        self._removed |= other._removed

    def __eq__(self, other: object) -> bool:
        if type(other) is not TwoPSet:
            return NotImplemented
        return self._added == other._added and self._removed == other._removed

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = TwoPSet.__new__(TwoPSet)
        c._replica = self._replica if replica is _UNSET else check_replica(replica)
        c._added = set(self._added)  # type: ignore[attr-defined]
        c._removed = set(self._removed)  # type: ignore[attr-defined]
        return c  # type: ignore[return-value]

    def delta_for(self, other: TwoPSet[E]) -> TwoPSet[E]:
        """The adds and removes ``other`` lacks. O(len(self))."""
        self._check_other(other)
        return self._delta_of(self._added - other._added, self._removed - other._removed)

    def decompose(self) -> list[TwoPSet[E]]:
        return [self._delta_of({e}, set()) for e in self._added] + \
            [self._delta_of(set(), {e}) for e in self._removed]

    def units(self) -> int:
        return len(self._added) + len(self._removed)

    def is_bottom(self) -> bool:
        return not self._added and not self._removed

    def _check(self) -> None:
        for e in self._added | self._removed:
            if element(e) != e or type(element(e)) is not type(e):
                raise InvariantError(f"TwoPSet element {e!r} is not in canonical form")

    def __repr__(self) -> str:
        return f"TwoPSet(replica={self._replica!r}, value={set(self.value)!r})"


class AWSet(KeyedStoreReads, _SetReads[E], Causal):
    """Add-wins (observed-remove) set, without tombstones (ORSWOT as a delta-state dot map).

    Each present element holds the dots of the adds that made it present; ``remove`` drops the dots it
    saw. Concurrency: an add concurrent with a remove of the same element wins (the remove did not see
    its dot). Metadata: one dot per live element (more only after concurrent adds) plus the causal
    context, which compacts to a version vector (one entry per replica): removed elements leave no
    trace. ``add``/``remove`` O(1); merging a delta is O(size of the delta).

    >>> a, b = AWSet("a"), AWSet("b")
    >>> b.merge(a.add("x"))
    >>> d1 = a.remove("x"); d2 = b.add("x")      # concurrent remove and re-add: add wins
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    (frozenset({'x'}), True)
    """

    __slots__ = ()
    _kind = DotSetMap

    def add(self, e: E) -> AWSet[E]:
        """Add ``e``; the delta carries one new dot and the dots of ``e`` it replaces. O(1) (O(replicas) when
        ``e`` was present: its old dots are found by replica)."""
        r = self._replica
        if r is None:
            self._need_replica("add")
        if type(e) is not str:
            e = element(e)
        vv = self._ctx.vv  # no dot of ours lies beyond our entry (see Causal._new_dot)
        n = vv.get(r, 0) + 1  # type: ignore[arg-type]
        vv[r] = n  # type: ignore[index]
        store = self._store
        elems = store.elems
        if e in elems:
            seen = set(_take(store, e))
            seen.add((r, n))  # type: ignore[arg-type]
            dc = CausalContext._of_dots(seen)
        else:
            dc = CausalContext._of_dot(r, n)  # type: ignore[arg-type]
        elems.add(e)
        idx = store.by.get(r)
        if idx is None:
            store.by[r] = {n: e}
            store.rev[r] = {e: n}
        else:
            idx[n] = e
            store.rev[r][e] = n
        d = AWSet.__new__(AWSet)
        d._replica = None
        d._store = DotSetMap._one(e, r, n)  # type: ignore[arg-type]
        d._ctx = dc
        return d

    def remove(self, e: E) -> AWSet[E]:
        """Remove ``e`` (the adds this replica has seen); the delta carries only their dots. O(1) (O(replicas)
        to find a single dot's replica)."""
        self._need_replica("remove")
        if type(e) is not str:
            e = element(e)
        old = _take(self._store, e)
        if not old:
            return AWSet._delta(DotSetMap(), CausalContext())
        return AWSet._delta(DotSetMap(), CausalContext._of_dots(set(old)))

    def clear(self) -> AWSet[E]:
        """Remove every element this replica has seen. O(elements)."""
        self._need_replica("clear")
        store = self._store
        gone = set(dots_of(store))
        store.elems.clear()
        store.by.clear()
        store.rev.clear()
        return AWSet._delta(DotSetMap(), CausalContext._of_dots(gone))

    @property
    def value(self) -> frozenset[E]:
        return frozenset(self._store.elems)

    def __iter__(self) -> Iterator[E]:
        return iter(list(self._store.elems))

    def _check_payload(self) -> None:
        elems = self._store.elems
        types: set[type] = set()
        for idx in self._store.by.values():  # the replicas' dicts, read in order (cheaper than the set)
            types.update(map(type, idx.values()))
        if types <= _CANONICAL_AS_IS:
            return  # str, bytes, int and None are canonical as they are: no per-element check needed
        for e in elems:
            if element(e) != e or type(element(e)) is not type(e):
                raise InvariantError(f"AWSet element {e!r} is not in canonical form")


ORSet = AWSet


class RWSet(_SetReads[E], Causal):
    """Remove-wins set: an element is present only if every concurrent latest operation on it was an add.

    Each element keeps tokens ``dot -> True`` (add) or ``dot -> False`` (remove); an operation replaces
    the tokens it saw. Concurrency: a remove concurrent with an add wins. Metadata: one token per
    element touched (a removed element keeps its remove token until it is re-added), plus the causal
    context. ``add``/``remove`` O(1); merging a delta O(size of the delta); ``value`` O(elements).

    >>> a, b = RWSet("a"), RWSet("b")
    >>> b.merge(a.add("x"))
    >>> d1 = a.remove("x"); d2 = b.add("x")      # concurrent: remove wins
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    (frozenset(), True)
    """

    __slots__ = ()
    _kind = DotMap

    def _token(self, e: Any, present: bool, method: str) -> RWSet[E]:
        e = element(e)
        dot = self._new_dot(method)
        store = self._store
        index = store.index
        old = store.get(e)
        seen = {dot}
        if old:
            for od in old:
                del index[od]
            seen.update(old)
        store[e] = {dot: present}
        index[dot] = e
        return RWSet._delta(DotMap.of({e: {dot: present}}), CausalContext._of_dots(seen))

    def add(self, e: E) -> RWSet[E]:
        """Add ``e``, replacing the tokens this replica saw. O(1)."""
        return self._token(e, True, "add")

    def remove(self, e: E) -> RWSet[E]:
        """Remove ``e``; wins over concurrent adds. O(1)."""
        return self._token(e, False, "remove")

    def clear(self) -> RWSet[E]:
        """Remove every present element (each wins over concurrent adds of it). O(elements)."""
        self._need_replica("clear")
        delta = RWSet._delta(DotMap(), CausalContext())
        for e in sorted(self.value, key=repr):
            d = self._token(e, False, "clear")
            delta.merge(d)
        return delta

    @property
    def value(self) -> frozenset[E]:
        return frozenset(e for e, tokens in self._store.items() if all(tokens.values()))

    def _check_payload(self) -> None:
        for e, tokens in self._store.items():
            if type(tokens) is not dict or any(type(v) is not bool for v in tokens.values()):
                raise InvariantError(f"RWSet element {e!r} must hold dot -> bool tokens")
            if element(e) != e or type(element(e)) is not type(e):
                raise InvariantError(f"RWSet element {e!r} is not in canonical form")

