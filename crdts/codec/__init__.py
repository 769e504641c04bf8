"""Canonical, versioned, hardened CBOR for every type, its deltas, and the causality values.

``encode(obj)`` gives bytes that depend only on the lattice state: two equal objects encode to the same
bytes whatever order their merges happened in and whichever replica encodes them. ``decode(data)``
accepts only what the format uses, checks every structural and semantic rule before it builds an
object, runs the object's ``_check()``, and raises :class:`~crdts.errors.DecodeError` (or a subclass)
for anything else — never another exception, never a partial object. The format is specified in
docs/wire-format.md; this package is its reference implementation: ``_wire`` holds the envelope, the
hardened parser and the primitives, and one module per family of types registers their bodies through
:func:`register_type` and :func:`register_causal`, the public API for your own types too
(docs/extending.md).

>>> from crdts import AWSet, decode, encode
>>> a = AWSet("eu-west")
>>> d = a.add("apple")
>>> data = encode(d)
>>> len(data) <= 64, data[:4].hex()             # array header, magic 0xCD, version 2
(True, '8718cd02')
>>> back = decode(data)
>>> back == d, back.replica, sorted(back.value)
(True, None, ['apple'])
>>> decode(data, replica="us-east").replica
'us-east'
>>> decode(data + b"\\x00")
Traceback (most recent call last):
...
crdts.errors.DecodeError: trailing bytes: the message ends at byte 29 of 30

Layout of every message (a CBOR array)::

    [0xCD, version, type_code, [replica ids, sorted], *body]

``version`` is 2 (:data:`FORMAT_VERSION`); ``decode`` also reads version 1, and ``encode(obj, version=1)``
writes it (the two differ only in the bodies of AWSet stores and LWWMap). Replica ids are listed once and
referred to by their index; runs of dot counters are byte strings of LEB128 gaps; entries are arrays sorted
by our own key functions, so no CBOR map order is relied on.
"""

from __future__ import annotations

from ..errors import DecodeError, EncodeError, PayloadTooLarge, SchemaError, UnknownType, UnsupportedVersion
from . import causality, counters, flags, maps, registers, retention, sets  # noqa: F401  (register the built-in types)
from ._wire import (
    BUILTIN_TAGS,
    DEFAULT_LIMITS,
    FORMAT_VERSION,
    MAGIC,
    SUPPORTED_VERSIONS,
    TUPLE_TAG,
    TYPE_CODES,
    USER_CODES,
    Body,
    Decoder,
    Limits,
    ReplicaTable,
    check_uint,
    dec_element,
    dec_value,
    decode,
    enc_bools,
    enc_context,
    enc_counts,
    enc_dotfun,
    enc_dotset,
    enc_elements,
    enc_ints,
    enc_timestamp,
    enc_value,
    enc_values,
    encode,
    register_causal,
    register_type,
    sort_elements,
)

__all__ = [
    "BUILTIN_TAGS",
    "DEFAULT_LIMITS",
    "FORMAT_VERSION",
    "MAGIC",
    "SUPPORTED_VERSIONS",
    "TUPLE_TAG",
    "TYPE_CODES",
    "USER_CODES",
    "Body",
    "DecodeError",
    "Decoder",
    "EncodeError",
    "Limits",
    "PayloadTooLarge",
    "ReplicaTable",
    "SchemaError",
    "UnknownType",
    "UnsupportedVersion",
    "check_uint",
    "dec_element",
    "dec_value",
    "decode",
    "enc_bools",
    "enc_context",
    "enc_counts",
    "enc_dotfun",
    "enc_dotset",
    "enc_elements",
    "enc_ints",
    "enc_timestamp",
    "enc_value",
    "enc_values",
    "encode",
    "register_causal",
    "register_type",
    "sort_elements",
]
