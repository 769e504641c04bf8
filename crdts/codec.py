"""Canonical, versioned, hardened CBOR for every type, its deltas, and the causality values.

``encode(obj)`` gives bytes that depend only on the lattice state: two equal objects encode to the same
bytes whatever order their merges happened in and whichever replica encodes them. ``decode(data)``
accepts only what the format uses, checks every structural and semantic rule before it builds an
object, runs the object's ``_check()``, and raises :class:`~crdts.errors.DecodeError` (or a subclass)
for anything else — never another exception, never a partial object. The format is specified in
docs/wire-format.md; this module is its reference implementation.

>>> from crdts import AWSet, decode, encode
>>> a = AWSet("eu-west")
>>> d = a.add("apple")
>>> data = encode(d)
>>> len(data) <= 64, data[:4].hex()             # array header, magic 0xCD, version 1
(True, '8718cd01')
>>> back = decode(data)
>>> back == d, back.replica, sorted(back.value)
(True, None, ['apple'])
>>> decode(data, replica="us-east").replica
'us-east'
>>> decode(data + b"\\x00")
Traceback (most recent call last):
...
crdts.errors.DecodeError: trailing bytes: the message ends at byte 31 of 32

Layout of every message (a CBOR array)::

    [0xCD, 1, type_code, [replica ids, sorted], *body]

Replica ids are listed once and referred to by their index; runs of dot counters are byte strings of
LEB128 gaps; entries are arrays sorted by our own key functions, so no CBOR map order is relied on.
"""

from __future__ import annotations

import io
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate, chain, compress, islice, repeat
from operator import eq, ge, itemgetter, not_, sub
from typing import Any

import attrs
import cbor2

from . import kernel
from ._base import CRDT, MAX_VALUE_DEPTH, Causal
from .causal import CausalContext, Timestamp, VersionVector
from .counters import CCounter, GCounter, PNCounter
from .errors import (
    DecodeError,
    EncodeError,
    InvariantError,
    PayloadTooLarge,
    SchemaError,
    UnknownType,
    UnsupportedVersion,
)
from .flags import DWFlag, EWFlag
from .maps import NESTABLE, LWWMap, ORMap
from .registers import LWWRegister, MVRegister
from .sets import AWSet, GSet, RWSet, TwoPSet

__all__ = ["FORMAT_VERSION", "MAGIC", "TUPLE_TAG", "TYPE_CODES", "Limits", "decode", "encode", "register"]

#: First item of every message.
MAGIC = 0xCD
#: The wire format version this library writes; ``SUPPORTED_VERSIONS`` are the ones it reads.
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
#: CBOR tag (content: null) that, as the first item of an array inside a register value, marks a tuple.
TUPLE_TAG = 0xCD01

_U64 = 1 << 64
#: Data ints (elements, register values) beyond 64 bits travel as bignums of at most 128 bytes.
_BIG = 1 << 1024
_BIG_BYTES = 128
_NoneType = type(None)

# --------------------------------------------------------------------------------------------
# Limits


@attrs.frozen
class Limits:
    """What :func:`decode` accepts. The defaults are safe for messages from the network.

    ``max_bytes``: size of the message, checked before any parsing. Decoded Python objects take up to
    ~70 times the bytes of the message (cbor2 builds one object per CBOR item; legitimate states ~40x),
    so the default, 4 MiB, bounds one decode to a few hundred MB; raise it for large snapshots.
    ``max_depth``: CBOR nesting depth (register values may nest 64 levels; each ORMap level adds one).
    ``max_replicas``: entries of the replica table. ``max_entries``: elements, keys, dots and counts in
    one message, counted before the objects are built. ``max_map_nesting``: ORMaps inside ORMaps (each
    level indexes every dot beneath it, so deep nesting multiplies the work).
    ``require_canonical``: also re-encode the result and refuse the message unless the bytes are
    identical (use it where bytes are hashed or signed; it doubles the cost).
    ``check_invariants``: run the object's own ``_check()`` after the codec's checks (a second line of
    defence: the codec's checks already cover every invariant; turning it off halves the cost of
    decoding a large AWSet).

    >>> Limits().max_bytes, Limits(max_bytes=1024).max_bytes
    (4194304, 1024)
    """

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 128
    max_replicas: int = 16_384
    max_entries: int = 1_000_000
    max_map_nesting: int = 16
    check_invariants: bool = True
    require_canonical: bool = False

    def __attrs_post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_replicas", "max_entries", "max_map_nesting"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise ValueError(f"Limits.{name} must be an int >= 1, got {v!r}")


DEFAULT_LIMITS = Limits()

# --------------------------------------------------------------------------------------------
# Registry of type codes: one place, one number per type. Codes never change meaning; a new type
# takes a new code, a changed payload takes a new FORMAT_VERSION.

TYPE_CODES: dict[type, int] = {
    GCounter: 1,
    PNCounter: 2,
    GSet: 3,
    TwoPSet: 4,
    LWWRegister: 5,
    LWWMap: 6,
    AWSet: 7,
    RWSet: 8,
    MVRegister: 9,
    EWFlag: 10,
    DWFlag: 11,
    CCounter: 12,
    ORMap: 13,
    VersionVector: 20,
    CausalContext: 21,
    Timestamp: 22,
}
_CLASS_OF: dict[int, type] = {code: cls for cls, code in TYPE_CODES.items()}
#: Codes of the classes an ORMap entry may hold.
_NESTED_CODES: dict[int, type[Causal]] = {TYPE_CODES[c]: c for c in NESTABLE.values()}

#: The AWSet store: a DotMap of DotSets (frozenset values in a DotSetMap, where the kernel has one).
_AW_STORE: type = AWSet._kind
_AW_SUB: type = frozenset if _AW_STORE is not kernel.DotMap else set

# ============================================================================================
# Encoding


