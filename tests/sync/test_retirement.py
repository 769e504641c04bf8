"""Retirement through every sync protocol: the registries travel on the messages, a replica that left is retired,
a new one joins, late messages of the retired one are refused, and the live replicas converge with no write lost
and the retired id gone from their metadata."""

from __future__ import annotations

import attrs
import pytest

from crdts import AWSet, GCounter
from crdts.codec import encode
from crdts.retention import Retirements
from crdts.sync import PROTOCOLS, LocalTransport, Node
from crdts.sync.messages import decode_message, encode_message


class Net(LocalTransport):
    """A LocalTransport that can lose every message to or from some nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.cut: set[str] = set()

    def send(self, src, dst, data, info):
        if src not in self.cut and dst not in self.cut:
            super().send(src, dst, data, info)


def _round(net: Net, nodes: list[Node]) -> None:
    for n in nodes:
        n.tick()
    net.deliver_all()


def _node(name: str, crdt, protocol: str, peers: list[str], net: Net, clock: list[float]) -> Node:
    reg = Retirements(name, ttl=1000.0, clock=lambda: clock[0])
    return Node(name, crdt, protocol=protocol, neighbours=peers, transport=net, retirements=reg,
                registry_every=10)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_a_replica_leaves_is_retired_a_new_one_joins_and_everyone_converges(protocol: str) -> None:
    net, clock = Net(), [0.0]
    names = ["a", "b", "c", "r"]
    nodes = {n: _node(n, AWSet, protocol, [m for m in names if m != n], net, clock) for n in names}
    written: set[str] = set()

    def write(n: str, e: str) -> None:
        nodes[n].update(lambda s: s.add(e))
        written.add(e)

    for i in range(3):
        for n in names:
            write(n, f"{n}{i}")
        clock[0] += 1
        _round(net, list(nodes.values()))
    live = ["a", "b", "c"]
    assert all(nodes[n].state.value == written for n in names)
    # r is gone: its links are cut (they stay configured: its late messages arrive below)
    r = nodes.pop("r")
    net.cut.add("r")
    for n in ("b", "c"):      # a keeps its link to r
        nodes[n].remove_neighbour("r")
    nodes["a"].retirements.decide("r", members=live)
    # a new region joins, bootstrapped from b's state and registry
    reg = nodes["b"].retirements.copy()
    reg.rebind("d")
    d = Node("d", nodes["b"].state.copy(replica="d"), protocol=protocol, neighbours=live, transport=net,
             retirements=reg)
    nodes["d"] = d
    for n in live:
        nodes[n].add_neighbour("d")
    live.append("d")
    for i in range(12):
        write(live[i % len(live)], f"w{i}")
        clock[0] += 1
        _round(net, list(nodes.values()))
    for _ in range(3):
        clock[0] += 1
        _round(net, list(nodes.values()))
    for n in live:
        x = nodes[n]
        assert x.retirements.tombstones() == {"r"}, (n, x.retirements)
        assert x.state.value == written, n
        assert "r" not in x.state._rt_ids(), (n, x.state.metadata())
    assert len({encode(nodes[n].state.copy(replica=None)) for n in live}) == 1

    # r did not stop: its late write reaches a over the link a still keeps, and is refused
    net.cut.discard("r")
    r.update(lambda s: s.add("late"))
    for _ in range(12):        # within registry_every rounds, the registry reaches r again (it was lost)
        clock[0] += 1
        _round(net, [*nodes.values(), r])
    assert r.retirements.is_retired("r") and r.state.replica is None   # r learned it, and is read-only
    for n in live:
        x = nodes[n]
        assert "late" not in x.state.value and x.state.value == written, n
        assert "r" not in x.state._rt_ids(), n
    # op takes a retired replica's operation outside the causal broadcast: the late write is refused and counted
    # as any protocol refuses it, and nothing waits for it
    assert nodes["a"].stats.rejected_by.get("retired", 0) >= 1, nodes["a"].stats.rejected_by
    if protocol == "digest":
        for n in live:
            p = nodes[n].protocol
            assert "r" not in p.known and "r" not in p.log, n
    if protocol == "op":       # r left the causal broadcast: its group, its vectors, its log, the acknowledgements
        for n in live:
            bc = nodes[n].protocol.bc
            assert "r" not in bc.members and "r" not in bc.delivered and "r" not in bc.stable, n
            assert not any("r" in got for _, got in nodes[n].protocol.acked.values()), n
            assert bc.metadata()["buffered"] == 0 and not any(o == "r" for o, _ in bc._log), n


@pytest.mark.parametrize("protocol", ["state", "digest"])
def test_a_counter_keeps_its_value_through_a_retirement(protocol: str) -> None:
    net, clock = Net(), [0.0]
    names = ["a", "b", "r"]
    nodes = {n: _node(n, GCounter, protocol, [m for m in names if m != n], net, clock) for n in names}
    for n in names:
        nodes[n].update(lambda s: s.increment(3))
    _round(net, list(nodes.values()))
    _round(net, list(nodes.values()))
    net.cut.add("r")
    del nodes["r"]
    nodes["a"].retirements.decide("r", members=["a", "b"])
    for _ in range(6):
        clock[0] += 1
        _round(net, list(nodes.values()))
    for x in nodes.values():
        assert x.state.value == 9 and "r" not in x.state._rt_ids()


def test_a_registry_that_does_not_decode_refuses_its_message_whole() -> None:
    net, clock = Net(), [0.0]
    a = _node("a", AWSet, "state", ["b"], net, clock)
    d = AWSet("b")
    d.add("x")
    payload = encode(d.copy(replica=None))
    for bad in (b"\x00garbage", encode(AWSet())):     # not a registry at all; a valid object of another type
        a.receive("b", encode_message("state", payload=payload, registry=bad))
    assert a.stats.rejected_by == {"malformed": 2} and a.state.value == set()
    b = Retirements("b")
    b.decide("r", members=["a", "b"])
    a.receive("b", encode_message("state", payload=payload, registry=encode(b)))
    assert a.state.value == {"x"} and a.retirements.is_retired("r")


def test_the_registry_rides_only_when_it_changed_and_every_few_rounds() -> None:
    net, clock = Net(), [0.0]
    a = _node("a", AWSet, "state", ["b"], net, clock)
    _node("b", AWSet, "state", ["a"], net, clock)
    a.update(lambda s: s.add("x"))
    a.retirements.decide("r", members=["a", "b"])
    carried = []
    for _ in range(10):
        a.tick()
        carried.extend(decode_message(data).registry is not None for src, _, data in net.queue if src == "a")
        net.queue.clear()
    # the first round (a new registry, with a's vote), then unchanged until the tenth round (sent again anyway)
    assert carried == [True] + [False] * 8 + [True]
    # a registry change with nothing else to send still goes, alone
    b = _node("c", AWSet, "bprr", ["a"], net, clock)
    b.retirements.decide("q", members=["a", "c"])
    b.tick()
    assert [decode_message(data).kind for _, _, data in net.queue] == ["registry"]


def test_with_an_authorizer_only_a_peer_trusted_with_snapshots_may_send_a_registry() -> None:
    from crdts.sync.trust import Authorizer, Grant

    reg = Retirements("b")
    reg.decide("r", members=["a", "b"])
    data = encode_message("registry", registry=encode(reg))
    for trusted, expect in ((False, {"unauthorized": 1}), (True, {})):
        auth = Authorizer({"b": Grant(origins=["b"], snapshots=trusted)})
        a = Node("a", AWSet, protocol="state", neighbours=["b"], transport=Net(), authorizer=auth,
                 retirements=Retirements("a"))
        a.receive("b", data)
        assert a.stats.rejected_by == expect and a.retirements.is_retired("r") is trusted


def test_the_registry_field_is_checked_as_the_rest_of_the_envelope() -> None:
    import cbor2

    from crdts.errors import DecodeError

    good = decode_message(encode_message("ack", 3, registry=b"r"))
    assert (good.meta, good.registry) == ((3,), b"r")
    assert decode_message(encode_message("ack", 3)).registry is None
    for fields in ([1, 4, 3, "not bytes"], [1, 4, 3, b"r", b"extra"], [1, 13]):   # kind 4 is ack, 13 registry
        with pytest.raises(DecodeError):
            decode_message(cbor2.dumps(fields))


class LossyNet(Net):
    """Loses, duplicates and reorders messages (seeded)."""

    def __init__(self, seed: int, loss: float = 0.2, dup: float = 0.1) -> None:
        super().__init__()
        import random

        self.rng = random.Random(seed)
        self.loss, self.dup = loss, dup

    def send(self, src, dst, data, info):
        if self.rng.random() < self.loss:
            return
        super().send(src, dst, data, info)
        if self.rng.random() < self.dup:
            super().send(src, dst, data, info)

    def deliver_all(self) -> int:
        n = 0
        while self.queue:
            batch = list(self.queue)
            self.queue.clear()
            self.rng.shuffle(batch)
            for src, dst, data in batch:
                node = self.nodes.get(dst)
                if node is not None:
                    node.receive(src, data)
                n += 1
        return n


@pytest.mark.parametrize("join_after", [False, True])
@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_retirement_converges_under_loss_duplication_and_reordering_with_a_stale_bootstrap(protocol: str,
                                                                                          join_after: bool) -> None:
    """d joins from a snapshot taken before r's last write reached it (so it is not a member, and lacks an event
    that ends up renamed into the heir's archive), while the retirement is under way or once it is performed and
    every log forgot r: it still gets the write, and everyone converges."""
    net, clock = LossyNet(11), [0.0]
    names = ["a", "b", "c", "r"]
    # z never answers: nothing is ever acknowledged by every neighbour, so no log is collected (a digest node that
    # joins gets whole logs, which no longer hold r's entries, rather than a snapshot)
    nodes = {n: _node(n, AWSet, protocol, [m for m in names if m != n] + ["z"], net, clock) for n in names}
    written: set[str] = set()
    for i in range(3):
        for n in names:
            nodes[n].update(lambda s, e=f"{n}{i}": s.add(e))
            written.add(f"{n}{i}")
        clock[0] += 1
        _round(net, list(nodes.values()))
    stale = nodes["c"].state.copy(replica="d")
    stale_reg = nodes["c"].retirements.copy()
    nodes["r"].update(lambda s: s.add("r-last"))
    written.add("r-last")
    for _ in range(6):
        clock[0] += 1
        _round(net, list(nodes.values()))
    assert all("r-last" in x.state.value for x in nodes.values())
    net.cut.add("r")
    del nodes["r"]
    for n in ("a", "b", "c"):
        nodes[n].remove_neighbour("r")
    nodes["b"].retirements.decide("r", members=["a", "b", "c"])
    for _ in range(20 if join_after else 0):
        clock[0] += 1
        _round(net, list(nodes.values()))
    if join_after:
        assert all(x.retirements.tombstones() == {"r"} for x in nodes.values())
        if protocol == "digest":
            assert not any("r" in x.protocol.known for x in nodes.values())
    stale_reg.rebind("d")
    nodes["d"] = Node("d", stale, protocol=protocol, neighbours=["a", "b", "c", "z"], transport=net,
                      retirements=stale_reg, registry_every=10)
    for n in ("a", "b", "c"):
        nodes[n].add_neighbour("d")
    for i in range(8):
        nodes["abcd"[i % 4]].update(lambda s, e=f"w{i}": s.add(e))
        written.add(f"w{i}")
        clock[0] += 1
        _round(net, list(nodes.values()))
    net.loss = net.dup = 0.0
    for _ in range(40):
        clock[0] += 1
        _round(net, list(nodes.values()))
        if all(x.state.value == written and x.retirements.tombstones() == {"r"} for x in nodes.values()):
            break
    for n, x in nodes.items():
        assert x.retirements.tombstones() == {"r"}, (n, x.retirements)
        assert x.state.value == written, (n, written - x.state.value)
        assert "r" not in x.state._rt_ids(), n
    assert len({encode(x.state.copy(replica=None)) for x in nodes.values()}) == 1


def test_op_a_removal_of_a_retired_replica_still_in_flight_is_not_lost() -> None:
    """r's last operation is an observed remove (no event of r: the retirement's marks cannot see it) that reaches
    nobody before r is retired and the broadcast forgets r. When it arrives at last, it is merged outside the
    causal broadcast (it brings something the state lacks) and passed on: no replica loses it, and r does not come
    back into any vector."""
    net, clock = Net(), [0.0]
    names = ["a", "b", "r"]
    nodes = {n: _node(n, AWSet, "op", [m for m in names if m != n], net, clock) for n in names}
    nodes["a"].update(lambda s: s.add("x"))
    nodes["a"].update(lambda s: s.add("y"))
    for _ in range(3):
        clock[0] += 1
        _round(net, list(nodes.values()))
    assert all(x.state.value == {"x", "y"} for x in nodes.values())
    r = nodes.pop("r")
    net.cut.add("r")
    r.update(lambda s: s.remove("x"))          # lost on the way: r is cut off
    nodes["b"].remove_neighbour("r")            # a keeps its link to r
    nodes["a"].retirements.decide("r", members=["a", "b"])
    for _ in range(6):
        clock[0] += 1
        _round(net, list(nodes.values()))
    for x in nodes.values():
        assert x.retirements.tombstones() == {"r"} and "r" in x.protocol.bc.retired
        assert "r" not in x.protocol.bc.delivered and x.state.value == {"x", "y"}
    net.cut.discard("r")
    for _ in range(6):                          # r repairs a from its log: the removal arrives
        clock[0] += 1
        _round(net, [*nodes.values(), r])
    for n, x in nodes.items():
        assert x.state.value == {"y"}, n
        assert "r" not in x.protocol.bc.delivered and "r" not in x.protocol.bc.members, n
        assert "r" not in x.state._rt_ids(), n
    assert not nodes["a"].stats.rejected_by.get("retired")   # not a late write: nothing refused
    assert nodes["a"].state == nodes["b"].state


@pytest.mark.parametrize("protocol", ["digest", "op"])
@pytest.mark.parametrize("ask", [True, False])
def test_a_replica_that_missed_a_retired_replicas_writes_asks_for_them(protocol: str, ask: bool,
                                                                      monkeypatch) -> None:
    """A region that was away while a replica it is not a member for wrote, left and was retired: when it comes
    back, those writes are renamed and no log holds them any more, so only a full state can bring them. The node
    sees the gap (``archive_gap``) and asks for everything; without asking, they never arrive."""
    if not ask:
        monkeypatch.setattr(Node, "archive_gap", lambda self: False)
    net, clock = Net(), [0.0]
    names = ["a", "b", "d", "r"]
    nodes = {n: _node(n, AWSet, protocol, [m for m in names if m != n], net, clock) for n in names}

    def rounds(k: int) -> None:
        for _ in range(k):
            clock[0] += 1
            _round(net, list(nodes.values()))

    nodes["r"].update(lambda s: s.add("r0"))
    nodes["d"].update(lambda s: s.add("d0"))
    rounds(3)
    assert all(x.state.value == {"r0", "d0"} for x in nodes.values())
    net.cut.add("d")                               # d is away while r writes more, leaves and is retired
    for i in (1, 2):
        nodes["r"].update(lambda s, i=i: s.add(f"r{i}"))
        rounds(1)
    net.cut.add("r")
    del nodes["r"]
    for n in ("a", "b", "d"):
        nodes[n].remove_neighbour("r")
    nodes["a"].retirements.decide("r", members=["a", "b"])
    rounds(6)
    want = {"r0", "r1", "r2", "d0"}
    assert nodes["a"].state.value == nodes["b"].state.value == want
    assert nodes["a"].retirements.tombstones() == {"r"}
    net.cut.discard("d")                           # d is back: the registry reaches it, r's events are renamed
    rounds(12)
    d = nodes["d"]
    assert d.retirements.tombstones() == {"r"} and "r" not in d.state._rt_ids()
    if ask:
        assert d.state.value == want and not d.archive_gap()
    else:
        assert d.state.value == {"r0", "d0"}            # the gap stays: nothing else would fill it


def test_a_changed_record_travels_as_the_votes_that_changed() -> None:
    from crdts.codec import decode as decode_obj

    net, clock = Net(), [0.0]
    names = ["a", "b", "c", "d"]
    nodes = {n: _node(n, AWSet, "state", [m for m in names if m != n], net, clock) for n in names}
    nodes["a"].retirements.decide("r", members=[*names, "e"])   # e never votes: the record stays open
    for _ in range(2):
        clock[0] += 1
        _round(net, list(nodes.values()))
    a, b = nodes["a"], nodes["b"]
    assert len(b.retirements.records["r"].votes) == 4 and b.retirements.records["r"].performed is None
    rec = a.retirements.records["r"]      # a's vote is replaced (as a vote for another heir would be): a votes again
    rec.votes["a"] = attrs.evolve(rec.votes["a"], heir="d", version=rec.votes["a"].version + 1)
    a.retirements.version += 1
    a.tick()
    parts = [decode_message(data).registry for src, dst, data in net.queue if src == "a" and dst == "b"]
    part = decode_obj(parts[-1]).records["r"]
    # a's new vote goes, b's own vote (b sent it to a) does not: a knows b holds it; c's and d's may go (a cannot
    # know that they reached b directly)
    assert "a" in part.votes and "b" not in part.votes and part.proposals == rec.proposals
    net.deliver_all()
    assert b.retirements.records["r"] == a.retirements.records["r"]
    whole = len(encode(a.retirements))
    assert len(parts[-1]) < whole, (len(parts[-1]), whole)
