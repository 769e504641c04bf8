"""The op-based convergence harness: random histories over 3-6 replicas, an adversarial transport.

Each replica runs twice: as an op-based replica (``crdts.ops``) and as the delta-state type it
mirrors. A mutation runs on both; the op-based message goes into the transport, which delivers it
to every other replica in any order, duplicates it and holds it back (every choice is drawn from a
strategy, so failures shrink). When the broadcast *delivers* an operation at a replica, the delta
of the same mutation is merged into that replica's delta-state mirror, so after every step both
families have been driven by the same history, and their values must agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

from crdts import HLC, AWSet, CausalGap, CCounter, Limits, LWWRegister, MVRegister, ORMap, PNCounter, decode, encode
from crdts.ops import (
    Ack,
    OpAWSet,
    OpCCounter,
    OpLWWRegister,
    OpMessage,
    OpMVRegister,
    OpORMap,
    OpPNCounter,
)

ELEMENTS = ["a", "b", "c", 1, 1.0, True, ("t", 1)]
KEYS = ["k1", "k2", "k3"]
VALUES = [None, 0, "x", "y", [1, 2], {"p": 1}]

Action = tuple[Any, ...]

# -- actions ----------------------------------------------------------------------------------


def amount_actions() -> st.SearchStrategy[Action]:
    return st.tuples(st.sampled_from(["increment", "decrement"]), st.integers(0, 5))


def register_actions() -> st.SearchStrategy[Action]:
    return st.tuples(st.just("assign"), st.sampled_from(VALUES))


def set_actions() -> st.SearchStrategy[Action]:
    el = st.sampled_from(ELEMENTS)
    return st.one_of(st.tuples(st.just("add"), el), st.tuples(st.just("add"), el),
                     st.tuples(st.just("remove"), el), st.just(("clear",)))


def map_actions(depth: int = 0) -> st.SearchStrategy[Action]:
    key = st.sampled_from(KEYS)
    nested = [st.tuples(st.just("update"), key, st.just("counter"), amount_actions()),
              st.tuples(st.just("update"), key, st.just("set"), set_actions()),
              st.tuples(st.just("update"), key, st.just("mv"), register_actions())]
    if depth == 0:
        nested.append(st.tuples(st.just("update"), key, st.just("map"), map_actions(1)))
    return st.one_of(*nested, *nested, st.tuples(st.just("remove"), key), st.just(("clear",)))


CLASSES: dict[str, dict[str, type]] = {
    "op": {"counter": OpPNCounter, "set": OpAWSet, "mv": OpMVRegister, "map": OpORMap},
    "delta": {"counter": PNCounter, "set": AWSet, "mv": MVRegister, "map": ORMap},
}


def run(obj: Any, action: Action, family: str) -> Any:
    """Run one action on an op-based replica (``family="op"``) or a delta-state one."""
    name, *args = action
    if name == "update":
        key, kind, nested = args
        return obj.update(key, CLASSES[family][kind], lambda sub: run(sub, nested, family))
    return getattr(obj, name)(*args)


def ticking(replica: str) -> Callable[[], int]:
    """A deterministic wall clock: per-replica skew, one tick per two readings (so ties happen)."""
    skew = sum(map(ord, replica)) % 3
    ticks = itertools.count()
    return lambda: skew + next(ticks) // 2


@attrs.frozen
class Spec:
    name: str
    actions: Callable[[], st.SearchStrategy[Action]]
    make_op: Callable[[str, list[str]], Any]
    make_delta: Callable[[str], Any]
    #: the compacted per-op metadata ("tags") allowed once everything is stable, given n replicas
    stable_tags: Callable[[int], int]
    clocked: bool = False


def _clocks() -> dict[str, Any]:
    return {}


SPECS = [
    Spec("PNCounter", amount_actions, lambda r, ms: OpPNCounter(r, ms), lambda r: PNCounter(r), lambda n: 0),
    Spec("CCounter", amount_actions, lambda r, ms: OpCCounter(r, ms), lambda r: CCounter(r), lambda n: n),
    Spec("LWWRegister", register_actions,
         lambda r, ms: OpLWWRegister(r, ms, clock=HLC(r, time_source=ticking(r))),
         lambda r: LWWRegister(r, clock=HLC(r, time_source=ticking(r))), lambda n: 0, clocked=True),
    Spec("MVRegister", register_actions, lambda r, ms: OpMVRegister(r, ms), lambda r: MVRegister(r), lambda n: n),
    Spec("AWSet", set_actions, lambda r, ms: OpAWSet(r, ms), lambda r: AWSet(r), lambda n: 0),
    # Stable maps keep the dots of register writes and counters (at most one per replica per entry).
    Spec("ORMap", map_actions, lambda r, ms: OpORMap(r, ms), lambda r: ORMap(r),
         lambda n: n * len(KEYS) * 2),
]


# -- the transport and the mirrored cluster ---------------------------------------------------


class Cluster:
    """Op-based replicas, their delta-state mirrors, and the messages in flight."""

    def __init__(self, spec: Spec, n: int) -> None:
        self.spec = spec
        self.replicas = [f"r{i}" for i in range(n)]
        self.ops = {r: spec.make_op(r, self.replicas) for r in self.replicas}
        self.deltas = {r: spec.make_delta(r) for r in self.replicas}
        self.delta_of: dict[tuple[str, int], Any] = {}
        self.in_flight: list[tuple[str, OpMessage | Ack]] = []
        self.seen: dict[str, dict[str, int]] = {r: {} for r in self.replicas}  # delivery audit
        self.log: list[str] = []

    def mutate(self, r: str, action: Action) -> None:
        m = run(self.ops[r], action, "op")
        d = run(self.deltas[r], action, "delta")
        assert type(m) is OpMessage and m.origin == r
        self.delta_of[m.dot] = d
        self._audit(r, (m,))
        self.log.append(f"{r}: {action} -> {m.dot}")
        wire = decode(encode(m), limits=Limits(require_canonical=True))  # every op crosses the wire
        assert wire == m, (wire, m)
        for q in self.replicas:
            if q != r:
                self.in_flight.append((q, wire))
        self.check(r)

    def ack(self, r: str) -> None:
        a = decode(encode(self.ops[r].ack()))
        for q in self.replicas:
            if q != r:
                self.in_flight.append((q, a))

    def deliver(self, i: int, keep: bool) -> None:
        q, m = self.in_flight[i] if keep else self.in_flight.pop(i)
        out = self.ops[q].apply(m)
        self.log.append(f"  {q} <- {getattr(m, 'dot', 'ack')}{' (dup kept)' if keep else ''}: "
                        f"delivered {[x.dot for x in out]}")
        self._audit(q, out)
        for x in out:
            self.deltas[q].merge(self.delta_of[x.dot])
        self.check(q)

    def _audit(self, q: str, out: tuple[OpMessage, ...]) -> None:
        """Exactly once, in causal order: each delivery is the next of its origin, after its deps."""
        seen = self.seen[q]
        for x in out:
            assert x.seq == seen.get(x.origin, 0) + 1, (q, x.dot, seen)
            for r, n in x.deps:
                assert seen.get(r, 0) >= n, (q, x.dot, r, n, seen)
            seen[x.origin] = x.seq

    def rejoin(self, q: str, p: str) -> None:
        """Replace ``q`` by a replica bootstrapped from ``p``'s snapshot, then catch up from every log."""
        old, src = self.ops[q], self.ops[p]
        # The snapshot must hold everything q delivered, and q must hold nothing it received but could
        # not deliver yet (that buffer dies with the old instance; what is still in flight is not lost).
        if not old.broadcast.delivered <= src.broadcast.delivered or old.broadcast.buffered():
            return
        snapshot = src.to_state()
        snapshot._check()
        cls = type(old)
        if self.spec.clocked:
            new = cls.from_state(snapshot, q, self.replicas, vv=src.delivered, clock=old._clock)
            mirror = LWWRegister(q, clock=self.deltas[q]._clock)
            mirror.merge(self.deltas[p])
        else:
            new = cls.from_state(snapshot, q, self.replicas, vv=src.delivered)
            mirror = self.deltas[p].copy(replica=q)
        assert new.value == src.value
        self.ops[q], self.deltas[q] = new, mirror
        self.seen[q] = dict(src.broadcast._delivered)
        self.log.append(f"{q} rejoins from {p}'s snapshot at {src.delivered}")
        for r in self.replicas:
            if r != q:
                try:
                    for m in self.ops[r].log_since(new.delivered):
                        self.in_flight.append((q, m))
                except CausalGap:
                    pass  # r's log starts later (r itself bootstrapped from a snapshot)
        self.check(q)

    def check(self, q: str) -> None:
        op, delta = self.ops[q], self.deltas[q]
        op._check()
        assert op.value == delta.value, (q, op.value, delta.value)
        state = op.to_state()
        state._check()
        assert state.value == delta.value

    def flush(self, order: Callable[[int], int]) -> None:
        while self.in_flight:
            self.deliver(order(len(self.in_flight)), keep=False)

    def settle(self) -> None:
        """Everyone acknowledges to everyone: causal stability reaches everything delivered."""
        for r in self.replicas:
            a = self.ops[r].ack()
            for q in self.replicas:
                if q != r:
                    self.ops[q].apply(a)
        for r in self.replicas:
            self.check(r)
