"""Wire forms of the maps: LWWMap (code 6) and ORMap (code 13, entries of any nestable causal type)."""

from __future__ import annotations

from itertools import accumulate, compress, islice, repeat
from operator import eq, lshift, lt, not_, or_, sub
from typing import Any

from .. import kernel
from ..causal import CausalContext
from ..errors import EncodeError, PayloadTooLarge, SchemaError
from ..maps import NESTABLE, LWWMap, ORMap
from ._wire import (
    _CLASS_OF,
    _U64,
    TYPE_CODES,
    Body,
    Decoder,
    ReplicaTable,
    _at,
    _counters_of,
    _elem_bytes,
    _first,
    _third,
    enc_elements,
    enc_store,
    enc_values,
    register_causal,
    register_type,
)


def _enc_lwwmap(x: LWWMap) -> Body:
    # Column by column with C-level map/compress/sort: per replica, entries by (wall, logical) (a packed int
    # key; a group already in order, the usual case, is not sorted), ties (a reused replica id) by key bytes.
    entries = x._entries
    keys = list(entries)
    ents = list(entries.values())
    n = len(keys)
    ts = list(map(_first, ents))
    reps = list(map(_third, ts))
    walls = list(map(_first, ts))
    logicals = list(map(_counters_of, ts))
    tb = ReplicaTable(reps)
    if not n:
        return tb.ids, [[]]
    if set(map(type, walls)) != {int} or set(map(type, logicals)) != {int}:
        raise EncodeError("LWWMap: timestamps must hold ints")
    if min(walls) < 0 or max(walls) >= _U64 or min(logicals) < 0 or max(logicals) >= _U64:
        raise EncodeError("LWWMap: timestamp wall and logical parts must lie in 0 .. 2**64-1")
    packed = list(map(or_, map(lshift, walls, repeat(64)), logicals))
    present = list(map(_counters_of, ents))
    values = list(map(_third, ents))
    groups: list[Any] = []
    for r in tb.ids:
        idx = list(range(n)) if len(tb.ids) == 1 else list(compress(range(n), map(eq, reps, repeat(r))))
        pk = list(map(packed.__getitem__, idx))
        if not all(map(lt, pk, islice(pk, 1, None))):
            idx.sort(key=packed.__getitem__)
            pk = list(map(packed.__getitem__, idx))
            if any(map(eq, pk, islice(pk, 1, None))):
                # Two keys written with one timestamp (a reused replica id): break the tie by key bytes.
                idx.sort(key=lambda i: (packed[i], _elem_bytes(keys[i])))
        ws = list(map(walls.__getitem__, idx))
        gv = list(map(values.__getitem__, idx))
        tombs = list(compress(range(len(idx)), map(not_, map(present.__getitem__, idx))))
        if tombs and any(gv[i] is not None for i in tombs):
            raise EncodeError("LWWMap: a removed key carries a value")
        groups.extend((tb.ix[r], [ws[0], *map(sub, islice(ws, 1, None), ws)],
                       list(map(logicals.__getitem__, idx)),
                       enc_elements(list(map(keys.__getitem__, idx)), "LWWMap keys"), enc_values(gv), tombs))
    return tb.ids, [groups]


