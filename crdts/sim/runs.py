"""Scenarios from parameters, and every protocol run on the same scenario (what ``crdts simulate`` and the
benchmarks run).

>>> sc = build_scenario(regions=3, ops=5, workload="gset")
>>> [(r.protocol, r.ok) for r in run_protocols(sc, ["bprr", "state"])]
[('bprr', True), ('state', True)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from .engine import Crash, Partition, Result, Scenario, Simulation, last_write_ms
from .presets import default_partition, parse_latency
from .topology import build_topology
from .workloads import make_workload

__all__ = ["Run", "bound_faults", "build_scenario", "partition_spec", "protocol_names", "run_protocols",
           "select_protocols"]


def protocol_names() -> list[str]:
    """Every registered sync protocol, in registry order (what ``all`` selects)."""
    from ..sync import PROTOCOLS

    return list(PROTOCOLS)


def select_protocols(spec: str) -> list[str]:
    """``all``, or a comma-separated list of registered protocols (duplicates dropped, order kept).
    Raises ValueError naming the choices.

    >>> select_protocols("state, bprr,state")
    ['state', 'bprr']
    """
    known = protocol_names()
    if spec.strip() == "all":
        return known
    out: list[str] = []
    for p in (x.strip() for x in spec.split(",")):
        if p not in known:
            raise ValueError(f"unknown protocol {p!r}; choose from {', '.join(known)} or all")
        if p not in out:
            out.append(p)
    if not out:
        raise ValueError("at least one protocol is needed")
    return out


def partition_spec(p: Partition) -> str:
    """The ``A-B:G1|G2`` text of a partition (what :meth:`Partition.parse` reads).

    >>> partition_spec(Partition.parse("10-40:1,0|2"))
    '10-40:0,1|2'
    """
    groups = "|".join(",".join(str(r) for r in sorted(g)) for g in p.groups)
    return f"{p.start:g}-{p.end:g}:{groups}"


def build_scenario(*, regions: int = 5, topology: str = "mesh", degree: int = 4, workload: str = "awset",
                   ops: int = 100, rate: float = 1.0, sync_interval: float = 1000.0, seed: int = 0,
                   latency: str = "continents", jitter: float = 5.0, loss: float = 0.0, dup: float = 0.0,
                   reorder: float = 0.0, partitions: Iterable[str | Partition] | None = None,
                   crashes: Iterable[str | Crash] = (), volatile: bool = False, max_rounds: int = 200,
                   signed: bool = False) -> Scenario:
    """The :class:`Scenario` of ``crdts simulate``'s parameters, with its defaults. Raises ValueError.

    ``latency`` is a preset name or ``LOW-HIGH``/``MS`` (see :func:`parse_latency`); ``jitter`` applies to
    a preset's matrix only. ``partitions`` are specs or :class:`Partition` objects; ``None`` is the default
    partition (:func:`default_partition`), ``()`` none.

    >>> sc = build_scenario()
    >>> sc.regions, sc.workload, [partition_spec(p) for p in sc.partitions], sc.jitter
    (5, 'awset', ['30-60:0,1|2,3,4'], 5.0)
    >>> build_scenario(latency="1-5", partitions=()).latency, build_scenario(latency="1-5").jitter
    ((1.0, 5.0), 0.0)
    """
    make_workload(workload, regions, ops)  # validates the spec
    build_topology(topology, regions, degree, seed)  # validates topology and degree
    matrix = parse_latency(latency, regions)
    if partitions is None:
        d = default_partition(regions, ops, rate)
        partitions = [d] if d else []
    return Scenario(
        regions=regions, topology=topology, degree=degree, workload=workload, ops=ops, rate=rate,
        sync_interval=sync_interval, seed=seed, latency=matrix,
        jitter=jitter if not isinstance(matrix, tuple) else 0.0, loss=loss, dup=dup, reorder=reorder,
        partitions=tuple(p if isinstance(p, Partition) else Partition.parse(p) for p in partitions),
        crashes=tuple(c if isinstance(c, Crash) else Crash.parse(c) for c in crashes),
        durable=not volatile, max_rounds=max_rounds, signed=signed,
    )


def bound_faults(sc: Scenario) -> tuple[Scenario, list[str]]:
    """Faults that outlast the run are permanent: stop the run ``max_rounds`` rounds after the last write.

    The simulator waits for every fault to end before it counts rounds; a partition that "never" heals
    (``0-100000:...``) would make it simulate 100,000 s. Such faults are cut at the horizon (the last
    write, :func:`last_write_ms`, plus ``max_rounds`` sync intervals) and the run ends there, so it reports
    what is true: the regions did not converge. Returns the scenario to run and one note per permanent fault.

    >>> sc, notes = bound_faults(build_scenario(regions=3, ops=5, partitions=["0-100000:0|1,2"], max_rounds=10))
    >>> sc.max_rounds, sc.partitions[0].end <= 15, notes[0].split(" (")[0]
    (0, True, 'partition 0-100000:0|1,2 never heals within the run')
    """
    horizon_s = (last_write_ms(sc) + sc.max_rounds * sc.sync_interval) / 1000.0
    notes: list[str] = []
    parts = []
    for p in sc.partitions:
        if p.end > horizon_s:
            notes.append(f"partition {partition_spec(p)} never heals within the run (the run stops "
                         f"{sc.max_rounds} rounds after the last write, at {horizon_s:g} s)")
            p = attrs.evolve(p, end=max(horizon_s, p.start + 1e-3))
        parts.append(p)
    crashes = []
    for c in sc.crashes:
        if c.end > horizon_s:
            notes.append(f"region {c.region} is down until {c.end:g} s, after the end of the run at {horizon_s:g} s")
            c = attrs.evolve(c, end=max(horizon_s, c.start + 1e-3))
        crashes.append(c)
    if not notes:
        return sc, notes
    return attrs.evolve(sc, partitions=tuple(parts), crashes=tuple(crashes), max_rounds=0), notes


@attrs.define
class Run:
    """One protocol's run: the simulator's :class:`~crdts.sim.Result` (None if it raised), and why it failed.

    ``converged_at_ms`` is the simulated time at which every region agreed (None if they never did);
    ``quiescent_ms`` when the last write was made and the last fault healed, which convergence is timed from.
    """

    protocol: str
    result: Result | None
    ok: bool
    reason: str
    wall_seconds: float
    converged_at_ms: float | None
    quiescent_ms: float
    edges: int
    diameter: int

    def to_json(self) -> dict[str, Any]:
        """The result's fields, plus ``ok``, ``reason``, ``wall_seconds``, ``converged_at_ms``, ``quiescent_ms``."""
        base: dict[str, Any] = {
            "protocol": self.protocol, "converged": False, "convergence_time_ms": None, "messages": 0,
            "bytes": 0, "payload_units": 0, "metadata_bytes": 0, "conflicts": 0, "lost_writes": 0, "digest": "",
        }
        if self.result is not None:
            base.update(self.result.to_json())
            base["metadata_bytes_share"] = self.result.metadata_bytes_share
        base.update(ok=self.ok, reason=self.reason, wall_seconds=self.wall_seconds,
                    converged_at_ms=self.converged_at_ms, quiescent_ms=self.quiescent_ms)
        return base


