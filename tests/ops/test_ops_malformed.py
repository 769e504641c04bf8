"""A malformed op raises MalformedOp and changes nothing: no effect, nothing buffered, logged or counted."""

from __future__ import annotations

from typing import Any

import pytest

from crdts import HLC, Timestamp
from crdts.errors import MalformedOp
from crdts.ops import (
    Add,
    Assign,
    Clear,
    Decrement,
    Increment,
    OpAWSet,
    OpCCounter,
    OpLWWRegister,
    OpMessage,
    OpMVRegister,
    OpORMap,
    OpPNCounter,
    Remove,
    Update,
)
from crdts.ops._base import MAX_NESTING

GROUP = ["a", "b", "c"]


def good(op: Any, origin: str = "b", seq: int = 1, deps: Any = ()) -> OpMessage:
    return OpMessage(origin, seq, deps, op)


ENVELOPES = [
    ("not a message", {"origin": "b", "seq": 1}),
    ("a tuple", ("b", 1, (), Add("x"))),
    ("unknown origin", OpMessage("zz", 1, (), Add("x"))),
    ("origin not a str", OpMessage(1, 1, (), Add("x"))),
    ("seq zero", OpMessage("b", 0, (), Add("x"))),
    ("seq negative", OpMessage("b", -3, (), Add("x"))),
    ("seq a bool", OpMessage("b", True, (), Add("x"))),
    ("seq a str", OpMessage("b", "1", (), Add("x"))),
    ("seq beyond 64 bits", OpMessage("b", 1 << 64, (), Add("x"))),
    ("deps a list", OpMessage("b", 1, [("a", 1)], Add("x"))),
    ("deps a dict", OpMessage("b", 1, {"a": 1}, Add("x"))),
    ("deps unsorted", OpMessage("b", 1, (("c", 1), ("a", 1)), Add("x"))),
    ("deps repeated", OpMessage("b", 1, (("a", 1), ("a", 2)), Add("x"))),
    ("deps name the origin", OpMessage("b", 2, (("b", 1),), Add("x"))),
    ("deps zero count", OpMessage("b", 1, (("a", 0),), Add("x"))),
    ("deps float count", OpMessage("b", 1, (("a", 1.0),), Add("x"))),
    ("deps empty replica", OpMessage("b", 1, (("", 1),), Add("x"))),
    ("deps triple", OpMessage("b", 1, (("a", 1, 2),), Add("x"))),
    # a gap *and* malformed: must raise, not sit in the buffer
    ("future and malformed", OpMessage("b", 9, (("a", 5),), Add([1]))),
]

OPS: dict[type, list[tuple[str, Any]]] = {
    OpAWSet: [
        ("counter op", Increment(1)),
        ("unhashable element", Add([1])),
        ("non-canonical bool", Add(True)),
        ("non-canonical float", Remove(2.0)),
        ("NaN", Add(float("nan"))),
        ("nested non-canonical", Add(("t", True))),
        ("a class", Clear),
        ("None op", None),
    ],
    OpPNCounter: [
        ("set op", Add("x")),
        ("negative", Increment(-1)),
        ("str amount", Decrement("1")),
        ("bool amount", Increment(True)),
        ("total on a plain counter", Increment(1, total=3)),
    ],
    OpCCounter: [
        ("no total", Increment(1)),
        ("float total", Decrement(1, total=1.5)),
        ("negative", Increment(-2, total=0)),
    ],
    OpMVRegister: [
        ("timestamped", Assign(1, Timestamp(1, 0, "b"))),
        ("bad value", Assign(object())),
        ("non-str dict key", Assign({1: 2})),
        ("set op", Add("x")),
    ],
    OpLWWRegister: [
        ("no timestamp", Assign(1)),
        ("tuple timestamp", Assign(1, (1, 0, "b"))),
        ("someone else's timestamp", Assign(1, Timestamp(1, 0, "c"))),
        ("negative wall", Assign(1, Timestamp(-1, 0, "b"))),
        ("bad value", Assign({"k": {3}}, Timestamp(1, 0, "b"))),
    ],
    OpORMap: [
        ("unknown kind", Update("k", "RWSet", Add("x"))),
        ("kind mismatch", Update("k", "AWSet", Increment(1, 1))),
        ("counter without total", Update("k", "CCounter", Increment(1))),
        ("bad key", Update(["k"], "AWSet", Add("x"))),
        ("bad nested element", Update("k", "AWSet", Add({1}))),
        ("bad remove key", Remove(1.0)),
        ("bare set op", Add("x")),
        ("deep nesting", None),  # built below
    ],
}


