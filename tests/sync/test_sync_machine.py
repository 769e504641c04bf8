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
                        self.nodes[int(dst[1:])].receive(src, data)
                first = self.nodes[0].state
                if all(n.state == first for n in self.nodes[1:]) and first.units() >= 0 and not self.net.sent:
                    break
            first = self.nodes[0].state
            assert all(n.state == first for n in self.nodes[1:]), f"{protocol}/{workload} did not converge"
            if durable:
                want, got = self.work.items(self.oracle.value), self.work.items(first.value)
                assert want - got == set(), f"lost writes: {want - got}"
                assert got - want == set(), f"unexpected: {got - want}"

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
