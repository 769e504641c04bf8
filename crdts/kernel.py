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
from itertools import chain, compress, repeat
from math import copysign as _copysign
from operator import gt, itemgetter
from typing import Any

from .causal import CausalContext
from .errors import DoubleSpentDot, InvariantError

__all__ = [
    "DotMap", "DotSetMap", "Store", "candidate_keys", "copy_store", "decompose", "difference", "dots_of",
    "empty_like", "join",
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


class DotSetMap(DotMap):
    """A :class:`DotMap` whose values are all DotSets, held as ``frozenset`` (the store of an add-wins set).

    Each dot lives under exactly one key, so the join works on dots directly through the indexes, with
    C-speed set operations on the index views for full-state merges. The DotSets are immutable, so
    copies and joins share them instead of copying.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"DotSetMap({dict.__repr__(self)})"


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


def dots_of(s: Store) -> Iterable[DotT]:
    """The dots held by a store. O(1) to start; DotMap uses its index."""
    if type(s) is DotMap or isinstance(s, DotMap):
        return s.index.keys()
    t = type(s)
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
    m = t()
    if t is DotSetMap:
        dict.update(m, s)  # frozensets: shared
    else:
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
    if t1 is DotSetMap:
        return
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


def _join(s1: Any, c1: CausalContext, s2: Any, c2: CausalContext, added: list[DotT], removed: list[DotT]) -> None:
    t = type(s1)
    if t is set or t is dict:
        _join_flat(s1, c1, s2, c2, added, removed, t is dict)
    elif t is DotSetMap:
        _join_setmap(s1, c1, s2, c2, added, removed)
    else:
        _join_map(s1, c1, s2, c2, added, removed)


def _replicas(c: CausalContext) -> set[str]:
    rs = set(c.vv)
    for d in c.cloud:
        rs.add(d[0])
    return rs


def _common_size(mine: CausalContext, theirs: CausalContext) -> int:
    """How many dots :func:`_common` yields: an upper bound of the dots both contexts hold.
    O(replicas of ``theirs``), plus ``mine``'s scattered dots of those replicas."""
    vv = mine.vv
    n = len(theirs.cloud)
    of = mine._cloud_of if mine.cloud else None
    for r, k in theirs.vv.items():
        m = vv.get(r, 0)
        n += k if k < m else m
        if of is not None:
            n += len(of(r))  # type: ignore[arg-type]
    return n


def _common(mine: CausalContext, theirs: CausalContext) -> Iterator[DotT]:
    """The dots ``theirs`` names that ``mine`` also holds (a store on ``mine``'s side holds only those), with
    maybe a few more: O(:func:`_common_size`), which is bounded by ``mine``, never by what ``theirs`` claims."""
    vv, cloud = mine.vv, mine.cloud
    tvv, tcloud = theirs.vv, theirs.cloud
    for r, k in tvv.items():
        m = vv.get(r, 0)
        for i in range(1, (k if k < m else m) + 1):
            yield (r, i)
        if cloud:
            for c in mine._cloud_of(r):
                if c <= k:
                    yield (r, c)
    for d in tcloud:
        if d[1] <= vv.get(d[0], 0) or d in cloud:
            yield d


def _join_setmap(s1: DotSetMap, c1: CausalContext, s2: DotMap, c2: CausalContext,
                 added: list[DotT], removed: list[DotT]) -> None:
    # Every dot sits under one key, so the per-key DotSet join is a join of the dot indexes.
    # A store's dots are all in its own context, so a side whose context names none of the other's
    # replicas can neither remove nor re-see any of the other's dots: those scans are skipped.
    idx1, idx2 = s1.index, s2.index
    vv1, cloud1 = c1.vv, c1.cloud
    vv2, cloud2 = c2.vv, c2.cloud
    if not idx1:
        gone: Iterable[DotT] = ()
    elif _common_size(c1, c2) <= len(idx1):
        # A delta (or a claim about replicas we hardly know): look up the dots both contexts hold.
        gone = [d for d in _common(c1, c2) if d in idx1 and d not in idx2]
    else:
        # A full state: scan our dots that they lack.
        gone = [d for d in idx1.keys() - idx2.keys() if d[1] <= vv2.get(d[0], 0) or d in cloud2]
    if gone:
        pop = idx1.pop
        for d in gone:
            k = pop(d)
            sub = s1[k] - {d}
            if sub:
                s1[k] = sub
            else:
                del s1[k]
        removed.extend(gone)
    if not idx2:
        return
    small = len(idx2) <= 8
    # set.difference with an exact dict iterates the left side only: O(len(idx2)), never O(len(idx1)).
    lacking: Collection[DotT] = [d for d in idx2 if d not in idx1] if small else set(idx2).difference(idx1)
    if not small and _replicas(c1).isdisjoint(_replicas(c2)):
        new: Collection[DotT] = lacking  # c1 has seen none of their replicas' dots
    else:
        new = [d for d in lacking if d[1] > vv1.get(d[0], 0) and d not in cloud1]
    if not new:
        return
    get = s1.get
    if small:
        for d in new:
            k = idx2[d]
            s1[k] = get(k, _EMPTY) | {d}
            idx1[d] = k
    else:
        new_set = new if isinstance(new, set) else set(new)
        common = s1.keys() & s2.keys()
        for k in common:
            mine = s1[k]
            extra = s2[k] & new_set
            if extra:
                s1[k] = mine | extra
        if len(new) == len(lacking):
            # Every dot of theirs that we lack is new: keys we lack take their (immutable) DotSet as is.
            dict.update(s1, {k: v for k, v in s2.items() if k not in common})
        else:
            for k, v in s2.items():
                if k not in common:
                    v = v & new_set
                    if v:
                        s1[k] = v
        idx1.update({d: idx2[d] for d in new})
    added.extend(new)


_EMPTY: frozenset[DotT] = frozenset()


def _join_flat(s1: Any, c1: CausalContext, s2: Any, c2: CausalContext,
               added: list[DotT], removed: list[DotT], fun: bool) -> None:
    # DotSet / DotFun: keep common dots, drop ours that c2 saw and s2 lacks, take theirs that c1 has not seen.
    if s1:
        vv2, cloud2 = c2.vv, c2.cloud
        gone = [d for d in s1 if d not in s2 and (d[1] <= vv2.get(d[0], 0) or d in cloud2)]
        if gone:
            if fun:
                for d in gone:
                    del s1[d]
            else:
                s1.difference_update(gone)
            removed.extend(gone)
    if s2:
        vv1, cloud1 = c1.vv, c1.cloud
        for d in s2:
            if d not in s1 and d[1] > vv1.get(d[0], 0) and d not in cloud1:
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
    vv2, cloud2 = c2.vv, c2.cloud
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
        for d in cloud2:
            k = get(d, keys)
            if k is not keys:
                keys.add(k)
    else:
        # c2 is large (a full state): scan our own dots instead.
        for d, k in index.items():
            if d[1] <= vv2.get(d[0], 0) or d in cloud2:
                keys.add(k)
    return keys


def _join_map(s1: DotMap, c1: CausalContext, s2: DotMap, c2: CausalContext,
              added: list[DotT], removed: list[DotT]) -> None:
    index = s1.index
    vv1, cloud1 = c1.vv, c1.cloud
    vv2, cloud2 = c2.vv, c2.cloud
    for k in candidate_keys(s1, s2, c2, c1):
        sub1 = s1.get(k)
        sub2 = s2.get(k)
        if sub1 is None:
            # Only theirs: keep what we have not seen.
            if type(sub2) is set:
                new = {d for d in sub2 if d[1] > vv1.get(d[0], 0) and d not in cloud1}
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
                gone = [d for d in sub1 if d[1] <= vv2.get(d[0], 0) or d in cloud2]
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
    if t is DotSetMap and _check_setmap_fast(s, ctx):
        return len(s.index)
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


def _check_setmap_fast(s: DotSetMap, ctx: CausalContext) -> bool:
    """True if a DotSetMap meets every invariant :func:`check_store` checks, found without a per-dot Python
    loop (C-level map/set/zip); False sends the caller to the slow path, which says what is wrong."""
    subs = list(s.values())
    index = s.index
    if not subs:
        return not index
    if set(map(type, subs)) != {frozenset} or not all(subs):
        return False
    dots = list(chain.from_iterable(subs))
    if len(dots) != len(index):
        return False
    if len(dots) == len(subs):  # one dot per key: the usual case
        if list(map(index.get, dots)) != list(s.keys()):
            return False
    elif dict(zip(dots, chain.from_iterable(map(repeat, s.keys(), map(len, subs))), strict=True)) != index:
        return False
    if set(map(type, dots)) != {tuple} or set(map(len, dots)) != {2}:
        return False
    reps = list(map(itemgetter(0), dots))
    counters = list(map(itemgetter(1), dots))
    if set(map(type, reps)) != {str} or set(map(type, counters)) != {int} or min(counters) < 1:
        return False
    beyond = list(map(gt, counters, map(ctx.vv.get, reps, repeat(0))))
    return not any(beyond) or all(map(ctx.cloud.__contains__, compress(dots, beyond)))


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


def _context_minus(ca: CausalContext, cb: CausalContext, budget: int) -> tuple[dict[str, int], set[DotT]]:
    """A context holding at least the dots of ``ca`` that ``cb`` lacks, and no dot ``ca`` lacks.

    Returned as ``(prefixes, dots)``: ``prefixes[r] = n`` stands for the dots 1..n of ``r`` (all in ``ca``).
    A missing range is listed dot by dot while ``budget`` lasts (exact), and past it widened to the whole
    prefix 1..n of its replica (O(1), with dots ``cb`` may have). So the cost is O(budget + replicas +
    ``ca``'s cloud), never O(a count ``ca`` claims).
    """
    vvb, cloudb = cb.vv, cb.cloud
    prefixes: dict[str, int] = {}
    dots: set[DotT] = set()
    for r, n in ca.vv.items():
        m = vvb.get(r, 0)
        if n <= m:
            continue
        if n - m > budget:
            prefixes[r] = n
            continue
        budget -= n - m
        for i in range(m + 1, n + 1):
            d = (r, i)
            if d not in cloudb:
                dots.add(d)
    for d in ca.cloud:
        if d[1] > vvb.get(d[0], 0) and d not in cloudb:
            dots.add(d)
    return prefixes, dots


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
    vvb, cloudb = cb.vv, cb.cloud
    dots_a = dots_of(sa)
    live_new = {d for d in dots_a if d[1] > vvb.get(d[0], 0) and d not in cloudb}
    prefixes, seen = _context_minus(ca, cb, len(live_new) + len(ca.cloud) + 64)
    seen |= live_new
    keep: Collection[DotT] = live_new
    if prefixes:  # a's live dots inside a prefix go with it (b may hold some: harmless, see above)
        keep = live_new | {d for d in dots_a if d[0] in prefixes}
    dots_b = dots_of(sb)
    if _common_size(cb, ca) <= len(dots_b):  # type: ignore[arg-type]
        for d in _common(cb, ca):
            if d in dots_b and d not in dots_a:
                seen.add(d)
    else:
        for d in dots_b:
            if ca.contains(d) and d not in dots_a:
                seen.add(d)
    ctx = CausalContext._of_dots(seen)
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
