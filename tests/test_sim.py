"""The simulation layer of ``crdts simulate`` and the benchmarks: the last write, bounded faults, the
replication lag over time, and the plot's data and panels."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

from crdts.sim import (
    Partition,
    Scenario,
    Simulation,
    bound_faults,
    build_scenario,
    last_write_ms,
    plot_series,
    run_protocols,
)


class _Recording(Simulation):
    """Notes the simulated time of every write it makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_times: list[float] = []

    def _op(self, i: int, n: int) -> None:
        self.write_times.append(self.now)
        super()._op(i, n)


@pytest.mark.parametrize(("ops", "rate", "seed"), [(10, 1.0, 0), (7, 4.0, 3), (1, 0.5, 9), (0, 1.0, 0)])
def test_last_write_ms_is_when_the_simulator_makes_the_last_write(ops: int, rate: float, seed: int) -> None:
    sc = Scenario(regions=3, ops=ops, rate=rate, seed=seed, protocol="bprr", workload="gset")
    sim = _Recording(sc)
    assert sim.last_write_ms == last_write_ms(sc)  # known before the run
    r = sim.run()
    assert len(sim.write_times) == 3 * ops
    assert last_write_ms(sc) == max(sim.write_times, default=0.0) == r.last_write_ms
    assert r.quiescent_ms == sim.quiescent_at() == last_write_ms(sc)


def test_last_write_ms_is_the_same_for_every_protocol() -> None:
    sc = Scenario(regions=4, ops=12, seed=5, workload="awset")
    got = {p: Simulation(attrs.evolve(sc, protocol=p)).run().last_write_ms for p in ("state", "bprr", "op")}
    assert set(got.values()) == {last_write_ms(sc)}


def test_quiescence_is_the_later_of_the_last_write_and_the_last_heal() -> None:
    sc = Scenario(regions=3, ops=5, partitions=(Partition.parse("1-20:0|1,2"),), protocol="bprr")
    assert Simulation(sc).quiescent_at() == 20_000.0 > last_write_ms(sc)


def test_a_permanent_fault_ends_the_run_max_rounds_after_the_last_write() -> None:
    sc = build_scenario(regions=3, ops=5, workload="gset", partitions=["0-100000:0|1,2"], crashes=["2@1-90000"],
                        max_rounds=10)
    bounded, notes = bound_faults(sc)
    horizon = (last_write_ms(sc) + 10 * sc.sync_interval) / 1000
    assert bounded.partitions[0].end == pytest.approx(horizon) and bounded.crashes[0].end == pytest.approx(horizon)
    assert bounded.max_rounds == 0 and len(notes) == 2 and f"at {horizon:g} s" in notes[0]
    (run,) = run_protocols(sc, ["bprr"])
    assert not run.ok and "never heals" in run.reason
    assert run.result is not None and run.result.timeline[-1][0] <= horizon * 1000


def test_faults_within_the_run_are_left_alone() -> None:
    sc = build_scenario(regions=3, ops=5, partitions=["1-3:0|1,2"])
    assert bound_faults(sc) == (sc, [])


def test_replication_lag_is_recorded_at_every_round() -> None:
    sc = build_scenario(regions=4, ops=20, workload="gset", partitions=["5-12:0,1|2,3"])
    by = {run.protocol: run.result for run in run_protocols(sc, ["bprr", "state"])}
    bprr, state = by["bprr"], by["state"]
    assert bprr is not None and state is not None
    assert [t for t, *_ in bprr.lag_timeline] == [t for t, _, _ in bprr.timeline]
    p95 = [x for _, _, x, _ in bprr.lag_timeline if x is not None]
    assert p95 and max(m for *_, m in bprr.lag_timeline if m is not None) == pytest.approx(bprr.lag_max_s)
    assert all(p50 <= p95 <= mx for _, p50, p95, mx in bprr.lag_timeline if p50 is not None)
    # the lag grows while the partition lasts and falls after it heals
    during = max(x for t, _, x, _ in bprr.lag_timeline if 5_000 < t <= 12_000 and x is not None)
    after = [x for t, _, x, _ in bprr.lag_timeline if t > 15_000 and x is not None]
    assert during > 5 and after and after[-1] < 2
    assert state.lag_timeline and all(p50 is None for _, p50, _, _ in state.lag_timeline)


# --------------------------------------------------------------------------------------------- the plot


@pytest.fixture(scope="module")
def runs() -> tuple[Scenario, list[Any]]:
    sc = build_scenario(regions=4, ops=20, workload="gset")
    return sc, run_protocols(sc, ["state", "delta", "causal", "bprr", "digest", "op"])


def test_every_protocol_has_a_line_style_of_its_own(runs: tuple[Scenario, list[Any]]) -> None:
    _, rs = runs
    series = plot_series(rs)
    assert [s.protocol for s in series] == [r.protocol for r in rs]
    assert len({(s.linestyle, s.marker) for s in series}) == len(series)  # distinct even in black and white
    assert len({s.color for s in series}) == len(series)
    assert len({s.markevery for s in series}) == len(series)  # markers of coinciding lines at other places


def test_series_hold_traffic_per_round_and_lag(runs: tuple[Scenario, list[Any]]) -> None:
    _, rs = runs
    by = {s.protocol: s for s in plot_series(rs)}
    s = by["bprr"]
    per = [0.0 if math.isnan(x) else x for x in s.bytes_per_round]
    assert sum(per) == s.cumulative_bytes[-1] == s.total_bytes
    assert s.has_lag and not by["state"].has_lag
    assert s.converged_at_s is not None and s.converged_at_s >= s.quiescent_s


def test_the_figure_keeps_every_protocol_readable(runs: tuple[Scenario, list[Any]]) -> None:
    pytest.importorskip("matplotlib")
    from crdts.sim.plot import figure, pyplot

    sc, rs = runs
    fig = figure(rs, sc, "t")
    try:
        cum, per, lag, conv = fig.axes
        assert cum.get_yscale() == per.get_yscale() == "log"  # one burst does not flatten the rest
        assert "lag" in lag.get_ylabel()
        with_lag = [s for s in plot_series(rs) if s.has_lag]
        assert len(lag.get_lines()) >= len(with_lag) >= 3
        # one convergence bar per protocol, each on its own row
        bars = [p for p in conv.patches if p.get_width() > 0]
        assert len(bars) == len(rs) and len({b.get_y() for b in bars}) == len(rs)
        assert [t.get_text() for t in conv.get_yticklabels()] == [r.protocol for r in reversed(rs)]
    finally:
        pyplot().close(fig)


def test_a_run_that_did_not_converge_is_drawn_as_such(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    from crdts.sim import plot_runs
    from crdts.sim.plot import figure, pyplot

    sc = build_scenario(regions=3, ops=5, workload="gset", partitions=["0-100000:0|1,2"], max_rounds=5)
    rs = run_protocols(sc, ["bprr", "state"])
    fig = figure(rs, sc)
    try:
        texts = [t.get_text() for t in fig.axes[3].texts]
        assert texts.count("not converged") == 2
        assert max(p.get_x() + p.get_width() for p in fig.axes[0].patches) <= rs[0].result.timeline[-1][0] / 1000
    finally:
        pyplot().close(fig)
    path = plot_runs(rs, sc, tmp_path / "a" / "b.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
