"""Wire forms of the sets: GSet (code 3), TwoPSet (4), AWSet (7) and RWSet (8).

The store of RWSet (and of AWSet in wire format version 1) is ``[singles, multi]``: the elements held by one
dot, grouped by replica as a run of counters beside the list of elements (and, for RWSet, their add/remove
flags), then the rare elements held by several dots. Version 2 writes an AWSet store as its replicas' runs
only: every live dot beside its element, so an element held by several dots appears once per dot (see
docs/wire-format.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain, islice, repeat
from operator import lt
from typing import Any

from .. import kernel
from ..causal import CausalContext
from ..errors import SchemaError
from ..sets import _CANONICAL_AS_IS, AWSet, GSet, RWSet, TwoPSet
from ._wire import (
    _SCALAR_INT_ELEMS,
    Body,
    Decoder,
    ReplicaTable,
    _at,
    _groups,
    _run,
    _run_of,
    _sorted_dots,
    enc_bools,
    enc_dotfun,
    enc_dotset,
    enc_elements,
    register_causal,
    register_type,
    sort_elements,
)


def _enc_gset(x: GSet) -> Body:
    return [], [enc_elements(sort_elements(x._elems), "GSet")]


def _unique_elems(d: Decoder, x: Any, path: str) -> set[Any]:
    es = d.elems(x, path)
    s = set(es)
    if len(s) != len(es):
        raise SchemaError(path, "an element appears twice")
    return s


def _dec_gset(d: Decoder, body: list[Any]) -> GSet:
    x = GSet.__new__(GSet)
    x._replica = None
    x._elems = _unique_elems(d, body[0], "body.elements")
    return x


def _enc_twopset(x: TwoPSet) -> Body:
    return [], [enc_elements(sort_elements(x._added), "TwoPSet"), enc_elements(sort_elements(x._removed), "TwoPSet")]


def _dec_twopset(d: Decoder, body: list[Any]) -> TwoPSet:
    x = TwoPSet.__new__(TwoPSet)
    x._replica = None
    x._added = _unique_elems(d, body[0], "body.added")
    x._removed = _unique_elems(d, body[1], "body.removed")
    return x


def enc_setstore(store: Any, tb: ReplicaTable, fun: bool) -> list[Any]:
    """AWSet (``fun=False``) / RWSet (``fun=True``) store: ``[singles, multi]``."""
    index = store.index
    if len(index) == len(store):
        single = index
        multi: list[Any] = []
    else:
        mkeys = [e for e, s in store.items() if len(s) > 1]
        mdots = set(chain.from_iterable(store[e] for e in mkeys))
        single = {d: e for d, e in index.items() if d not in mdots}
        mkeys.sort(key=lambda e: min(store[e]))
        enc_elements(mkeys, "set elements")
        multi = []
        for e in mkeys:
            multi.append(e)
            multi.append(enc_dotfun(store[e], tb, enc_bools) if fun else enc_dotset(store[e], tb))
    dots = _sorted_dots(single)
    elems = list(map(single.__getitem__, dots))
    enc_elements(elems, "set elements")
    singles: list[Any] = []
    for ix, lo, hi in _groups(dots, tb):
        part = dots[lo:hi]
        singles.append(ix)
        singles.append(_run_of(dots, lo, hi))
        es = elems[lo:hi]
        singles.append(es)
        if fun:
            singles.append([store[e][d] for e, d in zip(es, part, strict=False)])
    return [singles, multi]


def dec_setstore(d: Decoder, x: Any, ctx: CausalContext, path: str, fun: bool) -> Any:
    """AWSet (``fun=False``) or RWSet (``fun=True``) store from ``[singles, multi]``."""
    if type(x) is not list or len(x) != 2:
        d.array(x, path, size=2)
    sx, mx = x
    stride = 4 if fun else 3
    spath = f"{path}.singles"
    keys: list[Any] = []
    index: dict[tuple[str, int], Any] = {}  # the singles' dots, in the order of ``keys``
    flags: list[bool] = []
    for g, (r, cs) in enumerate(d.dot_groups(sx, spath, stride)):
        d.covered(r, cs, ctx, spath)
        j = stride * g + 2
        es = d.elems(sx[j], spath, j)
        if len(es) != len(cs):
            raise SchemaError(_at(spath, j), f"expected {len(cs)} elements, got {len(es)}")
        index.update(zip(zip(repeat(r), cs), es, strict=True))  # groups have distinct replicas: no dot twice
        if keys:
            keys.extend(es)
        else:
            keys = es
        if fun:
            flags.extend(d.bools(sx[j + 1], spath, j + 1, len(cs)))
    mkeys: list[Any] = []
    msubs: list[Any] = []
    if mx != []:
        mpath = f"{path}.multi"
        d.array(mx, mpath, stride=2)
        last: tuple[str, int] | None = None
        for i in range(0, len(mx), 2):
            e = d.elem(mx[i], mpath, i)
            if fun:
                sub_store: Any = d.dotfun(mx[i + 1], ctx, _at(mpath, i + 1), "bools")
            else:
                sub_store = set(d.dotset(mx[i + 1], ctx, _at(mpath, i + 1)))
            if len(sub_store) < 2:
                raise SchemaError(_at(mpath, i + 1), "an entry with one dot belongs in the singles")
            low = min(sub_store)
            if last is not None and low <= last:
                raise SchemaError(mpath, "entries must be sorted by their smallest dot")
            last = low
            mkeys.append(e)
            msubs.append(sub_store)
    if fun:
        subs: Iterable[Any] = map(dict, zip(zip(index, flags, strict=True)))
        store = kernel.DotMap()
    else:
        subs = map(set, zip(index))
        store = kernel.DotMap()
    dict.update(store, zip(keys, subs, strict=True))
    if mkeys:
        dict.update(store, zip(mkeys, msubs, strict=True))
    if len(store) != len(keys) + len(mkeys):
        raise SchemaError(path, "an element appears twice")
    if mkeys:
        for e, s in zip(mkeys, msubs, strict=True):
            index.update(zip(s, repeat(e)))
        if len(index) != len(keys) + sum(map(len, msubs)):
            raise SchemaError(path, "a dot appears under two elements")
    store.index = index
    return store


def enc_awstore(store: kernel.DotSetMap, tb: ReplicaTable) -> list[Any]:
    """AWSet store. Version 2: ``[rix, run, [elements], ...]``, every live dot of each replica (``rix``
    ascending) beside the element it holds; an element held by several dots appears once per dot. Straight
    from the per-replica layout: each replica's counters in order (already sorted in the usual case, checked
    C-level) and the elements they map to. Version 1: ``[singles, multi]`` (see :func:`_enc_awstore_v1`).
    O(n) (O(n log n) for a replica whose dots are out of order)."""
    if tb.version == 1:
        return _enc_awstore_v1(store, tb)
    ix = tb.ix
    out: list[Any] = []
    for r in sorted(store.by):
        m = store.by[r]
        cs = list(m)
        if all(map(lt, cs, islice(cs, 1, None))):
            es = list(m.values())
        else:
            cs.sort()
            es = list(map(m.__getitem__, cs))
        enc_elements(es, "set elements")
        out.append(ix[r])
        out.append(_run(cs))
        out.append(es)
    return out


def _enc_awstore_v1(store: kernel.DotSetMap, tb: ReplicaTable) -> list[Any]:
    """AWSet store, version 1: ``[singles, multi]``. Singles are the elements held by one dot, grouped by its
    replica as in version 2; multi the elements held by several, each with its dotset, by smallest dot."""
    by, rev = store.by, store.rev
    multi: set[Any] = set()
    if store.ndots() != len(store.elems):  # some element holds several dots
        seen: set[Any] = set()
        for r, rv in rev.items():
            multi.update(rv.keys() & seen)
            seen.update(rv)
            if len(rv) != len(by[r]):  # an element with several dots of r
                multi.update(e for e, x in rv.items() if type(x) is not int)
    ix = tb.ix
    singles: list[Any] = []
    for r in sorted(by):
        m = by[r]
        cs = sorted(m)
        if multi:
            cs = [c for c in cs if m[c] not in multi]
            if not cs:
                continue
        es = list(map(m.__getitem__, cs))
        enc_elements(es, "set elements")
        singles.append(ix[r])
        singles.append(_run(cs))
        singles.append(es)
    out: list[Any] = []
    if multi:
        dots = {e: store[e] for e in multi}
        mkeys = sorted(multi, key=lambda e: min(dots[e]))
        enc_elements(mkeys, "set elements")
        for e in mkeys:
            out.append(e)
            out.append(enc_dotset(dots[e], tb))
    return [singles, out]


def _inverse(cs: list[int], es: list[Any]) -> dict[Any, Any]:
    """``{element: counter}`` of one replica's aligned counters and elements, an element held by several of
    its dots mapping to the tuple of their counters (ascending, as ``cs`` is)."""
    inv: dict[Any, Any] = {}
    for c, e in zip(cs, es, strict=True):
        x = inv.get(e)
        inv[e] = c if x is None else (*kernel._counters(x), c)
    return inv


#: Whether every element type ``Decoder.elems`` passes through unchanged is one ``AWSet._check_payload``
#: accepts as canonical without a per-element check.
_AS_IS_CANONICAL = _SCALAR_INT_ELEMS <= _CANONICAL_AS_IS


def dec_awstore(d: Decoder, x: Any, ctx: CausalContext, path: str) -> kernel.DotSetMap:
    """AWSet store (version 2: ``[rix, run, [elements], ...]``; version 1: :func:`_dec_awstore_v1`), built
    with C-level dict constructors per replica group: each group's ``{counter: element}`` and its inverse.
    A run is strictly increasing and groups have distinct replicas, so no dot can appear twice; an element
    may (held by several dots).

    A version-2 store is built with every invariant of ``kernel._check_setmap`` established, each by the
    check or the construction named here, so it is recorded in ``d.checked_store`` and the post-decode
    ``_check`` does not run that store check again (the context's and the elements' checks still run):

    * ``by``, ``rev`` (dicts) and ``elems`` (a set), with the same replicas: a fresh DotSetMap, and
      ``by[r]`` and ``rev[r]`` are set together, once per group;
    * each replica a non-empty str: the replica table refuses anything else (``_table``), ``ridx``;
    * each ``by[r]`` a non-empty dict of int counters >= 1: ``run`` refuses an empty run and a gap of 0,
      and its counters are strictly increasing ints (so no dot twice); one element per counter (length
      checked below);
    * every dot in the context: ``covered``;
    * ``rev[r]`` exactly the inverse of ``by[r]`` (a tuple of ascending counters for an element held by
      several dots of ``r``): built from the same aligned lists, ``_inverse`` for the rare repeated element;
    * ``elems`` exactly the union of the ``rev[r]`` keys: it is only ever updated with them.

    ``AWSet._check_payload`` (every element canonical) is recorded as established too when every group's
    elements came back from ``d.elems`` as they were: it does that only when their types are all in
    ``_SCALAR_INT_ELEMS``, types that payload check accepts without looking further (``_AS_IS_CANONICAL``).
    """
    if d.version == 1:
        return _dec_awstore_v1(d, x, ctx, path)
    store = kernel.DotSetMap()
    elems, by, rev = store.elems, store.by, store.rev
    as_is = True  # every element list came back from d.elems unchanged (scalar types only)
    for g, (r, cs) in enumerate(d.dot_groups(x, path, 3)):
        d.covered(r, cs, ctx, path)
        j = 3 * g + 2
        es = d.elems(x[j], path, j)
        if len(es) != len(cs):
            raise SchemaError(_at(path, j), f"expected {len(cs)} elements, got {len(es)}")
        as_is = as_is and es is x[j]
        by[r] = dict(zip(cs, es, strict=False))
        inv = dict(zip(es, cs, strict=False))
        rev[r] = inv if len(inv) == len(cs) else _inverse(cs, es)
        elems.update(inv)
    d.checked_store = (store, ctx, AWSet._check_payload if as_is and _AS_IS_CANONICAL else None)
    return store


def _dec_awstore_v1(d: Decoder, x: Any, ctx: CausalContext, path: str) -> kernel.DotSetMap:
    """AWSet store of version 1, ``[singles, multi]``: every element once, in the singles (one dot) or in
    multi (two or more dots, entries sorted by their smallest dot)."""
    if type(x) is not list or len(x) != 2:
        d.array(x, path, size=2)
    sx, mx = x
    spath = f"{path}.singles"
    store = kernel.DotSetMap()
    elems, by, rev = store.elems, store.by, store.rev
    total = 0
    for g, (r, cs) in enumerate(d.dot_groups(sx, spath, 3)):
        d.covered(r, cs, ctx, spath)
        j = 3 * g + 2
        es = d.elems(sx[j], spath, j)
        if len(es) != len(cs):
            raise SchemaError(_at(spath, j), f"expected {len(cs)} elements, got {len(es)}")
        by[r] = dict(zip(cs, es, strict=False))  # a run is strictly increasing: no counter twice
        rev[r] = inv = dict(zip(es, cs, strict=False))
        elems.update(inv)
        total += len(cs)
    if len(elems) != total:
        raise SchemaError(path, "an element appears twice")
    if mx != []:
        mpath = f"{path}.multi"
        d.array(mx, mpath, stride=2)
        last: tuple[str, int] | None = None
        for i in range(0, len(mx), 2):
            e = d.elem(mx[i], mpath, i)
            dots = d.dotset(mx[i + 1], ctx, _at(mpath, i + 1))
            if len(dots) < 2:
                raise SchemaError(_at(mpath, i + 1), "an entry with one dot belongs in the singles")
            low = min(dots)
            if last is not None and low <= last:
                raise SchemaError(mpath, "entries must be sorted by their smallest dot")
            last = low
            if e in elems:
                raise SchemaError(path, "an element appears twice")
            for r, c in sorted(dots):
                m = by.get(r)
                if m is not None and c in m:
                    raise SchemaError(path, "a dot appears under two elements")
                kernel._put(store, e, r, c)
    return store


register_type(GSet, 3, encode=_enc_gset, decode=_dec_gset, arity=1, _builtin=True)
register_type(TwoPSet, 4, encode=_enc_twopset, decode=_dec_twopset, arity=2, _builtin=True)
register_causal(AWSet, 7, encode_store=enc_awstore, decode_store=dec_awstore, _builtin=True)
register_causal(RWSet, 8, encode_store=lambda s, tb: enc_setstore(s, tb, True),
                decode_store=lambda d, x, ctx, path: dec_setstore(d, x, ctx, path, True), _builtin=True)
