"""Maps: the observed-remove map of nested causal CRDTs, and the last-writer-wins map."""

from __future__ import annotations

import builtins
from array import array
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from functools import partial
from itertools import chain, compress, islice, repeat
from operator import add, eq, gt, is_, is_not, lt, not_
from typing import Any, ClassVar, Generic, TypeVar, get_origin, overload

from ._base import _UNSET, CRDT, Causal, K, T, V, _no_option, check_replica, element, thaw, value
from .causal import HLC, CausalContext, Timestamp
from .counters import CCounter, GCounter, PNCounter
from .errors import ConflictingWrite, InvariantError
from .flags import DWFlag, EWFlag
from .kernel import DotMap, _eq_decides, copy_store, dots_of, ndots, restrict, same
from .registers import MVRegister, _clock_for, _copy_binding, _fresh_clock, _rebind_clock
from .sets import AWSet, RWSet

__all__ = ["LWWMap", "ORMap"]

N = TypeVar("N", bound=Causal)
D = TypeVar("D")

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
        own = CausalContext._raw({r: made_before} if made_before else {}, {})
        nested = _view(ncls, sub, own, r)
        try:
            fn(nested)
            if own._cl or len(own.vv) > 1 or (own.vv and r not in own.vv):
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


class _Removed:
    """What the value slot of a removed key holds (its tombstone): never a user value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<removed>"


_GONE: Any = _Removed()
#: An empty uint64 column, copied to start new ones (cheaper than building an array).
_Q = array("Q")
#: Value types ``value`` hands out as they are (immutable): others are copied (``thaw``).
_IMMUTABLE_VALUES = frozenset({str, bytes, int, float, bool, type(None)})


def _rix_code(nreps: int) -> str:
    return "B" if nreps <= 0x100 else "H" if nreps <= 0x10000 else "L"


def _rix_zeros(n: int, nreps: int) -> array:
    """A replica-index column of ``n`` zeros, wide enough for a table of ``nreps`` replicas."""
    code = _rix_code(nreps)
    return array(code, bytes(n * array(code).itemsize))


def _gather(col: Any, slots: list[int]) -> list[int] | None:
    return None if col is None else list(map(col.__getitem__, slots))


def _gather_reps(m: LWWMap[Any, Any], slots: list[int]) -> list[str]:
    """The writers of the entries in ``slots`` of ``m``, by name."""
    if m._rix is None:
        return m._reps[:1] * len(slots)
    return list(map(m._reps.__getitem__, map(m._rix.__getitem__, slots)))


def _newest_of(walls: Any, logs: Any, reps: list[str], rix: Any) -> tuple[int, int, str]:
    """The greatest timestamp of non-empty columns: C-level ``max`` of the walls, then the slots at it."""
    if type(walls) is array:
        walls = walls.tolist()  # list scans compare ints C-level; an array's make an int per item
    top = max(walls)
    if logs is None and rix is None:
        return (top, 0, reps[0])
    i = walls.index(top)
    ix = [i] if top not in walls[i + 1:] else list(compress(range(len(walls)), map(eq, walls, repeat(top))))
    return max((top, 0 if logs is None else logs[i], reps[0 if rix is None else rix[i]]) for i in ix)


def _newer(mw: list[int], ml: list[int] | None, mr: list[str], tw: list[int], tl: list[int] | None, tr: list[str],
           pairs: Callable[[list[int]], tuple[list[Any], list[Any], list[Any]]]) -> list[bool]:
    """Per pair of entries (mine, theirs), given as columns: whether theirs is newer. Equal timestamps are
    validated as the same write (``pairs(indexes)`` gives, only then, the keys of those pairs and their values
    in the map being merged into, then in the other map, whichever group each is: a ConflictingWrite names
    them as ``ours`` and ``theirs``). C-level: the walls decide unless equal, and only those pairs are compared
    as ``(wall, logical, replica)`` tuples."""
    win = list(map(gt, tw, mw))
    ties = list(map(eq, tw, mw))
    if any(ties):
        ix = list(compress(range(len(ties)), ties))
        mts = [(mw[i], ml[i] if ml is not None else 0, mr[i]) for i in ix]
        tts = [(tw[i], tl[i] if tl is not None else 0, tr[i]) for i in ix]
        same_ts = list(map(eq, tts, mts))
        if any(same_ts):
            jx = [ix[j] for j in compress(range(len(ix)), same_ts)]
            ks, ours, theirs = pairs(jx)
            _check_same_writes(ks, [mw[i] for i in jx], [0 if ml is None else ml[i] for i in jx],
                               [mr[i] for i in jx], ours, theirs)
        for i, newer in zip(ix, map(gt, tts, mts), strict=True):
            win[i] = newer
    return win


def _present(m: LWWMap[Any, Any], slots: Iterable[int]) -> int:
    """How many of ``m``'s (live) ``slots`` hold a value rather than a tombstone."""
    slots = list(slots)
    if m._live == len(m._pos):
        return len(slots)
    return len(slots) - sum(map(is_, map(m._vals.__getitem__, slots), repeat(_GONE)))