def _bind(progress: Callable[[int, str, float], None] | None, k: int, name: str) -> Callable[[float], None] | None:
    if progress is None:
        return None
    return lambda fraction: progress(k, name, fraction)


def run_protocols(scenario: Scenario, protocols: Sequence[str],
                  progress: Callable[[int, str, float], None] | None = None) -> list[Run]:
    """Run ``scenario`` once per protocol, each on the same seeded schedule (the simulator draws
    the writes from a generator of their own, so every protocol sees the same writes at the same times).

    Faults that outlast the run are bounded first (:func:`bound_faults`). ``progress(k, protocol, fraction)``
    is called as the k-th run advances. A run that raises is reported as failed with the exception as its
    reason, so one broken protocol does not hide the others. ``ok`` means converged, nothing lost and
    nothing invented.
    """
    bounded, notes = bound_faults(scenario)
    runs = []
    for k, name in enumerate(protocols):
        sc = attrs.evolve(bounded, protocol=name)
        t0 = time.perf_counter()
        try:
            sim = Simulation(sc)
            r = sim.run(progress=_bind(progress, k, name))
        except Exception as exc:  # reported, and the exit status says so
            runs.append(Run(name, None, False, f"error: {type(exc).__name__}: {exc}",
                            time.perf_counter() - t0, None, 0.0, 0, 0))
            continue
        wall = time.perf_counter() - t0
        facts = sim.describe()
        if r.converged and r.lost_writes == 0 and r.unexpected == 0:
            ok, reason = True, ""
        elif r.converged:
            ok, reason = False, (f"converged but lost {r.lost_writes} acknowledged write(s) "
                                 f"and shows {r.unexpected} never written")
        else:
            ok, reason = False, "; ".join(notes) if notes else r.reason
        at = r.quiescent_ms + r.convergence_time_ms if r.convergence_time_ms is not None else None
        runs.append(Run(name, r, ok, reason, wall, at, r.quiescent_ms, facts["edges"], facts["diameter"]))
    return runs
