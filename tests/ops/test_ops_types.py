"""Named scenarios for the op-based types: reads, binding, canonical elements, tricky concurrency."""

from __future__ import annotations

import pytest

from crdts import HLC, AWSet, ReplicaRequired, Timestamp
from crdts.ops import (
    Assign,
    OpAWSet,
    OpCCounter,
    OpLWWRegister,
    OpMessage,
    OpMVRegister,
    OpORMap,
    OpPNCounter,
)

G = ["a", "b", "c"]


def test_elements_are_canonical_like_the_delta_state_set() -> None:
    s = OpAWSet("a", G)
    assert s.add(True).op.element == 1
    s.add(2.0)
    s.add(("t", True))
    assert s.value == frozenset({1, 2, ("t", 1)}) == AWSet("x").value | {1, 2, ("t", 1)}
    assert 1.0 in s and True in s and [1] not in s
    with pytest.raises(TypeError):
        s.add([1])


def test_clear_removes_what_it_saw_and_keeps_concurrent_adds() -> None:
    a, b = OpAWSet("a", G), OpAWSet("b", G)
    for m in (a.add("x"), a.add("y")):
        b.apply(m)
    m1 = b.clear()
    m2 = a.add("z")  # concurrent with the clear
    a.apply(m1)
    b.apply(m2)
    assert a.value == b.value == frozenset({"z"})


def test_read_only_nested_copies_refuse_mutation() -> None:
    m = OpORMap("a", G)
    m.update("s", OpAWSet, lambda s: s.add("x"))
    view = m["s"]
    assert view.value == frozenset({"x"}) and view.replica is None
    with pytest.raises(ReplicaRequired):
        view.add("y")
    with pytest.raises(TypeError, match="nested"):
        view.apply(OpMessage("b", 1, (), None))  # type: ignore[arg-type]
    assert m.value == {"s": frozenset({"x"})}


def test_map_reads() -> None:
    m = OpORMap("a", G)
    m.update("n", OpPNCounter, lambda c: c.increment(2))
    m.update(1.0, OpMVRegister, lambda r: r.assign([1, 2]))
    assert set(m.keys()) == {1, "n"}
    assert len(m) == 2 and 1 in m and True in m and "zz" not in m and [1] not in m
    assert m.get("zz") is None and m.get("n").value == 2
    with pytest.raises(KeyError):
        m["zz"]
    got = m.value[1]
    got[0].append(99)  # values handed out are copies
    assert m.value[1] == ([1, 2],)


def test_one_key_two_kinds_keeps_both_entries() -> None:
    a, b = OpORMap("a", G), OpORMap("b", G)
    m1 = a.update("k", OpAWSet, lambda s: s.add("x"))
    m2 = b.update("k", OpMVRegister, lambda r: r.assign("v"))
    a.apply(m2)
    b.apply(m1)
    assert a.classes("k") == b.classes("k") == ["AWSet", "MVRegister"]
    assert a.value == b.value == {"k": frozenset({"x"})}  # the kind whose name sorts first is shown
    m3 = a.remove("k")
    b.apply(m3)
    assert a.value == b.value == {}


def test_nested_maps_and_their_removes() -> None:
    a, b = OpORMap("a", G), OpORMap("b", G)
    m1 = a.update("outer", OpORMap, lambda m: m.update("inner", OpAWSet, lambda s: s.add(1)))
    b.apply(m1)
    m2 = b.update("outer", OpORMap, lambda m: m.remove("inner"))
    m3 = a.update("outer", OpORMap, lambda m: m.update("inner", OpAWSet, lambda s: s.add(2)))
    a.apply(m2)
    b.apply(m3)
    assert a.value == b.value == {"outer": {"inner": frozenset({2})}}
    a._check()
    b._check()


def test_causal_counter_standalone() -> None:
    a, b = OpCCounter("a", G), OpCCounter("b", G)
    b.apply(a.increment(4))
    a.apply(b.decrement(1))
    b.apply(a.increment(1))
    assert a.value == b.value == 4
    assert a.metadata()["tags"] == 2  # one dot per counting replica


def test_lww_timestamps_and_clock() -> None:
    t = iter(range(100, 1000))
    a = OpLWWRegister("a", G, clock=HLC("a", time_source=lambda: next(t)))
    b = OpLWWRegister("b", G, clock=HLC("b", time_source=lambda: 5))
    assert a.value is None and a.timestamp is None
    m = a.assign({"k": [1]})
    assert m.op.timestamp == Timestamp(100, 0, "a")
    b.apply(m)
    assert b.timestamp == Timestamp(100, 0, "a")
    m2 = b.assign("later")  # b's wall clock says 5, but it has seen 100
    assert m2.op.timestamp > m.op.timestamp
    got = b.value
    assert got == "later"
    with pytest.raises(ValueError, match="belongs"):
        OpLWWRegister("a", G, clock=HLC("b"))


def test_lww_equal_timestamps_order_by_seq_whatever_the_delivery_order() -> None:
    """Two writes with one timestamp (a reused replica id): every replica keeps the same one."""
    ts = Timestamp(7, 0, "b")
    w1 = OpMessage("b", 1, (), Assign("first", ts))
    w2 = OpMessage("b", 2, (), Assign("second", ts))
    x, y = OpLWWRegister("a", G), OpLWWRegister("c", G)
    x.apply(w1)
    x.apply(w2)
    y.apply(w2)
    y.apply(w1)
    assert x.value == y.value == "second"


def test_mv_register_values_are_ordered_by_replica() -> None:
    rs = [OpMVRegister(r, G) for r in G]
    ms = [r.assign(f"v{i}") for i, r in enumerate(rs)]
    for r in rs:
        for m in ms:
            r.apply(m)
    assert all(r.values == ("v0", "v1", "v2") for r in rs)
    m = rs[2].assign("final")
    for r in rs[:2]:
        r.apply(m)
    assert all(r.values == ("final",) for r in rs)


def test_equality_is_delivered_operations_and_value() -> None:
    a, b = OpAWSet("a", G), OpAWSet("b", G)
    assert a == b
    m = a.add("x")
    assert a != b
    b.apply(m)
    assert a == b
    assert (a == OpPNCounter("a", G)) is False
    with pytest.raises(TypeError):
        hash(a)


def test_mutator_arguments_are_checked() -> None:
    c = OpPNCounter("a", G)
    for bad in (-1, 1.5, "1", None):
        with pytest.raises(ValueError):
            c.increment(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            c.decrement(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        OpMVRegister("a", G).assign({1: 2})
    assert c.value == 0 and c.delivered.get("a") == 0


def test_repr() -> None:
    s = OpAWSet("a", G)
    s.add("x")
    assert repr(s) == "OpAWSet(replica='a', value=frozenset({'x'}))"
    assert "delivered={'a': 1}" in repr(s.broadcast)