def _same_writers(me: LWWMap[Any, Any], mine: list[int] | None, other: LWWMap[Any, Any], qs: list[int]) -> bool:
    """Whether the writers of ``other``'s slots ``qs`` are those of ours (``mine``: our gathered replica indexes
    in slot order, None for a map with one writer). C-level."""
    if mine is None:
        name = me._reps[0]
        if other._rix is None:
            return other._reps[0] == name
        if name not in other._reps:
            return False
        return list(map(other._rix.__getitem__, qs)).count(other._reps.index(name)) == len(qs)
    return list(map(me._reps.__getitem__, mine)) == _gather_reps(other, qs)


def _same_lists(a: list[Any], b: list[Any]) -> bool:
    """Whether two lists of register values are :func:`same` item by item. C-level for scalars."""
    return a == b and (_eq_decides(a, b) or all(map(same, a, b)))


def _check_same_writes(keys: list[Any], walls: list[int], logs: Any, reps: list[str], mine: list[Any],
                       theirs: list[Any]) -> None:
    """Entries with equal timestamps must be the same write (presence and :func:`same` value), else
    :class:`ConflictingWrite`."""
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        if a is not b and not ((a is _GONE) is (b is _GONE) and (a is _GONE or same(a, b))):
            ts = Timestamp(walls[i], 0 if logs is None else logs[i], reps[i])
            raise ConflictingWrite(ts, _entry(a), _entry(b))


def _entry(v: Any) -> tuple[bool, Any]:
    """``(present, value)`` of a value slot (what the tuple layout stored)."""
    return (False, None) if v is _GONE else (True, v)


