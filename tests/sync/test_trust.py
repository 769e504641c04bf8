"""What a hostile or buggy peer could do to a node, one regression test per finding.

Each test names the bug it pins: a peer's message is a claim, and a claim the node cannot accept is refused
whole (counted in ``stats.rejected_by``, reported as an event, never acknowledged) with nothing changed.
"""

from __future__ import annotations

import errno
import signal
import threading
from contextlib import contextmanager

import pytest

from crdts import HLC, AWSet, GCounter, GSet, LWWMap, LWWRegister, decode, encode
from crdts.causal import UINT_LIMIT, CausalContext
from crdts.errors import ClockDrift, LimitExceeded, ReplicaClash
from crdts.kernel import DotSetMap
from crdts.sync import LocalTransport, Node, encode_message
from crdts.sync.audit import AuditLog
from crdts.sync.trust import Authorizer, Grant, SyncLimits

PROTOCOLS = ["state", "delta", "causal", "bprr", "digest", "op"]


@contextmanager
def within(seconds: int):
    """Fail (instead of hanging) when the body runs longer than ``seconds``: for costs that used to grow
    with a number a peer wrote (seconds for 10**6, never ending for 2**63)."""
    def boom(*_):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def rounds(net, nodes, n=4):
    for _ in range(n):
        for node in nodes:
            node.tick()
        net.deliver_all()


def pair(protocol, cls=AWSet, **kw):
    net = LocalTransport()
    a = Node("a", cls, protocol=protocol, neighbours=["b"], transport=net, **kw)
    b = Node("b", cls, protocol=protocol, neighbours=["a"], transport=net, **kw)
    return net, a, b


def forged_aw(store: dict, vv: dict | None = None, cloud=()) -> AWSet:
    """An AWSet delta with exactly this store ({element: {dots}}) and context (as a peer could send)."""
    s = DotSetMap.of(store)
    ctx = CausalContext(vv or {}, cloud)
    for dots in store.values():
        for d in dots:
            ctx.add(d)
    return AWSet._delta(s, ctx)


def carrier(protocol: str, payload: bytes, origin: str = "b", seq: int = 1) -> bytes:
    """The message each protocol carries a delta in."""
    if protocol in ("causal", "bprr"):
        return encode_message("seq", seq, payload=payload)
    if protocol == "digest":
        return encode_message("log", [[origin, seq, payload]])
    if protocol == "op":
        return encode_message("ops", [[origin, seq, [], payload]])
    return encode_message("delta" if protocol == "delta" else "state", payload=payload)


# --- bug: a clashing delta poisoned the causal buffer -------------------------------------------


@pytest.mark.parametrize("protocol", ["causal", "bprr"])
def test_a_clashing_delta_is_rejected_whole_and_never_buffered(protocol):
    net, a, b = pair(protocol)
    a.update(lambda s: s.add("x"))                     # ('a', 1) -> "x"
    rounds(net, [a, b])
    forged = forged_aw({"evil": {("a", 1)}})           # the same dot, another payload
    buffered = dict(b.protocol.buffer)
    b.receive("a", carrier(protocol, encode(forged)))
    assert b.stats.rejected_by == {"clash": 1}
    assert b.protocol.buffer == buffered and sorted(b.state.value) == ["x"]
    assert [e.reason for e in b.events] == ["clash"]
    assert not net.queue, "a refused delta is not acknowledged"
    b.update(lambda s: s.add("y"))
    rounds(net, [a, b])                                 # every later round still works
    assert sorted(a.state.value) == sorted(b.state.value) == ["x", "y"]


# --- bug: op marked an undecodable operation delivered ------------------------------------------


