"""The format's machinery: limits, the registry of type codes, the envelope, hardened parsing, and the
primitives every type's body is made of (replica tables, dot runs, counts, elements, register values,
causal contexts, dot stores). The types' own body encoders live in the family modules of this package,
and register themselves through :func:`register_type` / :func:`register_causal`, the same public API a
user's own type uses (docs/extending.md).
"""

from __future__ import annotations

import io
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from itertools import accumulate, chain, compress, islice, repeat
from operator import ge, itemgetter, sub
from typing import Any, TypeVar, get_origin, overload

import attrs
import cbor2

from .._base import CRDT, MAX_VALUE_DEPTH, Causal
from ..causal import UINT_LIMIT, CausalContext
from ..errors import (
    CloudTooLarge,
    DecodeError,
    EncodeError,
    InvariantError,
    PayloadTooLarge,
    SchemaError,
    UnknownType,
    UnsupportedVersion,
)

#: First item of every message.
MAGIC = 0xCD
#: The wire format version this library writes by default; ``SUPPORTED_VERSIONS`` are the ones it reads and
#: can write (``encode(obj, version=1)``). Version 2 changed only the bodies of AWSet stores and LWWMap.
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
#: The version being written by the :func:`encode` call in progress (body encoders read it).
_WRITING: ContextVar[int] = ContextVar("crdts_codec_writing", default=FORMAT_VERSION)
#: CBOR tag (content: null) that, as the first item of an array inside a register value, marks a tuple.
TUPLE_TAG = 0xCD01

_U64 = UINT_LIMIT
#: Data ints (elements, register values) beyond 64 bits travel as bignums of at most 128 bytes.
_BIG = 1 << 1024
_I64 = 2**63  # what an array('q') holds: -2**63 .. 2**63-1
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
    defence: the codec's checks already cover every invariant). The parts a store decoder established as
    it read are left out (the store and element checks of a version-2 AWSet; the whole check of an LWWMap
    with scalar keys); the rest always runs.

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

class ReplicaTable:
    """The replica table of one message: sorted ids, id -> index, and the format ``version`` being written
    (store encoders whose layout differs between versions read it)."""

    __slots__ = ("ids", "ix", "version")

    def __init__(self, replicas: Iterable[str]) -> None:
        self.ids = sorted(set(replicas))
        self.ix = {r: i for i, r in enumerate(self.ids)}
        self.version = _WRITING.get()


def writing_version() -> int:
    """The format version the :func:`encode` call in progress writes (for body encoders)."""
    return _WRITING.get()


def check_uint(n: int, what: str) -> None:
    if not 0 <= n < _U64:
        raise EncodeError(f"{what} {n!r} is outside the format's range 0 .. 2**64-1")


def _int_range(xs: Iterable[Any], what: str, bound: int = 0, only_ints: bool = False) -> None:
    """Every int in ``xs`` (a flat iterable; ``only_ints``: a list holding nothing else) lies in
    ``-bound .. bound-1`` (default: data ints, 2**1024). C-level."""
    bound = bound or _BIG
    if only_ints and bound > _I64:
        try:
            array("q", xs)  # C-level: every int within int64, so within bound
            return
        except OverflowError:
            pass
    ints = xs if only_ints else list(filter(int.__instancecheck__, xs))
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
    """A strictly increasing list of counters >= 1 as a byte string of LEB128 gaps. C-level (``bytes`` of the
    gaps) but for the gaps of 128 or more, which alone take the varint path."""
    gaps = list(map(sub, counters, chain((0,), counters)))
    try:
        small = bytes(gaps)     # C-level; a gap of 256 or more raises
    except ValueError:
        small = b"\x80"
    if small.isascii():         # every gap below 0x80: one byte each
        return small
    big = list(compress(range(len(gaps)), map(ge, gaps, repeat(0x80))))
    if len(big) * 8 > len(gaps):
        return b"".join(map(_leb128, gaps))
    parts: list[bytes] = []
    lo = 0
    for i in big:
        parts.append(bytes(gaps[lo:i]))
        parts.append(_leb128(gaps[i]))
        lo = i + 1
    parts.append(bytes(gaps[lo:]))
    return b"".join(parts)