class LWWMap(CRDT, Generic[K, V]):
    """Last-writer-wins map: per key, the write (set or remove) with the highest timestamp wins.

    Timestamps come from a hybrid logical clock, ``(wall, logical, replica)``, so ties break by
    replica id and a write made after merging another always wins over it. A remove is a timestamped
    write (a tombstone kept per removed key). Concurrent writes to one key lose all but one value by
    design. Metadata: one timestamp per key. ``set``/``remove`` O(1); merge O(len(other)).

    Layout: columns, no object per key. A dict key -> slot, and per slot the value, the wall time (an
    ``array`` of uint64), the logical counter (``None`` while all are 0) and the writer's index in a small
    replica table (``None`` while there is one writer): about 90 bytes per key besides the key and value
    objects. A local write takes a new slot at the end; a merge puts the other map's slots, as one block,
    after ours (or ours after theirs, when theirs are kept wherever both hold a key). So the dict lists the
    keys in slot order and each writer's slots are in timestamp order (what the wire format wants); a slot
    a key leaves is dead until a compaction, which runs when dead slots outnumber live ones (amortized O(1)
    per write). The order in which a map lists its keys is that of its slots, not part of its value.

    >>> t = iter(range(1, 1000))
    >>> a = LWWMap("a", clock=HLC("a", time_source=lambda: next(t)))
    >>> b = LWWMap("b", clock=HLC("b", time_source=lambda: next(t)))
    >>> d1 = a.set("color", "red"); d2 = b.set("color", "blue")   # b's write is later
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    ({'color': 'blue'}, True)
    """

    __slots__ = ("_alive", "_clock", "_live", "_logs", "_ndead", "_newest", "_pos", "_reps", "_rix", "_vals",
                 "_walls")

    def __init__(self, replica: str | None = None, clock: HLC | None = None) -> None:
        self._replica = check_replica(replica)
        self._clock = _clock_for(replica, clock)
        #: key -> slot; iterating it gives the keys in slot order
        self._pos: dict[Any, int] = {}
        #: per slot: the value (``_GONE`` for a removed key, None in a dead slot)
        self._vals: list[Any] = []
        #: per slot: the wall time
        self._walls: array = _Q.__copy__()
        #: per slot: the logical counter; None while every one is 0
        self._logs: array | None = None
        #: per slot: the writer's index in ``_reps``; None while there is at most one writer
        self._rix: array | None = None
        self._reps: list[str] = []
        #: per slot: 1 live, 0 dead; None while no slot is dead
        self._alive: bytearray | None = None
        self._ndead = 0
        self._live = 0
        self._newest: tuple[int, int, str] | None = None

    # -- slots ----------------------------------------------------------------------------------

    def _ts(self, p: int) -> tuple[int, int, str]:
        logs, rix = self._logs, self._rix
        return (self._walls[p], 0 if logs is None else logs[p], self._reps[0 if rix is None else rix[p]])

    def _rep_ix(self, r: str) -> int:
        """The index of writer ``r`` in the replica table, added if new (the index column is created at the
        second writer and widened past 256 and 65,536). O(replicas)."""
        reps = self._reps
        if r in reps:
            return reps.index(r)
        reps.append(r)
        n = len(reps)
        rix = self._rix
        if n == 2:
            self._rix = _rix_zeros(len(self._vals), n)
        elif rix is not None and _rix_code(n) != rix.typecode:
            self._rix = array(_rix_code(n), rix)
        return n - 1

    def _kill(self, p: int) -> None:
        alive = self._alive
        if alive is None:
            alive = self._alive = bytearray(b"\x01" * len(self._vals))
        alive[p] = 0
        self._vals[p] = None
        self._ndead += 1

    def _append(self, key: Any, ts: tuple[int, int, str], v: Any) -> None:
        """Give ``key`` the entry ``(ts, v)`` in a new slot at the end (its old slot, if any, dies). ``v`` is
        ``_GONE`` for a remove. O(1) (O(replicas) for a writer that is not the table's first)."""
        r = ts[2]
        reps = self._reps
        ix = -1 if reps and reps[0] == r and self._rix is None else self._rep_ix(r)
        pos, vals = self._pos, self._vals
        old = pos.pop(key, None)
        if old is not None:
            if vals[old] is not _GONE:
                self._live -= 1
            self._kill(old)
        p = len(vals)
        pos[key] = p
        vals.append(v)
        self._walls.append(ts[0])
        logs = self._logs
        if ts[1]:
            if logs is None:
                logs = self._logs = array("Q", bytes(8 * p))
            logs.append(ts[1])
        elif logs is not None:
            logs.append(0)
        if ix >= 0 and self._rix is not None:
            self._rix.append(ix)
        if self._alive is not None:
            self._alive.append(1)
        if v is not _GONE:
            self._live += 1

    def _columns(self) -> tuple[list[Any], list[int], list[int] | None, list[str], list[int] | None, list[Any]]:
        """The entries in slot order, as lists: keys, walls, logicals (None: all 0), the replica table, the
        replica indexes (None: all the table's first) and the values. C-level slices, or gathers (of the
        live slots) when some slot is dead. O(size)."""
        keys = list(self._pos)
        logs, rix, alive = self._logs, self._rix, self._alive
        if alive is None:
            return (keys, self._walls.tolist(), None if logs is None else logs.tolist(), self._reps,
                    None if rix is None else rix.tolist(), list(self._vals))
        return (keys, list(compress(self._walls, alive)), None if logs is None else list(compress(logs, alive)),
                self._reps, None if rix is None else list(compress(rix, alive)), list(compress(self._vals, alive)))

    def _load(self, keys: list[Any], walls: list[int], logs: list[int] | None, reps: list[str],
              rix: list[int] | None, vals: list[Any]) -> None:
        """Set the state from columns (as :meth:`_columns` gives them; keys unique, every table entry below
        ``len(reps)``): no dead slot, and a table of only the writers the entries name. O(size)."""
        n = len(keys)
        self._pos = dict(zip(keys, range(n), strict=False))
        self._vals = vals
        self._walls = array("Q", walls)
        self._logs = array("Q", logs) if logs is not None and any(logs) else None
        used = [] if not n else [0] if rix is None else sorted(set(rix))
        if len(used) <= 1:
            self._reps = [reps[used[0]]] if used else []
            self._rix = None
        else:
            if len(used) != len(reps):
                rix = list(map(dict(zip(used, range(len(used)), strict=False)).__getitem__, rix))  # type: ignore[arg-type]
                reps = [reps[i] for i in used]
            self._reps = list(reps)
            col = array(_rix_code(len(reps)))
            col.extend(rix)  # type: ignore[arg-type]
            self._rix = col
        self._alive = None
        self._ndead = 0
        self._live = n - sum(map(is_, vals, repeat(_GONE)))
        self._newest = _newest_of(self._walls, self._logs, self._reps, self._rix) if n else None

    def _maybe_compact(self) -> None:
        """Drop the dead slots once they outnumber the live ones (each compaction is O(size), and follows
        as many kills: amortized O(1))."""
        if self._ndead > 32 and self._ndead > len(self._pos):
            self._load(*self._columns())

    # -- writes ---------------------------------------------------------------------------------

    def _write(self, key: Any, present: bool, v: Any, method: str) -> LWWMap[K, V]:
        clock = self._clock
        if clock is None or self._replica is None:
            self._need_replica(method)
        if type(key) is not str:
            key = element(key)
        ts = clock.tick()  # type: ignore[union-attr]
        if not present:
            v = _GONE
        pos, reps = self._pos, self._reps
        if not ts[1] and self._rix is None and self._logs is None and self._alive is None and len(reps) == 1 \
                and reps[0] == ts[2] and key not in pos:
            # the usual write: a new key, one writer, no logical counter, no dead slot (what _append does)
            vals = self._vals
            pos[key] = len(vals)
            vals.append(v)
            self._walls.append(ts[0])
            if present:
                self._live += 1
        else:
            self._append(key, ts, v)
            if self._ndead > 32:
                self._maybe_compact()
        self._newest = ts  # a tick is later than every timestamp this replica stamped or observed
        d = LWWMap.__new__(LWWMap)
        d._replica = None
        d._clock = None
        d._pos = {key: 0}
        d._vals = [v]
        w = d._walls = _Q.__copy__()
        w.append(ts[0])
        d._logs = array("Q", (ts[1],)) if ts[1] else None
        d._rix = None
        d._reps = [ts[2]]
        d._alive = None
        d._ndead = 0
        d._live = 1 if present else 0
        d._newest = ts
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

    # -- reads ----------------------------------------------------------------------------------

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: V | D) -> V | D: ...

    def get(self, key: K, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if it is absent (never written, or removed)."""
        try:
            p = self._pos.get(element(key))
        except TypeError:
            return default
        if p is None:
            return default
        v = self._vals[p]
        return default if v is _GONE else thaw(v)

    def __getitem__(self, key: K) -> V:
        p = self._pos.get(element(key))
        v = _GONE if p is None else self._vals[p]
        if v is _GONE:
            raise KeyError(key)
        return thaw(v)

    def __contains__(self, key: object) -> bool:
        try:
            p = self._pos.get(element(key))
        except TypeError:
            return False
        return p is not None and self._vals[p] is not _GONE

    def __len__(self) -> int:
        return self._live

    def __bool__(self) -> bool:
        return self._live > 0

    def _present(self) -> list[Any]:
        """The present keys, in slot order. O(entries), C-level."""
        keys = list(self._pos)
        if self._live == len(keys):
            return keys
        return list(compress(keys, map(is_not, map(self._vals.__getitem__, self._pos.values()), repeat(_GONE))))

    def keys(self) -> KeysView[K]:
        """The present keys (a snapshot). O(entries)."""
        return dict.fromkeys(self._present()).keys()

    def values(self) -> ValuesView[V]:
        """The present values (a snapshot). O(entries)."""
        return self.value.values()

    def items(self) -> ItemsView[K, V]:
        """``(key, value)`` pairs (a snapshot). O(entries)."""
        return self.value.items()

    def __iter__(self) -> Iterator[K]:
        return iter(self._present())

    def timestamp(self, key: K) -> Timestamp | None:
        """The timestamp of the winning write (set or remove) of ``key``, or None."""
        p = self._pos.get(element(key))
        return None if p is None else Timestamp(*self._ts(p))

    @property
    def value(self) -> dict[K, V]:
        vals = map(self._vals.__getitem__, self._pos.values())
        if self._live == len(self._pos):
            out = dict(zip(self._pos, vals, strict=False))
        else:
            out = {k: v for k, v in zip(self._pos, vals, strict=False) if v is not _GONE}
        if not set(map(type, out.values())) <= _IMMUTABLE_VALUES:
            out = {k: thaw(v) for k, v in out.items()}
        return out

    @property
    def clock(self) -> HLC | None:
        return self._clock

    def bind(self, replica: str | None, *, clock: HLC | None = None, policy: Any = None) -> LWWMap[K, V]:
        """A copy bound to ``replica``, stamping its writes with ``clock`` (see :meth:`CRDT.bind`)."""
        _no_option(self, policy=policy)
        c = self.copy(replica=replica)
        _rebind_clock(self, c, clock, [] if self._newest is None else [self._newest])
        return c

    def fresh(self, replica: str | None) -> LWWMap[K, V]:
        """An empty map for ``replica`` whose clock is configured as this one's."""
        return LWWMap(replica, clock=_fresh_clock(self._clock, replica))

    # -- merge ----------------------------------------------------------------------------------

    def merge(self, other: LWWMap[K, V]) -> None:
        """Per key, keep the higher timestamp; observe the newest on this replica's clock. O(len(other)).

        Validates first (an equal timestamp with another write is a ConflictingWrite; the clock's drift
        bound): a refused merge changes nothing. Column by column: the keys both maps hold are found by one
        C-level pass of probes (the smaller map's keys, in its order) and compared in C-level passes over
        gathered columns (one equality test per column when their timestamps are all equal, as between maps
        that have synced). A map that holds every key of ours, each entry the same or newer, is copied
        (C-level). A map at least as large as ours, with the newest write, that keeps every key both hold:
        ours go after a copy of theirs, found and added by one C-level ``setdefault`` pass. Otherwise their
        slots are appended as one block (array and list copies), the keys they win move to the end of the key
        dict, and the slots that lost are marked dead (or, when most of theirs would be dead on arrival, only
        the entries we take are gathered)."""
        self._check_other(other)
        theirs = other._pos
        if not theirs or other is self:
            return
        clock = self._clock
        newest = other._newest
        if clock is not None:
            clock.check(newest)  # type: ignore[arg-type]
        mine = self._pos
        if not mine:
            self._take(other)
        elif len(theirs) >= len(mine) and all(map(theirs.__contains__, islice(mine, 16))):
            # they may hold every key of ours (as after a sync): then, entry for entry the same or newer?
            qs = list(map(theirs.get, mine))
            if qs.count(None) == 0 and self._covered_by(other, qs):  # type: ignore[arg-type]
                self._take(other)
            else:
                self._join(other)
        else:
            self._join(other)
        if clock is not None:
            clock.observe(newest)  # type: ignore[arg-type]

    def _take(self, other: LWWMap[K, V]) -> None:
        """Become a copy of ``other``'s state (this map's clock and binding stay). O(size of other), C-level."""
        self._pos = other._pos.copy()
        self._vals = other._vals.copy()
        self._walls = other._walls.__copy__()
        self._logs = None if other._logs is None else other._logs.__copy__()
        self._rix = None if other._rix is None else other._rix.__copy__()
        self._reps = other._reps.copy()
        self._alive = None if other._alive is None else other._alive.copy()
        self._ndead = other._ndead
        self._live = other._live
        self._newest = other._newest

    def _adopt(self, t: LWWMap[K, V]) -> None:
        """Take over the columns of ``t`` (a map built for this one and used no more), without copies."""
        self._pos, self._vals, self._walls, self._logs, self._rix = t._pos, t._vals, t._walls, t._logs, t._rix
        self._reps, self._alive, self._ndead, self._live, self._newest = t._reps, t._alive, t._ndead, t._live, \
            t._newest

    def _covered_by(self, other: LWWMap[K, V], qs: list[int]) -> bool:
        """Whether ``other``, holding every key of ours (at its slots ``qs``, in our slot order), holds each
        entry of ours or a newer one (then the join is ``other``). Validates equal timestamps. O(len(self)).

        After a sync our slots are, in order, one block of theirs (the block a merge appended): then the
        columns are compared as bytes (walls, writers) and by identity (values), all C-level."""
        m = len(qs)
        q0 = qs[0]
        if self._alive is None and qs[-1] - q0 == m - 1 and qs == list(range(q0, q0 + m)) \
                and self._block_is(other, q0):
            return True
        keys, mw, ml, mr, mv = self._rows(None, names=False)
        tw = list(map(other._walls.__getitem__, qs))
        tl = _gather(other._logs, qs)
        tv = list(map(other._vals.__getitem__, qs))
        if mw == tw and ml == tl and _same_writers(self, mr, other, qs):
            if not all(map(is_, mv, tv)):
                _check_same_writes(keys, mw, ml, self._names(mr), mv, tv)
            return True
        mr = self._names(mr)
        return not any(_newer(tw, tl, _gather_reps(other, qs), mw, ml, mr,
                              lambda ix: ([keys[i] for i in ix], [mv[i] for i in ix], [tv[i] for i in ix])))

    def _block_is(self, other: LWWMap[K, V], q0: int) -> bool:
        """Whether ``other``'s slots ``q0 ..`` (as many as ours; no dead slot among ours) hold exactly our
        entries, slot for slot: bytes comparisons of the walls, logicals and writers, identity of the values.
        False may also mean "not decided here"."""
        m = len(self._vals)
        if other._walls[q0:q0 + m].tobytes() != self._walls.tobytes():
            return False
        tl, ml = other._logs, self._logs
        if tl is None:
            if ml is not None:
                return False
        elif (ml.tobytes() if ml is not None else bytes(8 * m)) != tl[q0:q0 + m].tobytes():
            return False
        if self._rix is not None:
            return False  # several writers of ours: left to the general comparison
        name = self._reps[0]
        if other._rix is None:
            if other._reps[0] != name:
                return False
        else:
            if name not in other._reps:
                return False
            i = other._reps.index(name)
            part = other._rix[q0:q0 + m]
            if part.count(i) != m:
                return False
        return all(map(is_, other._vals[q0:q0 + m], self._vals))

    def _names(self, rix: list[int] | None) -> list[str]:
        """Writer names of a gathered replica-index column (None: this map's only writer, for every slot)."""
        if rix is None:
            return self._reps[:1] * len(self._pos)
        return list(map(self._reps.__getitem__, rix))

    def _rows(self, slots: list[int] | None, names: bool = True) -> tuple[list[Any], list[int], list[int] | None,
                                                                        Any, list[Any]]:
        """keys (only for ``slots=None``: all, in slot order), walls, logicals (None: all 0), writers and values
        of the entries at ``slots`` (None: every live slot, in order). Writers by name, or (``names=False``,
        with ``slots=None``) as replica indexes, None for a map with one writer."""
        if slots is None:
            keys = list(self._pos)
            if self._alive is None:
                walls = self._walls.tolist()
                logs = None if self._logs is None else self._logs.tolist()
                rix = None if self._rix is None else self._rix.tolist()
                return keys, walls, logs, self._names(rix) if names else rix, list(self._vals)
            slots = list(self._pos.values())
            if not names:
                return (keys, list(map(self._walls.__getitem__, slots)), _gather(self._logs, slots),
                        _gather(self._rix, slots), list(map(self._vals.__getitem__, slots)))
        else:
            keys = []
        return (keys, list(map(self._walls.__getitem__, slots)), _gather(self._logs, slots), _gather_reps(self, slots),
                list(map(self._vals.__getitem__, slots)))

    def _join(self, other: LWWMap[K, V]) -> None:
        """The general join (``other`` does not hold all of ours, or some of ours are newer)."""
        mine, theirs = self._pos, other._pos
        # both hold entries here (the caller returned on an empty map): neither newest timestamp is None
        theirs_newest = other._newest > self._newest  # type: ignore[operator]
        if len(theirs) >= len(mine) and theirs_newest and self._kept_by(other) and self._join_under(other):
            return
        # the keys both hold, in the order of the smaller dict (one C-level filter of probes of the larger one;
        # an order that follows one side's slots keeps the gathers below close to sequential)
        small, large = (theirs, mine) if len(theirs) <= len(mine) else (mine, theirs)
        ckeys = list(filter(large.__contains__, small))
        if not ckeys:
            self._append_block(other, [], [], [], [])
            return
        ps = list(map(mine.__getitem__, ckeys))
        qs = list(map(theirs.__getitem__, ckeys))
        mw = list(map(self._walls.__getitem__, ps))
        tw = list(map(other._walls.__getitem__, qs))
        ml, tl = _gather(self._logs, ps), _gather(other._logs, qs)
        mr, tr = _gather_reps(self, ps), _gather_reps(other, qs)
        mvals, tvals = self._vals, other._vals
        if mw == tw and ml == tl and mr == tr:  # the same timestamps: the same writes
            mv = list(map(mvals.__getitem__, ps))
            tv = list(map(tvals.__getitem__, qs))
            if not all(map(is_, mv, tv)):
                _check_same_writes(ckeys, mw, ml, mr, mv, tv)
            win = [False] * len(ps)
        else:
            win = _newer(mw, ml, mr, tw, tl, tr, lambda ix: ([ckeys[i] for i in ix], [mvals[ps[i]] for i in ix],
                                                            [tvals[qs[i]] for i in ix]))
        nwin = win.count(True)
        nnew = len(theirs) - len(ps)
        if not nnew and not nwin:
            return  # they hold nothing we lack
        if (len(ps) - nwin) * 2 > len(theirs) + 64:  # most of theirs lose: take only what wins
            self._append_taken(other, ckeys, ps, win)
        else:
            self._append_block(other, ckeys, ps, qs, win)
        self._maybe_compact()

    def _kept_by(self, other: LWWMap[K, V], sample: int = 64) -> bool:
        """A guess, from ``sample`` of our keys spread over the map: whether ``other`` keeps every key both hold
        (False when one of the sampled keys that it holds is newer here). Spares :meth:`_join_under` a pass
        that would be undone when the writes of the two maps are interleaved. O(len(self)) C-level, plus
        O(sample)."""
        mine, theirs = self._pos, other._pos
        for k in islice(mine, 0, None, max(1, len(mine) // sample)):
            q = theirs.get(k)
            if q is not None and self._ts(mine[k]) > other._ts(q):
                return False
        return True

    def _join_under(self, other: LWWMap[K, V]) -> bool:
        """The join as ``other``'s columns followed by ours, when every key both hold is theirs to keep (their
        entry newer or the same): then one C-level pass of ``setdefault`` over our keys, into a copy of their
        key dict, both finds the keys we share and adds the others in our order, after theirs (the dict stays
        in slot order; each side's blocks of slots keep their order, so each writer's slots stay one block in
        timestamp order where they were). False, changing nothing, when
        some entry of ours is newer (the caller joins the general way). For a map at least as large as ours
        with the newest write: typically the first exchange of two regions, the other one written later."""
        t: LWWMap[K, V] = LWWMap.__new__(LWWMap)
        t._take(other)
        pos = t._pos
        m, size = len(t._vals), len(pos)
        mine = self._pos
        slots = range(m, m + len(self._vals)) if self._alive is None else map(add, mine.values(), repeat(m))
        ps: list[int] = []
        if other._alive is None:  # their slots are 0 .. m-1, in the order of their keys
            qs = list(filter(partial(gt, m), map(pos.setdefault, mine, slots)))  # the shared keys' slots (< m)
            if qs:
                ckeys = list(map(list(other._pos).__getitem__, qs))
                ps = list(map(mine.__getitem__, ckeys))
        else:
            res = list(map(pos.setdefault, mine, slots))
            if len(pos) - size != len(mine):  # some keys are shared: their slots (below m) came back
                flags = list(map(lt, res, repeat(m)))
                qs = list(compress(res, flags))
                ps = list(compress(mine.values(), flags))
                ckeys = list(compress(mine, flags))
        if ps:
            tw = list(map(other._walls.__getitem__, qs))
            if min(tw) <= self._newest[0]:  # type: ignore[index]  # not each of theirs newer than all of ours
                mw = list(map(self._walls.__getitem__, ps))
                if min(tw) <= max(mw):  # nor than each of ours it meets, by its wall alone: compare in full
                    mvals, tvals = self._vals, other._vals

                    def pairs(ix: list[int]) -> tuple[list[Any], list[Any], list[Any]]:
                        return [ckeys[i] for i in ix], [mvals[ps[i]] for i in ix], [tvals[qs[i]] for i in ix]

                    if any(_newer(tw, _gather(other._logs, qs), _gather_reps(other, qs),
                                  mw, _gather(self._logs, ps), _gather_reps(self, ps), pairs)):
                        return False
        n0 = t._append_cols(self, None)
        t._live += self._live
        if ps:
            t._live -= _present(self, ps)
            t._kill_all(map(add, ps, repeat(n0)))
        t._newest = other._newest
        self._adopt(t)
        self._maybe_compact()
        return True

    def _append_cols(self, other: LWWMap[K, V], slots: list[int] | None) -> int:
        """Append ``other``'s slots (``None``: all, as a block, dead or live as they are there; else those,
        gathered) to our columns; return the first new slot. Writers new to our table are added."""
        n0 = len(self._vals)
        table = [self._rep_ix(r) for r in other._reps]  # may create (or widen) our replica-index column
        m = len(other._vals) if slots is None else len(slots)
        if slots is None:
            self._vals.extend(other._vals)
            self._walls.extend(other._walls)
        else:
            self._vals.extend(map(other._vals.__getitem__, slots))
            self._walls.extend(map(other._walls.__getitem__, slots))
        logs, their_logs = self._logs, other._logs
        if their_logs is not None:
            if logs is None:
                logs = self._logs = array("Q", bytes(8 * n0))
            logs.extend(their_logs if slots is None else map(their_logs.__getitem__, slots))
        elif logs is not None:
            logs.frombytes(bytes(8 * m))
        rix = self._rix
        if rix is not None:
            their_rix = other._rix
            if their_rix is None:
                rix.extend(array(rix.typecode, table[:1]) * m)
            else:
                src = their_rix if slots is None else array(their_rix.typecode, map(their_rix.__getitem__, slots))
                if table == list(range(len(table))) and src.typecode == rix.typecode:
                    rix.extend(src)
                elif rix.typecode == "B" == src.typecode:
                    rix.frombytes(src.tobytes().translate(bytes(table) + bytes(256 - len(table))))
                else:
                    rix.extend(map(table.__getitem__, src))
        alive = self._alive
        if slots is None and other._alive is not None:
            if alive is None:
                alive = self._alive = bytearray(b"\x01" * n0)
            alive.extend(other._alive)
            self._ndead += other._ndead
        elif alive is not None:
            alive.extend(b"\x01" * m)
        return n0

    def _kill_all(self, slots: Iterable[int]) -> None:
        """Mark ``slots`` (live) dead. Their values stay referenced until the next compaction (a bulk merge
        touches as little of our columns as it can)."""
        alive = self._alive
        if alive is None:
            alive = self._alive = bytearray(b"\x01" * len(self._vals))
        slots = list(slots)
        list(map(alive.__setitem__, slots, repeat(0)))
        self._ndead += len(slots)

    def _append_block(self, other: LWWMap[K, V], ckeys: list[Any], ps: list[int], qs: list[int],
                      win: list[bool]) -> None:
        """Append all of ``other``'s slots; of the keys both hold (``ckeys``, at our ``ps`` and their ``qs``),
        the winner's slot stays (``win``: theirs) and the loser's dies. Their keys move in at the end, in
        their order (those that lost go back to our slots, where they were)."""
        pos, theirs = self._pos, other._pos
        n0 = self._append_cols(other, None)
        live = self._live + other._live
        if ckeys:
            lose = list(map(not_, win))
            wkeys = list(compress(ckeys, win))
            # the losers' values leave the live count, then their slots die
            live -= _present(self, compress(ps, win)) + _present(other, compress(qs, lose))
            self._kill_all(chain(compress(ps, win), map(add, compress(qs, lose), repeat(n0))))
            if wkeys:
                list(map(pos.__delitem__, wkeys))  # they move to the end, where their new slots are
        slots: Any = range(n0, n0 + len(theirs)) if other._alive is None else map(add, theirs.values(), repeat(n0))
        pos.update(zip(theirs, slots, strict=False))
        if ckeys:
            pos.update(zip(compress(ckeys, lose), compress(ps, lose), strict=False))  # back to our slots
        self._live = live
        self._newest = max(self._newest, other._newest)  # type: ignore[type-var]

    def _append_taken(self, other: LWWMap[K, V], ckeys: list[Any], ps: list[int], win: list[bool]) -> None:
        """Append only the entries of ``other`` we take (the keys we lack, and those where it wins: ``win``
        over ``ckeys``, at our slots ``ps``); our slots of the keys it wins die, and the keys move to the end."""
        pos, theirs = self._pos, other._pos
        wkeys = list(compress(ckeys, win))
        self._live -= _present(self, compress(ps, win))
        self._kill_all(compress(ps, win))
        skip = set(compress(ckeys, map(not_, win)))  # their keys that lose: not taken
        take = list(map(not_, map(skip.__contains__, theirs)))
        tq = range(len(theirs)) if other._alive is None else list(theirs.values())
        tkeys = list(compress(theirs, take))
        slots = list(compress(tq, take))
        list(map(pos.__delitem__, wkeys))
        n0 = self._append_cols(other, slots)
        pos.update(zip(tkeys, range(n0, n0 + len(slots)), strict=False))
        self._live += _present(other, slots)
        self._newest = max(self._newest, other._newest)  # type: ignore[type-var]

    # -- lattice --------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not LWWMap:
            return NotImplemented
        if self._pos.keys() != other._pos.keys():
            return False
        if not self._pos:
            return True
        keys, mw, ml, mr, mv = self._rows(None)
        qs = list(map(other._pos.__getitem__, keys))
        _, tw, tl, tr, tv = other._rows(qs)
        if mw != tw or mr != tr or (ml or [0] * len(mw)) != (tl or [0] * len(tw)):
            return False
        if all(map(is_, mv, tv)):
            return True
        if list(map(is_, mv, repeat(_GONE))) != list(map(is_, tv, repeat(_GONE))):
            return False
        return _same_lists([v for v in mv if v is not _GONE], [v for v in tv if v is not _GONE])

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = LWWMap.__new__(LWWMap)
        me: LWWMap = self  # type: ignore[assignment]
        _copy_binding(me, c, replica, me._newest)
        c._take(me)
        return c  # type: ignore[return-value]

    @classmethod
    def _of(cls, entries: dict[Any, tuple[tuple[int, int, str], bool, Any]]) -> LWWMap[K, V]:
        """An unbound map of ``{key: ((wall, logical, replica), present, value)}`` entries (the shape the
        tuple layout stored; for deltas built key by key, and for tests). O(len(entries))."""
        d = cls.__new__(cls)
        d._replica, d._clock = None, None
        keys = list(entries)
        ents = list(entries.values())
        names = sorted({e[0][2] for e in ents})
        ix = {r: i for i, r in enumerate(names)}
        d._load(keys, [e[0][0] for e in ents], [e[0][1] for e in ents], names, [ix[e[0][2]] for e in ents],
                [e[2] if e[1] else _GONE for e in ents])
        return d

    @property
    def _entries(self) -> dict[Any, tuple[tuple[int, int, str], bool, Any]]:
        """``{key: ((wall, logical, replica), present, value)}`` in slot order (a snapshot, for tests and
        tools: the shape of the tuple layout). O(entries)."""
        keys, walls, logs, reps, vals = self._rows(None)
        return {k: ((w, lg, r), v is not _GONE, None if v is _GONE else v)
                for k, w, lg, r, v in zip(keys, walls, logs or repeat(0), reps, vals, strict=False)}

    def _subset(self, keep: list[bool]) -> LWWMap[K, V]:
        """An unbound map of the entries (in slot order) flagged in ``keep``. O(size)."""
        keys, walls, logs, reps, rix, vals = self._columns()
        d = LWWMap.__new__(LWWMap)
        d._replica, d._clock = None, None
        d._load(list(compress(keys, keep)), list(compress(walls, keep)),
                None if logs is None else list(compress(logs, keep)), reps,
                None if rix is None else list(compress(rix, keep)), list(compress(vals, keep)))
        return d

    def delta_for(self, other: LWWMap[K, V]) -> LWWMap[K, V]:
        """The entries whose write beats ``other``'s. O(len(self))."""
        self._check_other(other)
        return self._subset(self._beats(other))

    def _beats(self, other: LWWMap[K, V]) -> list[bool]:
        """Per entry of ours (slot order): whether ``other`` lacks its key or holds an older write of it."""
        keys = list(self._pos)
        os_ = list(map(other._pos.get, keys))
        beat = list(map(is_, os_, repeat(None)))
        common = list(map(not_, beat))
        if any(common):
            ci = list(compress(range(len(keys)), common))
            qs = list(compress(os_, common))
            _, mw, ml, mr, _mv = self._rows(list(compress(self._pos.values(), common)))
            _, tw, tl, tr, _tv = other._rows(qs)  # type: ignore[arg-type]
            mts = list(zip(mw, repeat(0) if ml is None else ml, mr, strict=False))
            tts = list(zip(tw, repeat(0) if tl is None else tl, tr, strict=False))
            for i, newer in zip(ci, map(gt, mts, tts), strict=True):
                beat[i] = newer
        return beat

    def new_origins(self, other: LWWMap[K, V]) -> builtins.set[str] | None:
        beat = other._beats(self)
        if not any(beat):
            return set()
        slots = list(compress(other._pos.values(), beat))
        return set(_gather_reps(other, slots))

    def decompose(self) -> list[LWWMap[K, V]]:
        return [self._of({k: e}) for k, e in self._entries.items()]

    def units(self) -> int:
        return len(self._pos)

    def is_bottom(self) -> bool:
        return not self._pos

    def _check(self) -> None:
        """The columns agree with each other: a slot per key (the dict in slot order), the dead slots exactly
        those no key names, the writer indexes within the table, the live count, the newest timestamp, and
        canonical keys. C-level passes over the columns. O(entries)."""
        pos, vals, walls, logs, rix, reps, alive = (self._pos, self._vals, self._walls, self._logs, self._rix,
                                                   self._reps, self._alive)
        where = "LWWMap"
        if type(pos) is not dict or type(vals) is not list or type(walls) is not array or walls.typecode != "Q":
            raise InvariantError(f"{where}: malformed columns")
        n = len(vals)
        if len(walls) != n or (logs is not None and (type(logs) is not array or logs.typecode != "Q"
                                                    or len(logs) != n)):
            raise InvariantError(f"{where}: columns of different lengths")
        if type(reps) is not list or set(map(type, reps)) - {str} or "" in reps or len(set(reps)) != len(reps):
            raise InvariantError(f"{where}: malformed replica table {reps!r}")
        if rix is None:
            if len(reps) > 1 or (n and not reps):
                raise InvariantError(f"{where}: {len(reps)} writers and no replica-index column")
        elif type(rix) is not array or len(rix) != n or len(reps) < 2 or (n and max(rix) >= len(reps)):
            raise InvariantError(f"{where}: malformed replica-index column")
        ps = list(pos.values())
        if alive is None:  # every slot is live: the slots must be 0, 1, ..., n-1, in the dict's order
            if len(ps) != n or self._ndead or ps != list(range(n)):
                raise InvariantError(f"{where}: key slots are not the slots 0 .. {n - 1} in order")
            live = vals
        else:
            if ps and (set(map(type, ps)) != {int} or ps[0] < 0 or ps[-1] >= n
                       or not all(map(lt, ps, islice(ps, 1, None)))):
                raise InvariantError(f"{where}: key slots are not distinct slots in order")
            if type(alive) is not bytearray or len(alive) != n or alive.count(1) != len(ps) \
                    or not all(map(alive.__getitem__, ps)) or self._ndead != n - len(ps):
                raise InvariantError(f"{where}: the dead-slot marks disagree with the key slots")
            live = list(map(vals.__getitem__, ps))
        if len(ps) - live.count(_GONE) != self._live:
            raise InvariantError(f"{where}: live count {self._live} is wrong")
        if alive is None:
            newest = _newest_of(walls, logs, reps, rix) if n else None
        else:
            newest = _newest_of(list(map(walls.__getitem__, ps)), _gather(logs, ps), reps,
                                _gather(rix, ps)) if ps else None
        if self._newest != newest:
            raise InvariantError(f"{where}: newest timestamp {self._newest} is not {newest}")
        if not set(map(type, pos)) <= _CANONICAL_KEYS:
            for k in pos:
                if not same(element(k), k):
                    raise InvariantError(f"{where} key {k!r} is not in canonical form")

    def __repr__(self) -> str:
        return f"LWWMap(replica={self._replica!r}, value={self.value!r})"


# Maps are read-only Mappings (keys, values, items, get, in, len, iteration, m[key]) without inheriting
# Mapping: its __eq__ and __hash__ would replace the lattice equality.
Mapping.register(ORMap)
Mapping.register(LWWMap)
