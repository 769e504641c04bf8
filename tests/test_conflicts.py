"""Conflicts made visible: siblings with metadata, resolve, events, audit trail, replication metrics."""

from __future__ import annotations

import itertools

from crdts import HLC, GSet
from crdts.conflicts import ConflictMap, ConflictRegister, highest_value, lww
from crdts.sync import LocalTransport, Node
from crdts.sync.audit import AuditLog

_ticks = itertools.count(1)


def clock(r, skew=0):
    return HLC(r, time_source=lambda: next(_ticks) * 10 + skew)


def regions(cls, names=("eu", "us", "ap"), **kw):
    return [cls(n, clock=clock(n), **kw) for n in names]


def exchange(*pairs):
    for x, ds in pairs:
        for d in ds:
            x.merge(d)


def test_partition_conflicts_are_seen_identically_everywhere_after_heal():
    eu, us, ap = regions(ConflictMap)
    side_a = [eu.set("city", "Dublin", actor="alice"), eu.set("name", "Ada", actor="alice")]
    side_b = [us.set("city", "Boston", actor="bob")]
    ap.merge(side_b[0])                                          # ap is on us's side
    side_b.append(ap.set("city", "Pune", actor="carol"))         # ap saw Boston: replaces it
    exchange((eu, side_b), (us, side_a + side_b[1:]), (ap, side_a))
    assert eu == us == ap
    for x in (eu, us, ap):
        assert x.conflicted_keys() == frozenset({"city"})
        sibs = x.conflicts("city")
        # siblings are ordered by dot (replica id, then counter), the same everywhere
        assert [(s.value, s.replica, s.actor) for s in sibs] == [("Pune", "ap", "carol"), ("Dublin", "eu", "alice")]
        assert x["city"] == lww(sibs) and x["name"] == "Ada"
    assert eu.conflicts("city") == us.conflicts("city") == ap.conflicts("city")   # same timestamps too


def test_resolve_clears_exactly_the_siblings_it_saw_and_a_concurrent_write_stays_a_conflict():
    eu, us, ap = regions(ConflictMap)
    d1, d2 = eu.set("k", 1), us.set("k", 2)
    exchange((eu, [d2]), (us, [d1]), (ap, [d1, d2]))
    assert eu.conflicted_keys() == {"k"}
    r = eu.resolve("k", policy="highest", actor="ops")
    w = ap.set("k", 3)                                           # concurrent with the resolution
    exchange((us, [r, w]), (eu, [w]), (ap, [r]))
    for x in (eu, us, ap):
        # the concurrent write (ap) and the resolution (eu, which picked 2)
        assert [(s.value, s.resolution) for s in x.conflicts("k")] == [(3, False), (2, True)]
    final = us.resolve("k", 3)
    exchange((eu, [final]), (ap, [final]))
    assert eu.conflicted_keys() == ap.conflicted_keys() == us.conflicted_keys() == frozenset()


def test_lww_policy_picks_the_same_winner_in_any_delivery_order():
    for order in itertools.permutations(range(3)):
        xs = [ConflictRegister(n, clock=clock(n, skew=i * 1000)) for i, n in enumerate(("a", "b", "c"))]
        ds = [x.assign(x.replica.upper()) for x in xs]
        target = ConflictRegister("z", clock=clock("z"))
        for i in order:
            target.merge(ds[i])
        assert target.value == "C" and len(target.conflicts) == 3


def test_register_policies():
    a, b = regions(ConflictRegister, ("a", "b"))
    d1, d2 = a.assign(5), b.assign(9)
    a.merge(d2)
    b.merge(d1)
    assert highest_value(a.conflicts) == 9
    c = a.copy(replica=None)
    assert ConflictRegister("x", policy=lambda sibs: sorted(s.value for s in sibs)).value is None
    custom = ConflictRegister("x", policy=lambda sibs: sum(s.value for s in sibs))
    custom.merge(c)
    assert custom.value == 14


def test_events_tell_subscribers_and_a_failing_subscriber_never_breaks_a_merge(caplog):
    eu, us = regions(ConflictMap, ("eu", "us"))
    seen = []
    us.subscribe(on_change=lambda e: seen.append(("change", e.key)),
                 on_conflict=lambda e: seen.append((e.kind, e.key, e.regions)))
    us.subscribe(on_conflict=lambda e: 1 / 0)
    d_eu = eu.set("k", "x")
    us.set("k", "y")
    us.merge(d_eu)
    assert ("conflict", "k", ("eu", "us")) in seen and ("change", "k") in seen
    assert us.conflicted_keys() == {"k"} and us._subs.errors == 1
    eu.merge(us)
    us.merge(eu.resolve("k", "z"))
    assert ("resolved", "k", ("eu", "us")) in seen
    assert "subscriber raised" in caplog.text


