"""Wire forms of the maps: LWWMap (code 6) and ORMap (code 13, entries of any nestable causal type)."""

from __future__ import annotations

from array import array
from itertools import accumulate, compress, islice, repeat
from operator import eq, is_, is_not, lshift, lt, not_, or_, sub
from typing import Any

from .. import kernel
from ..causal import CausalContext
from ..errors import PayloadTooLarge, SchemaError
from ..maps import _CANONICAL_KEYS, _GONE, NESTABLE, LWWMap, ORMap, _rix_code
from ._wire import (
    _CLASS_OF,
    _SCALAR_INT_ELEMS,
    _U64,
    TYPE_CODES,
    Body,
    Decoder,
    ReplicaTable,
    _at,
    _elem_bytes,
    enc_elements,
    enc_store,
    enc_values,
    register_causal,
    register_type,
    writing_version,
)

#: Whether every key type ``Decoder.elems`` passes through unchanged is canonical as it is for LWWMap keys.
_KEYS_AS_IS_CANONICAL = _SCALAR_INT_ELEMS <= _CANONICAL_KEYS


def _group_order(ws: list[int], ls: list[int] | None, ks: list[Any]) -> list[int] | None:
    """The order of one writer's entries by (wall, logical), ties by key bytes; None when they are in it
    already (the usual case: a writer's slots are in timestamp order). C-level check."""
    if all(map(lt, ws, islice(ws, 1, None))):
        return None
    if ls is None:
        idx = sorted(range(len(ws)), key=ws.__getitem__)
        tie = any(map(eq, (ws[i] for i in idx), (ws[i] for i in islice(idx, 1, None))))
        key: Any = (lambda i: (ws[i], _elem_bytes(ks[i]))) if tie else None
    else:
        packed = list(map(or_, map(lshift, ws, repeat(64)), ls))
        idx = sorted(range(len(ws)), key=packed.__getitem__)
        if all(map(lt, (packed[i] for i in idx), (packed[i] for i in islice(idx, 1, None)))):
            return idx
        key = lambda i: (packed[i], _elem_bytes(ks[i]))  # noqa: E731  (a reused replica id: ties by key bytes)
    if key is not None:
        idx.sort(key=key)
    return idx


def _writer_spans(rix: Any, nreps: int) -> dict[int, list[int] | tuple[int, int]]:
    """Per writer index present in the replica-index column ``rix``: its slots, as ``(start, stop)`` when they
    are one contiguous block (the usual case: a merge appends another map's slots as a block), else the
    list of them. C-level (``bytes.count``/``find`` on a one-byte column) for a few writers."""
    n = len(rix)
    out: dict[int, list[int] | tuple[int, int]] = {}
    if rix.typecode == "B" and nreps <= 16:
        b = rix.tobytes()
        for i in range(nreps):
            mark = bytes((i,))
            k = b.count(mark)
            if k:
                lo = b.find(mark)
                contiguous = b.rfind(mark) - lo + 1 == k
                out[i] = (lo, lo + k) if contiguous else list(compress(range(n), map(eq, rix, repeat(i))))
        return out
    order = sorted(range(n), key=rix.__getitem__)  # stable: each writer's slots stay in slot order
    lo = 0
    while lo < n:
        i = rix[order[lo]]
        hi = lo + 1
        while hi < n and rix[order[hi]] == i:
            hi += 1
        out[i] = order[lo:hi]
        lo = hi
    return out


