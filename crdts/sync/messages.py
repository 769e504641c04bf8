"""The sync protocols' messages: a small CBOR envelope around a payload of codec bytes.

Every message is a CBOR array ``[version, kind, *metadata, payload?, registry?]``. The payload, when present,
is a byte string holding ``crdts.encode(delta)``, so the bytes a message spends on protocol metadata
(sequence numbers, acks, digests) are counted apart from the CRDT payload. ``registry``, optional on every
kind, is a byte string holding ``crdts.encode`` of the sender's retirement registry
(:class:`crdts.retention.Retirements`), piggybacked when it changed (docs/retention.md). Decoding is hardened the
same way as the codec: no tags, no indefinite lengths, no duplicate keys, bounded depth, no trailing
bytes, and every field checked before a protocol sees it.
"""

from __future__ import annotations

import io
from typing import Any

import attrs
import cbor2

from ..codec import DEFAULT_LIMITS
from ..errors import DecodeError

__all__ = ["Message", "decode_message", "encode_message", "parse_plain"]

VERSION = 1

#: kind -> (metadata field checks, has payload)
KINDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "state": ((), True),          # full state gossip
    "delta": ((), True),          # classic delta-group (Algorithm 1)
    "seq": (("uint",), True),     # causal delta-interval / bprr: the sender's counter c after the interval
    "full": (("uint",), True),    # full-state fallback of the causal protocols, with the counter c
    "ack": (("uint",), False),    # acknowledges every interval up to the counter
    "digest": (("vv",), False),   # what the sender's log holds: {origin: highest contiguous seq}
    "log": (("entries3",), False),  # log entries [origin, seq, payload bytes] the receiver lacked
    "ops": (("entries4",), False),  # op-based flooding: [origin, seq, deps vv, op bytes]
    "snapshot": (("vv",), True),  # digest protocol: full state plus the digest it covers
    "reset": ((), False),         # "I lost my state": the receiver forgets what we acknowledged
    "opsync": (("replica", "vv"), False),  # op-based: the sender's replica id and what it has delivered
    "slog": (("entries_osbs",), False),   # signed digest log entries [origin, seq, payload, signature]
    "sops": (("entries_osdbs",), False),  # signed operations [origin, seq, deps vv, op bytes, signature]
    "registry": ((), False),      # only the retirement registry (the optional last field, required here)
}
_CODES = {k: i for i, k in enumerate(KINDS)}
_NAMES = dict(enumerate(KINDS))
#: The default bound on a message, checked before it is parsed: the codec's (a message is its payload plus a
#: little metadata, and the payload is decoded under the codec's limit anyway). ``SyncLimits`` sets it per node.
MAX_MESSAGE_BYTES = DEFAULT_LIMITS.max_bytes


@attrs.frozen(slots=True)
class Message:
    """A decoded protocol message. ``payload`` is codec bytes (or None); ``meta`` the metadata fields."""

    kind: str
    meta: tuple[Any, ...] = ()
    payload: bytes | None = None
    #: the sender's retirement registry (codec bytes, not decoded yet), when it piggybacked one
    registry: bytes | None = None

    @property
    def payload_bytes(self) -> int:
        return 0 if self.payload is None else len(self.payload)


def encode_message(kind: str, *meta: Any, payload: bytes | None = None, registry: bytes | None = None) -> bytes:
    """Encode one message. The result's length minus ``len(payload)`` is its metadata cost. ``registry``
    (codec bytes of a retirement registry) rides along as an optional last field."""
    fields: list[Any] = [VERSION, _CODES[kind], *meta]
    if KINDS[kind][1]:
        if payload is None:
            raise ValueError(f"a {kind!r} message carries a payload")
        fields.append(payload)
    if registry is not None:
        fields.append(bytes(registry))
    return cbor2.dumps(fields, canonical=True)


def _reject_tag(*_args: Any) -> Any:
    raise ValueError("CBOR tags are not allowed in sync messages")


_NO_TAGS = {t: _reject_tag for t in (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260,
                                     261, 1004, 43000, 55799)}


def _uint(v: Any, where: str) -> int:
    """An unsigned int below 2**64."""
    if type(v) is not int or v < 0 or v >= 2**64:
        raise DecodeError(f"{where}: expected an unsigned integer, got {v!r}")
    return v


def _replica(v: Any, where: str) -> str:
    if type(v) is not str or not v or len(v) > 1024:
        raise DecodeError(f"{where}: expected a replica id (non-empty str), got {v!r}")
    return v