def test_audit_log_survives_a_crash_restart_with_a_torn_tail(tmp_path):
    path = tmp_path / "audit.log"
    net = LocalTransport()
    node = Node("eu", ConflictMap("eu", clock=clock("eu")), protocol="bprr", neighbours=["us"], transport=net,
                audit=AuditLog(path))
    other = Node("us", ConflictMap("us", clock=clock("us")), protocol="bprr", neighbours=["eu"], transport=net)
    node.update(lambda m: m.set("k", 1, actor="alice"), actor="alice", key="k")
    other.update(lambda m: m.set("k", 2, actor="bob"), actor="bob", key="k")
    for _ in range(3):
        node.tick()
        other.tick()
        net.deliver_all()
    node.update(lambda m: m.resolve("k", 1, actor="carol"), actor="carol", key="k")
    before = node.audit.records()
    assert [r["kind"] for r in before] == ["write", "conflict", "resolution"]
    with open(path, "ab") as f:                     # a crash in the middle of writing the next record
        f.write(b"\x00\x00\x01\x00partial")
    node.crash()
    node.audit._records.clear()                     # memory is gone with the process
    node.restart()
    assert node.audit.records() == before and node.audit.truncated_bytes == 11
    assert [e["bytes"] for e in node.audit.quarantined()] == [b"\x00\x00\x01\x00partial"]
    node.update(lambda m: m.set("j", 0), actor="alice", key="j")
    assert [r["seq"] for r in node.audit.records()] == [1, 2, 3, 5]   # the cut bytes may have held seq 4
    lines = node.audit.to_jsonl().splitlines()
    assert len(lines) == 4 and '"actor": "carol"' in lines[2]


def test_audit_retention_keeps_conflicts_and_resolutions(tmp_path):
    now = [0.0]
    log = AuditLog(tmp_path / "a.log", max_records=2, max_age=100, clock=lambda: now[0])
    for i in range(5):
        log.append("write", region="eu", ts=[i], key=i)
        now[0] += 10
    log.append("conflict", region="eu", ts=[9], key="k")
    log.append("resolution", region="eu", ts=[10], key="k")
    assert log.compact() == 3
    assert [r["kind"] for r in log.records()] == ["write", "write", "conflict", "resolution"]
    now[0] += 1000
    assert log.compact() == 2
    assert [r["kind"] for r in AuditLog(tmp_path / "a.log").records()] == ["conflict", "resolution"]


def test_lag_grows_during_a_partition_and_falls_to_zero_after_heal():
    from crdts.sim import Partition, Scenario, Simulation

    samples = []

    def probe(sim):
        lags = [n.protocol.peer_lag(j) for n in sim.nodes for j in n.neighbours]
        samples.append((sim.now / 1000.0, max(lag[1] for lag in lags), sum(lag[0] for lag in lags)))

    sc = Scenario(regions=4, topology="mesh", protocol="bprr", workload="gset", ops=30, seed=1,
                  partitions=(Partition.parse("5-25:0,1|2,3"),))
    sim = Simulation(sc, on_round=probe)
    r = sim.run()
    assert r.converged and r.lag_max_s is not None and r.lag_p95_s >= r.lag_p50_s
    during = [lag for t, lag, _ in samples if 6 <= t < 25]
    assert during == sorted(during) and during[-1] > 15        # grows while the regions cannot talk
    sim.advance(3 * sc.sync_interval)                          # let the last acknowledgements arrive
    assert samples[-1][1:] == (0.0, 0)                         # nothing pending: lag back to zero
    assert all(p["lag_ops"] == 0 and p["lag_seconds"] == 0 for n in sim.nodes
               for p in n.metrics()["peers"].values())


def test_prometheus_exposition_parses():
    from prometheus_client.parser import text_string_to_metric_families

    from crdts.sync.metrics import prometheus_text

    net = LocalTransport()
    a = Node("a", GSet, protocol="bprr", neighbours=["b"], transport=net)
    b = Node("b", GSet, protocol="bprr", neighbours=["a"], transport=net)
    a.update(lambda s: s.add(1))
    a.tick()
    text = prometheus_text([a, b])
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"crdts_replication_lag_ops", "crdts_replication_lag_seconds", "crdts_conflicts",
            "crdts_peer_bytes_sent", "crdts_full_state_fallbacks", "crdts_buffer_units"} <= set(fams)
    lag = {tuple(s.labels.values()): s.value for s in fams["crdts_replication_lag_ops"].samples}
    assert lag[("a", "b")] == 1.0 and lag[("b", "a")] == 0.0
    net.deliver_all()
    assert a.metrics()["peers"]["b"]["lag_ops"] == 0
