"""Op messages on the wire: crdts.encode/decode round trips, canonical bytes, hardened decoding."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdts import CRDTError, DecodeError, Limits, Timestamp, decode, encode
from crdts.errors import EncodeError, MalformedOp, ReplicaClash, SchemaError
from crdts.ops import (
    Ack,
    Add,
    Assign,
    Clear,
    Decrement,
    Increment,
    OpAWSet,
    OpMessage,
    OpORMap,
    Remove,
    Update,
)

MESSAGES = [
    OpMessage("a", 1, (), Increment(0)),
    OpMessage("a", 7, (("b", 3), ("c", 1)), Decrement(2**64 - 1)),
    OpMessage("a", 2, (), Increment(4, total=-(2**64))),
    OpMessage("a", 1, (), Assign([1, (2, "x"), {"k": None}, 1.5, b"\x00", True])),
    OpMessage("a", 1, (("b", 1),), Assign("v", Timestamp(2**63, 5, "a"))),
    OpMessage("a", 1, (), Add(("t", 1, -2, None, 2.5))),
    OpMessage("a", 1, (), Add(2**70)),
    OpMessage("a", 1, (), Remove("x")),
    OpMessage("a", 1, (), Clear()),
    OpMessage("a", 1, (), Update("k", "ORMap", Update(("n", 1), "CCounter", Decrement(1, -1)))),
    OpMessage("a", 1, (), Update("k", "MVRegister", Assign((1,)))),
    OpMessage("a", 1, (), Update("k", "AWSet", Clear())),
]


@pytest.mark.parametrize("m", MESSAGES, ids=repr)
def test_round_trip_is_exact_and_canonical(m: OpMessage) -> None:
    data = encode(m)
    back = decode(data, limits=Limits(require_canonical=True))
    assert back == m and type(back.op) is type(m.op)
    assert encode(back) == data


def test_ack_round_trip() -> None:
    a = Ack("b", (("a", 3), ("b", 9)))
    assert decode(encode(a)) == a


def test_an_op_is_smaller_than_its_delta() -> None:
    a = OpAWSet("eu-west", ["eu-west", "us-east"])
    from crdts import AWSet

    assert len(encode(a.add("apple"))) < len(encode(AWSet("eu-west").add("apple")))


def _raw(m: OpMessage) -> list[Any]:
    import cbor2

    return cbor2.loads(encode(m))  # type: ignore[no-any-return]


def _bytes(items: list[Any]) -> bytes:
    import cbor2

    return cbor2.dumps(items, canonical=True)


BASE = OpMessage("a", 1, (("b", 2),), Add("x"))


@pytest.mark.parametrize(("name", "edit"), [
    ("origin in its deps", lambda x: [*x[:6], [0, 1, 1, 2], *x[7:]]),
    ("seq zero", lambda x: [*x[:5], 0, *x[6:]]),
    ("seq negative", lambda x: [*x[:5], -1, *x[6:]]),
    ("unknown opcode", lambda x: [*x[:7], [99, "x"]]),
    ("opcode not an int", lambda x: [*x[:7], ["add", "x"]]),
    ("op arity", lambda x: [*x[:7], [3, "x", "y"]]),
    ("empty op", lambda x: [*x[:7], []]),
    ("bool element", lambda x: [*x[:7], [3, True]]),
    ("integral float element", lambda x: [*x[:7], [3, 2.0]]),
    ("unknown nested kind", lambda x: [*x[:7], [6, "k", 8, [3, "x"]]]),
    ("deps unsorted", lambda x: [*x[:6], [1, 2, 0, 1], *x[7:]]),
    ("deps zero", lambda x: [*x[:6], [1, 0], *x[7:]]),
    ("replica index out of range", lambda x: [*x[:4], 5, *x[5:]]),
    ("unused table id", lambda x: [*x[:3], ["a", "b", "c"], *x[4:]]),
    ("missing body item", lambda x: x[:7]),
])
def test_semantic_errors_are_schema_errors(name: str, edit: Any) -> None:
    with pytest.raises(DecodeError):
        decode(_bytes(edit(_raw(BASE))))


def test_lww_timestamp_must_be_the_origins() -> None:
    raw = _raw(OpMessage("a", 1, (("b", 1),), Assign("v", Timestamp(1, 0, "a"))))
    raw[7][4] = 1  # the timestamp's replica index: "b"
    with pytest.raises(SchemaError, match="origin"):
        decode(_bytes(raw))


def test_nesting_is_bounded() -> None:
    op: Any = Update("k", "AWSet", Add("x"))
    raw: Any = [6, "k", 7, [3, "x"]]
    for _ in range(17):
        op = Update("k", "ORMap", op)
        raw = [6, "k", 13, raw]
    with pytest.raises(EncodeError):
        encode(OpMessage("a", 1, (), op))
    with pytest.raises(DecodeError, match="nest"):
        decode(_bytes([0xCD, 1, 30, ["a"], 0, 1, [], raw]))


@pytest.mark.parametrize("m", MESSAGES[:6], ids=repr)
def test_every_truncation_is_a_decode_error(m: OpMessage) -> None:
    data = encode(m)
    for i in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:i])
    with pytest.raises(DecodeError, match="trailing"):
        decode(data + b"\x00")


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_crdt_errors(data: bytes) -> None:
    with contextlib.suppress(CRDTError):
        decode(b"\x88\x18\xcd\x01\x18\x1e" + data)


@given(st.sampled_from(MESSAGES), st.data())
def test_mutated_messages_decode_to_valid_messages_or_fail_cleanly(m: OpMessage, data: st.DataObject) -> None:
    """Flip a byte: decode refuses it, or what it gives is either applied or refused with MalformedOp (or, for
    an operation of the receiver's own id that it never made, ReplicaClash)."""
    raw = bytearray(encode(m))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    try:
        back = decode(bytes(raw))
    except CRDTError:
        return
    x = OpORMap("a", ["a", "b", "c"]) if type(back.op) is Update else OpAWSet("a", ["a", "b", "c"])
    with contextlib.suppress(MalformedOp, ReplicaClash):
        x.apply(back)
    x._check()
