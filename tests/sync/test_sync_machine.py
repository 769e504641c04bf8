"""A hypothesis state machine over sync nodes: random writes, rounds, deliveries, drops, duplicates,
partitions and crashes; after healing, every protocol must converge with nothing lost or invented."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from crdts.sim import make_workload
from crdts.sync import PROTOCOLS, Node

REGIONS = 4


class _Net:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, src, dst, data, info):
        self.sent.append((src, dst, data))


def machine_for(protocol: str, workload: str, durable: bool = True) -> type[RuleBasedStateMachine]:
    class SyncMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.work = make_workload(workload, REGIONS, 1000)
            self.net = _Net()
            names = [f"r{i}" for i in range(REGIONS)]
            self.nodes = [Node(n, self.work.make(i, n), protocol=protocol,
                               neighbours=[names[(i - 1) % REGIONS], names[(i + 1) % REGIONS]],
                               transport=self.net, durable=durable)
                          for i, n in enumerate(names)]
            self.oracle = self.work.cls()
            self.cut: set[frozenset[str]] = set()
            self.n = 0
            import random

            self.choices = random.Random(0)   # only feeds the workload's element/key picks, never control flow

        def _flush(self):
            out = list(self.net.sent)
            self.net.sent.clear()
            return out

        def _deliver(self, src, dst, data, copies=1):
            if frozenset((src, dst)) in self.cut:
                return
            for _ in range(copies):
                self.nodes[int(dst[1:])].receive(src, data)

        @rule(i=st.integers(0, REGIONS - 1), then_sync=st.booleans())
        def write(self, i, then_sync):
            node = self.nodes[i]
            if node.up:
                self.n += 1
                self.oracle.merge(node.update(self.work.update(i, self.n, self.choices)))
                if then_sync:
                    node.tick()

        @rule(i=st.integers(0, REGIONS - 1))
        def sync_round(self, i):
            self.nodes[i].tick()

        @rule(k=st.integers(0, 50), dup=st.booleans())
        def deliver_one(self, k, dup):
            if self.net.sent:
                src, dst, data = self.net.sent.pop(k % len(self.net.sent))
                self._deliver(src, dst, data, 2 if dup else 1)

        @rule(keep=st.lists(st.booleans(), min_size=1, max_size=8))
        def deliver_some(self, keep):
            batch = self._flush()
            for k, (src, dst, data) in enumerate(batch):
                if keep[k % len(keep)]:
                    self._deliver(src, dst, data)
                # else: dropped

        @rule(k=st.integers(0, 50))
        def drop_one(self, k):
            if self.net.sent:
                self.net.sent.pop(k % len(self.net.sent))

        @rule(a=st.integers(0, REGIONS - 1), b=st.integers(0, REGIONS - 1))
        def partition(self, a, b):
            if a != b:
                self.cut.add(frozenset((f"r{a}", f"r{b}")))

        @rule()
        def heal(self):
            self.cut.clear()

        @rule(i=st.integers(0, REGIONS - 1))
        def crash(self, i):
            self.nodes[i].crash()

        @rule(i=st.integers(0, REGIONS - 1))
        def restart(self, i):
            self.nodes[i].restart()

        @invariant()
        def states_are_valid(self):
            for node in self.nodes:
                node.state._check()

        def teardown(self):
            self.cut.clear()
            for node in self.nodes:
                node.restart()
            self.net.sent.clear()
            for _ in range(40):
                for node in self.nodes:
                    node.tick()
                for _ in range(3):   # let acks and replies flow
                    batch = self._flush()
                    for src, dst, data in batch:
                        self._deliver(src, dst, data)
                first = self.nodes[0].state
                if all(n.state == first for n in self.nodes[1:]) and first.units() >= 0 and not self.net.sent:
                    break
            first = self.nodes[0].state
            assert all(n.state == first for n in self.nodes[1:]), f"{protocol}/{workload} did not converge"
            if durable:
                want, got = self.work.items(self.oracle.value), self.work.items(first.value)
                assert want - got == set(), f"lost writes: {want - got}"
                assert got - want == set(), f"unexpected: {got - want}"
            if protocol == "op" and durable:
                self._drain()

        def _drain(self):
            """After the heal the op logs and buffers empty: at most a round after the states agree, and a
            round for the messages of the last one (docs/sync.md)."""
            def left():
                return {n.name: {k: v for k, v in n.protocol.held().items() if v}
                        for n in self.nodes if n.name not in self.drain_exempt and any(n.protocol.held().values())}

            for _ in range(2):
                if not left():
                    return
                for node in self.nodes:
                    node.tick()
                for _ in range(10):
                    batch = self._flush()
                    for src, dst, data in batch:
                        self._deliver(src, dst, data)
            assert not left(), f"op: still held after the heal: {left()}"

        drain_exempt: tuple[str, ...] = ()

    SyncMachine.__name__ = f"SyncMachine_{protocol}_{workload.replace(':', '_')}"
    return SyncMachine


CASES = [(p, w) for p in sorted(PROTOCOLS) for w in ("gset", "awset", "pncounter", "ormap", "lwwmap")]


@pytest.mark.parametrize(("protocol", "workload"), CASES)
def test_sync_machine(protocol, workload):
    m = machine_for(protocol, workload)
    m.TestCase.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)
    m.TestCase().runTest()


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_sync_machine_with_state_lost_on_restart(protocol):
    m = machine_for(protocol, "awset", durable=False)
    m.TestCase.settings = settings(max_examples=10, stateful_step_count=25, deadline=None)
    m.TestCase().runTest()


# --- a hostile peer ------------------------------------------------------------------------------
#
# "m" is an authenticated neighbour of r0 whose grant lets it originate only its own writes ("m"), relay
# nothing and make no claims about others' histories. It sends garbage, replays of anything it saw on the
# network, forged contexts and huge claims, dots that clash with r0's, far-future timestamps, huge acks and
# digests, and writes of its own. What r0 accepts from it is part of the history (the oracle merges it);
# everything else must be refused with nothing changed. After healing, the honest nodes converge with no
# acknowledged write lost and nothing unexpected.

HOSTILE = "m"


def _forged(state, kind: str, claim: int):
    """A delta of the state's class that claims what ``m`` may not: ``kind`` picks the lie."""
    from crdts import LWWMap, PNCounter
    from crdts._base import Causal
    from crdts.causal import CausalContext

    cls = type(state)
    if issubclass(cls, Causal):
        d = cls._delta(type(state._store)(), CausalContext())
        if kind == "context":                   # a remove of what r1 has not written yet (shadows its writes)
            d._ctx = CausalContext({"r1": claim})
        elif kind == "own":                     # events of r0's own id that r0 never made
            d._ctx = CausalContext({"r0": min(state._ctx.vv.get("r0", 0) + claim, 2**64 - 1)})
        elif kind == "clash" and state._store.index:   # a dot r0 holds, carrying something else
            from crdts.kernel import DotSetMap

            if type(state._store) is DotSetMap:
                dot = min(state._store.index)
                s = DotSetMap.of({("evil", claim): [dot]})
                d = cls._delta(s, CausalContext._of_dots({dot}))
        return d
    if cls is PNCounter:
        d = PNCounter()
        d._p = {"r1": claim} if kind != "own" else {"r0": claim}
        return d
    if cls is LWWMap:
        wall = 2**63 if kind == "clock" else 1
        return LWWMap._of({"k": ((wall, claim % 2**63, "r1" if kind != "clock" else HOSTILE), True, "evil")})
    return None