def enc_counts(counts: dict[str, int], tb: ReplicaTable, what: str) -> list[int]:
    """``{replica: n}`` as ``[ix, n, ix, n, ...]`` in table order."""
    if counts and max(counts.values()) >= _U64:
        raise EncodeError(f"{what}: counts must be below 2**64")
    ix = tb.ix
    out: list[int] = []
    for r in sorted(counts):
        out.append(ix[r])
        out.append(counts[r])
    return out


def _groups(dots: list[tuple[str, int]], tb: ReplicaTable) -> list[tuple[int, int, int]]:
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
_replica_of = itemgetter(0)


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


def enc_dotset(dots: Iterable[tuple[str, int]], tb: ReplicaTable) -> list[Any]:
    """DotSet: ``[ix, run, ix, run, ...]``."""
    ds = _sorted_dots(dots)
    out: list[Any] = []
    for ix, lo, hi in _groups(ds, tb):
        out.append(ix)
        out.append(_run_of(ds, lo, hi))
    return out


def enc_dotfun(fun: dict[tuple[str, int], Any], tb: ReplicaTable, conv: Callable[[list[Any]], list[Any]]) -> list[Any]:
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


def enc_elements(elems: list[Any], what: str) -> list[Any]:
    """Check that set elements / map keys fit the format (ints in range). Returns ``elems``."""
    try:
        "".join(elems)  # C-level: every element a str (the usual case), nothing to check
        return elems
    except TypeError:
        pass
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
        _int_range(elems, what, only_ints=types == {int})
    return elems


class _TupleMark:
    """What the tuple tag decodes to: valid only as the first item of an array in a register value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<tuple mark>"


_MARK = _TupleMark()
_MARK_TAG = cbor2.CBORTag(TUPLE_TAG, None)
_PLAIN_VALUES = frozenset({str, bytes, bool, _NoneType, float})


def enc_value(v: Any) -> Any:
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
        return [enc_value(x) for x in v]
    if t is tuple:
        return [_MARK_TAG, *map(enc_value, v)]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                raise EncodeError(f"dict keys in register values must be str, got {k!r}")
            out[k] = enc_value(x)
        return out
    raise EncodeError(f"cannot encode a register value of type {t.__name__}")


def enc_values(vals: list[Any]) -> list[Any]:
    """Register values, with tuples marked. Fast when they are all scalars."""
    types = set(map(type, vals))
    if types <= _PLAIN_VALUES:
        if float in types and any(v != v for v in vals):
            raise EncodeError("register values cannot be NaN")
        return vals
    if types <= _PLAIN_VALUES | {int}:
        _int_range(vals, "register values", only_ints=types == {int})
        return vals
    return [enc_value(v) for v in vals]


def enc_bools(vals: list[Any]) -> list[Any]:
    return vals


def enc_ints(vals: list[Any]) -> list[Any]:
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



def enc_timestamp(ts: tuple[int, int, str], what: str) -> None:
    """Check that a timestamp's wall and logical parts fit the format (ints in 0 .. 2**64-1)."""
    if type(ts[0]) is not int or type(ts[1]) is not int:
        raise EncodeError(f"{what}: bad timestamp {ts!r}")
    check_uint(ts[0], f"{what}: timestamp wall time")
    check_uint(ts[1], f"{what}: timestamp logical counter")


def _ctx_parts(ctx: CausalContext) -> tuple[dict[str, int], dict[str, set[int]]]:
    vv, cl = ctx.vv, ctx._cl
    if cl and any(min(cs) <= vv.get(r, 0) + 1 for r, cs in cl.items()):
        c = ctx.copy()
        c.compact()
        vv, cl = c.vv, c._cl
    return vv, cl