def _vv(v: Any, where: str) -> dict[str, int]:
    if type(v) is not list or len(v) % 2:
        raise DecodeError(f"{where}: expected a flat [replica, count, ...] list")
    out: dict[str, int] = {}
    for i in range(0, len(v), 2):
        r = _replica(v[i], where)
        if r in out:
            raise DecodeError(f"{where}: replica {r!r} listed twice")
        out[r] = _uint(v[i + 1], where)
    return out


def vv_to_wire(vv: dict[str, int]) -> list[Any]:
    """A version vector as the flat, sorted list the messages carry."""
    out: list[Any] = []
    for r in sorted(vv):
        out += [r, vv[r]]
    return out


def _entries(v: Any, where: str, shape: str) -> list[tuple[Any, ...]]:
    """A list of entries, each checked field by field: ``o`` origin, ``s`` seq, ``d`` deps vv, ``b`` bytes."""
    if type(v) is not list:
        raise DecodeError(f"{where}: expected a list of entries")
    out: list[tuple[Any, ...]] = []
    size = len(shape)
    for e in v:
        if type(e) is not list or len(e) != size:
            raise DecodeError(f"{where}: expected entries of {size} items, got {e!r:.80}")
        fields: list[Any] = []
        for f, x in zip(shape, e, strict=True):
            if f == "o":
                fields.append(_replica(x, where))
            elif f == "s":
                fields.append(_uint(x, where))
            elif f == "d":
                fields.append(_vv(x, where))
            elif type(x) is not bytes:
                raise DecodeError(f"{where}: entry payload must be bytes")
            else:
                fields.append(x)
        out.append(tuple(fields))
    return out


_CHECKS = {"uint": _uint, "vv": _vv, "replica": _replica,
           "entries3": lambda v, w: _entries(v, w, "osb"), "entries4": lambda v, w: _entries(v, w, "osdb"),
           "entries_osbs": lambda v, w: _entries(v, w, "osbb"), "entries_osdbs": lambda v, w: _entries(v, w, "osdbb")}


def parse_plain(data: Any, max_bytes: int, max_depth: int = 8) -> Any:
    """Plain CBOR data (arrays, ints, text, bytes, ...) out of ``data``, hardened as the codec is: a size limit
    checked first, no tags, no indefinite lengths, no duplicate map keys, bounded depth, no trailing bytes.
    Raises :class:`~crdts.errors.DecodeError` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"a message is bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise DecodeError(f"message of {len(data)} bytes is over the limit of {max_bytes}")
    try:
        fp = io.BytesIO(bytes(data))
        obj = cbor2.CBORDecoder(fp, tag_hook=_reject_tag, semantic_decoders=_NO_TAGS, max_depth=max_depth,
                                allow_indefinite=False, allow_duplicate_keys=False).decode()
        if fp.tell() != len(data):
            raise DecodeError(f"{len(data) - fp.tell()} trailing bytes after the message")
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"malformed message: {exc}") from exc
    return obj


def decode_message(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Decode and check one message; anything wrong raises :class:`~crdts.errors.DecodeError`."""
    obj = parse_plain(data, max_bytes, max_depth=8)
    if type(obj) is not list or len(obj) < 2:
        raise DecodeError("a sync message is an array [version, kind, ...]")
    if obj[0] != VERSION or type(obj[0]) is not int:
        raise DecodeError(f"unsupported sync message version {obj[0]!r} (this library speaks {VERSION})")
    kind = _NAMES.get(obj[1]) if type(obj[1]) is int else None
    if kind is None:
        raise DecodeError(f"unknown sync message kind {obj[1]!r}")
    checks, has_payload = KINDS[kind]
    expected = 2 + len(checks) + has_payload
    if len(obj) not in (expected, expected + 1):
        raise DecodeError(f"a {kind!r} message has {expected} fields (or {expected + 1} with a registry), "
                          f"got {len(obj)}")
    meta = tuple(_CHECKS[c](obj[2 + i], f"{kind} field {i}") for i, c in enumerate(checks))
    payload = None
    if has_payload:
        payload = obj[expected - 1]
        if type(payload) is not bytes:
            raise DecodeError(f"a {kind!r} message's payload must be a byte string")
    registry = None
    if len(obj) > expected:
        registry = obj[expected]
        if type(registry) is not bytes:
            raise DecodeError(f"a {kind!r} message's retirement registry must be a byte string")
    if kind == "registry" and registry is None:
        raise DecodeError("a 'registry' message carries a retirement registry")
    return Message(kind, meta, payload, registry)