def test_op_marks_delivered_only_what_it_applied():
    _net, a, _b = pair("op")
    writer = AWSet("b")
    d1, d2 = writer.add("one"), writer.add("two")
    a.receive("b", encode_message("ops", [["b", 2, [], encode(d2)]]))     # early: buffered
    a.receive("b", encode_message("ops", [["b", 1, [], b"\x00garbage"]]))  # b:1 cannot be decoded
    assert a.stats.rejected_by == {"malformed": 1}
    assert a.protocol.bc.delivered.get("b") == 0, "nothing was applied, so nothing counts as delivered"
    a.receive("b", encode_message("ops", [["b", 1, [], encode(d1)]]))     # the good copy releases b:2
    assert a.protocol.bc.delivered.get("b") == 2 and sorted(a.state.value) == ["one", "two"]


def test_op_rejects_an_operation_whose_merge_fails_and_keeps_it_undelivered():
    _net, a, _b = pair("op")
    a.update(lambda s: s.add("x"))                     # ('a', 1)
    bad = forged_aw({"evil": {("a", 1)}, "b-thing": {("b", 1)}})
    a.receive("b", encode_message("ops", [["b", 1, [], encode(bad)]]))
    assert a.stats.rejected_by == {"clash": 1} and a.protocol.bc.delivered.get("b") == 0
    assert sorted(a.state.value) == ["x"]


# --- bug: a failed audit write left the update half done ----------------------------------------


def test_update_is_atomic_when_the_audit_write_fails(tmp_path, monkeypatch):
    import os

    net, a, b = pair("bprr", audit=AuditLog(tmp_path / "audit.log"))
    a.update(lambda s: s.add("x"), actor="alice")
    before, buffer, records = a.state.copy(), dict(a.protocol.buffer), a.audit.records()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        a.update(lambda s: s.add("y"), actor="alice")
    monkeypatch.undo()
    assert a.state == before and a.protocol.buffer == buffer and a.audit.records() == records
    a.update(lambda s: s.add("z"), actor="alice")
    seqs = [r["seq"] for r in AuditLog(tmp_path / "audit.log").records()]
    assert len(seqs) == len(set(seqs)) == 2
    rounds(net, [a, b])
    assert sorted(b.state.value) == ["x", "z"]


def test_update_refuses_a_function_that_returns_no_delta():
    _net, a, _b = pair("bprr")
    with pytest.raises(TypeError, match="return its delta"):
        a.update(lambda s: None)


# --- bug: costs that grew with a number the peer wrote ------------------------------------------


@pytest.mark.parametrize("claim", [10**6, 2**63])
def test_delta_for_costs_the_message_not_the_claim(claim):
    x = AWSet("a")
    for i in range(50):
        x.add(i)
    d = forged_aw({}, {"z": claim})
    assert len(encode(d)) < 40
    with within(5):
        delta = d.delta_for(x)
        y = x.copy()
        y.merge(d)
    assert not delta.is_bottom() and delta.context.vv == {"z": claim}
    y.merge(delta)


def test_a_fresh_bprr_node_takes_a_state_with_many_removals_in_time_bounded_by_the_message():
    src = AWSet("b")
    src._ctx.vv["b"] = 300_000          # 300k events, all removed since: the state is a version vector and nothing else
    _net, a, _b = pair("bprr")
    with within(5):
        a.receive("b", encode_message("full", 1, payload=encode(src)))
        a.tick()
    assert a.stats.rejected == 0 and a.state.context.vv == {"b": 300_000}


def test_a_delta_landing_above_our_entry_is_widened_not_enumerated():
    x = AWSet("a")
    x._ctx.vv["z"] = 5
    d = forged_aw({"new": {("z", 10**9)}}, {"z": 10**9 - 1})
    with within(5):
        delta = d.delta_for(x)
    y = x.copy()
    y.merge(delta)
    x.merge(d)
    assert y == x and "new" in y


# --- bug: a megabyte of scattered dots made every later write slow --------------------------------