def hostile_machine_for(protocol: str, workload: str) -> type[RuleBasedStateMachine]:
    from crdts import encode
    from crdts.sync import encode_message
    from crdts.sync.messages import vv_to_wire
    from crdts.sync.trust import Authorizer, Grant

    Base = machine_for(protocol, workload)

    class HostileMachine(Base):
        drain_exempt = ("r0",)      # its log waits for m's acknowledgements, which m owes nobody

        def __init__(self) -> None:
            super().__init__()
            r0 = self.nodes[0]
            r0.neighbours.append(HOSTILE)
            honest = {n.name: Grant({n.name}) for n in self.nodes}
            r0.authorizer = Authorizer({**honest, HOSTILE: Grant({HOSTILE}, relay=False, snapshots=False)})
            self.mine = self.work.make(0, HOSTILE)      # m's own replica of the type
            self.heard: list[bytes] = []
            self.m_seq = 0                              # m's own sequence (digest log, op origin)
            self.m_n = 0

        def _deliver(self, src, dst, data, copies=1):
            if dst == HOSTILE:
                self.heard.append(data)    # m keeps what it is sent, to replay it
                return
            super()._deliver(src, dst, data, copies)

        def _from_m(self, data: bytes, payload=None) -> None:
            """m sends ``data`` to r0; if r0 took it whole, what it carried joins the oracle."""
            r0 = self.nodes[0]
            before = r0.stats.rejected
            r0.receive(HOSTILE, data)
            if payload is not None and r0.up and r0.stats.rejected == before:
                self.oracle.merge(payload)
                if protocol in ("digest", "op"):
                    self.m_seq += 1          # that position of m's log is taken now

        def _carry(self, delta) -> bytes:
            payload = encode(delta)
            if protocol in ("causal", "bprr"):
                self.m_seq += 1
                return encode_message("seq", self.m_seq, payload=payload)
            if protocol == "digest":
                return encode_message("log", [[HOSTILE, self.m_seq + 1, payload]])
            if protocol == "op":
                return encode_message("ops", [[HOSTILE, self.m_seq + 1, [], payload]])
            return encode_message("delta" if protocol == "delta" else "state", payload=payload)

        @rule(data=st.binary(max_size=40))
        def m_garbage(self, data):
            self._from_m(data)

        @rule(k=st.integers(0, 1000))
        def m_replay(self, k):
            pool = self.heard + [d for _, _, d in self.net.sent]
            if pool:
                self._from_m(pool[k % len(pool)])

        @rule(kind=st.sampled_from(["context", "own", "clash", "clock"]),
              claim=st.sampled_from([1, 7, 10**6, 2**62, 2**64 - 1]))
        def m_forged(self, kind, claim):
            r0 = self.nodes[0]
            d = _forged(r0.state, kind, claim)
            if d is None or d.is_bottom() or not r0.up:
                return
            try:
                joined = r0.state.copy()
                joined.merge(d)
                harmless = joined == r0.state       # claims only what r0 holds already: merging changes nothing
            except Exception:
                harmless = False
            if harmless:
                return
            before = dict(r0.stats.rejected_by)
            self._from_m(self._carry(d), d)
            assert r0.stats.rejected_by != before, f"r0 took a forged {kind} delta from m: {d!r}"

        @rule()
        def m_writes(self):
            self.m_n += 1
            d = self.work.update(REGIONS + 5, self.m_n, self.choices)(self.mine)   # m's own element names
            if d.is_bottom():
                return
            self._from_m(self._carry(d), d)

        @rule(claim=st.sampled_from([1, 2**32, 2**63]), what=st.sampled_from(["ack", "digest", "opsync", "snapshot"]))
        def m_claims(self, claim, what):
            r0 = self.nodes[0]
            if what == "ack":
                data = encode_message("ack", claim)
            elif what == "digest":
                data = encode_message("digest", vv_to_wire({"r1": claim, HOSTILE: claim}))
            elif what == "opsync":
                data = encode_message("opsync", HOSTILE, vv_to_wire({"r1": claim, HOSTILE: claim}))
            else:
                data = encode_message("snapshot", vv_to_wire({"r1": claim, "r0": claim}),
                                      payload=encode(type(r0.state)()))
            self._from_m(data)

    HostileMachine.__name__ = f"HostileMachine_{protocol}_{workload.replace(':', '_')}"
    return HostileMachine


HOSTILE_CASES = [(p, w) for p in sorted(PROTOCOLS) for w in ("awset", "pncounter", "lwwmap", "gset")]


@pytest.mark.parametrize(("protocol", "workload"), HOSTILE_CASES)
def test_sync_machine_with_a_hostile_peer(protocol, workload):
    m = hostile_machine_for(protocol, workload)
    m.TestCase.settings = settings(max_examples=20, stateful_step_count=40, deadline=None)
    m.TestCase().runTest()