def enc_context(ctx: CausalContext) -> tuple[ReplicaTable, list[Any]]:
    """A causal context as body items ``[counts, cloud]``, with the replica table of its ids (extend the
    table's ids before building it if the rest of the body names other replicas)."""
    vv, cl = _ctx_parts(ctx)
    tb = ReplicaTable(chain(vv, cl))
    cloud: list[Any] = []
    for r in sorted(cl, key=tb.ix.__getitem__):   # per replica, in table order: one sort of its counters
        cs = sorted(cl[r])
        if cs[-1] >= _U64:
            raise EncodeError("causal context: dot counters must be below 2**64")
        cloud.append(tb.ix[r])
        cloud.append(_run(cs))
    return tb, [enc_counts(vv, tb, "causal context"), cloud]


def encode(obj: Any, *, version: int = FORMAT_VERSION) -> bytes:
    """The canonical bytes of ``obj`` (any crdts type or delta, VersionVector, CausalContext, Timestamp).

    Equal objects give identical bytes. ``version`` is the wire format to write: the current one by default,
    or an older one this library still reads (``version=1``, for peers that have not upgraded yet; see
    docs/wire-format.md). Raises ``TypeError`` for other objects, ``ValueError`` for a version it cannot
    write, and :class:`~crdts.errors.EncodeError` for a state the format cannot carry (an int outside
    ``-2**64 .. 2**64-1``, a negative timestamp). Cost: O(n log n) in the size of the state, O(n) when its
    per-replica runs are already in order (the usual case).
    """
    t = type(obj)
    code = TYPE_CODES.get(t)
    if code is None:
        raise TypeError(f"cannot encode {t.__name__}: not a crdts type (known: "
                        f"{', '.join(sorted(c.__name__ for c in TYPE_CODES))})")
    if version not in SUPPORTED_VERSIONS or type(version) is not int:
        raise ValueError(f"cannot write wire format version {version!r}; supported: {list(SUPPORTED_VERSIONS)}")
    token = _WRITING.set(version)
    try:
        table, body = _ENCODERS[code](obj)
        return cbor2.dumps([MAGIC, version, code, table, *body], canonical=True)
    except EncodeError:
        raise
    except (cbor2.CBOREncodeError, KeyError, OverflowError, ValueError) as exc:
        raise EncodeError(f"cannot encode this {t.__name__}: {exc}") from exc
    finally:
        _WRITING.reset(token)


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


