"""The dot-store kernel of the delta-CRDT paper: the one causal join that all causal types share.

A causal CRDT's state is a pair *(store, context)*. The store holds the dots that are "live";
the :class:`~crdts.causal.CausalContext` holds every dot the replica has seen. A dot in the context
but not in the store has been removed, so no tombstone is ever kept. Stores are plain Python data:

* **DotSet**: a ``set`` of dots (flags);
* **DotFun**: a ``dict`` dot -> immutable value (registers, the causal counter, remove-wins tokens);
* **DotMap**: a :class:`DotMap`, a ``dict`` key -> nested store, which also keeps an ``index``
  dot -> key so that merging a small delta into a large state touches only the keys the delta names.

The causal join (Almeida, Shoker, Baquero, "Delta State Replicated Data Types", §5) of
``(s1, c1)`` and ``(s2, c2)`` keeps a dot when both stores have it, or when one store has it and
the other side's context has not seen it; DotFun values of common dots must be equal; DotMap joins
per key and drops keys whose result is empty. :func:`join` applies it in place to ``s1``; the
caller joins the contexts afterwards. Cost: O(size of ``s2`` + dots of ``c2`` that ``s1`` holds),
never O(size of ``s1``) unless ``c2`` names more dots than ``s1`` holds (a full state).
:func:`validate` is the check done before any change, so a refused merge changes nothing.

>>> from crdts.causal import CausalContext
>>> s1, c1 = DotMap(), CausalContext()
>>> _ = join(s1, c1, DotMap.of({"x": {("a", 1)}}), CausalContext({"a": 1})); c1.join(CausalContext({"a": 1}))
>>> dict(s1), s1.index
({'x': {('a', 1)}}, {('a', 1): 'x'})
>>> _ = join(s1, c1, DotMap(), CausalContext({"a": 1}))    # a delta that saw ('a', 1) and kept nothing
>>> dict(s1), s1.index
({}, {})
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from itertools import chain, repeat
from math import copysign as _copysign
from typing import Any

from .causal import CausalContext, above, add_dots
from .errors import DoubleSpentDot, InvariantError

__all__ = [
    "DotMap", "DotSetMap", "Store", "candidate_keys", "copy_store", "decompose", "difference", "dots_of",
    "empty_like", "join", "join_into", "merge_into", "ndots",
    "restrict", "same", "same_store", "same_values", "validate",
]

DotT = tuple[str, int]
#: DotSet (``set``) | DotFun (``dict``) | :class:`DotMap`; typed loosely because the kernel dispatches on type.
Store = Any


class DotMap(dict):
    """A dict key -> nested dot store, with ``index``: dot -> key for every dot beneath it.

    Keys whose store is empty are never kept. Equality is that of the dict (the index is derived).
    """

    __slots__ = ("index",)

    def __init__(self) -> None:
        super().__init__()
        self.index: dict[DotT, Hashable] = {}

    @classmethod
    def of(cls, entries: dict[Any, Store]) -> DotMap:
        """Build a DotMap (and its index) from ``{key: store}``; empty stores are skipped."""
        m = cls()
        index = m.index
        for k, s in entries.items():
            if s:
                m[k] = s
                for d in dots_of(s):
                    index[d] = k
        return m

    def copy(self) -> DotMap:
        return copy_store(self)

    def __repr__(self) -> str:
        return f"DotMap({dict.__repr__(self)})"


class DotSetMap:
    """The store of an add-wins set: a DotMap of DotSets (element -> its dots), laid out for bulk work.

    Plain containers, no object per element or per dot:

    * ``elems``: the ``set`` of live elements;
    * ``by``: replica -> ``{counter: element}``, every live dot of that replica (no empty inner dict kept);
    * ``rev``: replica -> ``{element: counter}``, the inverse of ``by[replica]``. The rare element held by
      two or more dots *of one replica* (an add and a later re-add delivered out of causal order) maps to
      the ``tuple`` of its counters, ascending.

    An element's dots are found by probing the replicas' ``rev`` (O(replicas)). Nothing is kept per element
    about which replicas hold it, so a join never has to find the elements both sides hold: taking a
    replica's dots that we have not seen is two C-level dict copies (or updates) and a set union, and an
    element that both sides added concurrently simply ends up in two replicas' dicts. The per-replica
    dicts make "this store holds no dot of replica z" O(1), so a join walks only the live dots of the
    replicas a context names, with C-level dict operations (copies, ``items() <=`` containment,
    ``update``) instead of a Python loop per dot. Equality is that of ``by`` (the other two are derived).
    Memory: a set entry, two dict entries and one int per element held by one dot.

    >>> s = DotSetMap.of({"x": {("a", 1)}, "y": {("a", 2), ("b", 1)}})
    >>> sorted(s.elems), s.by, s.rev
    (['x', 'y'], {'a': {1: 'x', 2: 'y'}, 'b': {1: 'y'}}, {'a': {'x': 1, 'y': 2}, 'b': {'y': 1}})
    >>> sorted(s["y"]), len(s), "x" in s, s.ndots()
    ([('a', 2), ('b', 1)], 2, True, 3)
    """

    __slots__ = ("by", "elems", "rev")

    def __init__(self) -> None:
        self.elems: set[Any] = set()
        self.by: dict[str, dict[int, Any]] = {}
        self.rev: dict[str, dict[Any, Any]] = {}

    @classmethod
    def _one(cls, e: Any, r: str, c: int) -> DotSetMap:
        """The store holding element ``e`` with the one dot ``(r, c)`` (what an add's delta carries). O(1)."""
        s = cls.__new__(cls)
        s.elems = {e}
        s.by = {r: {c: e}}
        s.rev = {r: {e: c}}
        return s

    @classmethod
    def of(cls, entries: Any) -> DotSetMap:
        """Build from ``{element: dots}`` (any iterables of dots); empty entries are skipped. A dot given under
        two elements raises :class:`~crdts.errors.InvariantError`. O(dots)."""
        s = cls()
        for e, dots in entries.items():
            for r, c in dots:
                idx = s.by.get(r)
                if idx is not None and c in idx:
                    raise InvariantError(f"dot {(r, c)!r} given under both {idx[c]!r} and {e!r}")
                _put(s, e, r, c)
        return s

    # -- reads (a Mapping element -> frozenset of dots) ------------------------------------------

    def __len__(self) -> int:
        return len(self.elems)

    def __bool__(self) -> bool:
        return bool(self.elems)

    def __contains__(self, e: object) -> bool:
        return e in self.elems

    def __iter__(self) -> Iterator[Any]:
        return iter(self.elems)

    def keys(self) -> set[Any]:
        """The live elements (the store's own set: read it, do not change it)."""
        return self.elems

    def __getitem__(self, e: Any) -> frozenset[DotT]:
        if e not in self.elems:
            raise KeyError(e)
        return frozenset(_dots_of_elem(self, e))

    def get(self, e: Any, default: Any = None) -> Any:
        return self[e] if e in self.elems else default

    def items(self) -> list[tuple[Any, frozenset[DotT]]]:
        """``(element, dots)`` pairs (a snapshot). O(dots)."""
        out = {e: [] for e in self.elems}  # type: dict[Any, list[DotT]]
        for r, idx in self.by.items():
            for c, e in idx.items():
                out[e].append((r, c))
        return [(e, frozenset(ds)) for e, ds in out.items()]

    def values(self) -> list[frozenset[DotT]]:
        return [ds for _, ds in self.items()]

    @property
    def index(self) -> dict[DotT, Any]:
        """dot -> element for every live dot (a snapshot, for tests and tools). O(dots)."""
        return {(r, c): e for r, idx in self.by.items() for c, e in idx.items()}

    def ndots(self) -> int:
        """How many dots the store holds. O(replicas)."""
        return sum(map(len, self.by.values()))

    def __eq__(self, other: object) -> bool:
        if type(other) is not DotSetMap:
            return NotImplemented
        return self.by == other.by

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> DotSetMap:
        """An independent copy (the set and dicts are copied, C-level). O(size)."""
        c = DotSetMap.__new__(DotSetMap)
        c.elems = self.elems.copy()
        c.by = {r: idx.copy() for r, idx in self.by.items()}
        c.rev = {r: rv.copy() for r, rv in self.rev.items()}
        return c

    def __repr__(self) -> str:
        return f"DotSetMap({dict(self.items())!r})"


class _SetMapDots:
    """The dots of a :class:`DotSetMap`, as a read-only set-like view (``in``, ``len``, iteration)."""

    __slots__ = ("by",)

    def __init__(self, by: dict[str, dict[int, Any]]) -> None:
        self.by = by

    def __iter__(self) -> Iterator[DotT]:
        return chain.from_iterable(map(zip, map(repeat, self.by), self.by.values()))

    def __len__(self) -> int:
        return sum(map(len, self.by.values()))

    def __contains__(self, d: Any) -> bool:
        idx = self.by.get(d[0])
        return idx is not None and d[1] in idx


_MISSING: Any = object()


def _counters(x: Any) -> tuple[int, ...]:
    """The counters a ``rev`` value stands for: an int is one counter, a tuple several."""
    return (x,) if type(x) is int else x


def _with(x: Any, c: int) -> Any:
    """A ``rev`` value (int or tuple of counters) with counter ``c`` added (not already in it)."""
    if x is None:
        return c
    return tuple(sorted((*_counters(x), c)))


def _without(x: Any, c: int) -> Any:
    """A ``rev`` value with counter ``c`` (in it) taken out: None when nothing is left."""
    if type(x) is int:
        return None
    rest = tuple(y for y in x if y != c)
    return rest[0] if len(rest) == 1 else rest


def _dots_of_elem(s: DotSetMap, e: Any) -> list[DotT]:
    """The dots of live element ``e``. O(replicas of the store)."""
    out: list[DotT] = []
    for r, rv in s.rev.items():
        x = rv.get(e)  # never None for a held element: rev values are counters
        if x is not None:
            if type(x) is int:
                out.append((r, x))
            else:
                out.extend(zip(repeat(r), x))
    return out


def _put(s: DotSetMap, e: Any, r: str, c: int) -> None:
    """Add the dot ``(r, c)`` (not in the store) to element ``e``. O(1)."""
    s.elems.add(e)
    idx = s.by.get(r)
    if idx is None:
        s.by[r] = {c: e}
        s.rev[r] = {e: c}
        return
    idx[c] = e
    rv = s.rev[r]
    x = rv.get(e)
    rv[e] = c if x is None else _with(x, c)


def _take(s: DotSetMap, e: Any) -> list[DotT]:
    """Remove element ``e`` and return its dots (``[]`` if absent). O(replicas)."""
    if e not in s.elems:
        return []
    s.elems.discard(e)
    by = s.by
    out: list[DotT] = []
    empty: list[str] = []
    for r, rv in s.rev.items():
        x = rv.pop(e, None)
        if x is None:
            continue
        idx = by[r]
        if type(x) is int:
            del idx[x]
            out.append((r, x))
        else:
            for c in x:
                del idx[c]
            out.extend(zip(repeat(r), x))
        if not rv:
            empty.append(r)
    for r in empty:
        del by[r]
        del s.rev[r]
    return out


def _drop(s: DotSetMap, r: str, cs: Iterable[int]) -> None:
    """Remove the dots ``(r, c)`` for ``c`` in ``cs`` (all held). O(len(cs)): C-level when each of their
    elements held exactly that one dot of ``r``, plus O(replicas) per element to see if another holds it."""
    cs = list(cs)
    by, rev, elems = s.by, s.rev, s.elems
    idx, rv = by[r], rev[r]
    es = list(map(idx.pop, cs))
    if list(map(rv.get, es)) == cs:  # the usual case: one dot of r per element (and no element twice)
        list(map(rv.__delitem__, es))
        if len(rev) == 1:
            elems.difference_update(es)
        else:
            elems.difference_update(set(es).difference(*[o for q, o in rev.items() if q != r]))
    else:
        for c, e in zip(cs, es, strict=True):
            x = _without(rv[e], c)
            if x is not None:
                rv[e] = x
                continue
            del rv[e]
            if not any(e in o for o in rev.values()):
                elems.discard(e)
    if not idx:
        del by[r]
        del rev[r]


def same(a: Any, b: Any) -> bool:
    """Equality that also requires equal types, all the way down (``[1] != [True]`` here, unlike ``==``),
    and floats equal in value and in the sign of zero (``0.0`` is not ``-0.0``): exactly what the wire
    format distinguishes, so two replicas must not merge as one unless they encode alike."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t is float:
        return a == b and (a != 0.0 or _copysign(1.0, a) == _copysign(1.0, b))
    if t is str or t is int or t is bytes:
        return a == b
    if t is list or t is tuple:
        return len(a) == len(b) and all(map(same, a, b))
    if t is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):  # subclasses, e.g. named tuples
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


#: Value types among which ``==`` already is :func:`same` (no bool, float or container, which ``==`` confuses
#: with other types or signs) ...
_EQ_EXACT = frozenset({str, bytes, int, type(None)})
#: ... and among which it is, but for zeros (``0.0 == -0.0``): no int or bool beside the floats.
_EQ_EXACT_BUT_ZERO = frozenset({str, bytes, float, type(None)})


def _eq_decides(v1: Iterable[Any], v2: Iterable[Any]) -> bool:
    """Whether ``==`` between values of ``v1`` and values of ``v2`` (two sides of an equality, paired in any
    order) already decides :func:`same`: every value is a str, bytes, int or None, or every value is a str,
    bytes, float or None and ``v1`` holds no zero. C-speed; False only means "look closer"."""
    vs = list(v1)
    types = set(map(type, vs))
    types.update(map(type, v2))
    return types <= _EQ_EXACT or (types <= _EQ_EXACT_BUT_ZERO and 0.0 not in vs)


def same_values(f1: dict[Any, Any], f2: dict[Any, Any], part: Callable[[Any], Any] | None = None) -> bool:
    """Given ``f1 == f2`` (two dicts with one key set), whether their values are also :func:`same`, key by
    key (of ``part(value)`` if given). O(len(f1)); C-speed when the values are scalars that ``==`` cannot
    confuse (see :func:`_eq_decides`)."""
    if part is None:
        if _eq_decides(f1.values(), f2.values()):
            return True
        return all(same(v, f2[k]) for k, v in f1.items())
    if _eq_decides(map(part, f1.values()), map(part, f2.values())):
        return True
    return all(same(part(v), part(f2[k])) for k, v in f1.items())


def same_store(s1: Store, s2: Store) -> bool:
    """Equality of two dot stores that is exact for DotFun values (:func:`same`: type- and sign-strict, as the
    bytes are), recursing through DotMaps; plain ``==`` would take ``{d: 0.0}`` for ``{d: -0.0}``.
    O(size): one dict/set comparison, then a pass over the DotFuns only if that found them equal."""
    if s1 != s2:
        return False
    return _same_store_values(s1, s2)


def _same_store_values(s1: Store, s2: Store) -> bool:
    t = type(s1)
    if t is dict:
        return same_values(s1, s2)
    if t is set or t is frozenset or t is DotSetMap:  # dots only: == was exact
        return True
    subs = s1.values()
    kinds = set(map(type, subs))
    if kinds == {dict}:  # a DotMap of DotFuns (registers, counters): all their values in one pass first
        values = dict.values
        if _eq_decides(chain.from_iterable(map(values, subs)), chain.from_iterable(map(values, s2.values()))):
            return True
    elif kinds <= {set, frozenset}:
        return True
    return all(type(sub) is set or _same_store_values(sub, s2[k]) for k, sub in s1.items())


def ndots(s: Store) -> int:
    """How many dots a store holds. O(1) (O(replicas) for a DotSetMap)."""
    t = type(s)
    if t is DotSetMap:
        return sum(map(len, s.by.values()))
    if t is set or t is dict or t is frozenset:
        return len(s)
    return len(s.index)


def dots_of(s: Store) -> Iterable[DotT]:
    """The dots held by a store. O(1) to start; DotMap uses its index."""
    t = type(s)
    if t is DotSetMap:
        return _SetMapDots(s.by)
    if t is DotMap or isinstance(s, DotMap):
        return s.index.keys()
    return s if t is set or t is frozenset else s.keys()


def empty_like(s: Store) -> Store:
    """The bottom of the same kind of store."""
    t = type(s)
    if t is set:
        return set()
    if t is dict:
        return {}
    return t()


def copy_store(s: Store) -> Store:
    """A deep copy (dots and DotFun values are immutable, so only containers are copied). O(size)."""
    t = type(s)
    if t is set:
        return set(s)
    if t is dict:
        return dict(s)
    if t is DotSetMap:
        return s.copy()
    m = t()
    for k, sub in s.items():
        dict.__setitem__(m, k, copy_store(sub))
    m.index = dict(s.index)
    return m


def _store_kind(s: Store) -> str:
    t = type(s)
    return "DotSet" if t is set or t is frozenset else "DotFun" if t is dict else "DotMap"


def validate(s1: Store, s2: Store, path: tuple[Any, ...] = ()) -> None:
    """Refuse a join that would break the lattice: kinds must match and no dot may carry two payloads.

    Raises :class:`~crdts.errors.DoubleSpentDot` or :class:`~crdts.errors.InvariantError`; changes nothing.
    O(size of ``s2``).
    """
    t1, t2 = type(s1), type(s2)
    if t1 is DotSetMap and t2 is DotSetMap:
        _validate_setmap(s1, s2, path)
        return
    if t1 is not t2 and not (isinstance(s1, DotMap) and isinstance(s2, DotMap)):
        if not s1 or not s2:
            return
        raise InvariantError(f"cannot join a {_store_kind(s1)} with a {_store_kind(s2)} at {list(path)}")
    if t1 is set or not s1 or not s2:
        return
    if t1 is dict:
        for d, v in s2.items():
            if d in s1:
                w = s1[d]
                if w is not v and not same(w, v):
                    raise DoubleSpentDot(d, w, v)
        return
    idx1, idx2 = s1.index, s2.index
    for d in idx1.keys() & idx2.keys():  # C-speed; iterates the smaller index
        k1, k2 = idx1[d], idx2[d]
        if k1 != k2:
            raise DoubleSpentDot(d, (*path, k1), (*path, k2))
    for k in s1.keys() & s2.keys():
        sub1, sub2 = s1[k], s2[k]
        if type(sub1) is not set or type(sub2) is not set:
            validate(sub1, sub2, (*path, k))


def join(s1: Store, c1: CausalContext, s2: Store, c2: CausalContext) -> tuple[list[DotT], list[DotT]]:
    """Causal join of ``(s2, c2)`` into ``s1`` in place (``c1`` is not changed; join it afterwards).

    ``s2`` is never aliased into ``s1``. Returns ``(added, removed)``: the dots that entered and left
    ``s1``, which DotMap callers use to keep their index. Call :func:`validate` first.
    """
    added: list[DotT] = []
    removed: list[DotT] = []
    _join(s1, c1, s2, c2, added, removed)
    return added, removed


def join_into(s1: Store, c1: CausalContext, s2: Store, c2: CausalContext) -> None:
    """:func:`join` without reporting the dots that moved (what a top-level merge needs): a DotSetMap join
    then builds no per-dot list. Call :func:`validate` first."""
    if type(s1) is DotSetMap:
        _join_setmap(s1, c1, _as_setmap(s2), c2, None, None)
    else:
        _join(s1, c1, s2, c2, [], [])


def merge_into(s1: Store, c1: CausalContext, s2: Store, c2: CausalContext) -> None:
    """:func:`validate` then :func:`join_into`, in place (``c1`` is not changed): what a top-level merge does.
    Raises what :func:`validate` raises, having changed nothing. When ``s2`` covers a DotSetMap ``s1`` (holds
    each of its dots under the same element, and nothing else ``c1`` has seen), the per-replica containment
    test that decides it is also the validation, and the join is a copy of ``s2``: not checked twice."""
    if type(s1) is DotSetMap and type(s2) is DotSetMap and s1.by and _covers(s1, c1, s2):
        _copy_setmap(s1, s2)
        return
    validate(s1, s2)
    if type(s1) is DotSetMap:
        _join_setmap(s1, c1, _as_setmap(s2), c2, None, None, covers=False)
    else:
        _join(s1, c1, s2, c2, [], [])


def _copy_setmap(s1: DotSetMap, s2: DotSetMap) -> None:
    """Make ``s1`` an independent copy of ``s2`` (C-level copies)."""
    s1.elems = s2.elems.copy()
    s1.by = {r: o.copy() for r, o in s2.by.items()}
    s1.rev = {r: o.copy() for r, o in s2.rev.items()}


def _as_setmap(s: Store) -> DotSetMap:
    """``s`` as a DotSetMap: itself, or an empty one for an empty store of another kind (validate refused
    a non-empty one)."""
    return s if type(s) is DotSetMap else DotSetMap.of(dict(s.items()) if s else {})


def _join(s1: Any, c1: CausalContext, s2: Any, c2: CausalContext, added: list[DotT], removed: list[DotT]) -> None:
    t = type(s1)
    if t is set or t is dict:
        _join_flat(s1, c1, s2, c2, added, removed, t is dict)
    elif t is DotSetMap:
        _join_setmap(s1, c1, _as_setmap(s2), c2, added, removed)
    else:
        _join_map(s1, c1, s2, c2, added, removed)


def _replicas(c: CausalContext) -> set[str]:
    rs = set(c.vv)
    rs.update(c._cl)
    return rs


def _common_size(mine: CausalContext, theirs: CausalContext) -> int:
    """How many dots :func:`_common` yields: an upper bound of the dots both contexts hold.
    O(replicas of ``theirs``), plus ``mine``'s scattered dots of those replicas."""
    vv = mine.vv
    n = theirs.cloud_size()
    cl = mine._cl
    for r, k in theirs.vv.items():
        m = vv.get(r, 0)
        n += k if k < m else m
        if cl:
            n += len(cl.get(r, ()))
    return n


def _common(mine: CausalContext, theirs: CausalContext) -> Iterator[DotT]:
    """The dots ``theirs`` names that ``mine`` also holds (a store on ``mine``'s side holds only those), with
    maybe a few more: O(:func:`_common_size`), which is bounded by ``mine``, never by what ``theirs`` claims."""
    vv, cl = mine.vv, mine._cl
    for r, k in theirs.vv.items():
        m = vv.get(r, 0)
        for i in range(1, (k if k < m else m) + 1):
            yield (r, i)
        if cl:
            for c in cl.get(r, ()):
                if c <= k:
                    yield (r, c)
    for r, t in theirs._cl.items():
        m = vv.get(r, 0)
        ours = cl.get(r, ())
        for c in t:
            if c <= m or c in ours:
                yield (r, c)


def _validate_setmap(s1: DotSetMap, s2: DotSetMap, path: tuple[Any, ...]) -> None:
    """No dot held by both stores under two elements. Per replica both hold: one C-level containment test
    (``items() <=``) decides the usual cases; otherwise the common counters' elements are compared. O(size of s2)."""
    by1 = s1.by
    for r, o in s2.by.items():
        m = by1.get(r)
        if m is None:
            continue
        if len(o) <= len(m):
            if o.items() <= m.items():
                continue
        elif m.items() <= o.items():
            continue
        common = list(m.keys() & o.keys())
        if list(map(m.__getitem__, common)) != list(map(o.__getitem__, common)):
            for c in common:
                if m[c] != o[c]:
                    raise DoubleSpentDot((r, c), (*path, m[c]), (*path, o[c]))


def _seen_of(c: CausalContext, r: str) -> tuple[int, Collection[int]]:
    """``(vv entry, scattered counters)`` of replica ``r`` in context ``c``."""
    return c.vv.get(r, 0), c._cl.get(r, ())


def _held_seen(m: dict[int, Any], top: int, cl: Collection[int]) -> Iterable[int]:
    """The counters of ``m`` (one replica's live dots) that a context holding ``1..top`` and ``cl`` has seen.
    O(min(len(m), top + len(cl))): bounded by the live dots, never by the count a context claims."""
    if top + len(cl) < len(m):
        out = [c for c in range(1, top + 1) if c in m]
        out.extend(c for c in cl if c in m)
        return out
    if not cl:
        if max(m) <= top:
            return m.keys()
        return [c for c in m if c <= top]
    cls = cl if isinstance(cl, (set, frozenset)) else set(cl)
    return [c for c in m if c <= top or c in cls]


def _join_setmap(s1: DotSetMap, c1: CausalContext, s2: DotSetMap, c2: CausalContext,
                 added: list[DotT] | None, removed: list[DotT] | None, covers: bool = True) -> None:
    # Replica by replica: drop our dots that c2 saw and s2 lacks, take theirs that c1 has not seen.
    # A store's dots are all in its own context, so a replica a context never names needs no look at all,
    # and one whose dots we hold exactly (``items() <=``, C-level) needs nothing more.
    by1, by2 = s1.by, s2.by
    if added is None and 0 < len(s2.elems) <= 8 and _adds_only(s2, c2):
        # A delta that names only the dots it holds (an add) removes nothing: take what c1 has not seen.
        vv1, cl1 = c1.vv, c1._cl
        for r, run in by2.items():
            held = by1.get(r)
            top = vv1.get(r, 0)
            seen = cl1.get(r, ())
            for c, e in run.items():
                if c > top and (held is None or c not in held) and c not in seen:
                    _put(s1, e, r, c)
        return
    if added is None and not s2.elems and len(c2.vv) + c2.cloud_size() <= 4:
        # A remove delta (what ``remove`` sends): drop the dots it names that we hold, bounded by our live dots
        # of its replicas, never by the counts it claims
        for r, k in c2.vv.items():
            held = by1.get(r)
            if held:
                drop = list(_held_seen(held, k, ()))
                if drop:
                    _drop(s1, r, drop)
        for r, scattered in c2._cl.items():
            held = by1.get(r)
            if not held:
                continue
            if len(scattered) == 1:    # the usual remove: one dot
                for c in scattered:
                    if c in held:
                        _drop(s1, r, (c,))
            else:
                mine = [c for c in scattered if c in held]
                if mine:
                    _drop(s1, r, mine)
        return
    if added is None and by1 and covers and _covers(s1, c1, s2):
        # s1's store is part of s2's and every other dot of s2 is new to c1: the join's store is s2's
        # (the usual case when a replica receives the state of a peer that has merged it). C-level copies.
        _copy_setmap(s1, s2)
        return
    if by1 and (c2.vv or c2._cl):
        gone: list[tuple[str, Iterable[int]]] = []
        for r, m in by1.items():
            top, cl = _seen_of(c2, r)
            if not top and not cl:
                continue  # c2 saw nothing of r: O(1), whatever else it claims
            o = by2.get(r)
            if o is not None and len(o) >= len(m) and m.keys() <= o.keys():
                continue  # they hold every dot of r we hold
            cand = _held_seen(m, top, cl)
            if o:
                cand = [c for c in cand if c not in o]
            if cand:
                gone.append((r, list(cand)))
        for r, cs in gone:
            _drop(s1, r, cs)
            if removed is not None:
                removed.extend(zip(repeat(r), cs))
    for r, o in by2.items():
        mm = by1.get(r)
        top, cl = _seen_of(c1, r)
        if not top and not cl:
            new: Any = o  # we have seen nothing of r (so hold none of it): all theirs are new
        else:
            if mm is not None and len(mm) >= len(o) and o.keys() <= mm.keys():
                continue  # we hold every dot of r they hold
            # set.difference iterates its left side only (``keys() - keys()`` walks the right one): O(len(o))
            lack = set(o).difference(mm) if mm else o.keys()
            if not lack:
                continue
            if not cl and min(lack) > top:
                new = lack
            else:
                cls = cl if isinstance(cl, (set, frozenset)) else set(cl)
                new = [c for c in lack if c > top and c not in cls]
            if not new:
                continue
        _add_run(s1, r, o if new is o or len(new) == len(o) else {c: o[c] for c in new}, s2)
        if added is not None:
            added.extend(zip(repeat(r), new))


def _adds_only(s: DotSetMap, c: CausalContext) -> bool:
    """Whether context ``c`` names exactly the dots store ``s`` holds (a small delta). O(replicas + dots of s)."""
    n = s.ndots()
    if sum(c.vv.values()) + c.cloud_size() != n:
        return False
    by = s.by
    for r, k in c.vv.items():
        m = by.get(r)
        if m is None or len(m) < k or not all(map(m.__contains__, range(1, k + 1))):
            return False
    for r, cs in c._cl.items():
        m = by.get(r)
        if m is None or not all(map(m.__contains__, cs)):
            return False
    return True


def _covers(s1: DotSetMap, c1: CausalContext, s2: DotSetMap) -> bool:
    """Whether s2 holds every dot of s1 under the same element, and c1 has seen none of s2's other dots
    (then s1 ⊔ s2 has s2's store). C-level per replica; False may also mean "not decided cheaply".
    O(size of s1 + replicas)."""
    by2 = s2.by
    if len(s2.elems) < len(s1.elems):
        return False
    for r, m in s1.by.items():
        o = by2.get(r)
        if o is None or len(o) < len(m) or not m.items() <= o.items():
            return False
    for r, o in by2.items():
        mm = s1.by.get(r)
        if mm is not None and len(mm) == len(o):
            continue
        top, cl = _seen_of(c1, r)
        if not top and not cl:
            continue
        if cl or min(set(o).difference(mm) if mm else o.keys()) <= top:
            return False
    return True


def _add_run(s: DotSetMap, r: str, src: dict[int, Any], other: DotSetMap) -> None:
    """Add the dots ``(r, c) -> e`` of ``src`` (none held by ``s``) to ``s``: C-level copies or updates of the
    replica's two dicts and a set union; the elements that already hold a dot of ``r`` here (rare) are fixed
    one by one. ``src`` is not aliased."""
    whole = src is other.by.get(r)
    inv: dict[Any, Any]
    if whole:
        inv = other.rev[r]  # the exact inverse of src (tuples included)
    else:
        inv = dict(zip(src.values(), src.keys(), strict=False))
        if len(inv) != len(src):  # an element with two dots of r in src: one dot at a time
            for c, e in src.items():
                _put(s, e, r, c)
            return
    m = s.by.get(r)
    if m is None:
        s.by[r] = src.copy()
        s.rev[r] = inv.copy() if whole else inv
    else:
        rv = s.rev[r]
        both = rv.keys() & inv.keys()
        olds = [(e, rv[e]) for e in both]
        m.update(src)
        rv.update(inv)
        for e, x in olds:
            for c in _counters(inv[e]):
                x = _with(x, c)
            rv[e] = x
    if whole and len(other.by) == 1:
        s.elems |= other.elems
    else:
        s.elems.update(inv)


def _join_flat(s1: Any, c1: CausalContext, s2: Any, c2: CausalContext,
               added: list[DotT], removed: list[DotT], fun: bool) -> None:
    # DotSet / DotFun: keep common dots, drop ours that c2 saw and s2 lacks, take theirs that c1 has not seen.
    if s1:
        seen2 = c2.contains
        gone = [d for d in s1 if d not in s2 and seen2(d)]
        if gone:
            if fun:
                for d in gone:
                    del s1[d]
            else:
                s1.difference_update(gone)
            removed.extend(gone)
    if s2:
        seen1 = c1.contains
        for d in s2:
            if d not in s1 and not seen1(d):
                if fun:
                    s1[d] = s2[d]
                else:
                    s1.add(d)
                added.append(d)


def candidate_keys(s1: DotMap, s2: DotMap, c2: CausalContext, c1: CausalContext | None = None) -> Iterable[Any]:
    """Keys of ``s1`` that the join may change: those of ``s2`` and those holding dots that ``c2`` saw.

    ``c1`` (``s1``'s context) bounds the work by what both sides have seen, never by what ``c2`` claims."""
    index = s1.index
    if not index:
        return s2.keys()
    keys = set(s2.keys())
    vv2, cl2 = c2.vv, c2._cl
    if c1 is not None and _common_size(c1, c2) <= len(index):
        get = index.get
        for d in _common(c1, c2):
            k = get(d, keys)
            if k is not keys:
                keys.add(k)
    elif c1 is None and c2.size() <= len(index):
        # Enumerate what c2 saw (small: a delta) and look each dot up.
        get = index.get
        for r, n in vv2.items():
            for i in range(1, n + 1):
                k = get((r, i), keys)
                if k is not keys:
                    keys.add(k)
        for d in c2.cloud_dots():
            k = get(d, keys)
            if k is not keys:
                keys.add(k)
    else:
        # c2 is large (a full state): scan our own dots instead.
        for d, k in index.items():
            if d[1] <= vv2.get(d[0], 0) or (cl2 and d[1] in cl2.get(d[0], ())):
                keys.add(k)
    return keys


def _join_map(s1: DotMap, c1: CausalContext, s2: DotMap, c2: CausalContext,
              added: list[DotT], removed: list[DotT]) -> None:
    index = s1.index
    seen1, seen2 = c1.contains, c2.contains
    for k in candidate_keys(s1, s2, c2, c1):
        sub1 = s1.get(k)
        sub2 = s2.get(k)
        if sub1 is None:
            # Only theirs: keep what we have not seen.
            if type(sub2) is set:
                new = {d for d in sub2 if not seen1(d)}
                if new:
                    s1[k] = new
                    for d in new:
                        index[d] = k
                    added.extend(new)
                continue
            sub1 = empty_like(sub2)
            a: list[DotT] = []
            _join(sub1, c1, sub2, c2, a, removed)
            if sub1:
                s1[k] = sub1
                for d in a:
                    index[d] = k
                added.extend(a)
            continue
        if sub2 is None:
            if type(sub1) is set:
                gone = [d for d in sub1 if seen2(d)]
                if gone:
                    sub1.difference_update(gone)
                    for d in gone:
                        del index[d]
                    removed.extend(gone)
                    if not sub1:
                        del s1[k]
                continue
            sub2 = empty_like(sub1)
        a = []
        r: list[DotT] = []
        _join(sub1, c1, sub2, c2, a, r)
        for d in r:
            del index[d]
        for d in a:
            index[d] = k
        added.extend(a)
        removed.extend(r)
        if not sub1:
            del s1[k]


def check_store(s: Store, ctx: CausalContext, path: tuple[Any, ...] = ()) -> int:
    """Invariants of a store: every dot in ``ctx``; no empty nested store; DotMap index exact.

    Returns the number of dots. Raises :class:`~crdts.errors.InvariantError`.
    """
    t = type(s)
    if t is DotSetMap:
        return _check_setmap(s, ctx, path)
    if t is set or t is dict or t is frozenset:
        for d in s:
            if type(d) is not tuple or len(d) != 2 or type(d[0]) is not str \
                    or type(d[1]) is not int or d[1] < 1:
                raise InvariantError(f"bad dot {d!r} at {list(path)}")
            if not ctx.contains(d):
                raise InvariantError(f"dot {d!r} at {list(path)} is not in the causal context")
        return len(s)
    if not isinstance(s, DotMap):
        raise InvariantError(f"not a dot store at {list(path)}: {type(s).__name__}")
    seen: dict[DotT, Any] = {}
    for k, sub in s.items():
        if not sub:
            raise InvariantError(f"empty nested store kept at {[*path, k]}")
        check_store(sub, ctx, (*path, k))
        for d in dots_of(sub):
            if d in seen:
                raise InvariantError(f"dot {d!r} appears under both {seen[d]!r} and {k!r} at {list(path)}")
            seen[d] = k
    if seen != s.index:
        raise InvariantError(f"DotMap index out of date at {list(path)}")
    return len(seen)


def _check_setmap(s: DotSetMap, ctx: CausalContext, path: tuple[Any, ...]) -> int:
    """Invariants of a DotSetMap: plain dots within ``ctx``; ``rev`` is exactly the inverse of ``by``, replica
    by replica; ``elems`` is exactly the union of their elements. Every check is a C-level pass that reads
    the dicts in their own order (the set is only probed), so it costs a few sequential passes, not a
    rebuild; a replica holding an element by several dots takes a Python loop. Returns the number of dots."""
    by, rev, elems = s.by, s.rev, s.elems
    if type(by) is not dict or type(rev) is not dict or type(elems) is not set:
        raise InvariantError(f"DotSetMap parts must be two dicts and a set at {list(path)}")
    if by.keys() != rev.keys():
        raise InvariantError(f"DotSetMap index out of date at {list(path)}: replicas differ")
    vv, cl = ctx.vv, ctx._cl
    n = pairs = 0
    for r, idx in by.items():
        rv = rev[r]
        if type(r) is not str or not r or type(idx) is not dict or not idx or type(rv) is not dict:
            raise InvariantError(f"bad replica entry {r!r} at {list(path)}")
        cs = list(idx)
        if set(map(type, cs)) != {int} or min(cs) < 1:
            raise InvariantError(f"bad dot counter of {r!r} at {list(path)}")
        top = vv.get(r, 0)
        if max(cs) > top:
            seen = cl.get(r, ())
            for c in cs:
                if c > top and c not in seen:
                    raise InvariantError(f"dot {(r, c)!r} at {list(path)} is not in the causal context")
        # rev[r] maps each of its elements to a counter that by[r] maps back to it, and is as long: a bijection
        if len(rv) != len(idx) or list(map(idx.get, rv.values())) != list(rv):
            inv: dict[Any, Any] = {}
            for c, e in idx.items():
                inv[e] = _with(inv.get(e), c)
            if inv != rv or set(map(type, rv.values())) - {int, tuple}:
                raise InvariantError(f"DotSetMap index out of date at {list(path)}: replica {r!r}")
        if not elems.issuperset(rv):
            raise InvariantError(f"DotSetMap elements out of date at {list(path)}: an element of {r!r} is missing")
        n += len(cs)
        pairs += len(rv)
    # every element of every replica is in elems; elems holds no other: its size is that of their union
    union = pairs
    if len(rev) == 2:
        r0, r1 = rev.values()
        union -= len(r0.keys() & r1.keys())  # C-level: probes the larger with the smaller's elements
    elif len(rev) > 2:
        union = len(set().union(*rev.values()))
    if union != len(elems):
        raise InvariantError(f"DotSetMap elements out of date at {list(path)}: an element without a dot")
    return n


# --- join decomposition (Enes et al., "Efficient Synchronization of State-based CRDTs") -------------


def restrict(s: Store, keep: Collection[DotT]) -> Store:
    """A new store holding only the dots of ``s`` that are in ``keep`` (and their keys and values).

    Cost: O(len(keep)) through the index when ``keep`` is smaller than ``s``, else O(size of s).
    """
    t = type(s)
    if t is set or t is frozenset:
        return t(d for d in keep if d in s) if len(keep) < len(s) else t(d for d in s if d in keep)
    if t is dict:
        if len(keep) < len(s):
            return {d: s[d] for d in keep if d in s}
        return {d: v for d, v in s.items() if d in keep}
    if t is DotSetMap:
        return _restrict_setmap(s, keep)
    out = t()
    idx = s.index
    keys: Iterable[Any] = {idx[d] for d in keep if d in idx} if len(keep) < len(idx) else list(s.keys())
    oidx = out.index
    for k in keys:
        r = restrict(s[k], keep)
        if r:
            dict.__setitem__(out, k, r)
            for d in dots_of(r):
                oidx[d] = k
    return out


def _restrict_setmap(s: DotSetMap, keep: Collection[DotT]) -> DotSetMap:
    by = s.by
    out = DotSetMap()
    if len(keep) < s.ndots():
        for d in keep:
            m = by.get(d[0])
            if m is not None:
                e = m.get(d[1], _MISSING)
                if e is not _MISSING:
                    _put(out, e, d[0], d[1])
        return out
    for r, m in by.items():
        for c, e in m.items():
            if (r, c) in keep:
                _put(out, e, r, c)
    return out


def _context_minus(ca: CausalContext, cb: CausalContext,
                   budget: int) -> tuple[dict[str, int], dict[str, set[int]]]:
    """A context holding at least the dots of ``ca`` that ``cb`` lacks, and no dot ``ca`` lacks.

    Returned as ``(prefixes, counters)``: ``prefixes[r] = n`` stands for the dots 1..n of ``r`` (all in
    ``ca``), ``counters[r]`` for single dots of ``r`` (never an empty set). A missing range is listed dot by
    dot while ``budget`` lasts (exact), and past it widened to the whole prefix 1..n of its replica (O(1),
    with dots ``cb`` may have). So the cost is O(budget + replicas + ``ca``'s cloud), never O(a count ``ca``
    claims); each replica's part is built by C-level set operations.
    """
    vvb, clb = cb.vv, cb._cl
    prefixes: dict[str, int] = {}
    out: dict[str, set[int]] = {}
    for r, n in ca.vv.items():
        m = vvb.get(r, 0)
        if n <= m:
            continue
        if n - m > budget:
            prefixes[r] = n
            continue
        budget -= n - m
        new = set(range(m + 1, n + 1))
        theirs = clb.get(r)
        if theirs:
            new -= theirs
        if new:
            out[r] = new
    for r, t in ca._cl.items():
        m = vvb.get(r, 0)
        new = above(t, m)
        theirs = clb.get(r)
        if theirs:
            new -= theirs
        if new:
            mine = out.get(r)
            if mine is None:
                out[r] = new
            else:
                mine |= new
    return prefixes, out


def difference(sa: Store, ca: CausalContext, sb: Store, cb: CausalContext) -> tuple[Store, CausalContext]:
    """Δ(a, b): a ``(store, context)`` whose join with ``b`` equals ``b ⊔ a``, and that is below ``a``.

    The join-irreducibles of a causal state are its live dots ``({d ↦ payload}, {d})`` and its removed
    dots ``(⊥, {d})``. A live dot is new to ``b`` unless ``b``'s context has it; a removed dot matters to
    ``b`` unless ``b`` has seen it and no longer holds it. The result is that optimal delta, except where
    a long run of ``a``'s events lies above ``b``'s version vector entry: that run is sent as ``a``'s whole
    prefix of the replica (with ``a``'s live dots in it), which is still correct (any context ``c ⊆ a``'s
    with ``a``'s store restricted to it is below ``a``) and keeps the cost bounded by the message.
    Cost: O(size of a's store + a's cloud + replicas + min(dots of a's context, dots of b's store)): for a
    received delta, O(delta), whatever counts its context claims.
    """
    dots_a = dots_of(sa)
    live_new = {d for d in dots_a if not cb.contains(d)}
    prefixes, seen = _context_minus(ca, cb, len(live_new) + ca.cloud_size() + 64)
    add_dots(seen, live_new)
    keep: Collection[DotT] = live_new
    if prefixes:  # a's live dots inside a prefix go with it (b may hold some: harmless, see above)
        keep = live_new | {d for d in dots_a if d[0] in prefixes}
    dots_b = dots_of(sb)
    if type(sb) is DotSetMap:
        # per replica ca names: only the live dots of those replicas, never the counts ca claims
        for r in _replicas(ca):
            m = sb.by.get(r)
            if m:
                top, cl = _seen_of(ca, r)
                add_dots(seen, (d for d in zip(repeat(r), _held_seen(m, top, cl)) if d not in dots_a))
    elif _common_size(cb, ca) <= len(dots_b):  # type: ignore[arg-type]
        add_dots(seen, (d for d in _common(cb, ca) if d in dots_b and d not in dots_a))
    else:
        add_dots(seen, (d for d in dots_b if ca.contains(d) and d not in dots_a))
    ctx = CausalContext._raw({}, seen)
    ctx.compact()
    if prefixes:
        ctx.join(CausalContext(prefixes))
    return restrict(sa, keep), ctx


def decompose(s: Store, c: CausalContext) -> list[tuple[Store, CausalContext]]:
    """The irredundant join decomposition: one ``(store, {d})`` per live dot, one ``(⊥, {d})`` per removed dot.

    O(dots of the context): meant for tests and analysis, not for hot paths.
    """
    dots = dots_of(s)
    out = [(restrict(s, {d}), CausalContext._of_dots({d})) for d in dots]
    out.extend((empty_like(s), CausalContext._of_dots({d})) for d in c.dots() if d not in dots)
    return out
