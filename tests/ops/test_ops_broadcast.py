"""Named scenarios for the causal broadcast: buffering, duplicates, stability, acks, catch-up, membership."""

from __future__ import annotations

import pytest

from crdts import VersionVector
from crdts.errors import CausalGap, MalformedOp
from crdts.ops import Ack, Buffered, CausalBroadcast, OpAWSet, OpMessage

GROUP = ["a", "b", "c"]


def tcbs(*names: str, group: list[str] = GROUP) -> list[CausalBroadcast]:
    return [CausalBroadcast(n, members=group) for n in names]


def test_an_op_before_its_predecessor_is_held_then_applied() -> None:
    a, b, c = (OpAWSet(r, GROUP) for r in GROUP)
    m1 = a.add("x")
    assert b.apply(m1) == (m1,)
    m2 = b.remove("x")  # causally after m1
    m3 = b.add("y")
    # c gets b's ops first: m2 depends on a:1, m3 on b:1 (its predecessor m2).
    assert c.apply(m3) == ()
    assert c.apply(m2) == ()
    assert c.value == frozenset()
    assert c.broadcast.buffered() == [
        Buffered(("b", 1), (("a", 1, 1),)),
        Buffered(("b", 2), (("a", 1, 1), ("b", 1, 1))),
    ]
    assert c.broadcast.missing() == {"a": (1, 1), "b": (1, 1)}
    assert c.apply(m1) == (m1, m2, m3)  # one arrival releases the whole chain, in causal order
    assert c.value == frozenset({"y"}) == b.value
    assert c.broadcast.buffered() == []


def test_a_gap_in_one_origin_is_buffered_never_applied_early() -> None:
    a = OpAWSet("a", GROUP)
    b = OpAWSet("b", GROUP)
    msgs = [a.add(i) for i in range(1, 6)]
    for m in reversed(msgs[1:]):
        assert b.apply(m) == ()
        assert b.value == frozenset()
    assert b.broadcast.missing() == {"a": (1, 4)}
    assert [m.seq for m in b.apply(msgs[0])] == [1, 2, 3, 4, 5]
    assert b.value == frozenset(range(1, 6))


def test_an_already_applied_origin_seq_is_ignored() -> None:
    a, b = OpAWSet("a", GROUP), OpAWSet("b", GROUP)
    m = a.add("x")
    b.apply(m)
    b.apply(a.remove("x"))
    for _ in range(3):
        assert b.apply(m) == ()  # a stale duplicate of the add must not resurrect x
    assert b.value == frozenset()
    assert b.broadcast.duplicates == 3


def test_a_buffered_duplicate_is_dropped() -> None:
    a, b = tcbs("a", "b")
    a.stamp("x")
    m2 = a.stamp("y")
    assert b.receive(m2) == b.receive(m2) == ()
    assert b.duplicates == 1 and len(b.buffered()) == 1


def test_own_messages_echoed_back_are_duplicates() -> None:
    (a,) = tcbs("a")
    m = a.stamp("x")
    assert a.receive(m) == ()


def test_stability_needs_every_member() -> None:
    a, b, c = tcbs("a", "b", "c")
    m = a.stamp("x")
    b.receive(m)
    c.receive(m)
    a.receive_ack(b.ack())
    assert not a.is_stable(m.dot)  # c has not said so yet
    a.receive_ack(c.ack())
    assert a.is_stable(m.dot) and a.stable == VersionVector({"a": 1})
    assert a.metadata()["log"] == 0  # stable messages leave the log


def test_stability_from_deps_of_delivered_messages() -> None:
    a, b = tcbs("a", "b", group=["a", "b"])
    m1 = a.stamp("x")
    b.receive(m1)
    m2 = b.stamp("y")  # deps say b had delivered a:1
    assert m2.deps == (("a", 1),)
    a.receive(m2)
    assert a.is_stable(("a", 1)) and a.is_stable(("b", 1))
    assert b.is_stable(("a", 1)) and not b.is_stable(("b", 1))  # b does not know a has b:1 yet
    b.receive_ack(a.ack())
    assert b.stable == VersionVector({"a": 1, "b": 1})


def test_an_ack_ahead_of_its_senders_messages_waits() -> None:
    """An ack counts only once its sender's own messages up to it are delivered here: a message that
    sender sent earlier may be concurrent with what the ack would make stable."""
    a, b, c = tcbs("a", "b", "c")
    ma = a.stamp("x")
    mc = c.stamp("z")  # concurrent with ma
    for t in (b, c):
        t.receive(ma)
    b.receive(mc)
    a.receive_ack(b.ack())
    a.receive_ack(c.ack())  # says c delivered a:1 and c:1, but c:1 has not reached a
    assert not a.is_stable(ma.dot)
    assert a.metadata()["pending_acks"] == 1
    a.receive(mc)
    assert a.is_stable(ma.dot) and a.is_stable(mc.dot)
    assert a.metadata()["pending_acks"] == 0


def test_catch_up_serves_the_log_since_a_version_vector() -> None:
    a, b, c = tcbs("a", "b", "c")
    ms = [a.stamp(i) for i in range(3)]
    for m in ms:
        b.receive(m)
    mb = b.stamp("b1")
    # c was away; it asks b for everything since what it delivered (nothing).
    log = b.log_since(c.delivered)
    assert log == [*ms, mb]
    out: list[OpMessage] = []
    for m in log:
        out.extend(c.receive(m))
    assert out == log
    assert b.log_since(c.ack()) == []  # an Ack works as the request too


