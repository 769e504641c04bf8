"""The sync protocols on the simulator: convergence under faults, the ICDE'19 pathology and its fix."""

from __future__ import annotations

import pytest

from crdts.sim import Crash, Partition, Scenario, Simulation, diameter, simulate
from crdts.sync import PROTOCOLS

TYPES = ["gcounter", "pncounter", "gset", "awset", "ormap", "lwwmap"]
SPLIT = Partition(4, 12, (frozenset({0, 1}), frozenset({2, 3, 4})))


@pytest.mark.parametrize("workload", TYPES)
@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_converges_under_loss_duplication_reordering_partition_and_crash(protocol, workload):
    sc = Scenario(regions=5, topology="partial-mesh", degree=2, protocol=protocol, workload=workload, ops=15,
                  seed=7, loss=0.3, dup=0.2, reorder=400, partitions=(SPLIT,), crashes=(Crash(3, 2, 9),),
                  max_rounds=150)
    r = simulate(sc)
    assert r.converged, r.reason
    assert r.digests_equal
    assert (r.lost_writes, r.unexpected) == (0, 0)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_converges_after_a_restart_that_lost_the_state(protocol):
    sc = Scenario(regions=4, topology="ring", protocol=protocol, workload="awset", ops=10, seed=3,
                  crashes=(Crash(1, 4, 6),), durable=False, loss=0.1)
    r = simulate(sc)
    assert r.converged, r.reason


def test_enes_pathology_reproduces_and_bprr_fixes_it_on_the_mesh():
    """15 nodes, partial mesh of degree 4, 100 GSet additions each at 1/s, sync every second."""
    runs = {p: simulate(Scenario(regions=15, topology="partial-mesh", degree=4, protocol=p, workload="gset",
                                 ops=100, seed=1, latency=(1.0, 5.0)))
            for p in ("state", "delta", "bprr")}
    assert all(r.converged for r in runs.values())
    state = runs["state"].payload_units
    assert runs["delta"].payload_units >= 0.95 * state
    assert runs["bprr"].payload_units <= state / 40
    assert runs["bprr"].memory_units_mean <= 1.1 * runs["state"].memory_units_mean


def test_bprr_ships_n_minus_one_units_per_update_on_a_tree():
    r = simulate(Scenario(regions=15, topology="tree", protocol="bprr", workload="gset", ops=100, seed=1,
                          latency=(1.0, 5.0)))
    assert r.converged
    assert r.payload_units == 14 * 15 * 100


@pytest.mark.parametrize("protocol", ["causal", "bprr"])
@pytest.mark.parametrize("topology", ["line", "tree", "partial-mesh"])
def test_after_a_partition_heals_convergence_takes_at_most_diameter_plus_one_rounds(protocol, topology):
    # Writes happen only during the partition; no loss; latency below the sync interval.
    sc = Scenario(regions=8, topology=topology, degree=3, protocol=protocol, workload="gset", ops=5, rate=1.0,
                  seed=5, latency=(5.0, 20.0),
                  partitions=(Partition(0, 30, (frozenset({0, 1, 2, 3}), frozenset({4, 5, 6, 7}))),))
    sim = Simulation(sc)
    r = sim.run()
    assert r.converged
    assert r.rounds_to_converge <= diameter(sim.graph) + 1


def test_corrupt_messages_are_rejected_and_change_nothing():
    from crdts import GSet
    from crdts.sync import LocalTransport, Node

    net = LocalTransport()
    a = Node("a", GSet, protocol="bprr", neighbours=["b"], transport=net)
    a.update(lambda s: s.add("x"))
    before = a.state.copy()
    for junk in (b"", b"\xff", b"\x82\x01\x63", b"\x84\x01\x02\x05\x41\x00", b"\x9f" * 1000):
        a.receive("b", junk)
    assert a.state == before and a.stats.rejected == 5
