"""The ``op`` protocol's log and buffers empty once writes stop and the network heals, on every topology.

An operation leaves a node's log once every neighbour has acknowledged it in an ``opsync`` (or once it is
causally stable). When only stability emptied the log, a node learnt what a writer that is not its neighbour
had delivered only from that writer's later operations: while the writer stayed silent, every operation
written after its last one stayed in the logs of the nodes it was not a neighbour of, for good (a line, a
tree, a star, a partial mesh; only a full mesh drained).
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdts import AWSet, GSet, encode
from crdts.sim import Crash, Partition, Scenario, Simulation, diameter
from crdts.sim.topology import build_topology
from crdts.sync import Node, encode_message
from crdts.sync.trust import Authorizer, Grant, SyncLimits

LINE3 = {"a": ["b"], "b": ["a", "c"], "c": ["b"]}


class Net:
    """Messages wait here until the test delivers, drops or duplicates them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, src, dst, data, info):
        self.sent.append((src, dst, data))


def build(graph, cls=AWSet, **kw):
    net = Net()
    nodes = {name: Node(name, cls, protocol="op", neighbours=list(nbrs), transport=net, **kw)
             for name, nbrs in graph.items()}
    return net, nodes


def deliver_all(net, nodes):
    """Deliver everything sent, and everything sent in reply, in order (to the nodes in ``nodes``)."""
    while net.sent:
        batch, net.sent = net.sent, []
        for src, dst, data in batch:
            if dst in nodes:
                nodes[dst].receive(src, data)


def sync_round(net, nodes):
    """A synchronous round: every node syncs, then every message is delivered."""
    for x in nodes.values():
        x.tick()
    deliver_all(net, nodes)


def held(nodes):
    """What each node still holds per operation (only the nodes and parts that are not 0)."""
    out = {}
    for name, x in nodes.items():
        parts = {k: v for k, v in x.protocol.held().items() if v}
        if parts:
            out[name] = parts
    return out


# --- the traces of the exploration -----------------------------------------------------------------


def test_a_line_of_three_drains_after_a_lost_operation():
    """b writes y and its message to c is lost; a writes x. c used to keep y in its log for good: it learns
    what a delivered only from a's operations, and a wrote nothing after x."""
    net, n = build(LINE3)
    n["b"].update(lambda s: s.add("y"))
    net.sent = [m for m in net.sent if m[:2] != ("b", "c")]      # the message b -> c carrying y is lost
    n["a"].update(lambda s: s.add("x"))
    for _ in range(2 + 2):                                       # diameter + 2 rounds of a fair network
        sync_round(net, n)
    assert [sorted(x.state.value) for x in n.values()] == [["x", "y"]] * 3
    assert held(n) == {}
    assert n["c"].protocol.bc.stable.get("b") == 0, "not stable at c (a never said it has y): the log emptied anyway"


def test_writes_after_a_silent_non_neighbours_last_write_leave_the_log():
    """One write by a, then 20 by b: c used to keep b's writes (written after a's last one) for good."""
    net, n = build(LINE3)
    n["a"].update(lambda s: s.add("a0"))
    deliver_all(net, n)
    for i in range(20):
        n["b"].update(lambda s, i=i: s.add(f"b{i}"))
    for _ in range(2 + 2):
        sync_round(net, n)
    assert len(n["c"].state) == 21 and held(n) == {}


# --- the simulator: loss, duplication, reordering and a partition during the writes, then a fair heal ------

HEAL_S = 10          # the partition ends here (a sync round boundary), after the last write; loss stops too


def _fair_from_the_heal(sim: Simulation) -> None:
    if sim.now >= HEAL_S * 1000 and sim.sc.loss:
        sim.sc = attrs.evolve(sim.sc, loss=0.0, dup=0.0, reorder=0.0)


def _drain(sc: Scenario, limit: int = 30) -> tuple[Simulation, object, int]:
    """Run ``sc``, then keep syncing; the number of sync rounds from the heal until no node holds anything."""
    sim = Simulation(sc, on_round=_fair_from_the_heal)
    r = sim.run()
    assert r.converged, r.reason
    assert (r.lost_writes, r.unexpected) == (0, 0)
    assert sim.quiescent_at() == HEAL_S * 1000
    nodes = {x.name: x for x in sim.nodes}
    while held(nodes):
        assert sim.now < (HEAL_S + limit) * sc.sync_interval, held(nodes)
        sim.advance(sc.sync_interval)
    rounds = round((sim.now - HEAL_S * 1000) / sc.sync_interval)
    for _ in range(3):                                  # and it stays empty
        sim.advance(sc.sync_interval)
        assert held(nodes) == {}
    return sim, r, rounds