class Decoder:
    """Decoding state of one message: the replica table, the limits, and what has been counted.

    A type's decoder (see :func:`register_type`) gets one and reads its body items through it: every
    method checks what it reads and raises :class:`~crdts.errors.SchemaError` with the path of the item
    (``path`` plus an optional index; paths are built only when an error is raised) and counts entries
    against ``limits.max_entries``. Replica indexes are resolved with :meth:`ridx`; the decoder checks
    at the end that every listed replica id was used.
    """

    __slots__ = ("checked", "checked_store", "entries", "ids", "limits", "nesting", "used", "version")

    def __init__(self, ids: list[str], limits: Limits, version: int = FORMAT_VERSION) -> None:
        self.ids = ids
        self.limits = limits
        #: the format version of the message (body decoders whose layout differs between versions read it)
        self.version = version
        self.used: set[int] = set()
        self.entries = 0
        self.nesting = 0
        #: ``(store, ctx, payload)`` when a store decoder built ``store`` with every invariant of
        #: ``kernel.check_store`` against ``ctx`` established as it read (the version-2 AWSet store does);
        #: ``payload`` is the ``_check_payload`` whose invariants it established too (None if it did not).
        #: A decoded object holding exactly that store and context skips those parts of its post-decode
        #: ``_check`` (the rest still runs)
        self.checked_store: tuple[Any, CausalContext, Any] | None = None
        #: the object a type decoder built with every invariant of its ``_check()`` established as it read
        #: (each named in that decoder's docstring: the LWWMap decoder with scalar keys), so ``decode`` does
        #: not run that check again
        self.checked: Any = None

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
        if b.isascii():         # every byte < 0x80 (C-level, word at a time): one gap per byte
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
        return [dec_element(e, f"{p}[{j}]") for j, e in enumerate(xs)]

    def elem(self, x: Any, path: str, i: int) -> Any:
        self.count(1)
        t = type(x)
        if t is str or t is int or t is bytes:
            return x
        return dec_element(x, _at(path, i))

    @staticmethod
    def values(xs: Any, path: str, i: int | None = None, size: int | None = None) -> list[Any]:
        if type(xs) is not list or (size is not None and len(xs) != size):
            Decoder.array(xs, path, i, size)
        types = set(map(type, xs))
        if types <= _PLAIN_INT_VALUES:
            if float in types and any(v != v for v in xs):
                raise SchemaError(_at(path, i), "NaN is not allowed in register values")
            return xs
        p = _at(path, i)
        return [dec_value(v, f"{p}[{j}]", 0) for j, v in enumerate(xs)]

    @staticmethod
    def bools(xs: Any, path: str, i: int, n: int) -> list[bool]:
        if type(xs) is not list or len(xs) != n:
            Decoder.array(xs, path, i, n)
        if xs and set(map(type, xs)) != {bool}:
            raise SchemaError(_at(path, i), "expected booleans")
        return xs

    @staticmethod
    def ints(xs: Any, path: str, i: int, n: int) -> list[int]:
        if type(xs) is not list or len(xs) != n:
            Decoder.array(xs, path, i, n)
        if xs and set(map(type, xs)) != {int}:
            raise SchemaError(_at(path, i), "expected ints")
        return xs

    # -- causality --------------------------------------------------------------------------------

    def context(self, vv_x: Any, cloud_x: Any, path: str) -> CausalContext:
        vv = self.counts(vv_x, f"{path}.vv")
        cloud: dict[str, set[int]] = {}
        if cloud_x != []:
            groups = self.dot_groups(cloud_x, f"{path}.cloud")
            n = sum(len(cs) for _, cs in groups)
            if n > CausalContext.max_cloud:     # no replica may hold them: refused before they are built
                raise CloudTooLarge(n, CausalContext.max_cloud)
            for r, cs in groups:
                if cs[0] <= vv.get(r, 0) + 1:
                    raise SchemaError(f"{path}.cloud", f"dot ({r!r}, {cs[0]}) should be in the version vector "
                                      f"(compact form: cloud counters exceed vv + 1)")
                cloud[r] = set(cs)
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
            seen = ctx._cloud_of(r)
            for c in cs[bisect_left(cs, top + 1):]:
                if c not in seen:
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

    # -- stores of causal types --------------------------------------------------------------------

    def store(self, cls: type, x: Any, ctx: CausalContext, path: str) -> Any:
        """The dot store of a causal type ``cls`` (its registered store decoder; see :func:`register_causal`)."""
        entry = _STORES.get(cls)
        if entry is None:
            raise SchemaError(path, f"no store encoding for {cls.__name__}")
        return entry[1](self, x, ctx, path)


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


def dec_element(x: Any, path: str, depth: int = 0) -> Any:
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
        return tuple([dec_element(y, path, depth + 1) for y in x])
    if t is bool:
        raise SchemaError(path, "booleans are not canonical elements: elements carry True/False as 1/0")
    raise SchemaError(path, f"not a valid element: {_kind(x)}")


def dec_value(x: Any, path: str, depth: int) -> Any:
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
            return tuple([dec_value(y, path, depth + 1) for y in x[1:]])
        return [dec_value(y, path, depth + 1) for y in x]
    if t is dict:
        out = {}
        for k, y in x.items():
            if type(k) is not str:
                raise SchemaError(path, f"register value dicts have str keys, got {_kind(k)}")
            out[k] = dec_value(y, path, depth + 1)
        return out
    if x is _MARK:
        raise SchemaError(path, "a tuple mark may only open an array")
    raise SchemaError(path, f"not a valid register value: {_kind(x)}")



# --------------------------------------------------------------------------------------------
# Registry of type codes: one place, one number per type. Codes never change meaning; a new type
# takes a new code, a changed payload takes a new FORMAT_VERSION. Codes below USER_CODES.start are
# the library's; a user's own types take codes in USER_CODES.

#: Type codes a user's own types may take (:func:`register_type`). Codes below are reserved for crdts.
USER_CODES = range(1024, 1 << 16)

