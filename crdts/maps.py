"""Maps: the observed-remove map of nested causal CRDTs, and the last-writer-wins map."""

from __future__ import annotations

import builtins
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from itertools import compress, repeat
from operator import is_, itemgetter, not_
from typing import Any, ClassVar, Generic, TypeVar, get_origin, overload

from ._base import _UNSET, CRDT, Causal, K, T, V, _no_option, check_replica, element, thaw, value
from .causal import HLC, CausalContext, Timestamp
from .counters import CCounter, GCounter, PNCounter
from .errors import ConflictingWrite, InvariantError
from .flags import DWFlag, EWFlag
from .kernel import DotMap, copy_store, dots_of, ndots, restrict, same, same_values
from .registers import MVRegister, _check_ts, _clock_for, _fresh_clock, _rebind_clock
from .sets import AWSet, RWSet

__all__ = ["LWWMap", "ORMap"]

N = TypeVar("N", bound=Causal)
D = TypeVar("D")

_VALUE = itemgetter(2)  # the value of an LWWMap entry (timestamp, present, value)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
#: Key types that are canonical as they are (``element(k)`` is ``k``).
_CANONICAL_KEYS = frozenset({str, bytes, int, type(None)})


#: The causal types an ORMap can hold, by the name stored beside each key.
NESTABLE: dict[str, type[Causal]] = {}
#: Classes a user may name in ``update`` that stand for another (counters nest as causal counters).
_ALIASES: dict[type, type[Causal]] = {PNCounter: CCounter, GCounter: CCounter}


#: Types that cannot nest in an ORMap (they are not causal: their state does not say what a remove saw),
#: and what to use instead.
_NOT_NESTABLE: dict[str, str] = {
    "GSet": "AWSet (an add-wins set; add only, and it behaves as a grow-only set)",
    "TwoPSet": "AWSet (add wins) or RWSet (remove wins)",
    "LWWRegister": "MVRegister (it keeps concurrent writes; read its values and pick one)",
    "LWWMap": "ORMap (with MVRegister values)",
    "ConflictRegister": "MVRegister",
    "ConflictMap": "ORMap (with MVRegister values)",
}


def _nested_class(cls: Any) -> tuple[str, type[Causal]]:
    target = _ALIASES.get(cls, cls)
    name = getattr(target, "__name__", None)
    if name not in NESTABLE or NESTABLE[name] is not target:
        origin = get_origin(cls)  # AWSet[str] names AWSet
        if origin is not None:
            return _nested_class(origin)
        if name in _NOT_NESTABLE:
            raise TypeError(f"{name} cannot nest in an ORMap (it is not a causal CRDT: a map remove could not "
                            f"reset it); use {_NOT_NESTABLE[name]}")
        allowed = ", ".join(sorted(NESTABLE)) + ", PNCounter, GCounter"
        raise TypeError(f"ORMap values must be causal CRDTs ({allowed}); got {cls!r}")
    return name, target


_NONE: Any = object()


def _made_part(s: Any, made: list[tuple[str, int]]) -> Any:
    """The part of the store ``s`` that holds the dots ``made`` (the few dots one update made): what
    ``kernel.restrict`` gives, faster for a handful of dots. O(len(made)) (O(dots of the keys) for DotMaps
    of DotMaps)."""
    t = type(s)
    if t is set:
        return {d for d in made if d in s}
    if t is dict:
        return {d: s[d] for d in made if d in s}
    return restrict(s, made)  # O(len(made)) for DotMaps and DotSetMaps alike (through their indexes)


def _view(cls: type[N], store: Any, ctx: CausalContext, replica: str | None) -> N:
    v = cls.__new__(cls)
    v._replica = replica
    v._store = store
    v._ctx = ctx
    return v


