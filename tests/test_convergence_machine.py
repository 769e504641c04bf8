"""One stateful convergence machine over simulated replicas, run for every type in the law registry.

Three replicas run operations and talk through an unreliable network of in-flight messages (a
hypothesis ``Bundle``): deltas and full states are sent, then delivered in any order, duplicated or
dropped; the network partitions and heals; replicas crash (losing what they merged since their last
checkpoint, never their own operations, which are persisted before their deltas leave) and restart
from durable state. Messages travel as ``crdts.encode`` bytes when the codec exists. After every
step each replica's ``_check()`` passes and every operation obeys the delta law; at the end the
network heals, everyone restarts, replicas exchange full states, and every replica must be equal
and read what the type's model says of the whole causal history.

Every choice is drawn from a strategy, so failures shrink and print as a runnable list of steps.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from laws.registry import SPECS  # tests/ is on sys.path (rootdir-relative imports)

from crdts.testing import Cluster, TypeSpec, from_wire, to_wire

REPLICAS = ("r1", "r2", "r3")


@attrs.frozen
class Message:
    """One message in flight: a delta or a full state, as it travels, and the op ids it carries."""

    kind: str
    src: str
    dst: str
    payload: Any = attrs.field(repr=False)
    ids: frozenset[int] = attrs.field(repr=lambda ids: str(sorted(ids)))


def make_machine(spec: TypeSpec) -> type[RuleBasedStateMachine]:
    """The convergence machine for one type spec."""
    replica = st.sampled_from(REPLICAS)

    class ConvergenceMachine(RuleBasedStateMachine):
        messages = Bundle("messages")

        def __init__(self) -> None:
            super().__init__()
            self.cluster = Cluster(spec, REPLICAS, check_mutators=True)
            # Durable state per replica: (bytes, ids it carries). Own operations are persisted at once.
            self.durable = {r: (to_wire(spec.make(None)), frozenset()) for r in REPLICAS}
            self.outbox: dict[str, list[tuple[Any, frozenset[int]]]] = {r: [] for r in REPLICAS}
            self.up = set(REPLICAS)
            self.group = dict.fromkeys(REPLICAS, 0)  # replicas talk only within their group

        def _persist(self, r: str) -> None:
            self.durable[r] = (to_wire(self.cluster.objects[r]), frozenset(self.cluster.seen[r]))

        def _op(self, r: str, op: Any, dst: str) -> list[Message]:
            if r not in self.up:
                return []
            delta, ids = self.cluster.op(r, op)
            self._persist(r)
            payload = to_wire(delta)
            self.outbox[r].append((payload, ids))
            return [Message("delta", r, dst, payload, ids)] if dst != r else []

        @initialize(target=messages, ops=st.lists(st.tuples(replica, spec.ops(REPLICAS), replica), max_size=4))
        def early_ops(self, ops: list[tuple[str, Any, str]]) -> Any:
            """A few operations to start with (swarm testing may disable ``local_op`` for a whole run)."""
            return multiple(*[m for r, op, dst in ops for m in self._op(r, op, dst)])

        @rule(target=messages, r=replica, op=spec.ops(REPLICAS), dst=replica)
        def local_op(self, r: str, op: Any, dst: str) -> Any:
            """Run an operation, persist, and send its delta to ``dst`` (as delta-CRDTs gossip)."""
            return multiple(*self._op(r, op, dst))

        @rule(target=messages, r=replica, ops=st.lists(spec.ops(REPLICAS), min_size=2, max_size=4), dst=replica)
        def local_burst(self, r: str, ops: list[Any], dst: str) -> Any:
            """Several operations in a row at one replica; their deltas go to ``dst``."""
            return multiple(*[m for op in ops for m in self._op(r, op, dst)])

        @rule(target=messages, src=replica, dst=replica, pick=st.integers(0, 7))
        def send_delta(self, src: str, dst: str, pick: int) -> Any:
            box = self.outbox[src]
            if src not in self.up or not box or src == dst:
                return multiple()
            payload, ids = box[-1 - pick % len(box)]
            return Message("delta", src, dst, payload, ids)

        @rule(target=messages, src=replica, dst=replica)
        def send_state(self, src: str, dst: str) -> Any:
            if src not in self.up or src == dst:
                return multiple()
            return Message("state", src, dst, to_wire(self.cluster.objects[src]), frozenset(self.cluster.seen[src]))

        @rule(msg=consumes(messages))
        def deliver(self, msg: Message) -> None:
            if msg.dst not in self.up or self.group[msg.src] != self.group[msg.dst]:
                return  # lost: the receiver is down or on the other side of a partition
            self.cluster.merge(msg.dst, from_wire(msg.payload), msg.ids)

        @rule(target=messages, msg=consumes(messages), op=spec.ops(REPLICAS), dst=replica)
        def deliver_then_op(self, msg: Message, op: Any, dst: str) -> Any:
            """The receiver acts on what it just merged and sends that on: causal chains across replicas."""
            self.deliver(msg)
            return multiple(*self._op(msg.dst, op, dst))

        @rule(target=messages, msg=messages)
        def duplicate(self, msg: Message) -> Any:
            return msg

        @rule(msg=consumes(messages))
        def drop(self, msg: Message) -> None:
            pass

        @rule(sides=st.lists(st.integers(0, 1), min_size=len(REPLICAS), max_size=len(REPLICAS)))
        def partition(self, sides: list[int]) -> None:
            """Split the replicas into two sides (all on one side: the network is healed)."""
            self.group = dict(zip(REPLICAS, sides, strict=True))

        def heal(self) -> None:
            self.group = dict.fromkeys(REPLICAS, 0)

        @rule(r=replica)
        def checkpoint(self, r: str) -> None:
            if r in self.up:
                self._persist(r)

        @precondition(lambda self: len(self.up) > 1)
        @rule(r=replica)
        def crash(self, r: str) -> None:
            self.up.discard(r)
            self.outbox[r] = []

        @precondition(lambda self: len(self.up) < len(REPLICAS))
        @rule(pick=st.integers(0, len(REPLICAS) - 1))
        def restart_one(self, pick: int) -> None:
            down = sorted(set(REPLICAS) - self.up)
            self.restart(down[pick % len(down)])

        def restart(self, r: str) -> None:
            if r in self.up:
                return
            payload, ids = self.durable[r]
            # The replica's own durable state, bound to it again (a merge into a fresh object would be
            # refused: events of r that the fresh object did not make look like a second process with r's id).
            obj = from_wire(payload).copy(replica=r)
            fresh = spec.make(r)   # the decoded state knows neither the spec's clock nor its policy: keep them
            if getattr(fresh, "_clock", None) is not None:
                clock = fresh._clock
                if obj._clock is not None:
                    clock.observe((*obj._clock.peek(), r))
                obj._clock = clock
            if hasattr(fresh, "_policy"):
                obj._policy = fresh._policy
            obj._check()
            self.cluster.objects[r] = obj
            self.cluster.seen[r] = set(ids)
            self.up.add(r)
            self.cluster.check_replica(r, f"after {r} restarted")

        @invariant()
        def invariants_hold(self) -> None:
            for obj in self.cluster.objects.values():
                obj._check()

        @rule()
        def heal_and_converge(self) -> None:
            """Heal, restart everyone, exchange full states: equal replicas that agree with the model."""
            self.heal()
            for r in REPLICAS:
                self.restart(r)
            self.cluster.sync_all()
            self.cluster.check_converged()

        def teardown(self) -> None:
            self.heal_and_converge()

    ConvergenceMachine.__name__ = ConvergenceMachine.__qualname__ = "Convergence_" + re.sub(r"\W+", "_", spec.name)
    return ConvergenceMachine


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_convergence(spec: TypeSpec) -> None:
    run_state_machine_as_test(make_machine(spec))