Body = tuple[list[str], list[Any]]
TYPE_CODES: dict[type, int] = {}
_CLASS_OF: dict[int, type] = {}
_ENCODERS: dict[int, Callable[[Any], Body]] = {}
_DECODERS: dict[int, tuple[Callable[[Decoder, list[Any]], Any], int | None]] = {}
#: causal class -> (store encoder, store decoder): what ORMap entries and causal envelopes are made of
_STORES: dict[type, tuple[Callable[[Any, ReplicaTable], Any], Callable[[Decoder, Any, CausalContext, str], Any]]] = {}


def register_type(cls: type, code: int, *, encode: Callable[[Any], Body],
                  decode: Callable[[Decoder, list[Any]], Any], arity: int | None = None,
                  _builtin: bool = False) -> None:
    """Give ``cls`` a type code, a body encoder and a body decoder: :func:`encode`/:func:`decode` (and so
    every sync protocol and ``crdts inspect``) then handle it like a built-in type.

    ``encode(obj)`` returns ``(replica ids, body items)``: the ids the body refers to (by index in the
    sorted table: build a :class:`ReplicaTable` of them) and a list of plain CBOR items in a canonical
    order (equal objects must give equal items). ``decode(dec, body)`` builds the object from the body
    items, reading them through the :class:`Decoder` ``dec`` (which checks what it reads and resolves
    replica indexes); it must refuse anything it would not produce with a
    :class:`~crdts.errors.SchemaError`. ``arity`` is the number of body items (None: ``decode`` checks).
    After ``decode``, the object's ``_check()`` runs (unless ``Limits.check_invariants`` is off).

    Codes are ints in :data:`USER_CODES` (1024..65535); the ones below are the library's. A code or a class
    registered twice raises ValueError (re-registering the same pair is allowed: a module imported twice).
    """
    if type(code) is not int or not 0 <= code < 1 << 16:
        raise ValueError(f"type codes are ints in 0 .. 65535, got {code!r}")
    if not _builtin and code not in USER_CODES:
        raise ValueError(f"type code {code} is reserved for crdts' own types; use one in {USER_CODES.start} .. "
                         f"{USER_CODES.stop - 1}")
    if code in _CLASS_OF or cls in TYPE_CODES:
        owner = _CLASS_OF.get(code)
        if owner is cls and TYPE_CODES.get(cls) == code:
            return  # idempotent re-registration (a module imported twice)
        raise ValueError(f"type code {code} or class {cls.__name__} is already registered"
                         f"{f' (code {code} is {owner.__name__})' if owner else ''}")
    TYPE_CODES[cls] = code
    _CLASS_OF[code] = cls
    _ENCODERS[code] = encode
    _DECODERS[code] = (decode, arity)


def register_causal(cls: type, code: int, *, encode_store: Callable[[Any, ReplicaTable], Any],
                    decode_store: Callable[[Decoder, Any, CausalContext, str], Any], _builtin: bool = False) -> None:
    """Register a causal type (a dot store over a causal context, built on ``crdts._base.Causal``): its
    body is ``[context version vector, context cloud, store]``; you give only the store's encoding.

    ``encode_store(store, table)`` returns the store as one CBOR item (dots as replica indexes of
    ``table`` and runs: see :func:`enc_dotset`, :func:`enc_dotfun`); ``decode_store(dec, item, ctx, path)``
    builds the store back (:meth:`Decoder.dotset`, :meth:`Decoder.dotfun` check every dot is in ``ctx``).
    """

    def enc(x: Any) -> Body:
        tb, body = enc_context(x._ctx)
        body.append(encode_store(x._store, tb))
        return tb.ids, body

    def dec(d: Decoder, body: list[Any]) -> Any:
        ctx = d.context(body[0], body[1], "body")
        return cls._delta(decode_store(d, body[2], ctx, "body.store"), ctx)  # type: ignore[attr-defined]

    enc.__name__ = f"_enc_{cls.__name__.lower()}"
    dec.__name__ = f"_dec_{cls.__name__.lower()}"
    _STORES[cls] = (encode_store, decode_store)
    register_type(cls, code, encode=enc, decode=dec, arity=3, _builtin=_builtin)