class TypedKeyReads(Generic[K]):
    """Reads shared by the OR-maps whose entries are keyed ``(key, nested class name)`` (the delta-state
    :class:`ORMap` and the op-based ``OpORMap``). Subclasses give ``_typed()`` (that dict) and
    ``_shown()`` (key -> (class name, entry) for the entry shown per key) and ``_names`` (class names, sorted),
    and ``__getitem__`` (the nested object shown for a key)."""

    __slots__ = ()
    _names: ClassVar[list[str]] = []

    def _typed(self) -> Any:
        raise NotImplementedError

    def _shown(self) -> dict[Any, tuple[str, Any]]:
        raise NotImplementedError

    def __getitem__(self, key: K) -> Any:
        raise NotImplementedError

    def __contains__(self, key: object) -> bool:
        try:
            k = element(key)
        except TypeError:
            return False
        typed = self._typed()
        return any((k, name) in typed for name in self._names)

    def keys(self) -> KeysView[K]:
        """The present keys (a snapshot). O(entries)."""
        return self._shown().keys()

    def values(self) -> ValuesView[Any]:
        """The nested objects, as ``m[key]`` gives them (a snapshot of read-only copies). O(size)."""
        return {k: self[k] for k in self._shown()}.values()

    def items(self) -> ItemsView[K, Any]:
        """``(key, m[key])`` pairs (a snapshot of read-only copies). O(size)."""
        return {k: self[k] for k in self._shown()}.items()

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._shown()))

    def __len__(self) -> int:
        return len(self._shown())

    def __bool__(self) -> bool:
        return len(self) != 0

    def classes(self, key: K) -> list[str]:
        """The class names stored for ``key`` (more than one only if replicas disagreed on its class)."""
        k = element(key)
        typed = self._typed()
        return [name for name in self._names if (k, name) in typed]

    def get(self, key: K, default: Any = None) -> Any:
        """``m[key]``, or ``default`` if ``key`` is absent. To read an absent key as an empty value of a
        known class, use ``value_of(key, cls)``."""
        try:
            return self[key]
        except (KeyError, TypeError):
            return default


