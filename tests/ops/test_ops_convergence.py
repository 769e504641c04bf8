"""Convergence of every op-based type under an adversarial transport, against its delta-state twin.

Random histories over 3-6 replicas; the transport delivers in any order, duplicates and delays
(every choice drawn from strategies). After every step each replica's value equals the value of the
delta-state type driven by the same history (the same mutations, merged when the broadcast
delivers them); deliveries are audited for exactly-once and causal order. At the end the network
drains, every replica acknowledges, and all replicas hold equal states, equal exported delta
states, and per-operation metadata bounded by the number of replicas.
"""

from __future__ import annotations

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from .harness import SPECS, Cluster, Spec


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_delivery_order_converges_to_the_delta_state_value(spec: Spec) -> None:
    @given(st.data())
    def run(data: st.DataObject) -> None:
        n = data.draw(st.integers(3, 6), label="replicas")
        c = Cluster(spec, n)
        rs = st.sampled_from(c.replicas)
        steps = data.draw(st.integers(4, 40), label="steps")
        try:
            for _ in range(steps):
                what = data.draw(st.sampled_from(["op", "op", "op", "deliver", "deliver", "deliver",
                                                  "deliver", "ack", "rejoin"]))
                if what == "op":
                    c.mutate(data.draw(rs), data.draw(spec.actions()))
                elif what == "deliver" and c.in_flight:
                    i = data.draw(st.integers(0, len(c.in_flight) - 1))
                    c.deliver(i, keep=data.draw(st.integers(0, 4)) == 0)  # 1 in 5 is duplicated
                elif what == "ack":
                    c.ack(data.draw(rs))
                elif what == "rejoin":
                    q, p = data.draw(rs), data.draw(rs)
                    if q != p:
                        c.rejoin(q, p)
            c.flush(lambda k: data.draw(st.integers(0, k - 1)))
            c.settle()
        finally:
            note("\n".join(c.log))
        first = c.ops[c.replicas[0]]
        exported = first.to_state()
        for r in c.replicas:
            op = c.ops[r]
            assert op == first
            assert op.value == c.deltas[r].value
            assert op.to_state() == exported  # everything stable: identical snapshots everywhere
            meta = op.metadata()
            assert meta["buffered"] == 0 and meta["log"] == 0 and meta["pending_acks"] == 0
            assert meta["tags"] <= spec.stable_tags(n), meta
            assert op.broadcast.stable == op.broadcast.delivered

    run()