def test_a_planted_dot_cloud_over_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(CausalContext, "max_cloud", 1000)
    x = AWSet("a")
    x.add("keep")
    before = x.copy()
    d = forged_aw({}, cloud=[("q", 2 * i + 3) for i in range(1001)])
    with pytest.raises(LimitExceeded, match="scattered dots"):
        x.merge(d)
    assert x == before
    _net, a, _b = pair("bprr")
    monkeypatch.setattr(CausalContext, "max_cloud", 10)
    a.receive("b", encode_message("seq", 1, payload=encode(forged_aw({}, cloud=[("q", 2 * i + 3) for i in range(11)]))))
    assert a.stats.rejected_by == {"limit": 1}


def test_writes_and_merges_stay_fast_beside_a_large_cloud():
    x = AWSet("a")
    for i in range(10):
        x.add(i)
    x.merge(forged_aw({}, cloud=[("q", 2 * i + 3) for i in range(90_000)]))   # under the default limit
    other = AWSet("b")
    other.add("o")
    with within(5):                    # each write and merge used to sort the whole cloud: ~0.3 s apiece
        for i in range(200):
            x.add(f"y{i}")
            x.merge(other)
    assert len(x) == 211


# --- bug: a value at the counters' ceiling bricked the replica ------------------------------------


def test_a_merged_count_of_our_own_id_beyond_ours_is_refused():
    g = GCounter("me")
    g.increment()
    forged = GCounter("x")
    forged._p = {"me": UINT_LIMIT - 1}
    with pytest.raises(ReplicaClash):
        g.merge(forged)
    assert g.value == 1
    g.increment()                                # still writes
    aw = AWSet("me")
    with pytest.raises(ReplicaClash):
        aw.merge(forged_aw({}, {"me": UINT_LIMIT - 1}))
    aw.add("still writes")


def test_a_timestamp_whose_logical_part_cannot_advance_is_refused():
    reg = LWWRegister("a", clock=HLC("a", time_source=lambda: 1000))
    other = LWWRegister("b", clock=HLC("b", time_source=lambda: 900, max_drift=None))
    forged = other.assign("x")
    forged._ts = (900, UINT_LIMIT - 1, "b")
    with pytest.raises(LimitExceeded, match="logical"):
        reg.merge(forged)
    assert reg.value is None
    reg.assign("ok")
    assert len(encode(reg)) > 0
    m = LWWMap("a", clock=HLC("a", time_source=lambda: 1000))
    fm = LWWMap("b", clock=HLC("b", time_source=lambda: 900))
    fm.set("k", 1)
    dm = LWWMap._of({"k": ((900, UINT_LIMIT - 1, "b"), True, 1)})
    with pytest.raises(LimitExceeded):
        m.merge(dm)
    m.set("k", 2)
    assert len(encode(m)) > 0


# --- bug: two live replicas with one id lost writes silently under the protocols -----------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_surfaces_a_replica_id_clash(protocol):
    net = LocalTransport()
    c = Node("c", AWSet, protocol=protocol, neighbours=["b"], transport=net)
    one, two = AWSet("b"), AWSet("b")                  # two live processes with the id "b"
    d1 = one.add("from-one")
    d2 = two.add("from-two")                           # the same dot ('b', 1), another element
    c.receive("b", carrier(protocol, encode(d1)))
    assert c.stats.rejected == 0 and "from-one" in c.state
    net.queue.clear()
    c.receive("b", carrier(protocol, encode(d2), seq=2 if protocol in ("causal", "bprr") else 1))
    if protocol in ("digest", "op"):
        # (b, 1) was already delivered: the second copy is a duplicate of the log position, and its payload
        # is compared when it is held; a clash under a new position is refused like any merge.
        c.receive("b", carrier(protocol, encode(d2), seq=2))
    assert c.stats.rejected_by.get("clash") == 1, c.stats.rejected_by
    assert "from-two" not in c.state and not any(m[2][:1] and "ack" in str(m) for m in net.queue)
    assert any(e.reason == "clash" for e in c.events)


