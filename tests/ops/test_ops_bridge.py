"""The bridge between the families: export an op-based replica as a delta-state object, and bootstrap
an op-based replica from a delta-state snapshot and its log position, then follow the op log."""

from __future__ import annotations

from typing import Any

import pytest

from crdts import HLC, AWSet, CausalContext, CCounter, LWWRegister, MVRegister, ORMap, PNCounter, RWSet
from crdts.errors import CausalGap
from crdts.ops import OpAWSet, OpCRDT, OpLWWRegister, OpMVRegister, OpORMap, OpPNCounter

GROUP = ["a", "b", "c"]


def deliver_all(replicas: list[OpCRDT], log: list[Any]) -> None:
    for x in replicas:
        for m in log:
            x.apply(m)


def settle(replicas: list[OpCRDT]) -> None:
    for x in replicas:
        a = x.ack()
        for y in replicas:
            if y is not x:
                y.apply(a)


def test_to_state_gives_the_delta_state_type_equal_in_value() -> None:
    a, b = OpAWSet("a", GROUP), OpAWSet("b", GROUP)
    log = [a.add("x"), a.add("y"), b.add("z"), a.remove("y")]
    deliver_all([a, b], log)
    s = a.to_state()
    assert type(s) is AWSet and s.replica is None
    s._check()
    assert s.value == a.value == frozenset({"x", "z"})
    assert s.context == CausalContext({"a": 3, "b": 1})  # the delivered vector
    # No compaction yet: the dots are the adds' message ids.
    assert s == AWSet._delta(AWSet._kind.of({"x": frozenset({("a", 1)}), "z": frozenset({("b", 1)})}),
                             CausalContext({"a": 3, "b": 1}))


def test_exports_of_every_type() -> None:
    c = OpPNCounter("a", GROUP)
    c.increment(5)
    c.decrement(2)
    assert type(c.to_state()) is PNCounter and c.to_state().value == 3
    t = iter(range(10, 100))
    r = OpLWWRegister("a", GROUP, clock=HLC("a", time_source=lambda: next(t)))
    r.assign({"k": [1]})
    s = r.to_state()
    assert type(s) is LWWRegister and s.value == {"k": [1]} and s.timestamp == r.timestamp
    mv = OpMVRegister("a", GROUP)
    mv.assign("v")
    assert type(mv.to_state()) is MVRegister and mv.to_state().values == ("v",)
    m = OpORMap("a", GROUP)
    m.update("n", OpPNCounter, lambda x: x.increment(2))
    m.update("s", OpAWSet, lambda x: x.add(1))
    m.update("r", OpMVRegister, lambda x: x.assign("v"))
    m.update("m", OpORMap, lambda x: x.update("deep", OpAWSet, lambda y: y.add("z")))
    s = m.to_state()
    s._check()
    assert type(s) is ORMap
    assert s.value == m.value == {"n": 2, "s": frozenset({1}), "r": ("v",), "m": {"deep": frozenset({"z"})}}
    assert type(s["n"]) is CCounter


def test_compacted_entries_get_distinct_stand_in_dots() -> None:
    xs = [OpORMap(r, GROUP) for r in GROUP]
    log = []
    for i in range(5):
        log.append(xs[i % 3].update("s", OpAWSet, lambda s, i=i: s.add(i)))
        log.append(xs[i % 3].update("t", OpAWSet, lambda s, i=i: s.add(-i)))
        log.append(xs[i % 3].update("r", OpMVRegister, lambda g, i=i: g.assign(i)))
    deliver_all(xs, log)
    settle(xs)
    assert xs[0].metadata()["tags"] == 3  # only the register's surviving writes keep dots (one per replica)
    s = xs[0].to_state()
    s._check()  # every dot under exactly one entry, all inside the context
    assert s.value == xs[0].value
    assert all(x.to_state() == s for x in xs)  # stable everywhere: the same snapshot everywhere


