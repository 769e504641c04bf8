"""The op-based add-wins set, with causal-stability compaction (a PO-Log with dots at rest)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .._base import element
from ..errors import InvariantError, MalformedOp
from ..kernel import DotSetMap
from ..sets import AWSet
from ._base import OpCRDT, StandIns, check_element, sort_key
from .broadcast import OpMessage
from .operations import Add, Clear, Remove

__all__ = ["OpAWSet"]


class OpAWSet(OpCRDT):
    """Pure op-based add-wins (observed-remove) set.

    ``add(e)`` ships ``Add(e)``, ``remove(e)`` ships ``Remove(e)``, ``clear()`` ships ``Clear()``: the
    operations carry no tags; the message's causal timestamp says which adds a remove observed.
    The state is the PO-Log of Baquero et al. reduced by its redundancy relation: an add or remove
    of ``e`` discards the adds of ``e`` in its causal past, a remove is never stored, so the log
    holds only the adds not yet overridden, as ``element -> dots``. Concurrency: an add concurrent
    with a remove survives (add wins).

    Causal stability: once an add is stable, no concurrent operation can arrive and every future
    operation on the element will override it, so its dot is dropped and the element joins a plain
    set. Metadata: one dot per unstable surviving add; **none once stable**, whatever the number of
    operations. Delivery contract: **causal order** (a remove must follow the adds it observed).
    ``add``/``remove`` O(dots of the element); ``clear`` O(unstable dots).

    >>> a = OpAWSet("a", members=["a", "b"]); b = OpAWSet("b", members=["a", "b"])
    >>> _ = b.apply(a.add("x"))
    >>> m1 = a.remove("x"); m2 = b.add("x")      # concurrent remove and re-add: add wins
    >>> m1.op, m1.deps                           # the remove names no tags: its deps say what it saw
    (Remove(element='x'), ())
    >>> _ = a.apply(m2); _ = b.apply(m1)
    >>> a.value, b.value
    (frozenset({'x'}), frozenset({'x'}))
    >>> b.metadata()["tags"]                     # b does not know yet that a has its add
    1
    >>> _ = b.apply(a.ack())                     # now it does: the add is stable, its dot goes
    >>> b.metadata()["tags"], b.metadata()["log"], b.value
    (0, 0, frozenset({'x'}))
    """

    __slots__ = ("_by_origin", "_plain", "_tagged")
    state_class = AWSet

    def _init_state(self) -> None:
        self._plain: set[Any] = set()  # elements with a stable add: no dot kept
        self._tagged: dict[Any, set[tuple[str, int]]] = {}  # element -> dots of unstable adds
        self._by_origin: dict[str, dict[int, Any]] = {}  # origin -> seq -> element, in seq order

    # -- mutators (prepare) -----------------------------------------------------------------------

    def add(self, e: Any) -> Any:
        """Add ``e``. O(dots of e)."""
        if self._replica is None:
            self._need_replica("add")
        if type(e) is not str:
            e = element(e)
        return self._emit(Add(e), "add")

    def remove(self, e: Any) -> Any:
        """Remove ``e`` (the adds of it this replica has delivered). O(dots of e)."""
        self._need_replica("remove")
        if type(e) is not str:
            e = element(e)
        return self._emit(Remove(e), "remove")

    def clear(self) -> Any:
        """Remove every element this replica has delivered. O(unstable dots + elements)."""
        self._need_replica("clear")
        return self._emit(Clear(), "clear")

    # -- effect -----------------------------------------------------------------------------------

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        t = type(op)
        if t is Add or t is Remove:
            check_element(op.element, f"{path}.element")
        elif t is not Clear:
            raise MalformedOp(path, "Add, Remove or Clear", op)

    def _effect(self, op: Any, m: OpMessage) -> None:
        t = type(op)
        if t is Add:
            e = op.element
            self._drop(e, m)
            o, s = m.origin, m.seq
            tags = self._tagged.get(e)
            if tags is None:
                self._tagged[e] = {(o, s)}
            else:
                tags.add((o, s))
            idx = self._by_origin.get(o)
            if idx is None:
                self._by_origin[o] = {s: e}
            else:
                idx[s] = e
        elif t is Remove:
            self._drop(op.element, m)
        else:
            self._reset(m)

    def _drop(self, e: Any, m: OpMessage) -> None:
        """Discard the adds of ``e`` in ``m``'s causal past (stable ones always are)."""
        self._plain.discard(e)
        tags = self._tagged.get(e)
        if tags:
            gone = [d for d in tags if m.covers(d)]
            if gone:
                by_origin = self._by_origin
                for d in gone:
                    tags.discard(d)
                    del by_origin[d[0]][d[1]]
                if not tags:
                    del self._tagged[e]

    def _untag_through(self, o: str, cover: int) -> list[Any]:
        """Drop ``o``'s add tags with seq <= ``cover`` (oldest first); return the elements they tagged."""
        idx = self._by_origin.get(o)
        tagged = self._tagged
        out = []
        while idx:
            s = next(iter(idx))
            if s > cover:
                break
            e = idx.pop(s)
            tags = tagged[e]
            tags.discard((o, s))
            if not tags:
                del tagged[e]
            out.append(e)
        return out

    def _reset(self, m: OpMessage) -> None:
        self._plain.clear()
        clock = m.clock()
        for o in list(self._by_origin):
            self._untag_through(o, clock.get(o, 0))

    def _compact(self, stable: dict[str, int], changed: set[str]) -> None:
        for o in changed:
            self._plain.update(self._untag_through(o, stable.get(o, 0)))

    # -- reads ------------------------------------------------------------------------------------

    @property
    def value(self) -> frozenset[Any]:
        return frozenset(self._plain.union(self._tagged))

    def __contains__(self, e: object) -> bool:
        try:
            c = element(e)
        except TypeError:
            return False
        return c in self._plain or c in self._tagged

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def _empty(self) -> bool:
        return not self._plain and not self._tagged

    def _compactable(self) -> bool:
        return bool(self._tagged)

    def _tags(self) -> int:
        return sum(len(v) for v in self._by_origin.values())

    def _dots_held(self) -> Iterator[tuple[str, int]]:
        for o, idx in self._by_origin.items():
            for s in idx:
                yield (o, s)

    # -- bridge -----------------------------------------------------------------------------------

    def _store(self, alloc: StandIns) -> DotSetMap:
        out: dict[Any, set[tuple[str, int]]] = {e: set(tags) for e, tags in self._tagged.items()}
        for e in sorted(self._plain, key=sort_key):
            out.setdefault(e, set()).add(alloc.next())
        return DotSetMap.of(out)

    def _load(self, store: Any) -> None:
        entries = sorted(((d, e) for e, ds in store.items() for d in ds))
        for (o, s), e in entries:
            self._tagged.setdefault(e, set()).add((o, s))
            self._by_origin.setdefault(o, {})[s] = e

    def _copy_state(self, other: Any) -> None:
        self._plain = set(other._plain)
        self._tagged = {e: set(t) for e, t in other._tagged.items()}
        self._by_origin = {o: dict(idx) for o, idx in other._by_origin.items()}

    def _check_state(self, stable: dict[str, int] | None) -> None:
        seen: dict[tuple[str, int], Any] = {}
        for o, idx in self._by_origin.items():
            prev = 0
            for s, e in idx.items():
                if s <= prev:
                    raise InvariantError(f"OpAWSet index of {o!r} out of order at seq {s}")
                prev = s
                if (o, s) not in self._tagged.get(e, ()):
                    raise InvariantError(f"OpAWSet index names ({o!r}, {s}) under {e!r}, which lacks it")
                seen[(o, s)] = e
        total = sum(len(t) for t in self._tagged.values())
        if total != len(seen) or any(not t for t in self._tagged.values()):
            raise InvariantError("OpAWSet tags and index disagree (or an element holds no tags)")
        if stable is not None:
            for o, s in seen:
                if s <= stable.get(o, 0):
                    raise InvariantError(f"OpAWSet keeps the dot ({o!r}, {s}) although it is stable")