def _dec_lwwmap(d: Decoder, body: list[Any]) -> LWWMap:
    path = "body.groups"
    xs = d.array(body[0], path, stride=6)
    keys: list[Any] = []
    ents: list[Any] = []
    last = -1
    for g in range(0, len(xs), 6):
        ix = xs[g]
        r = d.ridx(ix, path, g)
        if ix <= last:
            raise SchemaError(path, "replica indexes must be strictly ascending")
        last = ix
        dw = d.array(xs[g + 1], path, g + 1)
        n = len(dw)
        if not n:
            raise SchemaError(_at(path, g + 1), "a group holds at least one entry")
        if set(map(type, dw)) != {int} or min(dw) < 0:
            raise SchemaError(_at(path, g + 1), "expected unsigned ints")
        walls = list(accumulate(dw))
        if walls[-1] >= _U64:
            raise SchemaError(_at(path, g + 1), "a wall time is 2**64 or more")
        logicals = d.ints(xs[g + 2], path, g + 2, n)
        if min(logicals) < 0:
            raise SchemaError(_at(path, g + 2), "expected unsigned ints")
        ks = d.elems(d.array(xs[g + 3], path, g + 3, n), path, g + 3)
        vals = d.values(xs[g + 4], path, g + 4, n)
        tombs = d.array(xs[g + 5], path, g + 5)
        present = [True] * n
        prev = -1
        for t in tombs:
            if type(t) is not int or not prev < t < n:
                raise SchemaError(_at(path, g + 5), "tombstone indexes must be strictly ascending and in range")
            if vals[t] is not None:
                raise SchemaError(_at(path, g + 4), f"removed entry {t} carries a value")
            present[t] = False
            prev = t
        # Order within a group: (wall, logical) ascending; equal timestamps only with ascending key bytes.
        for i in compress(range(1, n), map(not_, islice(dw, 1, None))):
            if logicals[i] < logicals[i - 1] or (
                    logicals[i] == logicals[i - 1] and _elem_bytes(ks[i]) <= _elem_bytes(ks[i - 1])):
                raise SchemaError(_at(path, g + 2), "entries must be sorted by timestamp, then key bytes")
        keys.extend(ks)
        ents.extend(zip(zip(walls, logicals, repeat(r)), present, vals, strict=True))
    x = LWWMap.__new__(LWWMap)
    x._replica = None
    x._clock = None
    x._entries = dict(zip(keys, ents, strict=True))
    if len(x._entries) != len(keys):
        raise SchemaError(path, "a key appears twice")
    x._live = sum(map(_counters_of, ents))
    return x



_NESTABLE = frozenset(NESTABLE.values())


def _enc_ormap(store: Any, tb: ReplicaTable) -> Any:
    entries = sorted(store.items(), key=lambda kv: min(kernel.dots_of(kv[1])))
    enc_elements([mk[0] for mk, _ in entries], "ORMap keys")
    out: list[Any] = []
    for (key, name), sub_store in entries:
        ncls = NESTABLE[name]
        out.append(key)
        out.append(TYPE_CODES[ncls])
        out.append(enc_store(ncls, sub_store, tb))
    return out


def _dec_ormap(d: Decoder, x: Any, ctx: CausalContext, path: str) -> Any:
    if d.nesting >= d.limits.max_map_nesting:
        raise PayloadTooLarge("ORMap nesting", d.nesting + 1, d.limits.max_map_nesting)
    d.nesting += 1
    try:
        return _dec_ormap_entries(d, x, ctx, path)
    finally:
        d.nesting -= 1


def _dec_ormap_entries(d: Decoder, xs: Any, ctx: CausalContext, path: str) -> kernel.DotMap:
    d.array(xs, path, stride=3)
    entries: dict[Any, Any] = {}
    last: tuple[str, int] | None = None
    total = 0
    for i in range(0, len(xs), 3):
        key = d.elem(xs[i], path, i)
        code = xs[i + 1]
        ncls = _CLASS_OF.get(code) if type(code) is int else None
        if ncls is None or ncls not in _NESTABLE:
            raise SchemaError(_at(path, i + 1), f"not the type code of a nestable causal type: {code!r}")
        sub_store = d.store(ncls, xs[i + 2], ctx, _at(path, i + 2))
        if not sub_store:
            raise SchemaError(_at(path, i + 2), "an empty nested store is never kept")
        dots = kernel.dots_of(sub_store)
        low = min(dots)
        if last is not None and low <= last:
            raise SchemaError(path, "entries must be sorted by their smallest dot")
        last = low
        total += len(dots)  # type: ignore[arg-type]
        mk = (key, ncls.__name__)
        if mk in entries:
            raise SchemaError(_at(path, i), f"key {key!r} appears twice as a {ncls.__name__}")
        entries[mk] = sub_store
    m = kernel.DotMap.of(entries)
    if len(m.index) != total:
        raise SchemaError(path, "a dot appears under two keys")
    return m




register_type(LWWMap, 6, encode=_enc_lwwmap, decode=_dec_lwwmap, arity=1, _builtin=True)
register_causal(ORMap, 13, encode_store=_enc_ormap, decode_store=_dec_ormap, _builtin=True)