def test_a_new_region_bootstraps_from_a_snapshot_then_follows_the_log() -> None:
    a, b, c = (OpAWSet(r, GROUP) for r in GROUP)
    log = [a.add("x"), b.add("y"), c.add("z"), a.remove("x")]
    deliver_all([a, b, c], log)
    settle([a, b, c])  # all stable: a's snapshot has stand-in dots, its log is empty
    snapshot, at = a.to_state(), a.delivered
    group = [*GROUP, "d"]
    for x in (a, b, c):
        x.broadcast.add_member("d", delivered=at)
    d = OpAWSet.from_state(snapshot, "d", group)
    assert d.value == a.value and d.delivered == at
    assert a.log_since(d.delivered) == []
    # Life goes on: d removes a stable element, others add and remove concurrently.
    m1 = d.remove("y")
    m2 = b.add("y")  # concurrent with m1: add wins
    m3 = c.remove("z")
    for x, ms in ((a, [m1, m2, m3]), (b, [m1, m3]), (c, [m1, m2]), (d, [m2, m3])):
        for m in ms:
            x.apply(m)
    assert a.value == b.value == c.value == d.value == frozenset({"y"})
    settle([a, b, c, d])
    for x in (a, b, c, d):
        assert x.metadata()["tags"] == 0 and x.metadata()["log"] == 0


def test_a_replica_that_was_away_catches_up_from_a_log_or_a_snapshot() -> None:
    a, b, c = (OpMVRegister(r, GROUP) for r in GROUP)
    ms = [a.assign(i) for i in range(3)]
    for m in ms:
        b.apply(m)
    # c was away: any peer's log serves it.
    for m in b.log_since(c.delivered):
        c.apply(m)
    assert c.values == (2,)
    # Once c acknowledged, the log compacts; a replica that lost everything needs a snapshot.
    settle([a, b, c])
    with pytest.raises(CausalGap):
        a.log_since({})
    fresh = OpMVRegister.from_state(a.to_state(), "c", GROUP)
    assert fresh.values == (2,) and fresh.delivered == a.delivered


def test_genesis_from_a_delta_state_snapshot() -> None:
    """Replicas that all start from one delta-state snapshot run op-based from there on: the snapshot's
    writers need not be members, and everything in it is in the past of every later operation."""
    x, y = AWSet("old-1"), AWSet("old-2")
    y.merge(x.add("kept"))
    x.merge(y.add("gone"))
    x.merge(y.add("other"))
    snap = x.copy(replica=None)
    reps = [OpAWSet.from_state(snap, r, GROUP) for r in GROUP]
    m1 = reps[0].remove("gone")
    m2 = reps[1].add("new")
    deliver_all(reps, [m1, m2])
    assert all(r.value == frozenset({"kept", "other", "new"}) for r in reps)
    assert m1.deps == (("old-1", 1), ("old-2", 2))  # the genesis vector rides along
    settle(reps)
    assert all(r.metadata()["tags"] == 0 for r in reps)


def test_from_state_round_trip_preserves_value_and_position() -> None:
    m = OpORMap("a", GROUP)
    m.update("k", OpAWSet, lambda s: s.add("x"))
    m.update("n", OpPNCounter, lambda c: c.decrement(4))
    n = OpORMap.from_state(m.to_state(), "b", GROUP)
    assert n.value == m.value and n.delivered == m.delivered
    assert n.to_state() == m.to_state()
    p = OpPNCounter("a", GROUP)
    p.increment(7)
    q = OpPNCounter.from_state(p.to_state(), "b", GROUP, vv=p.delivered)
    assert q.value == 7 and q.apply(p.log_since({})[0]) == ()  # already counted: a duplicate
    r = OpLWWRegister("a", GROUP)
    r.assign("v")
    s = OpLWWRegister.from_state(r.to_state(), "b", GROUP)
    assert s.value == "v" and s.timestamp == r.timestamp


def test_from_state_refuses_what_it_cannot_follow() -> None:
    with pytest.raises(TypeError, match="takes a AWSet"):
        OpAWSet.from_state(RWSet("x"), "a", GROUP)
    gappy = AWSet._delta(AWSet._kind(), CausalContext({"a": 1}, cloud=[("a", 3)]))
    with pytest.raises(ValueError, match="gaps"):
        OpAWSet.from_state(gappy, "a", GROUP)
    s = AWSet("a")
    s.add("x")
    with pytest.raises(ValueError, match="cover"):
        OpAWSet.from_state(s, "b", GROUP, vv={})
    m = ORMap("a")
    m.update("k", RWSet, lambda r: r.add(1))
    with pytest.raises(ValueError, match="RWSet"):
        OpORMap.from_state(m, "b", GROUP)
    with pytest.raises(TypeError, match="vv="):
        OpPNCounter.from_state(PNCounter(), "a", GROUP)