def test_a_peer_holding_our_own_events_beyond_our_counter_raises_an_event_not_a_lost_write():
    net, a, b = pair("bprr")
    a.update(lambda s: s.add("x"))
    a.update(lambda s: s.add("y"))
    rounds(net, [a, b])
    backup = decode(encode(a.state))                   # a snapshot taken now...
    a.update(lambda s: s.add("z"))                     # ...and a write after it
    rounds(net, [a, b])
    a.restore(backup)                                  # restored from the older snapshot: a new incarnation
    assert a.replica == "a~1" and a.stats.incarnations == 1
    a.update(lambda s: s.add("w"))
    rounds(net, [a, b], 6)
    assert sorted(a.state.value) == sorted(b.state.value) == ["w", "x", "y", "z"]


def test_a_replica_restored_as_current_from_an_old_snapshot_is_told_and_a_new_incarnation_heals_it():
    net, a, b = pair("state")
    a.update(lambda s: s.add("x"))
    rounds(net, [a, b])
    backup = decode(encode(a.state))
    a.update(lambda s: s.add("z"))                     # ('a', 2), acknowledged, then the disk is lost
    rounds(net, [a, b])
    a.restore(backup, current=True)                    # wrongly claimed to be the latest copy
    rounds(net, [a, b])
    assert a.stats.rejected_by.get("clash", 0) >= 1    # b's state holds ('a', 2): a has made only 1
    assert any(e.kind == "clash" and e.reason == "own-id" for e in a.events)
    assert "z" not in a.state                         # refused, not silently taken: a would reuse ('a', 2)
    a.reincarnate()
    a.update(lambda s: s.add("w"))
    rounds(net, [a, b], 4)
    assert sorted(a.state.value) == sorted(b.state.value) == ["w", "x", "z"]


def test_a_write_that_reuses_a_dot_is_refused_where_it_clashes():
    net, a, b = pair("bprr")
    a.update(lambda s: s.add("x"))
    rounds(net, [a, b])
    backup = decode(encode(a.state))
    a.update(lambda s: s.add("z"))
    rounds(net, [a, b])
    a.restore(backup, current=True)
    a.update(lambda s: s.add("w"))                     # ('a', 2) again, for another element
    rounds(net, [a, b])
    assert b.stats.rejected_by.get("clash", 0) >= 1 and "w" not in b.state and "z" in b.state
    assert any(e.reason == "clash" for e in b.events)


# --- bug: 64 MiB sync messages were parsed before any limit -------------------------------------


def test_an_oversized_message_is_refused_before_it_is_parsed(monkeypatch):
    from crdts.sync import node as node_mod

    _net, a, _b = pair("bprr", limits=SyncLimits(max_message_bytes=1024))
    called = []
    monkeypatch.setattr(node_mod, "decode_message", lambda *args: called.append(1))
    a.receive("b", b"\x00" * 2048)
    assert a.stats.rejected_by == {"too_large": 1} and a.stats.limits_hit == {"message_bytes": 1} and not called


def test_the_message_limit_is_at_most_the_codecs():
    from crdts import Limits

    with pytest.raises(ValueError, match="must not exceed the codec"):
        SyncLimits(max_message_bytes=64 * 1024 * 1024)
    assert SyncLimits(max_message_bytes=8 << 20, codec=Limits(max_bytes=8 << 20)).max_message_bytes == 8 << 20
    assert SyncLimits().max_message_bytes == Limits().max_bytes


def test_a_node_does_not_send_what_its_peers_would_refuse():
    net, a, _b = pair("state", limits=SyncLimits(max_message_bytes=256))
    a.update(lambda s: s.add("x" * 100))
    a.update(lambda s: s.add("y" * 200))
    a.tick()
    assert a.stats.limits_hit == {"send_bytes": 1} and not net.queue