def encode(obj: Any) -> bytes:
    """The canonical bytes of ``obj`` (any crdts type or delta, VersionVector, CausalContext, Timestamp).

    Equal objects give identical bytes. Raises ``TypeError`` for other objects and
    :class:`~crdts.errors.EncodeError` for a state the format cannot carry (an int outside
    ``-2**64 .. 2**64-1``, a negative timestamp). Cost: O(n log n) in the size of the state.
    """
    t = type(obj)
    code = TYPE_CODES.get(t)
    if code is None:
        raise TypeError(f"cannot encode {t.__name__}: not a crdts type (known: "
                        f"{', '.join(sorted(c.__name__ for c in TYPE_CODES))})")
    try:
        table, body = _ENCODERS[code](obj)
        return cbor2.dumps([MAGIC, FORMAT_VERSION, code, table, *body], canonical=True)
    except EncodeError:
        raise
    except (cbor2.CBOREncodeError, KeyError, OverflowError, ValueError) as exc:
        raise EncodeError(f"cannot encode this {t.__name__}: {exc}") from exc


class _Table:
    """The replica table of one message: sorted ids, and id -> index."""

    __slots__ = ("ids", "ix")

    def __init__(self, replicas: Iterable[str]) -> None:
        self.ids = sorted(set(replicas))
        self.ix = {r: i for i, r in enumerate(self.ids)}


def _check_uint(n: int, what: str) -> None:
    if not 0 <= n < _U64:
        raise EncodeError(f"{what} {n!r} is outside the format's range 0 .. 2**64-1")


def _int_range(xs: Iterable[Any], what: str, bound: int = 0) -> None:
    """Every int in ``xs`` (a flat iterable) lies in ``-bound .. bound-1`` (default: data ints, 2**1024)."""
    bound = bound or _BIG
    ints = list(filter(int.__instancecheck__, xs))
    if ints and (max(ints) >= bound or min(ints) < -bound):
        k = bound.bit_length() - 1
        raise EncodeError(f"{what}: ints must lie in -2**{k} .. 2**{k}-1")