class ORMap(TypedKeyReads[K], Causal):
    """Observed-remove map from keys to nested causal CRDTs, all sharing the map's causal context.

    ``update(key, cls, fn)`` hands ``fn`` the nested value (created empty if absent) to call any number of
    its mutators on; ``remove(key)`` resets what this replica saw of the key. Concurrency: an update
    concurrent with a remove survives (with only the effects the remove did not see); concurrent updates of
    one key merge by the nested type's rules. Nested classes: AWSet, RWSet, MVRegister, EWFlag, DWFlag, ORMap
    and CCounter; **naming PNCounter or GCounter gives a CCounter** (the counter a remove can reset), and
    the types that are not causal (GSet, TwoPSet, LWWRegister, LWWMap, the conflict types) raise TypeError
    naming what to use instead. The class is part of the entry: the same key updated as two different
    classes keeps both entries, and ``m[key]`` returns the one whose class name sorts first.

    **A nested value that becomes empty leaves the map** (observed-remove: nothing records "present but
    empty"): a cleared AWSet, a disabled EWFlag, a reset counter are no longer in ``m.value``, ``in`` or
    ``m[key]``, whereas a disabled DWFlag keeps a token and stays as False. ``m.value_of(key, cls)`` reads
    an absent key as the empty value of ``cls``, so a never-set and an emptied field read the same.

    A read-only :class:`~collections.abc.Mapping` of keys to nested CRDTs (read-only copies). Metadata: the
    nested stores' dots plus one shared context; removed keys leave no trace. ``update`` costs what the
    nested mutators cost plus a copy of the key's nested store; merging a delta is O(size of the delta).

    >>> a, b = ORMap("a"), ORMap("b")
    >>> b.merge(a.update("apples", PNCounter, lambda c: c.increment(3)))
    >>> d1 = a.remove("apples")                                         # concurrent with
    >>> d2 = b.update("apples", PNCounter, lambda c: c.increment(2))    # this update
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    ({'apples': 2}, True)
    """

    __slots__ = ()
    _kind = DotMap

    @overload
    def update(self, key: K, cls: type[PNCounter] | type[GCounter] | type[CCounter],
               fn: Callable[[CCounter], object]) -> ORMap[K]: ...

    @overload
    def update(self, key: K, cls: type[N], fn: Callable[[N], object]) -> ORMap[K]: ...

    def update(self, key: K, cls: Any, fn: Callable[[Any], object]) -> ORMap[K]:
        """Apply ``fn`` to the nested value of ``key`` (class ``cls``); return the map's delta.

        ``fn`` may call any number of mutators of the nested object (none, one, or several: ``clear()``
        then ``add(x)`` replaces a set's content); what it returns is ignored. The delta is computed from
        the change itself: the dots the mutators made that survive, and the dots they removed. The update
        is atomic: if ``fn`` raises, the map is put back as it was and the error propagates. ``fn`` may
        only mutate the object it is given: merging another state into it raises TypeError (merge into the
        map instead). ``PNCounter`` and ``GCounter`` name a :class:`~crdts.CCounter` (the counter that
        nests). Cost: the mutators', plus a C-level copy of the key's nested store (for the rollback and to
        find what was removed).
        """
        r = self._need_replica("update")
        key = element(key)
        name, ncls = _nested_class(cls)
        mk = (key, name)
        store = self._store
        ctx = self._ctx
        sub = store.get(mk)
        saved = None if sub is None else copy_store(sub)
        if sub is None:
            sub = ncls._kind()
        made_before = ctx.vv.get(r, 0)
        # The nested object works on a context of its own that holds only this replica's entry: a mutator
        # reads and bumps that entry and nothing else, so a merge into the object shows as other entries.
        own = CausalContext._raw({r: made_before} if made_before else {}, set())
        nested = _view(ncls, sub, own, r)
        try:
            fn(nested)
            if own.cloud or len(own.vv) > 1 or (own.vv and r not in own.vv):
                raise TypeError(f"ORMap.update: fn may only call mutators of the {ncls.__name__} it is given; "
                                f"it merged another state into it (merge into the map instead)")
        except BaseException:
            if saved is None:
                store.pop(mk, None)
            else:
                store[mk] = saved
            self._reindex(mk)
            raise
        after = nested._store
        made = own.vv.get(r, 0)
        index = store.index
        delta = DotMap()
        if made > made_before:
            ctx.vv[r] = made
            new = [(r, made)] if made == made_before + 1 else [(r, n) for n in range(made_before + 1, made + 1)]
            changed = set(new)
            live = _made_part(after, new)
            if live:
                dict.__setitem__(delta, mk, live)
                dindex = delta.index
                for d in dots_of(live):
                    dindex[d] = mk
                    index[d] = mk
        else:
            changed = set()
            live = None
        if saved is not None and ndots(saved) + (ndots(live) if live else 0) != ndots(after):  # a mutator removed a dot
            gone = set(dots_of(saved)).difference(dots_of(after))  # the dots the mutators removed
            for d in gone:
                del index[d]
            changed |= gone
        self._settle(mk, after)
        return ORMap._delta(delta, CausalContext._of_dots(changed))

    def _settle(self, mk: Any, sub: Any) -> None:
        if sub:
            if mk not in self._store:
                self._store[mk] = sub
        else:
            self._store.pop(mk, None)

    def _reindex(self, mk: Any) -> None:
        """Slow path after a misbehaving ``fn``: rebuild the index entries of one key. O(dots)."""
        index = self._store.index
        for d in [d for d, k in index.items() if k == mk]:
            del index[d]
        if mk in self._store:
            for d in dots_of(self._store[mk]):
                index[d] = mk

    def remove(self, key: K) -> ORMap[K]:
        """Reset ``key``: drop every effect on it this replica has seen. O(dots of the key)."""
        self._need_replica("remove")
        key = element(key)
        store = self._store
        index = store.index
        gone: set[tuple[str, int]] = set()
        for name in _NAMES:
            sub = store.pop((key, name), None)
            if sub is None:
                continue
            for d in dots_of(sub):
                gone.add(d)
                del index[d]
        return ORMap._delta(DotMap(), CausalContext._of_dots(gone))

    def clear(self) -> ORMap[K]:
        """Reset every key this replica has seen. O(dots)."""
        self._need_replica("clear")
        store = self._store
        gone = set(store.index)
        store.clear()
        store.index.clear()
        return ORMap._delta(DotMap(), CausalContext._of_dots(gone))

    def _shown(self) -> dict[Any, tuple[str, Any]]:
        """key -> (class name, store): the entry shown for each key (class names sorted, first wins)."""
        out: dict[Any, tuple[str, Any]] = {}
        for (k, name), sub in self._store.items():
            cur = out.get(k)
            if cur is None or name < cur[0]:
                out[k] = (name, sub)
        return out

    def __getitem__(self, key: K) -> Causal:
        """A read-only copy of the nested CRDT at ``key``. Raises KeyError if absent (see :meth:`value_of`)."""
        k = element(key)
        store = self._store
        for name in _NAMES:
            sub = store.get((k, name))
            if sub is not None:
                return _view(NESTABLE[name], copy_store(sub), self._ctx.copy(), None)
        raise KeyError(key)

    @overload
    def value_of(self, key: K, cls: type[PNCounter] | type[GCounter]) -> CCounter: ...

    @overload
    def value_of(self, key: K, cls: type[N]) -> N: ...

    def value_of(self, key: K, cls: Any) -> Any:
        """The nested object of class ``cls`` at ``key`` (a read-only copy), or an empty one if there is
        none: a key that was never set and one whose value was emptied (a set cleared, a flag disabled, a
        register or counter reset by a map remove) read the same, since an emptied value leaves the map.

        >>> profile = ORMap("a")
        >>> _ = profile.update("dark-mode", EWFlag, lambda f: f.enable())
        >>> _ = profile.update("dark-mode", EWFlag, lambda f: f.disable())
        >>> "dark-mode" in profile, profile.value_of("dark-mode", EWFlag).value
        (False, False)
        """
        name, ncls = _nested_class(cls)
        sub = self._store.get((element(key), name))
        if sub is None:
            return ncls(None)
        return _view(ncls, copy_store(sub), self._ctx.copy(), None)

    @overload  # type: ignore[override]  # (typed: the shared reads return Any for the op-based map)
    def get(self, key: K) -> Causal | None: ...

    @overload
    def get(self, key: K, default: D) -> Causal | D: ...

    def get(self, key: K, default: Any = None) -> Any:
        """``m[key]`` (a read-only copy of the nested CRDT), or ``default`` if ``key`` is absent. To read an
        absent key as an empty value of a known class, use :meth:`value_of`."""
        return super().get(key, default)

    def values(self) -> ValuesView[Causal]:
        """The nested CRDTs, as ``m[key]`` gives them (a snapshot of read-only copies). O(size)."""
        return super().values()

    def items(self) -> ItemsView[K, Causal]:
        """``(key, m[key])`` pairs (a snapshot of read-only copies). O(size)."""
        return super().items()

    def _typed(self) -> Any:
        return self._store

    def __bool__(self) -> bool:
        return bool(self._store)  # an emptied nested value leaves the store

    @property
    def value(self) -> dict[K, object]:
        """``{key: nested value}``. O(size)."""
        ctx = self._ctx
        views = {k: _view(NESTABLE[name], sub, ctx, None) for k, (name, sub) in self._shown().items()}
        return {k: v.value for k, v in views.items()}

    def _check_payload(self) -> None:
        for mk, sub in self._store.items():
            if type(mk) is not tuple or len(mk) != 2 or mk[1] not in NESTABLE:
                raise InvariantError(f"ORMap entry key {mk!r} must be (key, nested class name)")
            ncls = NESTABLE[mk[1]]
            if not isinstance(sub, ncls._kind):
                raise InvariantError(
                    f"ORMap entry {mk!r} holds a {type(sub).__name__}, not a {ncls.__name__}")
            if not same(element(mk[0]), mk[0]):
                raise InvariantError(f"ORMap key {mk[0]!r} is not in canonical form")
            _view(ncls, sub, self._ctx, None)._check_payload()