# --- bug: threads ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["bprr", "op", "digest"])
def test_a_node_can_be_shared_by_threads(protocol):
    net, a, b = pair(protocol)
    errors: list[BaseException] = []

    def writer(k):
        try:
            for i in range(150):
                a.update(lambda s, i=i: s.add(f"{k}-{i}"))
        except BaseException as exc:   # pragma: no cover - the failure being tested
            errors.append(exc)

    def pump():
        try:
            for _ in range(60):
                a.tick()
                b.tick()
                with a.lock, b.lock:
                    batch = list(net.queue)
                    net.queue.clear()
                for src, dst, data in batch:
                    (a if dst == "a" else b).receive(src, data)
        except BaseException as exc:   # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)] + [threading.Thread(target=pump)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    rounds(net, [a, b], 8)
    assert len(a.state) == 450 and a.state == b.state


# --- peer authority ----------------------------------------------------------------------------


def test_strangers_are_refused_and_never_answered():
    net, a, _b = pair("digest")
    for i in range(50):
        a.update(lambda s, i=i: s.add(i))
    a.receive("mallory", encode_message("digest", []))
    assert a.stats.rejected_by == {"stranger": 1} and not net.queue and "mallory" not in a.stats.peers


def test_an_identity_without_a_grant_is_refused():
    auth = Authorizer({"b": ["b"]})
    _net, a, _b = pair("bprr", authorizer=auth)
    a.receive("b", encode_message("seq", 1, payload=encode(AWSet("b").add("ok"))), identity="b")
    a.receive("b", encode_message("seq", 2, payload=encode(AWSet("c").add("no"))), identity="c")
    assert a.stats.rejected_by == {"unauthorized": 1} and sorted(a.state.value) == ["ok"]


def test_a_peer_that_may_not_relay_can_only_send_its_own_writes():
    auth = Authorizer({"b": Grant({"b"}, relay=False)})
    _net, a, _b = pair("bprr", authorizer=auth)
    a.receive("b", encode_message("seq", 1, payload=encode(AWSet("b").add("own"))))
    a.receive("b", encode_message("seq", 2, payload=encode(AWSet("c").add("relayed"))))
    a.receive("b", encode_message("seq", 3, payload=encode(forged_aw({}, {"c": 10**6}))))   # a forged context
    assert a.stats.rejected_by == {"unauthorized": 2} and sorted(a.state.value) == ["own"]
    assert a.state.context.vv == {"b": 1}
    _, d, _ = pair("digest", authorizer=auth)
    d.receive("b", encode_message("log", [["c", 1, encode(AWSet("c").add("relayed"))]]))
    assert d.stats.rejected_by == {"unauthorized": 1}


def test_an_ack_counts_only_for_the_peer_that_sends_it():
    net = LocalTransport()
    a = Node("a", AWSet, protocol="op", neighbours=["b", "c"], transport=net)
    a.update(lambda s: s.add("x"))
    a.receive("b", encode_message("opsync", "c", ["a", 1]))      # b acknowledging for c
    assert a.stats.rejected_by == {"unauthorized": 1}
    assert a.protocol.bc.metadata()["log"] == 1