def _writer_columns(x: LWWMap, keys: list[Any]) -> dict[int, tuple[list[int], list[int] | None, list[Any], list[Any]]]:
    """Per writer index with a live entry: its walls, logicals (None: the map has none), keys and values, in slot
    order. ``keys`` is the key dict's list (live slot order). C-level: each writer's slots are sliced when they
    are one block (the usual case: a merge adds another map's slots as a block), and only a block with dead
    slots is compressed; otherwise the live columns are compressed first and each writer's entries gathered."""
    walls, logs, vals, rix, alive = x._walls, x._logs, x._vals, x._rix, x._alive
    nreps = len(x._reps)
    spans = {0: (0, len(vals))} if rix is None else _writer_spans(rix, nreps)
    out: dict[int, tuple[list[int], list[int] | None, list[Any], list[Any]]] = {}
    if all(type(sp) is tuple for sp in spans.values()):
        for i, (lo, hi) in spans.items():
            if alive is None:
                a, b = lo, hi
            else:
                a = alive.count(1, 0, lo)
                b = a + alive.count(1, lo, hi)
                if a == b:
                    continue
            ws = walls[lo:hi].tolist()
            ls = None if logs is None else logs[lo:hi].tolist()
            vs = vals[lo:hi]
            if b - a != hi - lo:  # dead slots among this writer's
                mask = alive[lo:hi]  # type: ignore[index]
                ws, vs = list(compress(ws, mask)), list(compress(vs, mask))
                ls = None if ls is None else list(compress(ls, mask))
            out[i] = (ws, ls, keys[a:b], vs)
        return out
    lw: Any = walls.tolist()
    ll: Any = None if logs is None else logs.tolist()
    lv: Any = vals
    if alive is not None:
        lw, lv = list(compress(lw, alive)), list(compress(vals, alive))
        ll = None if ll is None else list(compress(ll, alive))
        rix = array(rix.typecode, compress(rix.tolist(), alive))  # type: ignore[union-attr]
        spans = _writer_spans(rix, nreps)
    for i, sp in spans.items():
        if type(sp) is tuple:
            a, b = sp
            out[i] = (lw[a:b], None if ll is None else ll[a:b], keys[a:b], lv[a:b])
        else:
            out[i] = (list(map(lw.__getitem__, sp)), None if ll is None else list(map(ll.__getitem__, sp)),
                      list(map(keys.__getitem__, sp)), list(map(lv.__getitem__, sp)))
    return out


def _enc_lwwmap(x: LWWMap) -> Body:
    # Straight from the columns: per writer (one contiguous block of slots in the usual case), its entries,
    # already in timestamp order in the usual case (the wall deltas are then all positive: checked C-level,
    # no sort), values and keys as the column slices.
    n = len(x._pos)
    if not n:
        return [], [[]]
    v1 = writing_version() == 1
    reps = x._reps
    cols = _writer_columns(x, list(x._pos))
    tb = ReplicaTable(reps[i] for i in cols)
    tombstones = x._live != n
    groups: list[Any] = []
    cols_of = {reps[i]: c for i, c in cols.items()}
    for r in tb.ids:
        ws, ls, ks, vs = cols_of[r]
        if ls is not None and not any(ls):
            ls = None
        dw = [ws[0], *map(sub, islice(ws, 1, None), ws)]
        if len(dw) > 1 and min(islice(dw, 1, None)) <= 0:  # not in wall order (or equal walls)
            order = _group_order(ws, ls, ks)
            if order is not None:
                ws, ks, vs = (list(map(col.__getitem__, order)) for col in (ws, ks, vs))
                ls = None if ls is None else list(map(ls.__getitem__, order))
                dw = [ws[0], *map(sub, islice(ws, 1, None), ws)]
        tombs: list[int] = []
        if tombstones:
            gone = list(map(is_, vs, repeat(_GONE)))
            if any(gone):
                tombs = list(compress(range(len(vs)), gone))
                vs = [None if g else v for v, g in zip(vs, gone, strict=True)]
        groups.extend((tb.ix[r], dw, ([0] * len(ws) if v1 else []) if ls is None else ls,
                       enc_elements(ks, "LWWMap keys"), enc_values(vs), tombs))
    return tb.ids, [groups]