for _cls in (AWSet, RWSet, MVRegister, EWFlag, DWFlag, CCounter, ORMap):
    NESTABLE[_cls.__name__] = _cls
_NAMES = sorted(NESTABLE)
ORMap._names = _NAMES


class LWWMap(CRDT, Generic[K, V]):
    """Last-writer-wins map: per key, the write (set or remove) with the highest timestamp wins.

    Timestamps come from a hybrid logical clock, ``(wall, logical, replica)``, so ties break by
    replica id and a write made after merging another always wins over it. A remove is a timestamped
    write (a tombstone kept per removed key). Concurrent writes to one key lose all but one value by
    design. Metadata: one timestamp per key. ``set``/``remove`` O(1); merge O(len(other)).

    >>> t = iter(range(1, 1000))
    >>> a = LWWMap("a", clock=HLC("a", time_source=lambda: next(t)))
    >>> b = LWWMap("b", clock=HLC("b", time_source=lambda: next(t)))
    >>> d1 = a.set("color", "red"); d2 = b.set("color", "blue")   # b's write is later
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    ({'color': 'blue'}, True)
    """

    __slots__ = ("_clock", "_entries", "_live")

    def __init__(self, replica: str | None = None, clock: HLC | None = None) -> None:
        self._replica = check_replica(replica)
        self._clock = _clock_for(replica, clock)
        self._entries: dict[Any, tuple[tuple[int, int, str], bool, Any]] = {}
        self._live = 0

    def _write(self, key: Any, present: bool, v: Any, method: str) -> LWWMap[K, V]:
        clock = self._clock
        if clock is None or self._replica is None:
            self._need_replica(method)
        if type(key) is not str:
            key = element(key)
        entry = (clock.tick(), present, v)  # type: ignore[union-attr]
        entries = self._entries
        old = entries.get(key)
        if old is None or not old[1]:
            if present:
                self._live += 1
        elif not present:
            self._live -= 1
        entries[key] = entry
        d = LWWMap.__new__(LWWMap)
        d._replica = None
        d._clock = None
        d._entries = {key: entry}
        d._live = 1 if present else 0
        return d

    def set(self, key: K, v: V) -> LWWMap[K, V]:
        """Write ``key = v``; the delta is that one entry. O(size of v)."""
        tv = type(v)
        if not (tv is str or tv is int or v is None):
            v = value(v)
        return self._write(key, True, v, "set")

    def remove(self, key: K) -> LWWMap[K, V]:
        """Remove ``key`` (a timestamped tombstone that later writes override). O(1)."""
        return self._write(key, False, None, "remove")

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: V | D) -> V | D: ...

    def get(self, key: K, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if it is absent (never written, or removed)."""
        try:
            e = self._entries.get(element(key))
        except TypeError:
            return default
        return thaw(e[2]) if e is not None and e[1] else default

    def __getitem__(self, key: K) -> V:
        e = self._entries.get(element(key))
        if e is None or not e[1]:
            raise KeyError(key)
        return thaw(e[2])

    def __contains__(self, key: object) -> bool:
        try:
            e = self._entries.get(element(key))
        except TypeError:
            return False
        return e is not None and e[1]

    def __len__(self) -> int:
        return self._live

    def __bool__(self) -> bool:
        return self._live > 0

    def keys(self) -> KeysView[K]:
        """The present keys (a snapshot). O(entries)."""
        return {k: None for k, e in self._entries.items() if e[1]}.keys()

    def values(self) -> ValuesView[V]:
        """The present values (a snapshot). O(entries)."""
        return self.value.values()

    def items(self) -> ItemsView[K, V]:
        """``(key, value)`` pairs (a snapshot). O(entries)."""
        return self.value.items()

    def __iter__(self) -> Iterator[K]:
        return iter([k for k, e in self._entries.items() if e[1]])

    def timestamp(self, key: K) -> Timestamp | None:
        """The timestamp of the winning write (set or remove) of ``key``, or None."""
        e = self._entries.get(element(key))
        return None if e is None else Timestamp(*e[0])

    @property
    def value(self) -> dict[K, V]:
        return {k: thaw(e[2]) for k, e in self._entries.items() if e[1]}

    @property
    def clock(self) -> HLC | None:
        return self._clock

    def bind(self, replica: str | None, *, clock: HLC | None = None, policy: Any = None) -> LWWMap[K, V]:
        """A copy bound to ``replica``, stamping its writes with ``clock`` (see :meth:`CRDT.bind`)."""
        _no_option(self, policy=policy)
        c = self.copy(replica=replica)
        _rebind_clock(self, c, clock, (e[0] for e in self._entries.values()))
        return c

    def fresh(self, replica: str | None) -> LWWMap[K, V]:
        """An empty map for ``replica`` whose clock is configured as this one's."""
        return LWWMap(replica, clock=_fresh_clock(self._clock, replica))

    def merge(self, other: LWWMap[K, V]) -> None:
        """Per key, keep the higher timestamp; observe the newest on this replica's clock. O(len(other)).

        Validates first (an equal timestamp with another write is a ConflictingWrite; the clock's drift
        bound): a refused merge changes nothing. Only the keys both maps hold are compared, and among them
        only the entries that are not the same object (after a sync both maps share their entries); the
        rest is C-level dict work (``update``, or a copy when the other map covers this one)."""
        self._check_other(other)
        entries = self._entries
        theirs = other._entries
        if not theirs or other is self:
            return
        clock = self._clock
        newest = max(map(_FIRST, theirs.values()))
        if clock is not None:
            clock.check(newest)
        if entries and len(entries) <= len(theirs) and all(map(is_, entries.values(), map(theirs.get, entries))):
            # theirs holds each of our entries, the same object (as after a sync): the join is theirs
            self._entries = theirs.copy()
            self._live = sum(map(_SECOND, theirs.values()))
        else:
            self._merge_keys(theirs)
        if clock is not None:
            clock.observe(newest)

    def _merge_keys(self, theirs: dict[Any, Any]) -> None:
        """The per-key join (validated first). O(len(theirs)): one C-level lookup of each of their keys, a
        Python step only for the keys both hold whose entries are not the same object."""
        entries = self._entries
        tk = list(theirs)
        tv = list(theirs.values())
        ms: list[Any] = list(map(entries.get, tk))
        win: list[int] = []
        keep: list[int] = []
        live = self._live + sum(map(_SECOND, tv))
        for i in compress(range(len(tk)), ms):  # the keys we hold too (entries are non-empty tuples)
            mine, e = ms[i], tv[i]
            live -= e[1]
            if mine is e:
                continue
            if e[0] > mine[0]:
                win.append(i)
                live += e[1] - mine[1]
            elif e[0] == mine[0] and (mine[1] != e[1] or not same(mine[2], e[2])):
                raise ConflictingWrite(Timestamp(*e[0]), mine[1:], e[1:])
            else:
                keep.append(i)
        if len(keep) < len(tk) // 2:
            entries.update(theirs)
            for i in keep:
                entries[tk[i]] = ms[i]
        else:
            for i in compress(range(len(tk)), map(is_, ms, repeat(None))):
                entries[tk[i]] = tv[i]
            for i in win:
                entries[tk[i]] = tv[i]
        self._live = live

    def __eq__(self, other: object) -> bool:
        if type(other) is not LWWMap:
            return NotImplemented
        mine, theirs = self._entries, other._entries
        return mine == theirs and same_values(mine, theirs, _VALUE)

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = LWWMap.__new__(LWWMap)
        me: LWWMap = self  # type: ignore[assignment]
        if replica is _UNSET or replica == me._replica:
            c._replica, c._clock = me._replica, me._clock
        else:
            c._replica = check_replica(replica)
            c._clock = _clock_for(c._replica, None)
            if c._clock is not None and me._entries:
                c._clock.observe(max(e[0] for e in me._entries.values()))
        c._entries = dict(me._entries)
        c._live = me._live
        return c  # type: ignore[return-value]

    def _of(self, entries: dict[Any, tuple[tuple[int, int, str], bool, Any]]) -> LWWMap[K, V]:
        d = LWWMap.__new__(LWWMap)
        d._replica, d._clock = None, None
        d._entries = entries
        d._live = sum(1 for e in entries.values() if e[1])
        return d

    def delta_for(self, other: LWWMap[K, V]) -> LWWMap[K, V]:
        """The entries whose write beats ``other``'s. O(len(self))."""
        self._check_other(other)
        theirs = other._entries
        out = {}
        for k, e in self._entries.items():
            o = theirs.get(k)
            if o is None or e[0] > o[0]:
                out[k] = e
        return self._of(out)

    def new_origins(self, other: LWWMap[K, V]) -> builtins.set[str] | None:
        mine = self._entries
        return {e[0][2] for k, e in other._entries.items() if k not in mine or e[0] > mine[k][0]}

    def decompose(self) -> list[LWWMap[K, V]]:
        return [self._of({k: e}) for k, e in self._entries.items()]

    def units(self) -> int:
        return len(self._entries)

    def is_bottom(self) -> bool:
        return not self._entries

    def _check(self) -> None:
        """Entries ``(timestamp, present, value)``, canonical keys, tombstones without a value, the live count.
        Column by column (C-level) when every entry is plainly well formed; otherwise key by key, which says
        what is wrong. O(entries)."""
        if self._check_fast():
            return
        self._check_slow()

    def _check_fast(self) -> bool:
        entries = self._entries
        if type(entries) is not dict:
            return False
        ents = list(entries.values())
        if not ents:
            return self._live == 0
        if set(map(type, ents)) != {tuple} or set(map(len, ents)) != {3}:
            return False
        ts = list(map(_FIRST, ents))
        if set(map(type, ts)) != {tuple} or set(map(len, ts)) != {3}:
            return False
        logicals = list(map(_SECOND, ts))
        reps = list(map(_VALUE, ts))
        if set(map(type, map(_FIRST, ts))) != {int} or set(map(type, logicals)) != {int} or min(logicals) < 0 \
                or set(map(type, reps)) != {str} or "" in reps:
            return False
        present = list(map(_SECOND, ents))
        if set(map(type, present)) != {bool} or sum(present) != self._live:
            return False
        if not set(map(type, entries)) <= _CANONICAL_KEYS:
            return False
        return set(map(_VALUE, compress(ents, map(not_, present)))) <= {None}

    def _check_slow(self) -> None:
        live = 0
        for k, (ts, present, v) in self._entries.items():
            _check_ts(ts, f"LWWMap key {k!r}")
            if type(present) is not bool:
                raise InvariantError(f"LWWMap key {k!r}: presence flag must be a bool")
            if not present and v is not None:
                raise InvariantError(f"LWWMap key {k!r}: a tombstone carries no value")
            if not same(element(k), k):
                raise InvariantError(f"LWWMap key {k!r} is not in canonical form")
            live += present
        if live != self._live:
            raise InvariantError(f"LWWMap live count {self._live} != {live}")

    def __repr__(self) -> str:
        return f"LWWMap(replica={self._replica!r}, value={self.value!r})"


# Maps are read-only Mappings (keys, values, items, get, in, len, iteration, m[key]) without inheriting
# Mapping: its __eq__ and __hash__ would replace the lattice equality.
Mapping.register(ORMap)
Mapping.register(LWWMap)
