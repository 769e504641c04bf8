"""Bounded catch-up logs of the ``op`` and ``digest`` protocols: ``SyncLimits.max_log`` and ``log_ttl``, the
``archive`` option and the counters; a peer that needed a dropped entry still converges (a snapshot)."""

from __future__ import annotations

import pytest

from crdts import AWSet
from crdts.sync import LocalTransport, Node
from crdts.sync.trust import SyncLimits


def _pair(protocol, limits, archived):
    now = [0.0]
    net = LocalTransport()
    a = Node("a", AWSet, protocol=protocol, neighbours=["b"], transport=net, limits=limits,
             clock=lambda: now[0], options={"archive": archived.extend})
    b = Node("b", AWSet, protocol=protocol, neighbours=["a"], transport=net, limits=limits, clock=lambda: now[0])
    for n in (a, b):
        net.register(n)
    return net, a, b, now


def _unsent_adds(net, a, n):
    """``a`` adds 0 .. n-1, and what it sent of them is lost (its peer is away)."""
    for i in range(n):
        a.update(lambda s, i=i: s.add(i))
    net.queue.clear()


def _rounds(net, nodes, k=4):
    for _ in range(k):
        for n in nodes:
            n.tick()
        net.deliver_all()


@pytest.mark.parametrize("protocol", ["op", "digest"])
def test_log_ttl_drops_into_the_archive_and_the_peer_converges_from_a_snapshot(protocol):
    archived: list = []
    net, a, b, now = _pair(protocol, SyncLimits(log_ttl=30), archived)
    _unsent_adds(net, a, 5)                            # b is away: it gets none of them
    now[0] = 31.0
    a.tick()                                           # ...and they are older than log_ttl now
    net.queue.clear()
    assert len(archived) == 5 and a.protocol.log_dropped == 5 and a.stats.limits_hit["log_ttl"] >= 1
    assert a.metrics()["metadata"]["log"] == 0
    _rounds(net, (a, b))
    assert b.state.value == a.state.value == set(range(5))
    assert a.stats.full_states_sent >= 1               # the catch-up was a snapshot: the log was gone


@pytest.mark.parametrize("protocol", ["op", "digest"])
def test_max_log_drops_into_the_archive_and_the_peer_converges(protocol):
    archived: list = []
    net, a, b, _now = _pair(protocol, SyncLimits(max_log=3), archived)
    _unsent_adds(net, a, 10)
    assert len(archived) == 7 and a.protocol.log_dropped == 7 and a.stats.limits_hit["log"] >= 1
    if protocol == "digest":
        assert [(o, s) for o, s, _data in archived] == [("a", s) for s in range(1, 8)]
    else:
        assert [m.seq for m in archived] == list(range(1, 8))
    _rounds(net, (a, b))
    assert b.state.value == a.state.value == set(range(10))


def test_log_ttl_is_checked():
    with pytest.raises(ValueError):
        SyncLimits(log_ttl=0)


@pytest.mark.parametrize("protocol", ["state", "delta", "causal", "bprr", "digest", "op"])
def test_node_metrics_report_metadata_sizes(protocol):
    net = LocalTransport()
    a = Node("a", AWSet, protocol=protocol, neighbours=["b"], transport=net)
    net.register(a)
    a.update(lambda s: s.add(1))
    a.update(lambda s: s.add(2))
    meta = a.metrics()["metadata"]
    assert meta["context"] == 1 and meta["cloud"] == 0 and meta["dots"] == 2 and meta["replicas"] == 1
    if protocol in ("digest", "op"):
        assert meta["log"] == 2 and meta["log_dropped"] == 0
    if protocol in ("causal", "bprr"):
        assert meta["buffer"] == 2


@pytest.mark.parametrize("protocol", ["digest", "op", "causal"])
def test_a_node_ships_the_siblings_its_bounds_dropped(protocol):
    from crdts import ConflictRegister

    names = ["a", "b", "c"]
    net = LocalTransport()
    nodes = [Node(r, ConflictRegister(r, max_siblings=1), protocol=protocol,
                  neighbours=[n for n in names if n != r], transport=net) for r in names]
    for n in nodes:
        net.register(n)
        n.update(lambda s, r=n.name: s.assign(r))       # three concurrent writes
    _rounds(net, nodes)
    states = [n.state for n in nodes]
    assert all(s == states[0] for s in states) and len(states[0].siblings) == 1
    assert sum(n.metrics()["metadata"]["siblings_dropped"] for n in nodes) >= 2
    if protocol == "digest":                           # a drop left as a delta of its own, beside the write
        assert max(n.protocol.seq for n in nodes) >= 2
    if protocol == "op":                               # ...as an operation of its own
        assert max(n.protocol.bc.delivered_view.get(n.name, 0) for n in nodes) >= 2


@pytest.mark.parametrize("protocol", ["digest", "op", "causal"])
def test_bounded_logs_and_siblings_converge_in_a_simulation_with_loss_and_a_partition(protocol):
    from crdts import ConflictMap
    from crdts.sim import Partition, Scenario, Simulation

    archived_ops: list = []
    archived_sibs: list = []
    sc = Scenario(regions=4, topology="mesh", protocol=protocol, workload="profile", ops=120, rate=2.0,
                  seed=3, loss=0.05, latency=(5.0, 20.0),
                  partitions=(Partition(0, 40, (frozenset({0, 1}), frozenset({2, 3}))),),
                  options={protocol: {"archive": archived_ops.extend}} if protocol != "causal" else {})
    sim = Simulation(sc)
    for n in sim.nodes:                                # every region keeps one sibling and at most 10 log entries
        n.state = ConflictMap(n.name, clock=n.state.clock, max_siblings=1,
                              archive=lambda k, s: archived_sibs.extend(s))
        n.limits = SyncLimits(max_log=10, log_ttl=5.0)
    r = sim.run()
    assert r.converged and r.lost_writes == 0 and r.unexpected == 0
    assert archived_sibs and sum(n.state.siblings_dropped for n in sim.nodes) == len(archived_sibs)
    assert all(len(f) == 1 for n in sim.nodes for f in n.state._store.values())
    if protocol != "causal":
        assert archived_ops and sum(n.protocol.log_dropped for n in sim.nodes) == len(archived_ops)


def test_prometheus_exposition_has_the_metadata_sizes():
    from prometheus_client.parser import text_string_to_metric_families

    from crdts.sync.metrics import prometheus_text

    net = LocalTransport()
    a = Node("a", AWSet, protocol="digest", neighbours=["b"], transport=net)
    a.update(lambda s: s.add(1))
    fams = {f.name: f for f in text_string_to_metric_families(prometheus_text([a]))}
    parts = {s.labels["part"]: s.value for s in fams["crdts_metadata"].samples}
    assert parts["context"] == 1 and parts["log"] == 1 and parts["log_dropped"] == 0


def test_a_raising_digest_archive_hook_is_counted_and_replication_goes_on():
    def hook(entries):
        raise RuntimeError("archive down")

    net = LocalTransport()
    a = Node("a", AWSet, protocol="digest", neighbours=["b"], transport=net, limits=SyncLimits(max_log=1),
             options={"archive": hook})
    a.update(lambda s: s.add(1))
    a.update(lambda s: s.add(2))
    assert a.protocol.archive_errors == 1 and a.protocol.log_dropped == 1 and a.state.value == {1, 2}