def _dec_lwwmap(d: Decoder, body: list[Any]) -> LWWMap:
    """An LWWMap from its groups (one per writer), built straight into the columns.

    Every invariant of ``LWWMap._check`` is established here, by a check or by construction, so the map is
    recorded in ``d.checked`` and ``decode`` does not run that check again, unless a key had to be converted
    (then the key check runs, with the rest):

    * the columns (a dict, a list, ``array("Q")`` walls and logicals) of one length: each group's walls, keys
      and values are checked to hold ``n`` entries, its logicals ``n`` or none (zeros);
    * the replica table of distinct non-empty ids: the message's table (``_table``) and strictly ascending
      indexes (``ridx``); the writer-index column, present from two writers on, holds each group's index;
    * the key slots ``0 .. n-1`` in the dict's order, no dead slot: ``dict(zip(keys, range))``, a repeated key
      refused;
    * the live count: ``gone`` counts the tombstones, the only ``_GONE`` values (decoded values never are);
    * the newest timestamp: each group is checked to be in (wall, logical) order, so its last entry is its
      greatest, and the greatest of those is kept;
    * canonical keys: ``Decoder.elems`` returned every key list as it was (only types of ``_SCALAR_INT_ELEMS``,
      all canonical as they are: ``_KEYS_AS_IS_CANONICAL``).
    """
    path = "body.groups"
    xs = d.array(body[0], path, stride=6)
    keys: list[Any] = []
    walls: list[int] = []
    logs: list[int] = []
    vals: list[Any] = []
    reps: list[str] = []
    sizes: list[int] = []
    any_logs = False
    gone = 0
    newest: tuple[int, int, str] | None = None
    last = -1
    as_is = True   # every key list came back from d.elems unchanged
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
        ws = list(accumulate(dw))
        if ws[-1] >= _U64:
            raise SchemaError(_at(path, g + 1), "a wall time is 2**64 or more")
        lx = xs[g + 2]
        if d.version >= 2 and lx == []:
            ls: list[int] | None = None  # every logical counter of the group is 0
        else:
            ls = d.ints(lx, path, g + 2, n)
            if min(ls) < 0 or max(ls) >= _U64:
                raise SchemaError(_at(path, g + 2), "logical counters are ints in 0 .. 2**64-1")
            if d.version >= 2 and not any(ls):
                raise SchemaError(_at(path, g + 2), "a group whose logical counters are all 0 writes []")
        kx = d.array(xs[g + 3], path, g + 3, n)
        ks = d.elems(kx, path, g + 3)
        as_is = as_is and ks is kx
        vs = d.values(xs[g + 4], path, g + 4, n)
        tombs = d.array(xs[g + 5], path, g + 5)
        if tombs:
            if set(map(type, tombs)) != {int} or tombs[0] < 0 or tombs[-1] >= n \
                    or not all(map(lt, tombs, islice(tombs, 1, None))):
                raise SchemaError(_at(path, g + 5), "tombstone indexes must be strictly ascending and in range")
            if any(map(is_not, map(vs.__getitem__, tombs), repeat(None))):
                raise SchemaError(_at(path, g + 4), "a removed entry carries a value")
            vs = list(vs)
            for t in tombs:
                vs[t] = _GONE
            gone += len(tombs)
        # Order within a group: (wall, logical) ascending; equal timestamps only with ascending key bytes. The
        # walls never decrease (unsigned deltas): only a 0 delta (found C-level) needs a closer look.
        z = dw.index(0, 1) if 0 in dw[1:] else n
        for i in compress(range(z, n), map(not_, islice(dw, z, None))):
            lp, li = (0, 0) if ls is None else (ls[i - 1], ls[i])
            if li < lp or (li == lp and _elem_bytes(ks[i]) <= _elem_bytes(ks[i - 1])):
                raise SchemaError(_at(path, g + 2), "entries must be sorted by timestamp, then key bytes")
        top = (ws[-1], 0 if ls is None else ls[-1], r)
        if newest is None or top > newest:
            newest = top
        if ls is not None and not any_logs:
            logs = [0] * len(walls)
            any_logs = True
        if any_logs:
            logs.extend([0] * n if ls is None else ls)
        keys.extend(ks)
        walls.extend(ws)
        vals.extend(vs)
        reps.append(r)
        sizes.append(n)
    x = LWWMap.__new__(LWWMap)
    x._replica = None
    x._clock = None
    pos = dict(zip(keys, range(len(keys)), strict=False))
    if len(pos) != len(keys):
        raise SchemaError(path, "a key appears twice")
    x._pos = pos
    x._vals = vals
    x._walls = array("Q", walls)
    x._logs = array("Q", logs) if any_logs else None
    x._reps = reps
    if len(reps) > 1:
        code = _rix_code(len(reps))
        col = array(code)
        for g, n in enumerate(sizes):
            col.extend(array(code, (g,)) * n)
        x._rix = col
    else:
        x._rix = None
    x._alive = None
    x._ndead = 0
    x._live = len(keys) - gone
    x._newest = newest
    if as_is and _KEYS_AS_IS_CANONICAL:
        d.checked = x
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