def test_an_ack_beyond_what_was_sent_is_refused():
    net, a, b = pair("bprr")
    a.update(lambda s: s.add("x"))
    a.receive("b", encode_message("ack", 2**63))
    assert a.stats.rejected_by == {"invalid": 1} and a.protocol.acks.get("b", 0) == 0
    rounds(net, [a, b])
    assert sorted(b.state.value) == ["x"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_kind_the_protocol_does_not_speak_is_refused(protocol):
    _net, a, _b = pair(protocol)
    other = "opsync" if protocol != "op" else "ack"
    meta = ("b", []) if other == "opsync" else (1,)
    a.receive("b", encode_message(other, *meta))
    assert a.stats.rejected_by == {"kind": 1}


def test_a_snapshot_cannot_claim_more_of_a_neighbours_history_than_it_says_itself():
    net = LocalTransport()
    a = Node("a", AWSet, protocol="digest", neighbours=["b", "c"], transport=net)
    c = Node("c", AWSet, protocol="digest", neighbours=["a"], transport=net)
    c.update(lambda s: s.add("c1"))
    rounds(net, [a, c])                                # a holds c:1 and knows c's digest
    a.receive("b", encode_message("snapshot", ["c", 10**6], payload=encode(AWSet())))   # b lies about c
    assert a.protocol.known["c"] == 1
    for i in range(3):
        c.update(lambda s, i=i: s.add(f"c{i + 2}"))
    rounds(net, [a, c], 6)                             # c's later writes are not shadowed by the lie
    assert sorted(a.state.value) == ["c1", "c2", "c3", "c4"]


def test_untrusted_snapshot_claims_are_ignored():
    auth = Authorizer({"b": Grant({"b"}, snapshots=False)})
    _net, a, _b = pair("digest", authorizer=auth)
    a.receive("b", encode_message("snapshot", ["z", 10**6], payload=encode(AWSet())))
    assert "z" not in a.protocol.known and a.stats.rejected == 0


# --- bounded resources ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["causal", "bprr"])
def test_a_neighbour_that_never_acks_costs_a_full_state_not_an_unbounded_buffer(protocol):
    net = LocalTransport()
    a = Node("a", GSet, protocol=protocol, neighbours=["silent"], transport=net, limits=SyncLimits(max_buffer=16))
    for i in range(100):
        a.update(lambda s, i=i: s.add(i))
        a.tick()
    assert len(a.protocol.buffer) <= 16 and a.stats.limits_hit["buffer"] >= 1
    assert a.stats.full_states_sent >= 1


def test_digest_holds_a_bounded_number_of_entries_beyond_a_gap():
    _net, a, _b = pair("digest", cls=GSet, limits=SyncLimits(max_pending=8))
    entries = [["b", 10 + i, encode(GSet("b").add(i))] for i in range(20)]   # b:1..9 never arrive
    a.receive("b", encode_message("log", entries))
    assert a.protocol.pending == 8 and a.stats.limits_hit["pending"] == 12


def test_op_bounds_its_early_buffer_and_its_group():
    _net, a, _b = pair("op", cls=GSet, limits=SyncLimits(max_pending=4, max_members=6))
    for i in range(10):
        a.receive("b", encode_message("ops", [["b", 5 + i, [], encode(GSet("b").add(i))]]))
    assert a.protocol.bc.metadata()["buffered"] == 4 and a.stats.limits_hit["pending"] == 6
    for i in range(10):
        a.receive("b", encode_message("ops", [[f"stranger{i}", 1, [], encode(GSet(f"stranger{i}").add(i))]]))
    assert len(a.protocol.bc.members) <= 6 and a.stats.limits_hit["members"] >= 1


def test_op_log_is_bounded():
    net = LocalTransport()
    a = Node("a", GSet, protocol="op", neighbours=["silent"], transport=net, limits=SyncLimits(max_log=10))
    for i in range(30):
        a.update(lambda s, i=i: s.add(i))
    assert a.protocol.bc.metadata()["log"] <= 10 and a.stats.limits_hit["log"] >= 1


def test_digest_log_is_bounded():
    net = LocalTransport()
    a = Node("a", GSet, protocol="digest", neighbours=["silent"], transport=net, limits=SyncLimits(max_log=10))
    for i in range(30):
        a.update(lambda s, i=i: s.add(i))
    assert len(a.protocol.held_at) <= 10 and a.stats.limits_hit["log"] >= 1


# --- clocks ------------------------------------------------------------------------------------


def test_a_timestamp_a_century_ahead_is_refused_and_counted():
    now = [10**18]
    _net, a, _b = pair("bprr", cls=LWWMap)
    a.state = LWWMap("a", clock=HLC("a", time_source=lambda: now[0]))
    future = LWWMap("b", clock=HLC("b", time_source=lambda: now[0] + 100 * 365 * 86400 * 10**9))
    a.receive("b", encode_message("seq", 1, payload=encode(future.set("k", "from the future"))))
    assert a.stats.rejected_by == {"clock": 1} and a.state.value == {}
    d = a.update(lambda s: s.set("k", "now"))
    assert d.timestamp("k").wall == now[0]
    with pytest.raises(ClockDrift):
        LWWRegister("a", clock=HLC("a", time_source=lambda: now[0])).merge(
            LWWRegister("b", clock=HLC("b", time_source=lambda: now[0] + 2 * 3600 * 10**9)).assign(1))


def test_a_local_clock_glitch_forward_does_not_pin_the_clock():
    wall = [10**18]
    mono = [0]
    clock = HLC("a", time_source=lambda: wall[0], monotonic=lambda: mono[0])
    first = clock.now()
    wall[0] += 100 * 365 * 86400 * 10**9              # the system clock jumps a century ahead, once
    mono[0] += 10**6
    glitched = clock.now()
    wall[0] = 10**18 + 2 * 10**6                      # and comes back
    mono[0] += 10**6
    after = clock.now()
    assert clock.glitches == 1 and glitched.wall < first.wall + 3600 * 10**9 and after.wall == 10**18 + 2 * 10**6
    assert HLC("a", time_source=lambda: 5, max_drift=None).now().wall == 5


def test_the_glitch_guard_reads_the_monotonic_clock_only_past_its_window_and_refuses_bad_readings():
    wall, reads = [10**18], []

    def mono():
        reads.append(wall[0])
        return wall[0] - 10**18

    clock = HLC("a", time_source=lambda: wall[0], monotonic=mono)   # recheck window: max_drift / 3600 = 1 s
    clock.now()
    wall[0] += 10**8
    clock.now()                                        # within a second of the anchor: no monotonic reading
    assert len(reads) == 1
    wall[0] += 2 * 10**9
    clock.now()                                        # past it: read, and the window moves
    wall[0] -= 10**6
    clock.now()                                        # behind the anchor: read again
    assert len(reads) == 3
    clock.resync()
    clock.now()
    assert len(reads) == 4 and clock.glitches == 0
    for guard in (None, 3600 * 10**9):
        for bad in (-1, 2**64, 1.5, True):
            c = HLC("a", time_source=lambda bad=bad: bad, max_drift=guard, monotonic=lambda: 0)
            with pytest.raises(ValueError, match="time source"):
                c.now()


def test_a_failed_update_rolls_back_in_place_keeping_subscribers(tmp_path, monkeypatch):
    import os

    from crdts import ConflictMap

    events = []
    net = LocalTransport()
    a = Node("a", ConflictMap, protocol="bprr", neighbours=["b"], transport=net,
             audit=AuditLog(tmp_path / "audit.log"))
    obj = a.state
    obj.subscribe(on_change=events.append)
    a.update(lambda s: s.set("k", 1))
    before = obj.copy()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        a.update(lambda s: s.set("k", 2))
    monkeypatch.undo()
    assert a.state is obj and obj == before and obj.value == {"k": 1}
    b = ConflictMap("b")
    obj.merge(b.set("j", 3) and b)
    assert events, "the subscriber still hears of merges"


def test_a_monotonic_clock_attached_later_turns_the_glitch_guard_on():
    wall, mono = [1_000], [1_000]
    clock = HLC("a", time_source=lambda: wall[0], max_drift=10**6, monotonic=None)
    clock.physical()
    clock.monotonic = lambda: mono[0]
    clock.physical()
    wall[0] += 10**12                                   # a jump far beyond max_drift, the monotonic clock still
    assert clock.physical() == 1_000 and clock.glitches == 1
    clock.monotonic = None                              # and detached: the guard is off again
    assert clock.physical() == wall[0]
