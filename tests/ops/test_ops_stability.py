"""Causal-stability compaction: once every replica has seen a set of operations, the per-operation
metadata kept is bounded by the number of replicas, not by the number of operations."""

from __future__ import annotations

from typing import Any

import pytest

from crdts.ops import OpAWSet, OpCRDT, OpMessage, OpMVRegister, OpORMap, OpPNCounter


def group(n: int) -> list[str]:
    return [f"r{i}" for i in range(n)]


def broadcast(replicas: dict[str, OpCRDT], origin: str, m: OpMessage) -> None:
    for r, x in replicas.items():
        if r != origin:
            x.apply(m)


def acks(replicas: dict[str, OpCRDT]) -> None:
    for r, x in replicas.items():
        a = x.ack()
        for q, y in replicas.items():
            if q != r:
                y.apply(a)


def workload(cls: type, n: int, ops: int) -> dict[str, OpCRDT]:
    """``ops`` operations spread over the first ``n - 1`` replicas, each delivered everywhere; the last
    replica receives all but sends nothing (no acks), so nothing can be stable yet."""
    rs = {r: cls(r, group(n)) for r in group(n)}
    names = list(rs)[:-1]
    for i in range(ops):
        r = names[i % (n - 1)]
        x: Any = rs[r]
        if cls is OpAWSet:
            m = x.add(i) if i % 3 else x.remove(i - 3)
        elif cls is OpMVRegister:
            m = x.assign(i)
        elif cls is OpPNCounter:
            m = x.increment(i % 4)
        else:
            k = f"k{i % 7}"
            m = (x.update(k, OpAWSet, lambda s, i=i: s.add(i)) if i % 3 == 0 else
                 x.update(k, OpPNCounter, lambda c: c.increment(1)) if i % 3 == 1 else
                 x.update(k, OpMVRegister, lambda g, i=i: g.assign(i)))
        broadcast(rs, r, m)
    return rs


@pytest.mark.parametrize("cls", [OpAWSet, OpORMap, OpMVRegister, OpPNCounter])
@pytest.mark.parametrize("n", [3, 6])
def test_metadata_after_stability_is_bounded_by_replicas_not_ops(cls: type, n: int) -> None:
    sizes = {}
    for ops in (60, 600):
        rs = workload(cls, n, ops)
        values = {r: x.value for r, x in rs.items()}
        before = {r: x.metadata() for r, x in rs.items()}
        acks(rs)
        after = {r: x.metadata() for r, x in rs.items()}
        assert {r: x.value for r, x in rs.items()} == values  # compaction never changes a value
        sizes[ops] = (before, after)
        for r, x in rs.items():
            x._check()
            m = after[r]
            assert m["log"] == 0 and m["buffered"] == 0
            assert m["known"] <= n * (n - 1)  # one vector per other member: O(replicas^2), fixed
            if cls is OpAWSet:
                assert m["tags"] == 0
            elif cls is OpMVRegister:
                assert m["tags"] <= n
            elif cls is OpORMap:
                assert m["tags"] <= 7 * 2 * n  # register and counter dots: one per replica per key
    # Before stability, what is kept grows with the number of operations; after, it does not.
    b60, a60 = sizes[60]
    b600, a600 = sizes[600]
    assert b60["r0"]["log"] == 60 and b600["r0"]["log"] == 600
    if cls is OpAWSet:
        assert b600["r0"]["tags"] > 300 > b60["r0"]["tags"]
    if cls is not OpORMap:  # (a map's entries depend on which replica touched which key)
        assert a600["r0"] == a60["r0"]


def test_only_what_everyone_has_seen_is_compacted() -> None:
    rs = {r: OpAWSet(r, group(3)) for r in group(3)}
    for i in range(10):
        broadcast(rs, "r0", rs["r0"].add(i))
    acks(rs)
    assert rs["r0"].metadata()["tags"] == 0
    late = [rs["r1"].add(100 + i) for i in range(4)]
    for m in late:
        rs["r0"].apply(m)  # r2 has not seen them
    acks({r: rs[r] for r in ("r0", "r1")})
    assert rs["r0"].metadata()["tags"] == 4 and rs["r0"].metadata()["log"] == 4
    for m in late:
        rs["r2"].apply(m)
    acks(rs)
    for x in rs.values():
        assert x.metadata()["tags"] == 0 and x.metadata()["log"] == 0
        assert x.value == frozenset(range(10)) | {100, 101, 102, 103}


def test_a_stable_element_is_still_removed_by_later_ops() -> None:
    rs = {r: OpAWSet(r, group(3)) for r in group(3)}
    broadcast(rs, "r0", rs["r0"].add("x"))
    acks(rs)
    assert rs["r2"].metadata()["tags"] == 0 and "x" in rs["r2"]
    m1 = rs["r1"].remove("x")  # concurrent with r2's re-add below
    m2 = rs["r2"].add("x")
    broadcast(rs, "r1", m1)
    broadcast(rs, "r2", m2)
    assert all(x.value == frozenset({"x"}) for x in rs.values())  # add wins over the concurrent remove
    m3 = rs["r0"].remove("x")
    broadcast(rs, "r0", m3)
    assert all(x.value == frozenset() for x in rs.values())