def test_catch_up_past_the_compacted_log_is_a_causal_gap() -> None:
    a, b = tcbs("a", "b", group=["a", "b"])
    m = a.stamp("x")
    b.receive(m)
    a.receive_ack(b.ack())
    assert a.is_stable(m.dot)
    with pytest.raises(CausalGap) as e:
        a.log_since({})  # a replica that lost everything: a:1 is gone from the log
    assert (e.value.replica, e.value.expected, e.value.got) == ("a", 1, 2)
    assert a.log_since({"a": 1}) == []


def test_bootstrapped_broadcast_starts_at_its_snapshot() -> None:
    a = CausalBroadcast("a", members=GROUP)
    for i in range(3):
        a.stamp(i)
    n = CausalBroadcast("c", members=GROUP, delivered=a.delivered)
    m = a.stamp("next")
    assert n.receive(m) == (m,)
    with pytest.raises(CausalGap):
        n.log_since({})


def test_membership_changes() -> None:
    a, b = tcbs("a", "b", group=["a", "b"])
    m = a.stamp("x")
    b.receive(m)
    a.receive_ack(b.ack())
    assert a.is_stable(m.dot)
    with pytest.raises(ValueError, match="stable"):
        a.add_member("c")  # a newcomer must start from a snapshot that covers what is stable
    a.add_member("c", delivered=a.delivered)
    m2 = a.stamp("y")
    b.receive(m2)
    a.receive_ack(b.ack())
    assert not a.is_stable(m2.dot)  # c's word is needed now
    a.remove_member("c")
    assert a.is_stable(m2.dot)
    with pytest.raises(MalformedOp):
        a.receive(OpMessage("c", 1, (), "z"))  # no longer a member


def test_group_of_one_is_stable_at_once() -> None:
    s = OpAWSet("solo", ["solo"])
    s.add("x")
    s.add("y")
    assert s.metadata()["tags"] == 0 and s.metadata()["log"] == 0
    assert s.value == frozenset({"x", "y"})


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="include"):
        CausalBroadcast("a", members=["b"])
    with pytest.raises(TypeError):
        CausalBroadcast("", members=["a"])
    with pytest.raises(TypeError, match="members"):
        OpAWSet("a")


def test_keep_log_false_serves_nothing() -> None:
    a = CausalBroadcast("a", GROUP, keep_log=False)
    a.stamp("x")
    assert a.metadata()["log"] == 0
    with pytest.raises(CausalGap):
        a.log_since({})


def test_acks_are_checked() -> None:
    (a,) = tcbs("a")
    with pytest.raises(MalformedOp):
        a.receive_ack(Ack("zz", ()))
    with pytest.raises(MalformedOp):
        a.receive_ack(Ack("b", (("b", 0),)))
    with pytest.raises(MalformedOp):
        a.receive_ack("nope")  # type: ignore[arg-type]


def test_retire_takes_a_replica_out_of_every_vector_and_of_the_stamps() -> None:
    a, b, r = tcbs("a", "b", "r", group=["a", "b", "r"])
    m = r.stamp("r1")
    for x in (a, b):
        x.receive(m)
    n = a.stamp("a1")
    assert n.deps == (("r", 1),)
    b.receive(n)
    b.receive_ack(a.ack())
    assert a.stable == VersionVector({})       # r never acknowledged: nothing is stable
    assert a.retire("r") == ((), ())
    assert a.retire("r") == ((), ())            # once is enough
    assert a.members == {"a", "b"} and a.retired == {"r"}
    assert "r" not in a.delivered and "r" not in a.stable
    assert a.stamp("a2").deps == ()             # what is stamped from now on no longer names r
    a.receive_ack(b.ack())                      # b still names r: that entry is not learned again
    meta = a.metadata()
    assert meta["delivered"] == 1 and meta["known"] == 1 and meta["retired"] == 1   # known: b has a:1
    assert a.stable == VersionVector({"a": 1})  # r left the group: what b acknowledged is stable
    assert a.receive(r.stamp("r2")) == () and a.retired_dropped == 1   # late: dropped on arrival
    a.receive_ack(r.ack())                      # an ack of r is ignored, checked or not
    with pytest.raises(ValueError):
        a.add_member("r")
    with pytest.raises(ValueError):
        a.retire("a")
    a.release("r")                              # its tombstone expired: r is a stranger again
    assert a.retired == frozenset()


def test_retire_delivers_what_waited_for_the_retired_replica_and_returns_its_orphans() -> None:
    a, b, r = tcbs("a", "b", "r", group=["a", "b", "r"])
    r1, r2, r3 = r.stamp("r1"), r.stamp("r2"), r.stamp("r3")
    b.receive(r1)
    b.receive(r2)
    b1 = b.stamp("b1")                          # depends on r:2
    b2 = b.stamp("b2")
    a.receive(r1)
    assert a.receive(r3) == () and a.receive(b2) == () and a.receive(b1) == ()   # all wait for r:2
    applied: list[str] = []
    delivered, orphaned = a.retire("r", apply=lambda m: applied.append(m.op))
    assert [m.op for m in delivered] == ["b1", "b2"] == applied
    assert orphaned == (r3,)
    assert a.buffered() == [] and a.delivered == VersionVector({"b": 2})
    assert a.receive(r2) == () and a.retired_dropped == 1
    # a message stamped before the retirement, naming r beyond what was delivered here, still delivers
    c = CausalBroadcast("c", members=["a", "b", "c"])
    c.retire("r")
    c.receive(b1)
    assert [m.op for m in c.receive(b2)] == ["b2"]