def _leb128(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _run(counters: list[int]) -> bytes:
    """A strictly increasing list of counters >= 1 as a byte string of LEB128 gaps."""
    gaps = list(map(sub, counters, chain((0,), counters)))
    if max(gaps) < 0x80:
        return bytes(gaps)
    return b"".join(map(_leb128, gaps))


def _flat_counts(counts: dict[str, int], tb: _Table, what: str) -> list[int]:
    """``{replica: n}`` as ``[ix, n, ix, n, ...]`` in table order."""
    if counts and max(counts.values()) >= _U64:
        raise EncodeError(f"{what}: counts must be below 2**64")
    ix = tb.ix
    out: list[int] = []
    for r in sorted(counts):
        out.append(ix[r])
        out.append(counts[r])
    return out


def _groups(dots: list[tuple[str, int]], tb: _Table) -> list[tuple[int, int, int]]:
    """For sorted ``dots``: ``(replica index, start, stop)`` of each replica's slice, in table order."""
    out = []
    n = len(dots)
    lo = 0
    while lo < n:
        r = dots[lo][0]
        hi = bisect_left(dots, (r, _U64), lo)
        out.append((tb.ix[r], lo, hi))
        lo = hi
    return out


_counters_of = itemgetter(1)
_replica_of = _first = itemgetter(0)
_third = itemgetter(2)


def _sorted_dots(dots: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Dots in (replica, counter) order; two stable key sorts beat tuple comparisons on large sets."""
    ds = sorted(dots, key=_counters_of)
    ds.sort(key=_replica_of)
    return ds


def _run_of(dots: list[tuple[str, int]], lo: int, hi: int) -> bytes:
    """The run of the counters of ``dots[lo:hi]`` (sorted, one replica). O(1) when they are contiguous."""
    first = dots[lo][1]
    if dots[hi - 1][1] - first == hi - lo - 1:
        return _leb128(first) + b"\x01" * (hi - lo - 1)
    return _run(list(map(_counters_of, dots[lo:hi])))


def _enc_dotset(dots: Iterable[tuple[str, int]], tb: _Table) -> list[Any]:
    """DotSet: ``[ix, run, ix, run, ...]``."""
    ds = _sorted_dots(dots)
    out: list[Any] = []
    for ix, lo, hi in _groups(ds, tb):
        out.append(ix)
        out.append(_run_of(ds, lo, hi))
    return out


def _enc_dotfun(fun: dict[tuple[str, int], Any], tb: _Table, conv: Callable[[list[Any]], list[Any]]) -> list[Any]:
    """DotFun: ``[ix, run, [values], ...]``."""
    ds = _sorted_dots(fun)
    out: list[Any] = []
    for ix, lo, hi in _groups(ds, tb):
        part = ds[lo:hi]
        out.append(ix)
        out.append(_run_of(ds, lo, hi))
        out.append(conv(list(map(fun.__getitem__, part))))
    return out


# -- elements and values ----------------------------------------------------------------------

_SCALAR_ELEMS = frozenset({str, bytes, _NoneType})


def _enc_elems(elems: list[Any], what: str) -> list[Any]:
    """Check that set elements / map keys fit the format (ints in range). Returns ``elems``."""
    types = set(map(type, elems))
    if types <= _SCALAR_ELEMS or types <= {str, bytes, _NoneType, float}:
        return elems
    if tuple in types:
        stack = [e for e in elems if type(e) is tuple]
        flat: list[Any] = [e for e in elems if type(e) is int]
        while stack:
            for x in stack.pop():
                if type(x) is tuple:
                    stack.append(x)
                elif type(x) is int:
                    flat.append(x)
        _int_range(flat, what)
    elif int in types:
        _int_range(elems, what)
    return elems


class _TupleMark:
    """What the tuple tag decodes to: valid only as the first item of an array in a register value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<tuple mark>"


_MARK = _TupleMark()
_MARK_TAG = cbor2.CBORTag(TUPLE_TAG, None)
_PLAIN_VALUES = frozenset({str, bytes, bool, _NoneType, float})


def _enc_value(v: Any) -> Any:
    t = type(v)
    if t is str or t is bytes or t is bool or v is None:
        return v
    if t is int:
        if not -_BIG <= v < _BIG:
            raise EncodeError("register value ints must lie in -2**1024 .. 2**1024-1")
        return v
    if t is float:
        if v != v:
            raise EncodeError("register values cannot be NaN")
        return v
    if t is list:
        return [_enc_value(x) for x in v]
    if t is tuple:
        return [_MARK_TAG, *map(_enc_value, v)]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                raise EncodeError(f"dict keys in register values must be str, got {k!r}")
            out[k] = _enc_value(x)
        return out
    raise EncodeError(f"cannot encode a register value of type {t.__name__}")


def _enc_values(vals: list[Any]) -> list[Any]:
    """Register values, with tuples marked. Fast when they are all scalars."""
    types = set(map(type, vals))
    if types <= _PLAIN_VALUES:
        if float in types and any(v != v for v in vals):
            raise EncodeError("register values cannot be NaN")
        return vals
    if types <= _PLAIN_VALUES | {int}:
        _int_range(vals, "register values")
        return vals
    return [_enc_value(v) for v in vals]


def _enc_bools(vals: list[Any]) -> list[Any]:
    return vals


def _enc_ints(vals: list[Any]) -> list[Any]:
    _int_range(vals, "counter values", _U64)
    return vals


# -- sort order of elements ---------------------------------------------------------------------


def _elem_bytes(e: Any) -> bytes:
    return cbor2.dumps(e, canonical=True)


def _utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


def sort_elements(elems: Iterable[Any]) -> list[Any]:
    """Elements in the format's order: bytewise order of their canonical CBOR encodings.

    For text strings that is (UTF-8 length, code points); for ints: 0, 1, 2, ..., then -1, -2, ...

    >>> sort_elements(["b", "aa", 2, -1, 0, None, (1,)])
    [0, 2, -1, 'b', 'aa', (1,), None]
    """
    xs = list(elems)
    types = set(map(type, xs))
    if types == {str}:
        xs.sort()
        xs.sort(key=len if all(map(str.isascii, xs)) else _utf8_len)
        return xs
    if types == {int}:
        neg = sorted((x for x in xs if x < 0), reverse=True)
        pos = sorted(x for x in xs if x >= 0)
        return pos + neg
    if types == {bytes}:
        xs.sort()
        xs.sort(key=len)
        return xs
    return sorted(xs, key=_elem_bytes)


# -- per type -----------------------------------------------------------------------------------

Body = tuple[list[str], list[Any]]


def _enc_gcounter(x: GCounter) -> Body:
    tb = _Table(x._p)
    return tb.ids, [_flat_counts(x._p, tb, "GCounter")]


def _enc_pncounter(x: PNCounter) -> Body:
    tb = _Table(chain(x._p, x._n))
    return tb.ids, [_flat_counts(x._p, tb, "PNCounter"), _flat_counts(x._n, tb, "PNCounter")]


def _enc_gset(x: GSet) -> Body:
    return [], [_enc_elems(sort_elements(x._elems), "GSet")]


def _enc_twopset(x: TwoPSet) -> Body:
    return [], [_enc_elems(sort_elements(x._added), "TwoPSet"), _enc_elems(sort_elements(x._removed), "TwoPSet")]


def _enc_ts(ts: tuple[int, int, str], what: str) -> None:
    if type(ts[0]) is not int or type(ts[1]) is not int:
        raise EncodeError(f"{what}: bad timestamp {ts!r}")
    _check_uint(ts[0], f"{what}: timestamp wall time")
    _check_uint(ts[1], f"{what}: timestamp logical counter")


def _enc_lwwregister(x: LWWRegister) -> Body:
    ts = x._ts
    if ts is None:
        return [], []
    _enc_ts(ts, "LWWRegister")
    return [ts[2]], [ts[0], ts[1], 0, _enc_value(x._value)]


def _enc_timestamp(x: Timestamp) -> Body:
    _enc_ts(x, "Timestamp")
    if type(x[2]) is not str or not x[2]:
        raise EncodeError(f"Timestamp replica must be a non-empty str, got {x[2]!r}")
    return [x[2]], [x[0], x[1], 0]


def _enc_lwwmap(x: LWWMap) -> Body:
    entries = x._entries
    keys = list(entries)
    ents = list(entries.values())
    n = len(keys)
    ts = list(map(_first, ents))
    reps = list(map(_third, ts))
    walls = list(map(_first, ts))
    logicals = list(map(_counters_of, ts))
    tb = _Table(reps)
    if n:
        if set(map(type, walls)) != {int} or set(map(type, logicals)) != {int}:
            raise EncodeError("LWWMap: timestamps must hold ints")
        if min(walls) < 0 or max(walls) >= _U64 or min(logicals) < 0 or max(logicals) >= _U64:
            raise EncodeError("LWWMap: timestamp wall and logical parts must lie in 0 .. 2**64-1")
    # Order: by replica, then (wall, logical): two stable sorts, the second only if there are several writers.
    order = sorted(range(n), key=ts.__getitem__)
    if len(tb.ids) > 1:
        order.sort(key=reps.__getitem__)
    sts = list(map(ts.__getitem__, order))
    if any(map(eq, sts, islice(sts, 1, None))):
        # Two keys written with one timestamp (a reused replica id): break the tie by key bytes.
        kb = [_elem_bytes(k) for k in keys]
        order = sorted(range(n), key=lambda i: (reps[i], walls[i], logicals[i], kb[i]))
        sts = list(map(ts.__getitem__, order))
    okeys = _enc_elems(list(map(keys.__getitem__, order)), "LWWMap keys")
    oents = list(map(ents.__getitem__, order))
    oreps = list(map(_third, sts))
    owalls = list(map(_first, sts))
    ologicals = list(map(_counters_of, sts))
    present = list(map(_counters_of, oents))
    values = list(map(_third, oents))
    groups: list[Any] = []
    lo = 0
    while lo < n:
        r = oreps[lo]
        hi = bisect_right(oreps, r, lo) if len(tb.ids) > 1 else n
        ws = owalls[lo:hi]
        tombs = list(compress(range(hi - lo), map(not_, present[lo:hi])))
        vals = values[lo:hi]
        if any(vals[i] is not None for i in tombs):
            raise EncodeError("LWWMap: a removed key carries a value")
        groups.extend((tb.ix[r], [ws[0], *map(sub, ws[1:], ws)], ologicals[lo:hi], okeys[lo:hi],
                       _enc_values(vals), tombs))
        lo = hi
    return tb.ids, [groups]


def _ctx_parts(ctx: CausalContext) -> tuple[dict[str, int], set[tuple[str, int]]]:
    vv, cloud = ctx.vv, ctx.cloud
    if cloud and any(n <= vv.get(r, 0) + 1 for r, n in cloud):
        c = ctx.copy()
        c.compact()
        vv, cloud = c.vv, c.cloud
    return vv, cloud


def _enc_ctx_body(ctx: CausalContext) -> tuple[_Table, list[Any]]:
    vv, cloud = _ctx_parts(ctx)
    tb = _Table(chain(vv, map(itemgetter(0), cloud)))
    if cloud and max(map(_counters_of, cloud)) >= _U64:
        raise EncodeError("causal context: dot counters must be below 2**64")
    return tb, [_flat_counts(vv, tb, "causal context"), _enc_dotset(cloud, tb)]


def _enc_versionvector(x: VersionVector) -> Body:
    tb = _Table(x._vv)
    return tb.ids, [_flat_counts(x._vv, tb, "VersionVector")]


def _enc_causalcontext(x: CausalContext) -> Body:
    tb, body = _enc_ctx_body(x)
    return tb.ids, body


def _enc_singles(store: Any, tb: _Table, fun: bool) -> list[Any]:
    """AWSet / RWSet store: ``[singles, multi]`` (see docs/wire-format.md)."""
    index = store.index
    if len(index) == len(store):
        single = index
        multi: list[Any] = []
    else:
        mkeys = [e for e, s in store.items() if len(s) > 1]
        mdots = set(chain.from_iterable(store[e] for e in mkeys))
        single = {d: e for d, e in index.items() if d not in mdots}
        mkeys.sort(key=lambda e: min(store[e]))
        _enc_elems(mkeys, "set elements")
        multi = []
        for e in mkeys:
            multi.append(e)
            multi.append(_enc_dotfun(store[e], tb, _enc_bools) if fun else _enc_dotset(store[e], tb))
    dots = _sorted_dots(single)
    elems = list(map(single.__getitem__, dots))
    _enc_elems(elems, "set elements")
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


def _enc_store(cls: type, store: Any, tb: _Table) -> Any:
    if cls is AWSet:
        return _enc_singles(store, tb, False)
    if cls is RWSet:
        return _enc_singles(store, tb, True)
    if cls is MVRegister:
        return _enc_dotfun(store, tb, _enc_values)
    if cls is EWFlag:
        return _enc_dotset(store, tb)
    if cls is DWFlag:
        return _enc_dotfun(store, tb, _enc_bools)
    if cls is CCounter:
        return _enc_dotfun(store, tb, _enc_ints)
    if cls is ORMap:
        entries = sorted(store.items(), key=lambda kv: min(kernel.dots_of(kv[1])))
        _enc_elems([mk[0] for mk, _ in entries], "ORMap keys")
        out: list[Any] = []
        for (key, name), sub_store in entries:
            ncls = NESTABLE[name]
            out.append(key)
            out.append(TYPE_CODES[ncls])
            out.append(_enc_store(ncls, sub_store, tb))
        return out
    raise TypeError(f"no store encoding for {cls.__name__}")  # pragma: no cover


def _enc_causal(x: Causal) -> Body:
    tb, body = _enc_ctx_body(x._ctx)
    body.append(_enc_store(type(x), x._store, tb))
    return tb.ids, body


_ENCODERS: dict[int, Callable[[Any], Body]] = {
    1: _enc_gcounter,
    2: _enc_pncounter,
    3: _enc_gset,
    4: _enc_twopset,
    5: _enc_lwwregister,
    6: _enc_lwwmap,
    7: _enc_causal,
    8: _enc_causal,
    9: _enc_causal,
    10: _enc_causal,
    11: _enc_causal,
    12: _enc_causal,
    13: _enc_causal,
    20: _enc_versionvector,
    21: _enc_causalcontext,
    22: _enc_timestamp,
}

# ============================================================================================
# Decoding

#: Tags cbor2 decodes into Python objects by itself; all are refused but 2/3 (bignums), decoded by us.
BUILTIN_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261,
                1004, 43000, 55799)


def _refuse_builtin(tag: int) -> Callable[..., Any]:
    def refuse(*_args: Any) -> Any:
        raise SchemaError("message", f"CBOR tag {tag} is not allowed")
    return refuse


class _BigInt(int):
    """An int that came as a bignum: allowed only where data ints are (elements, register values)."""

    __slots__ = ()


def _bignum(negative: bool) -> Callable[..., Any]:
    def dec(value: Any, *_args: Any) -> Any:
        if type(value) is not bytes or not 9 <= len(value) <= _BIG_BYTES or value[0] == 0:
            raise SchemaError("message", "a bignum holds 9 to 128 bytes, without leading zeros "
                              "(smaller ints are plain CBOR ints)")
        n = int.from_bytes(value, "big")
        return _BigInt(-1 - n if negative else n)
    return dec


_SEMANTIC = {t: _refuse_builtin(t) for t in BUILTIN_TAGS}
_SEMANTIC[2] = _bignum(False)
_SEMANTIC[3] = _bignum(True)


def _tag_hook(tag: Any, _immutable: bool) -> Any:
    if tag.tag == TUPLE_TAG and tag.value is None:
        return _MARK
    raise SchemaError("message", f"CBOR tag {tag.tag} is not allowed here")


def _parse(data: bytes, limits: Limits) -> Any:
    """Plain CBOR data out of ``data``, with every CBOR feature the format does not use refused."""
    fp = io.BytesIO(data)
    try:
        obj = cbor2.CBORDecoder(
            fp,
            tag_hook=_tag_hook,
            semantic_decoders=_SEMANTIC,
            str_errors="strict",
            max_depth=limits.max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        ).decode()
    except cbor2.CBORDecodeEOF as exc:
        raise DecodeError(f"truncated message ({len(data)} bytes): {exc}") from exc
    except cbor2.CBORDecodeError as exc:
        cause = exc.__cause__
        if isinstance(cause, DecodeError):
            raise cause from exc
        raise DecodeError(f"malformed CBOR: {exc}") from exc
    end = fp.tell()
    if end != len(data):
        raise DecodeError(f"trailing bytes: the message ends at byte {end} of {len(data)}")
    return obj


_LOW_BYTES = bytes(range(0x80))


def _at(path: str, i: int | None) -> str:
    return path if i is None else f"{path}[{i}]"


class _Dec:
    """Decoding state of one message: the replica table, the limits, and what has been counted.

    Paths for error messages are built only when an error is raised (``path`` plus an optional index).
    """

    __slots__ = ("entries", "ids", "limits", "nesting", "used")

    def __init__(self, ids: list[str], limits: Limits) -> None:
        self.ids = ids
        self.limits = limits
        self.used: set[int] = set()
        self.entries = 0
        self.nesting = 0

    # -- primitives ---------------------------------------------------------------------------

    def count(self, n: int) -> None:
        self.entries += n
        if self.entries > self.limits.max_entries:
            raise PayloadTooLarge("number of entries", self.entries, self.limits.max_entries)

    @staticmethod
    def array(x: Any, path: str, i: int | None = None, size: int | None = None, stride: int = 1) -> list[Any]:
        if type(x) is not list:
            raise SchemaError(_at(path, i), f"expected an array, got {_kind(x)}")
        if size is not None and len(x) != size:
            raise SchemaError(_at(path, i), f"expected {size} items, got {len(x)}")
        if stride > 1 and len(x) % stride:
            raise SchemaError(_at(path, i), f"expected a multiple of {stride} items, got {len(x)}")
        return x

    @staticmethod
    def uint(x: Any, path: str) -> int:
        if type(x) is not int or x < 0:  # a bignum is a _BigInt, never an int here
            raise SchemaError(path, f"expected an unsigned int, got {_kind(x)}")
        return x

    def ridx(self, x: Any, path: str, i: int | None = None) -> str:
        if type(x) is not int or not 0 <= x < len(self.ids):
            raise SchemaError(_at(path, i), f"expected a replica index below {len(self.ids)}, got {_kind(x)}")
        self.used.add(x)
        return self.ids[x]

    def run(self, b: Any, path: str, i: int | None = None) -> list[int]:
        """Counters from a run of LEB128 gaps (each >= 1); strictly increasing, all below 2**64."""
        if type(b) is not bytes or not b:
            raise SchemaError(_at(path, i), f"expected a non-empty byte string of counter gaps, got {_kind(b)}")
        if max(b) < 0x80:
            self.count(len(b))  # before expanding: one counter per byte
            if 0 in b:
                raise SchemaError(_at(path, i), "a counter gap is 0")
            return list(accumulate(b))
        self.count(len(b) - len(b.translate(None, _LOW_BYTES)))  # one counter per final (< 0x80) byte
        cs = list(accumulate(_unleb128(b, _at(path, i))))
        if cs[-1] >= _U64:
            raise SchemaError(_at(path, i), "a counter is 2**64 or more")
        return cs

    def counts(self, xs: Any, path: str) -> dict[str, int]:
        """``[ix, n, ...]`` -> ``{replica: n}`` with indexes strictly ascending and n >= 1."""
        if type(xs) is not list or len(xs) % 2:
            self.array(xs, path, stride=2)
        ids = self.ids
        if len(xs) <= 8:  # the usual case: a few replicas
            out: dict[str, int] = {}
            last = -1
            for i in range(0, len(xs), 2):
                ix, n = xs[i], xs[i + 1]
                if type(ix) is not int or not last < ix < len(ids):
                    raise SchemaError(path, f"replica indexes must be strictly ascending and below {len(ids)}")
                if type(n) is not int or n < 1:
                    raise SchemaError(path, "counts must be ints >= 1")
                self.used.add(ix)
                out[ids[ix]] = n
                last = ix
            return out
        ixs = xs[::2]
        ns = xs[1::2]
        if ixs:
            if set(map(type, ixs)) != {int} or ixs[0] < 0 or ixs[-1] >= len(ids) \
                    or any(map(ge, ixs, islice(ixs, 1, None))):
                raise SchemaError(path, f"replica indexes must be strictly ascending and below {len(ids)}")
            if set(map(type, ns)) != {int} or min(ns) < 1:
                raise SchemaError(path, "counts must be ints >= 1")
            self.used.update(ixs)
            self.count(len(ixs))
        return dict(zip(map(ids.__getitem__, ixs), ns, strict=True))

    # -- elements and register values -----------------------------------------------------------

    def elems(self, xs: Any, path: str, i: int | None = None) -> list[Any]:
        if type(xs) is not list:
            self.array(xs, path, i)
        self.count(len(xs))
        if set(map(type, xs)) <= _SCALAR_INT_ELEMS:
            return xs
        p = _at(path, i)
        return [_elem(e, f"{p}[{j}]") for j, e in enumerate(xs)]

    def elem(self, x: Any, path: str, i: int) -> Any:
        self.count(1)
        t = type(x)
        if t is str or t is int or t is bytes:
            return x
        return _elem(x, _at(path, i))

    @staticmethod
    def values(xs: Any, path: str, i: int | None = None, size: int | None = None) -> list[Any]:
        if type(xs) is not list or (size is not None and len(xs) != size):
            _Dec.array(xs, path, i, size)
        types = set(map(type, xs))
        if types <= _PLAIN_INT_VALUES:
            if float in types and any(v != v for v in xs):
                raise SchemaError(_at(path, i), "NaN is not allowed in register values")
            return xs
        p = _at(path, i)
        return [_value(v, f"{p}[{j}]", 0) for j, v in enumerate(xs)]

    @staticmethod
    def bools(xs: Any, path: str, i: int, n: int) -> list[bool]:
        if type(xs) is not list or len(xs) != n:
            _Dec.array(xs, path, i, n)
        if xs and set(map(type, xs)) != {bool}:
            raise SchemaError(_at(path, i), "expected booleans")
        return xs

    @staticmethod
    def ints(xs: Any, path: str, i: int, n: int) -> list[int]:
        if type(xs) is not list or len(xs) != n:
            _Dec.array(xs, path, i, n)
        if xs and set(map(type, xs)) != {int}:
            raise SchemaError(_at(path, i), "expected ints")
        return xs

    # -- causality --------------------------------------------------------------------------------

    def context(self, vv_x: Any, cloud_x: Any, path: str) -> CausalContext:
        vv = self.counts(vv_x, f"{path}.vv")
        cloud: set[tuple[str, int]] = set()
        if cloud_x != []:
            for r, cs in self.dot_groups(cloud_x, f"{path}.cloud"):
                if cs[0] <= vv.get(r, 0) + 1:
                    raise SchemaError(f"{path}.cloud", f"dot ({r!r}, {cs[0]}) should be in the version vector "
                                      f"(compact form: cloud counters exceed vv + 1)")
                cloud.update(zip(repeat(r), cs))
        return CausalContext._raw(vv, cloud)

    def dot_groups(self, xs: Any, path: str, stride: int = 2) -> list[tuple[str, list[int]]]:
        """``[ix, run, ...]`` (with ``stride - 2`` more items per group, read by the caller)."""
        if type(xs) is not list or len(xs) % stride:
            self.array(xs, path, stride=stride)
        out = []
        last = -1
        for i in range(0, len(xs), stride):
            ix = xs[i]
            r = self.ridx(ix, path, i)
            if ix <= last:
                raise SchemaError(path, "replica indexes must be strictly ascending")
            last = ix
            out.append((r, self.run(xs[i + 1], path, i + 1)))
        return out

    @staticmethod
    def covered(r: str, cs: list[int], ctx: CausalContext, path: str) -> None:
        """Every dot ``(r, c)`` of a store lies in the context."""
        top = ctx.vv.get(r, 0)
        if cs[-1] > top:
            cloud = ctx.cloud
            for c in cs[bisect_left(cs, top + 1):]:
                if (r, c) not in cloud:
                    raise SchemaError(path, f"dot ({r!r}, {c}) is not in the causal context")

    def dotset(self, x: Any, ctx: CausalContext, path: str) -> set[tuple[str, int]]:
        out: set[tuple[str, int]] = set()
        for r, cs in self.dot_groups(x, path):
            self.covered(r, cs, ctx, path)
            out.update(zip(repeat(r), cs))
        return out

    def dotfun(self, xs: Any, ctx: CausalContext, path: str, kind: str) -> dict[tuple[str, int], Any]:
        out: dict[tuple[str, int], Any] = {}
        for g, (r, cs) in enumerate(self.dot_groups(xs, path, 3)):
            self.covered(r, cs, ctx, path)
            j = 3 * g + 2
            if kind == "values":
                vals = self.values(xs[j], path, j, len(cs))
            elif kind == "bools":
                vals = self.bools(xs[j], path, j, len(cs))
            else:
                vals = self.ints(xs[j], path, j, len(cs))
            out.update(zip(zip(repeat(r), cs), vals, strict=True))
        return out

    # -- stores -----------------------------------------------------------------------------------

    def setstore(self, x: Any, ctx: CausalContext, path: str, fun: bool) -> Any:
        """AWSet (``fun=False``) or RWSet (``fun=True``) store from ``[singles, multi]``."""
        if type(x) is not list or len(x) != 2:
            self.array(x, path, size=2)
        sx, mx = x
        stride = 4 if fun else 3
        spath = f"{path}.singles"
        keys: list[Any] = []
        index: dict[tuple[str, int], Any] = {}  # the singles' dots, in the order of ``keys``
        flags: list[bool] = []
        for g, (r, cs) in enumerate(self.dot_groups(sx, spath, stride)):
            self.covered(r, cs, ctx, spath)
            j = stride * g + 2
            es = self.elems(sx[j], spath, j)
            if len(es) != len(cs):
                raise SchemaError(_at(spath, j), f"expected {len(cs)} elements, got {len(es)}")
            index.update(zip(zip(repeat(r), cs), es, strict=True))  # groups have distinct replicas: no dot twice
            if keys:
                keys.extend(es)
            else:
                keys = es
            if fun:
                flags.extend(self.bools(sx[j + 1], spath, j + 1, len(cs)))
        mkeys: list[Any] = []
        msubs: list[Any] = []
        if mx != []:
            mpath = f"{path}.multi"
            self.array(mx, mpath, stride=2)
            last: tuple[str, int] | None = None
            for i in range(0, len(mx), 2):
                e = self.elem(mx[i], mpath, i)
                if fun:
                    sub_store: Any = self.dotfun(mx[i + 1], ctx, _at(mpath, i + 1), "bools")
                else:
                    sub_store = _AW_SUB(self.dotset(mx[i + 1], ctx, _at(mpath, i + 1)))
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
            subs = map(_AW_SUB, zip(index))
            store = _AW_STORE()
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

    def store(self, cls: type, x: Any, ctx: CausalContext, path: str) -> Any:
        if cls is AWSet:
            return self.setstore(x, ctx, path, False)
        if cls is RWSet:
            return self.setstore(x, ctx, path, True)
        if cls is MVRegister:
            return self.dotfun(x, ctx, path, "values")
        if cls is EWFlag:
            return self.dotset(x, ctx, path)
        if cls is DWFlag:
            return self.dotfun(x, ctx, path, "bools")
        if cls is CCounter:
            return self.dotfun(x, ctx, path, "ints")
        if cls is ORMap:
            if self.nesting >= self.limits.max_map_nesting:
                raise PayloadTooLarge("ORMap nesting", self.nesting + 1, self.limits.max_map_nesting)
            self.nesting += 1
            try:
                return self.ormap(x, ctx, path)
            finally:
                self.nesting -= 1
        raise SchemaError(path, f"no store encoding for {cls.__name__}")  # pragma: no cover

    def ormap(self, xs: Any, ctx: CausalContext, path: str) -> kernel.DotMap:
        self.array(xs, path, stride=3)
        entries: dict[Any, Any] = {}
        last: tuple[str, int] | None = None
        total = 0
        for i in range(0, len(xs), 3):
            key = self.elem(xs[i], path, i)
            code = xs[i + 1]
            ncls = _NESTED_CODES.get(code) if type(code) is int else None
            if ncls is None:
                raise SchemaError(_at(path, i + 1), f"not the type code of a nestable causal type: {code!r}")
            sub_store = self.store(ncls, xs[i + 2], ctx, _at(path, i + 2))
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


_SCALAR_INT_ELEMS = frozenset({str, bytes, _NoneType, int})
_PLAIN_INT_VALUES = frozenset({str, bytes, bool, _NoneType, float, int})


def _kind(x: Any) -> str:
    t = type(x)
    if t is int or t is bool or x is None:
        return f"{t.__name__} {x!r}"
    if t is list:
        return f"an array of {len(x)}"
    return t.__name__


def _unleb128(b: bytes, path: str) -> list[int]:
    gaps = []
    v = shift = 0
    for byte in b:
        v |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise SchemaError(path, "a counter gap is longer than 10 bytes")
        else:
            if byte == 0:
                raise SchemaError(path, "a counter gap is 0 or not in its shortest form")
            gaps.append(v)
            v = shift = 0
    if shift:
        raise SchemaError(path, "the run of counter gaps ends inside a gap")
    return gaps


def _elem(x: Any, path: str, depth: int = 0) -> Any:
    """A set element / map key in canonical form, or SchemaError."""
    t = type(x)
    if t is str or t is int or t is bytes or x is None:
        return x
    if t is _BigInt:
        return int(x)
    if t is float:
        if x != x:
            raise SchemaError(path, "NaN is not a valid element")
        if math.isfinite(x) and x.is_integer():
            raise SchemaError(path, f"integral float {x!r} is not canonical: elements carry it as an int")
        return x
    if t is list:
        return tuple([_elem(y, path, depth + 1) for y in x])
    if t is bool:
        raise SchemaError(path, "booleans are not canonical elements: elements carry True/False as 1/0")
    raise SchemaError(path, f"not a valid element: {_kind(x)}")


def _value(x: Any, path: str, depth: int) -> Any:
    """A register value (lists, marked tuples, dicts with str keys, scalars), or SchemaError."""
    if depth > MAX_VALUE_DEPTH:
        raise SchemaError(path, f"register values nest at most {MAX_VALUE_DEPTH} levels")
    t = type(x)
    if t is str or t is int or t is bytes or t is bool or x is None:
        return x
    if t is _BigInt:
        return int(x)
    if t is float:
        if x != x:
            raise SchemaError(path, "NaN is not allowed in register values")
        return x
    if t is list:
        if x and x[0] is _MARK:
            return tuple([_value(y, path, depth + 1) for y in x[1:]])
        return [_value(y, path, depth + 1) for y in x]
    if t is dict:
        out = {}
        for k, y in x.items():
            if type(k) is not str:
                raise SchemaError(path, f"register value dicts have str keys, got {_kind(k)}")
            out[k] = _value(y, path, depth + 1)
        return out
    if x is _MARK:
        raise SchemaError(path, "a tuple mark may only open an array")
    raise SchemaError(path, f"not a valid register value: {_kind(x)}")


# -- per type ---------------------------------------------------------------------------------


def _dec_gcounter(d: _Dec, body: list[Any]) -> GCounter:
    x = GCounter.__new__(GCounter)
    x._replica = None
    x._p = d.counts(body[0], "body.counts")
    return x


def _dec_pncounter(d: _Dec, body: list[Any]) -> PNCounter:
    x = PNCounter.__new__(PNCounter)
    x._replica = None
    x._p = d.counts(body[0], "body.increments")
    x._n = d.counts(body[1], "body.decrements")
    return x


def _unique_elems(d: _Dec, x: Any, path: str) -> set[Any]:
    es = d.elems(x, path)
    s = set(es)
    if len(s) != len(es):
        raise SchemaError(path, "an element appears twice")
    return s


def _dec_gset(d: _Dec, body: list[Any]) -> GSet:
    x = GSet.__new__(GSet)
    x._replica = None
    x._elems = _unique_elems(d, body[0], "body.elements")
    return x


def _dec_twopset(d: _Dec, body: list[Any]) -> TwoPSet:
    x = TwoPSet.__new__(TwoPSet)
    x._replica = None
    x._added = _unique_elems(d, body[0], "body.added")
    x._removed = _unique_elems(d, body[1], "body.removed")
    return x


def _dec_lwwregister(d: _Dec, body: list[Any]) -> LWWRegister:
    x = LWWRegister.__new__(LWWRegister)
    x._replica = None
    x._clock = None
    if not body:
        x._ts, x._value = None, None
        return x
    if len(body) != 4:
        raise SchemaError("body", f"expected 0 or 4 items, got {len(body)}")
    x._ts = (d.uint(body[0], "body.wall"), d.uint(body[1], "body.logical"), d.ridx(body[2], "body.replica"))
    x._value = _value(body[3], "body.value", 0)
    return x


def _dec_timestamp(d: _Dec, body: list[Any]) -> Timestamp:
    return Timestamp(d.uint(body[0], "body.wall"), d.uint(body[1], "body.logical"), d.ridx(body[2], "body.replica"))


def _dec_lwwmap(d: _Dec, body: list[Any]) -> LWWMap:
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


def _dec_versionvector(d: _Dec, body: list[Any]) -> VersionVector:
    v = VersionVector()
    v._vv = d.counts(body[0], "body.vv")
    return v


def _dec_causalcontext(d: _Dec, body: list[Any]) -> CausalContext:
    return d.context(body[0], body[1], "body")


def _causal_decoder(cls: type[Causal]) -> Callable[[_Dec, list[Any]], Causal]:
    def dec(d: _Dec, body: list[Any]) -> Causal:
        ctx = d.context(body[0], body[1], "body")
        store = d.store(cls, body[2], ctx, "body.store")
        return cls._delta(store, ctx)
    dec.__name__ = f"_dec_{cls.__name__.lower()}"
    return dec


#: type code -> (decoder, number of body items)
_DECODERS: dict[int, tuple[Callable[[_Dec, list[Any]], Any], int | None]] = {
    1: (_dec_gcounter, 1),
    2: (_dec_pncounter, 2),
    3: (_dec_gset, 1),
    4: (_dec_twopset, 2),
    5: (_dec_lwwregister, None),
    6: (_dec_lwwmap, 1),
    **{TYPE_CODES[c]: (_causal_decoder(c), 3) for c in (AWSet, RWSet, MVRegister, EWFlag, DWFlag, CCounter, ORMap)},
    20: (_dec_versionvector, 1),
    21: (_dec_causalcontext, 2),
    22: (_dec_timestamp, 3),
}
assert set(_DECODERS) == set(_ENCODERS) == set(_CLASS_OF)


def register(cls: type, code: int, encode_body: Callable[[Any], Body],
             decode_body: Callable[[Any, list[Any]], Any], arity: int | None) -> None:
    """Add a type to the one registry (for modules of this package that put their own values on the wire).

    ``encode_body(obj)`` returns ``(replica ids, body items)``; ``decode_body(dec, body)`` builds the object
    from the body items (``dec`` carries the replica table and limits: see ``_Dec``); ``arity`` is the number
    of body items (None: the decoder checks). Codes are never reused: a taken code or class raises ValueError.
    """
    if type(code) is not int or not 0 <= code < 1 << 16:
        raise ValueError(f"type codes are ints in 0 .. 65535, got {code!r}")
    if code in _CLASS_OF or cls in TYPE_CODES:
        owner = _CLASS_OF.get(code)
        if owner is cls and TYPE_CODES.get(cls) == code:
            return  # idempotent re-registration (a module imported twice)
        raise ValueError(f"type code {code} or class {cls.__name__} is already registered"
                         f"{f' (code {code} is {owner.__name__})' if owner else ''}")
    TYPE_CODES[cls] = code
    _CLASS_OF[code] = cls
    _ENCODERS[code] = encode_body
    _DECODERS[code] = (decode_body, arity)


def _table(x: Any, limits: Limits) -> list[str]:
    if type(x) is not list:
        raise SchemaError("replicas", f"expected an array of replica ids, got {_kind(x)}")
    if len(x) > limits.max_replicas:
        raise PayloadTooLarge("replica table", len(x), limits.max_replicas)
    if x:
        if set(map(type, x)) != {str} or "" in x:
            raise SchemaError("replicas", "replica ids are non-empty text strings")
        if any(map(str.__ge__, x, x[1:])):
            raise SchemaError("replicas", "replica ids must be sorted (by code point) and unique")
    return x


def decode(data: Any, replica: str | None = None, *, limits: Limits | None = None) -> Any:
    """The object ``data`` encodes; unbound, or bound to ``replica``. Raises :class:`DecodeError`.

    Checks, in order: size, CBOR well-formedness (no tags but the tuple mark, no indefinite lengths,
    no duplicate map keys, depth, no trailing bytes), the envelope (magic, version, type code), the
    payload's structure and meaning (counters, order, dots within the context, no dot or element twice,
    canonical elements), then the object's own ``_check()``. ``replica=`` binds CRDTs (ignored for
    VersionVector, CausalContext and Timestamp). Cost: O(size of the message).
    """
    if replica is not None and (type(replica) is not str or not replica):
        raise TypeError(f"replica must be a non-empty str or None, got {replica!r}")
    lim = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(lim, Limits):
        raise TypeError(f"limits must be a crdts.Limits, got {type(lim).__name__}")
    try:
        return _decode(data, replica, lim)
    except DecodeError:
        raise
    except InvariantError as exc:
        raise SchemaError("object", f"the decoded state breaks an invariant: {exc}") from exc
    except Exception as exc:
        raise DecodeError(f"malformed message: {type(exc).__name__}: {exc}") from exc


def _decode(data: Any, replica: str | None, lim: Limits) -> Any:
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) > lim.max_bytes:
        raise PayloadTooLarge("message size in bytes", len(data), lim.max_bytes)
    msg = _parse(data, lim)
    if type(msg) is not list or len(msg) < 4:
        raise DecodeError(f"not a crdts message: expected an array of at least 4 items, got {_kind(msg)}")
    magic, version, code = msg[0], msg[1], msg[2]
    if type(magic) is not int or magic != MAGIC:
        raise DecodeError(f"not a crdts message: magic {magic!r}, expected {MAGIC:#x}")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(version, SUPPORTED_VERSIONS)
    entry = _DECODERS.get(code) if type(code) is int else None
    if entry is None:
        raise UnknownType(code)
    fn, arity = entry
    body = msg[4:]
    if arity is not None and len(body) != arity:
        raise SchemaError("body", f"{_CLASS_OF[code].__name__} has {arity} body items, got {len(body)}")
    d = _Dec(_table(msg[3], lim), lim)
    obj = fn(d, body)
    if len(d.used) != len(d.ids):
        unused = [d.ids[i] for i in range(len(d.ids)) if i not in d.used]
        raise SchemaError("replicas", f"the table lists ids the payload never uses: {unused!r}")
    if lim.check_invariants and isinstance(obj, (CRDT, CausalContext)):
        obj._check()
    if lim.require_canonical and encode(obj) != data:
        raise SchemaError("message", "not in canonical form (re-encoding gives other bytes)")
    if replica is not None and isinstance(obj, CRDT):
        if isinstance(obj, (LWWRegister, LWWMap)):
            obj = obj.copy(replica=replica)
        else:
            obj._replica = replica
    return obj