def enc_store(cls: type, store: Any, tb: ReplicaTable) -> Any:
    """The registered encoding of a causal type's store (what an ORMap entry holds)."""
    entry = _STORES.get(cls)
    if entry is None:
        raise TypeError(f"no store encoding for {cls.__name__}")
    return entry[0](store, tb)


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


_C = TypeVar("_C")


@overload
def decode(data: bytes | bytearray | memoryview, cls: type[_C], /, *, replica: str | None = None,
           clock: Any = None, policy: Any = None, limits: Limits | None = None) -> _C: ...


@overload
def decode(data: bytes | bytearray | memoryview, /, *, replica: str | None = None, clock: Any = None,
           policy: Any = None, limits: Limits | None = None) -> Any: ...


def decode(data: Any, cls_or_replica: Any = None, /, *, replica: str | None = None, clock: Any = None,
           policy: Any = None, limits: Limits | None = None) -> Any:
    """The object ``data`` encodes; unbound, or bound to ``replica``. Raises :class:`DecodeError`.

    ``decode(data, AWSet)`` (or ``AWSet[str]``) also checks that the bytes hold that type (DecodeError
    otherwise) and types the result for a type checker. ``replica=`` binds the object; ``clock=`` and
    ``policy=`` restore the configuration the bytes do not carry (a clock for the last-writer-wins and
    conflict types, a policy for the conflict types: see ``bind``).

    Checks, in order: size, CBOR well-formedness (no tags but the tuple mark, no indefinite lengths,
    no duplicate map keys, depth, no trailing bytes), the envelope (magic, version, type code), the
    payload's structure and meaning (counters, order, dots within the context, no dot or element twice,
    canonical elements), then the object's own ``_check()``. ``replica=`` binds CRDTs (ignored for
    VersionVector, CausalContext and Timestamp). Cost: O(size of the message).
    """
    cls: Any = None
    if isinstance(cls_or_replica, type) or get_origin(cls_or_replica) is not None:
        cls = get_origin(cls_or_replica) or cls_or_replica
    elif cls_or_replica is not None:
        if replica is not None:
            raise TypeError("decode() got the replica twice (positionally and as replica=)")
        replica = cls_or_replica
    if replica is not None and (type(replica) is not str or not replica):
        raise TypeError(f"replica must be a non-empty str or None, got {replica!r}")
    lim = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(lim, Limits):
        raise TypeError(f"limits must be a crdts.Limits, got {type(lim).__name__}")
    try:
        obj = _decode(data, lim)
    except DecodeError:
        raise
    except InvariantError as exc:
        raise SchemaError("object", f"the decoded state breaks an invariant: {exc}") from exc
    except Exception as exc:
        raise DecodeError(f"malformed message: {type(exc).__name__}: {exc}") from exc
    if cls is not None and not isinstance(obj, cls):
        raise DecodeError(f"expected a {cls.__name__}, the bytes hold a {type(obj).__name__}")
    if isinstance(obj, CRDT) and (replica is not None or clock is not None or policy is not None):
        obj = obj.bind(replica, clock=clock, policy=policy)
    return obj


def _decode(data: Any, lim: Limits) -> Any:
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
    d = Decoder(_table(msg[3], lim), lim, version)
    obj = fn(d, body)
    if len(d.used) != len(d.ids):
        unused = [d.ids[i] for i in range(len(d.ids)) if i not in d.used]
        raise SchemaError("replicas", f"the table lists ids the payload never uses: {unused!r}")
    if lim.check_invariants and isinstance(obj, (CRDT, CausalContext)):
        done = d.checked_store
        if d.checked is obj:
            pass
        elif done is not None and isinstance(obj, Causal) and type(obj)._check is Causal._check \
                and obj._store is done[0] and obj._ctx is done[1]:
            # the store decoder established check_store's invariants (and maybe the payload's) as it read
            obj._check_parts(store=False, payload=type(obj)._check_payload is not done[2])
        else:
            obj._check()
    if lim.require_canonical and encode(obj, version=version) != data:
        raise SchemaError("message", "not in canonical form (re-encoding gives other bytes)")
    return obj