def _deep() -> Update:
    op: Any = Add("x")
    op = Update("k", "AWSet", op)
    for _ in range(MAX_NESTING + 1):
        op = Update("k", "ORMap", op)
    return op


def _replica(cls: type) -> Any:
    if cls is OpLWWRegister:
        return cls("a", GROUP, clock=HLC("a", time_source=lambda: 5))
    return cls("a", GROUP)


def _seed(x: Any) -> None:
    """Some state, so 'unchanged' means something: an op of each replica, delivered."""
    if isinstance(x, OpAWSet):
        x.add("x")
    elif isinstance(x, (OpPNCounter, OpCCounter)):
        x.increment(2)
    elif isinstance(x, (OpMVRegister, OpLWWRegister)):
        x.assign("v")
    else:
        x.update("k", OpAWSet, lambda s: s.add("x"))


def snapshot(x: Any) -> Any:
    tcb = x.broadcast
    return (x.value, x.to_state(), tcb.delivered, tcb.buffered(), tcb.log_since({}), tcb.duplicates,
            tcb.metadata())


CASES = [(cls, name, op) for cls, ops in OPS.items() for name, op in ops]


@pytest.mark.parametrize(("cls", "name", "op"), CASES, ids=[f"{c.__name__}-{n}" for c, n, _ in CASES])
def test_malformed_op_raises_and_changes_nothing(cls: type, name: str, op: Any) -> None:
    if name == "deep nesting":
        op = _deep()
    x = _replica(cls)
    _seed(x)
    before = snapshot(x)
    for seq in (1, 5):  # deliverable now, and from the future
        with pytest.raises(MalformedOp):
            x.apply(good(op, seq=seq))
    assert snapshot(x) == before
    x._check()


@pytest.mark.parametrize(("name", "msg"), ENVELOPES, ids=[n for n, _ in ENVELOPES])
@pytest.mark.parametrize("cls", [OpAWSet, OpORMap])
def test_malformed_envelope_raises_and_changes_nothing(cls: type, name: str, msg: Any) -> None:
    x = _replica(cls)
    _seed(x)
    before = snapshot(x)
    with pytest.raises(MalformedOp) as e:
        x.apply(msg)
    assert isinstance(e.value, ValueError)  # MalformedOp is a ValueError too
    assert snapshot(x) == before


def test_errors_carry_the_facts() -> None:
    x = OpAWSet("a", GROUP)
    with pytest.raises(MalformedOp) as e:
        x.apply(good(Add([1])))
    assert e.value.path == "op.element" and e.value.got == [1]
    with pytest.raises(MalformedOp) as e:
        x.apply(OpMessage("b", 2, (("b", 1),), Add("x")))
    assert e.value.path == "deps[0]" and e.value.got == "b"


def test_update_fn_must_return_a_nested_operation() -> None:
    m = OpORMap("a", GROUP)
    with pytest.raises(TypeError, match="fn must return"):
        m.update("k", OpAWSet, lambda s: None)
    other = OpAWSet("a", GROUP)
    with pytest.raises(TypeError, match="fn must return"):
        m.update("k", OpAWSet, lambda s: other.add("x"))  # a message of another object, not an op
    with pytest.raises(TypeError, match="OpORMap values"):
        m.update("k", dict, lambda s: None)
    assert m.value == {} and m.broadcast.delivered.get("a") == 0
