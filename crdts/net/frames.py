"""The messages regions exchange: small CBOR arrays ``[1, kind, ...]``, hardened like every other decoder.

===========  =========================================================================================
``hello``     ``[1, 0, region, incarnation, received]``: on every (re)connection; ``received`` is the last
              lsn of the other region's this one has committed (where the other resumes sending)
``batch``     ``[1, 1, from, upto, [[object name, delta bytes], ...]]``: the sender's log entries after lsn
              ``from`` up to ``upto`` (a receiver that has not got ``from`` answers with a ``hello``)
``ack``       ``[1, 2, upto]``: everything up to ``upto`` is committed here
``sums``      ``[1, 3, prefix, hashes]``: Merkle sums of the sender's keyspace under ``prefix`` (bytes: one
              8-byte hash per child bucket)
``want``      ``[1, 4, prefixes, names]``: the receiver's catch-up asks: sums of these buckets, the keys of
              these leaves (prefixes of full depth), or these objects' states
``keys``      ``[1, 5, prefix, [[name, hash], ...]]``: the objects of one leaf bucket and their hashes
``states``    ``[1, 6, [[name, state bytes], ...], final]``: full states asked for (catch-up); ``final`` is 1 on
              the last frame of an answer
``ping``      ``[1, 7]`` / ``pong`` ``[1, 8]``: keepalive
``done``      ``[1, 9, mark]``: the catch-up is complete as of the sender's lsn ``mark`` (the receiver acks it)
===========  =========================================================================================

Object names are text of at most 1,024 bytes; a frame is at most the region's ``max_frame_bytes``; every
counter (lsn, incarnation) is below 2**53.
"""

from __future__ import annotations

from typing import Any

import attrs
import cbor2

from ..errors import DecodeError
from ..sync.messages import parse_plain

__all__ = ["Frame", "decode_frame", "encode_frame"]

VERSION = 1
KINDS = ("hello", "batch", "ack", "sums", "want", "keys", "states", "ping", "pong", "done")
_CODE = {k: i for i, k in enumerate(KINDS)}
MAX_NAME = 1024
#: every lsn and incarnation a frame claims is below this (a lie cannot push a counter near SQLite's limit)
MAX_COUNTER = 1 << 53


@attrs.frozen(slots=True)
class Frame:
    kind: str
    fields: tuple[Any, ...] = ()


def encode_frame(kind: str, *fields: Any) -> bytes:
    return cbor2.dumps([VERSION, _CODE[kind], *fields])


def _uint(x: Any, what: str) -> int:
    if type(x) is not int or not 0 <= x < MAX_COUNTER:
        raise DecodeError(f"{what}: expected an unsigned integer, got {x!r:.40}")
    return x


def _name(x: Any, what: str) -> str:
    if type(x) is not str or not x or len(x.encode("utf-8")) > MAX_NAME:
        raise DecodeError(f"{what}: expected an object name (text, 1 to {MAX_NAME} bytes), got {x!r:.40}")
    return x


def _pairs(x: Any, what: str, second: str) -> list[tuple[str, Any]]:
    if type(x) is not list:
        raise DecodeError(f"{what}: expected a list")
    out = []
    for e in x:
        if type(e) is not list or len(e) != 2:
            raise DecodeError(f"{what}: expected [name, {second}] pairs")
        if type(e[1]) is not bytes:
            raise DecodeError(f"{what}: the {second} must be bytes")
        out.append((_name(e[0], what), e[1]))
    return out


def decode_frame(data: Any, max_bytes: int) -> Frame:
    """Decode and check one frame; anything wrong raises :class:`~crdts.errors.DecodeError`."""
    obj = parse_plain(data, max_bytes, max_depth=6)
    if type(obj) is not list or len(obj) < 2 or obj[0] != VERSION or type(obj[0]) is not int:
        raise DecodeError("not a region frame: expected [1, kind, ...]")
    code = obj[1]
    if type(code) is not int or not 0 <= code < len(KINDS):
        raise DecodeError(f"unknown frame kind {code!r:.20}")
    kind = KINDS[code]
    f = obj[2:]
    sizes = {"hello": 3, "batch": 3, "ack": 1, "sums": 2, "want": 2, "keys": 2, "states": 2, "ping": 0, "pong": 0,
             "done": 1}
    if len(f) != sizes[kind]:
        raise DecodeError(f"a {kind!r} frame has {sizes[kind]} fields, got {len(f)}")
    if kind == "hello":
        return Frame(kind, (_name(f[0], "hello.region"), _uint(f[1], "hello.incarnation"),
                            _uint(f[2], "hello.received")))
    if kind == "batch":
        frm, upto = _uint(f[0], "batch.from"), _uint(f[1], "batch.upto")
        if frm > upto:
            raise DecodeError(f"batch: from {frm} is after upto {upto}")
        return Frame(kind, (frm, upto, _pairs(f[2], "batch.entries", "delta")))
    if kind == "ack":
        return Frame(kind, (_uint(f[0], "ack.upto"),))
    if kind == "sums":
        if type(f[0]) is not bytes or type(f[1]) is not bytes or len(f[1]) % 8:
            raise DecodeError("sums: expected a prefix and 8-byte hashes (bytes)")
        return Frame(kind, (f[0], f[1]))
    if kind == "want":
        if type(f[0]) is not list or not all(type(p) is bytes for p in f[0]):
            raise DecodeError("want: expected a list of prefixes (bytes)")
        if type(f[1]) is not list:
            raise DecodeError("want: expected a list of names")
        return Frame(kind, (f[0], [_name(n, "want.names") for n in f[1]]))
    if kind == "keys":
        if type(f[0]) is not bytes:
            raise DecodeError("keys: expected a prefix (bytes)")
        pairs = _pairs(f[1], "keys.entries", "hash")
        if any(len(h) != 8 for _, h in pairs):
            raise DecodeError("keys: hashes are 8 bytes")
        return Frame(kind, (f[0], pairs))
    if kind == "states":
        if f[1] not in (0, 1) or type(f[1]) is not int:
            raise DecodeError("states: final is 0 or 1")
        return Frame(kind, (_pairs(f[0], "states.entries", "state"), f[1]))
    if kind == "done":
        return Frame(kind, (_uint(f[0], "done.mark"),))
    return Frame(kind, ())