def _faulty(topology: str, seed: int, n: int = 8, **kw) -> Scenario:
    halves = (frozenset(range(n // 2)), frozenset(range(n // 2, n)))
    return Scenario(regions=n, topology=topology, degree=3, protocol="op", workload="awset", ops=10, seed=seed,
                    latency=(5.0, 40.0), loss=0.2, dup=0.1, reorder=300,
                    partitions=(Partition(2, HEAL_S, halves),), **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("topology", ["line", "tree", "star", "partial-mesh"])
def test_logs_and_buffers_drain_within_diameter_plus_two_rounds_of_a_fair_heal(topology, seed):
    sim, _r, rounds = _drain(_faulty(topology, seed))
    d = diameter(sim.graph)
    assert d >= 2
    assert rounds <= d + 2, f"{topology}: drained {rounds} rounds after the heal, diameter {d}"
    assert rounds <= 4, "docs/sync.md: at most 4 rounds after a heal without a crash, whatever the diameter"


def test_signed_operations_drain_too():
    pytest.importorskip("cryptography")
    _sim, _r, rounds = _drain(_faulty("line", 0, n=6, signed=True))
    assert rounds <= 4


@pytest.mark.parametrize("topology", ["line", "tree", "star", "partial-mesh"])
def test_after_crashes_the_logs_drain_within_a_round_or_two_of_convergence(topology):
    # A crash loses the log (it is volatile): a neighbour that lacks what it held gets a snapshot, which does
    # not flood, so convergence takes longer than diameter + 2 here. The logs follow it closely.
    sc = _faulty(topology, 3, crashes=(Crash(1, 3, 6), Crash(5, 5, 9)))
    _sim, r, rounds = _drain(sc)
    assert rounds <= r.rounds_to_converge + 2


# --- any schedule, synchronous rounds ---------------------------------------------------------------

STEPS = st.lists(st.tuples(st.sampled_from(["write", "write", "tick", "deliver", "duplicate", "drop", "crash",
                                            "restart"]), st.integers(0, 1000)), max_size=60)


@given(topology=st.sampled_from(["line", "tree", "star", "partial-mesh", "ring"]), n=st.integers(3, 7),
       steps=STEPS, crashes=st.booleans())
def test_any_schedule_drains_after_the_heal(topology, n, steps, crashes):
    """Random writes (adds and removes), syncs, deliveries in any order, duplicates, losses and (durable)
    crashes; then everything in flight is lost, every node is up and the network is fair. Without a crash
    every operation is everywhere after 2 synchronous rounds, and the logs and buffers are empty after 3
    (within diameter + 2); with crashes, at most 1 round after the states agree."""
    g = build_topology(topology, n, degree=3, seed=n)
    names = [f"r{i}" for i in range(n)]
    net, nodes = build({names[i]: [names[j] for j in g[i]] for i in range(n)})
    oracle = AWSet()
    writes = 0
    for what, k in steps:
        node = nodes[names[k % n]]
        if what == "write" and node.up:
            writes += 1
            w = writes
            oracle.merge(node.update(lambda s, w=w: s.add(w) if w % 4 else s.remove(w - 1)))
        elif what == "tick":
            node.tick()
        elif what in ("deliver", "duplicate", "drop") and net.sent:
            src, dst, data = net.sent.pop(k % len(net.sent))
            for _ in range({"deliver": 1, "duplicate": 2, "drop": 0}[what]):
                nodes[dst].receive(src, data)
        elif what == "crash" and crashes:
            node.crash()
        elif what == "restart":
            node.restart()
    for x in nodes.values():
        x.restart()
    net.sent.clear()
    converged = drained = None
    for r in range(1, 30):
        sync_round(net, nodes)
        first = nodes[names[0]].state
        if converged is None and all(x.state == first for x in nodes.values()):
            converged = r
        if drained is None and not held(nodes):
            drained = r
        if converged and drained:
            break
    assert converged is not None and drained is not None, held(nodes)
    assert first.value == oracle.value
    assert drained <= converged + 1
    if not crashes:
        assert converged <= 2 and drained <= 3 <= diameter(g) + 2


# --- what a neighbour's acknowledgement may and may not do --------------------------------------------


def _star_a():
    """a, with neighbours h and c (c hears only from a); a holds three operations nobody has yet."""
    net, n = build({"a": ["h", "c"], "h": ["a"], "c": ["a"]}, cls=GSet)
    for i in range(3):
        n["a"].update(lambda s, i=i: s.add(i))
    net.sent.clear()                                   # every copy is lost
    return net, n


def test_a_neighbour_acknowledging_everything_cannot_make_a_node_forget_what_another_neighbour_needs():
    net, n = _star_a()
    a = n["a"]
    a.receive("h", encode_message("opsync", "h", ["a", 2**63, "c", 2**63, "zzz", 2**63]))   # h lies, about itself
    assert a.stats.rejected == 0 and a.protocol.held()["log"] == 3
    assert a.protocol.acked["h"][1] == {"a": 3}, "recorded only for origins a delivered, capped at what it delivered"
    a.receive("h", encode_message("opsync", "c", ["a", 3]))      # h speaking for c is refused
    assert a.stats.rejected_by == {"unauthorized": 1} and a.protocol.held()["log"] == 3
    for _ in range(3):
        sync_round(net, {k: v for k, v in n.items() if k != "h"})
    assert sorted(n["c"].state.value) == [0, 1, 2]
    assert a.stats.full_states_sent == 0, "c was repaired from the log, not with a snapshot"


def test_a_neighbour_without_a_relay_grant_can_still_acknowledge_for_itself():
    net = Net()
    auth = Authorizer({"h": Grant({"h"}, relay=False, snapshots=False), "c": Grant({"c"})})
    a = Node("a", GSet, protocol="op", neighbours=["h", "c"], transport=net, authorizer=auth)
    a.update(lambda s: s.add(1))
    a.receive("h", encode_message("opsync", "h", ["a", 1]))
    a.receive("c", encode_message("opsync", "c", ["a", 1]))
    assert a.stats.rejected == 0 and a.protocol.held()["log"] == 0


def test_an_overtaken_opsync_does_not_cost_a_snapshot():
    net, n = build({"a": ["b"], "b": ["a"]}, cls=GSet)
    a = n["a"]
    for i in range(3):
        a.update(lambda s, i=i: s.add(i))
    net.sent.clear()
    a.receive("b", encode_message("opsync", "b", ["a", 3]))      # b has all three: they leave a's log
    assert a.protocol.held()["log"] == 0
    for _ in range(2):                                # then two older opsyncs, delayed, in two later rounds
        a.tick()
        net.sent.clear()
        a.receive("b", encode_message("opsync", "b", []))
    assert a.stats.full_states_sent == 0 and not net.sent, "b is known to have all three: nothing to send"


def test_a_new_incarnation_of_a_neighbour_starts_from_what_it_says():
    _net, n = build({"a": ["b"], "b": ["a"]}, cls=GSet)
    a = n["a"]
    a.update(lambda s: s.add(1))
    a.receive("b", encode_message("opsync", "b", ["a", 1]))
    a.update(lambda s: s.add(2))
    a.update(lambda s: s.add(3))
    a.receive("b", encode_message("opsync", "b~1", []))          # b lost its state: it has delivered nothing
    a.receive("b", encode_message("opsync", "b", ["a", 3]))      # a late opsync of the old incarnation
    assert a.protocol.held()["log"] == 2, "a:2 and a:3 stay for b~1"
    a.receive("b", encode_message("opsync", "b~1", ["a", 3]))
    assert a.protocol.held()["log"] == 0


# --- what the guarantee leaves out, and its caps ---------------------------------------------------------


def test_a_neighbour_that_never_acknowledges_holds_the_log_back_up_to_max_log():
    net = Net()
    a = Node("a", GSet, protocol="op", neighbours=["b", "silent"], transport=net, limits=SyncLimits(max_log=5))
    for i in range(20):
        a.update(lambda s, i=i: s.add(i))
        a.receive("b", encode_message("opsync", "b", ["a", i + 1]))
    assert a.protocol.held()["log"] == 5 and a.stats.limits_hit["log"] == 15


def test_an_operation_whose_predecessor_died_with_its_origin_waits_in_the_early_buffer_up_to_max_pending():
    net, n = build({"b": ["c"], "c": ["b"]}, cls=GSet, durable=False, limits=SyncLimits(max_pending=2))
    n["b"].update(lambda s: s.add(1))
    net.sent.clear()                                   # b:1 is lost...
    for i in range(2, 5):
        n["b"].update(lambda s, i=i: s.add(i))
    n["b"].crash()                                     # ...and b loses its state before anyone has it
    deliver_all(net, n)                                # b:2 and b:3 wait for b:1; b:4 is refused (max_pending)
    n["b"].restart()                                   # b~1
    n["b"].update(lambda s: s.add(5))
    for _ in range(6):
        sync_round(net, n)
    assert n["b"].replica == "b~1" and sorted(n["c"].state.value) == [5] and n["b"].state == n["c"].state
    assert held(n) == {"c": {"buffered": 2, "decoded": 2}} and n["c"].stats.limits_hit == {"pending": 1}


# --- a buffer that never drained: the decoded payloads of refused operations ------------------------


def test_a_refused_operation_leaves_nothing_behind():
    _net, n = build({"a": ["b"], "b": ["a"]}, cls=GSet)
    a = n["a"]
    for i in range(50):         # deps naming the origin itself: malformed, refused; each used to stay decoded
        a.receive("b", encode_message("ops", [["b", 10 + i, ["b", 3], encode(GSet("b").add(i))]]))
    assert a.stats.rejected_by == {"invalid": 50}
    assert held(n) == {}
