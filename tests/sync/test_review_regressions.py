"""Regressions from the review of the sync layer and the simulator, one test per finding."""

from __future__ import annotations

import pytest

from crdts import HLC, AWSet, ConflictRegister, GCounter, GSet, PNCounter, decode, encode
from crdts.sim import Crash, Partition, Scenario, Simulation
from crdts.sync import LocalTransport, Node, encode_message


def rounds(net, a, b, n):
    for _ in range(n):
        a.tick()
        b.tick()
        net.deliver_all()


def pair(protocol):
    net = LocalTransport()
    a = Node("a", AWSet, protocol=protocol, neighbours=["b"], transport=net)
    b = Node("b", AWSet, protocol=protocol, neighbours=["a"], transport=net)
    return net, a, b


@pytest.mark.parametrize(("protocol", "msg", "rejected"), [
    ("op", encode_message("opsync", "b~²", []), 0),    # an odd but valid replica id: no crash
    ("op", encode_message("ops", [["b", 1, encode(AWSet("b").add(1))]]), 1),
    ("digest", encode_message("log", [["b", 1, [], encode(AWSet("b").add(1))]]), 1),
])
def test_malformed_sync_entries_are_rejected_not_raised(protocol, msg, rejected):
    _, a, _ = pair(protocol)
    a.update(lambda s: s.add("x"))
    before = a.state.copy()
    a.receive("b", msg)
    assert a.stats.rejected == rejected and a.state == before


def test_digest_snapshot_cannot_overwrite_a_nodes_own_write_counter():
    net, a, b = pair("digest")
    a.update(lambda s: s.add("x"))
    b.update(lambda s: s.add("y"))
    rounds(net, a, b, 3)
    a.receive("b", encode_message("snapshot", ["a", 50, "b", 50], payload=encode(AWSet())))
    a.update(lambda s: s.add("z"))
    rounds(net, a, b, 6)
    assert sorted(b.state.value) == ["x", "y", "z"] == sorted(a.state.value)


def test_op_protocol_survives_a_huge_claimed_counter():
    net, a, b = pair("op")
    a.update(lambda s: s.add("x"))
    rounds(net, a, b, 3)
    a.receive("b", encode_message("snapshot", ["b", 10**12], payload=encode(AWSet())))
    rounds(net, a, b, 3)    # a must not try to list 10**12 missing operations
    assert a.stats.rejected == 0 and sorted(b.state.value) == ["x"]


def test_quiescence_waits_for_the_last_write_even_with_a_short_sync_interval():
    sim = Simulation(Scenario(regions=3, workload="gcounter", ops=20, sync_interval=100, protocol="state"))
    r = sim.run()
    assert r.converged and sim.nodes[0].state.value == 60


def test_overlapping_fault_specs_are_refused():
    with pytest.raises(ValueError, match="two groups"):
        Scenario(regions=3, partitions=(Partition.parse("0-5:0,1|1,2"),))
    with pytest.raises(ValueError, match="overlapping crash"):
        Scenario(regions=3, crashes=(Crash.parse("0@1-2"), Crash.parse("0@1-3")))


def test_mutators_refuse_what_the_wire_format_cannot_carry():
    with pytest.raises(ValueError, match="2\\*\\*1024"):
        GSet("a").add(2**1024)
    nested = ()
    for _ in range(100):
        nested = (nested,)
    with pytest.raises(TypeError, match="nest"):
        AWSet("a").add(nested)
    g = GCounter("a")
    g.increment(2**63)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        g.increment(2**63)
    assert g.value == 2**63
    p = PNCounter("a")
    with pytest.raises(ValueError):
        p.decrement(2**64)
    with pytest.raises(ValueError, match="time source"):
        HLC("a", time_source=lambda: 1.5).now()


def test_decoded_conflict_register_writes_after_the_siblings_it_holds():
    a = ConflictRegister("a", clock=HLC("a", time_source=lambda: 10**15))
    a.assign("early")
    b = decode(encode(a), replica="b")              # b's own wall clock is far behind (time.time_ns)
    b._clock = None
    b.assign("late")
    assert b.value == "late" and b.siblings[0].timestamp.wall >= 10**15
