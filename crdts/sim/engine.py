"""A deterministic discrete-event network simulator for the sync protocols.

Everything random (latency jitter, loss, duplication, reordering, workload choices, tick phases)
comes from one seeded generator, so a scenario and a seed always give the same run. Simulated time is
in milliseconds.

>>> from crdts.sim import Scenario, simulate
>>> r = simulate(Scenario(regions=4, topology="ring", workload="gset", ops=5, protocol="bprr"))
>>> r.converged, r.lost_writes, r.unexpected
(True, 0, 0)
"""

from __future__ import annotations

import hashlib
import heapq
import random
import time
from collections.abc import Callable
from typing import Any

import attrs

from ..causal import HLC
from ..codec import encode
from ..sync.node import Node, SendInfo
from .topology import build_topology, diameter, edges
from .workloads import Workload, make_workload

__all__ = ["Crash", "Partition", "Result", "Scenario", "Simulation", "last_write_ms", "simulate"]


@attrs.frozen(slots=True)
class Partition:
    """From ``start`` to ``end`` (seconds of simulated time) only regions of the same group talk."""

    start: float
    end: float
    groups: tuple[frozenset[int], ...]

    def separates(self, a: int, b: int) -> bool:
        for g in self.groups:
            if a in g:
                return b not in g
        return True  # a region in no group is cut off from everyone

    @classmethod
    def parse(cls, spec: str) -> Partition:
        """``A-B:G1|G2[|G3]``, groups as comma-separated region indexes, e.g. ``10-40:0,1|2,3,4``."""
        try:
            times, _, groups = spec.partition(":")
            a, _, b = times.partition("-")
            gs = tuple(frozenset(int(x) for x in g.split(",") if x.strip()) for g in groups.split("|"))
            p = cls(float(a), float(b), gs)
        except ValueError:
            raise ValueError(f"bad partition {spec!r}: expected A-B:G1|G2, e.g. 10-40:0,1|2,3,4") from None
        if p.end <= p.start or len(gs) < 2 or any(not g for g in gs):
            raise ValueError(f"bad partition {spec!r}: need A < B and at least two non-empty groups")
        return p


@attrs.frozen(slots=True)
class Crash:
    """Region ``region`` is down from ``start`` to ``end`` (seconds) and restarts from its durable state."""

    region: int
    start: float
    end: float

    @classmethod
    def parse(cls, spec: str) -> Crash:
        """``R@A-B``, e.g. ``2@10-20``."""
        try:
            r, _, times = spec.partition("@")
            a, _, b = times.partition("-")
            c = cls(int(r), float(a), float(b))
        except ValueError:
            raise ValueError(f"bad crash {spec!r}: expected R@A-B, e.g. 2@10-20") from None
        if c.end <= c.start:
            raise ValueError(f"bad crash {spec!r}: need A < B")
        return c


def _latency_default() -> tuple[float, float]:
    return (20.0, 80.0)


@attrs.frozen(slots=True)
class Scenario:
    """Everything that defines a run. Times: ``sync_interval`` and ``latency`` in ms, faults in seconds.

    ``latency`` is either ``(low, high)``, a uniform per-message latency in ms, or a matrix
    ``latency[i][j]`` (ms) to which ``jitter`` (ms, uniform) is added. ``skew`` gives each region's wall
    clock offset in ms (for the LWW types' hybrid logical clocks).
    """

    regions: int = 5
    topology: str = "mesh"
    degree: int = 4
    protocol: str = "bprr"
    workload: str = "gset"
    ops: int = 100
    rate: float = 1.0
    sync_interval: float = 1000.0
    seed: int = 0
    latency: Any = attrs.field(factory=_latency_default)
    jitter: float = 0.0
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    partitions: tuple[Partition, ...] = ()
    crashes: tuple[Crash, ...] = ()
    durable: bool = True
    skew: tuple[float, ...] = ()
    max_rounds: int = 200
    options: dict[str, Any] = attrs.field(factory=dict)
    #: every region signs its writes and verifies others' (digest and op protocols; needs ``cryptography``)
    signed: bool = False

    def __attrs_post_init__(self) -> None:
        if self.regions < 1:
            raise ValueError("regions must be >= 1")
        if not (0 <= self.loss < 1 and 0 <= self.dup < 1):
            raise ValueError("loss and dup are probabilities in [0, 1)")
        if self.ops < 0 or self.rate <= 0 or self.sync_interval <= 0:
            raise ValueError("ops >= 0, rate > 0 and sync_interval > 0 are required")
        for p in self.partitions:
            seen: set[int] = set()
            for g in p.groups:
                if any(not 0 <= r < self.regions for r in g):
                    raise ValueError(f"partition names a region outside 0..{self.regions - 1}")
                if seen & g:
                    raise ValueError(f"partition {p.start:g}-{p.end:g} puts region(s) {sorted(seen & g)} in two groups")
                seen |= g
        for c in self.crashes:
            if not 0 <= c.region < self.regions:
                raise ValueError(f"crash names region {c.region}, outside 0..{self.regions - 1}")
        for a in self.crashes:
            for b in self.crashes:
                if a is not b and a.region == b.region and a.start < b.end and b.start < a.end:
                    raise ValueError(f"region {a.region} has overlapping crash windows "
                                     f"{a.start:g}-{a.end:g} and {b.start:g}-{b.end:g}")


@attrs.define(slots=True)
class Result:
    """What a run measured. ``digest`` is the SHA-256 of the canonical encoding of region 0's final state."""

    protocol: str
    converged: bool
    convergence_time_ms: float | None
    rounds_to_converge: int | None
    messages: int
    bytes: int
    payload_bytes: int
    metadata_bytes: int
    payload_units: int
    full_states: int
    memory_units_mean: float
    memory_units_peak: int
    cpu_seconds: float
    conflicts: int
    conflicts_seen: int
    lag_p50_s: float | None
    lag_p95_s: float | None
    lag_max_s: float | None
    lost_writes: int
    unexpected: int
    digest: str
    digests_equal: bool
    reason: str = ""
    timeline: list[tuple[float, int, int]] = attrs.field(factory=list)  # (ms, cumulative bytes, payload units)
    per_node: list[dict[str, Any]] = attrs.field(factory=list)
    #: when the last write was made and when, after it and the last heal, convergence is measured from (ms)
    last_write_ms: float = 0.0
    quiescent_ms: float = 0.0
    #: replication lag at every sync round: (ms, p50 s, p95 s, max s) over the up regions' peers; the
    #: percentiles are None in rounds where no peer reported a lag (protocols that keep no per-peer knowledge)
    lag_timeline: list[tuple[float, float | None, float | None, float | None]] = attrs.field(factory=list)

    @property
    def metadata_bytes_share(self) -> float:
        return self.metadata_bytes / self.bytes if self.bytes else 0.0

    def to_json(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["bytes"] = self.bytes
        return d


class _Network:
    """The transport the nodes see: schedules deliveries on the simulator's event queue."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def send(self, src: str, dst: str, data: bytes, info: SendInfo) -> None:
        self.sim._on_send(src, dst, data, info)


class Simulation:
    """One run of one protocol on one scenario. ``run()`` returns a :class:`Result`.

    ``workload`` may be a workload object of your own (see :mod:`crdts.sim.workloads`), so the
    simulator runs your own CRDT type; ``on_round`` is called after every sync round with the simulation.
    """

    def __init__(self, scenario: Scenario, workload: Workload | None = None,
                 on_round: Callable[[Simulation], None] | None = None) -> None:
        self.sc = sc = scenario
        self.rng = random.Random(sc.seed)
        self._work_rng = random.Random(f"{sc.seed}:workload")  # writes do not depend on the protocol
        self.graph = build_topology(sc.topology, sc.regions, sc.degree, sc.seed)
        self.workload = workload or make_workload(sc.workload, sc.regions, sc.ops)
        self.on_round = on_round
        self.now = 0.0
        self._queue: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._seq = 0
        self.names = [f"r{i}" for i in range(sc.regions)]
        self.index = {n: i for i, n in enumerate(self.names)}
        net = _Network(self)
        self.nodes: list[Node] = []
        signers: dict[str, Any] = {}
        keys = None
        if sc.signed:
            from ..sync.signing import KeyRegistry, Signer

            signers = {name: Signer.generate(name) for name in self.names}
            keys = KeyRegistry({name: s.public_key for name, s in signers.items()})
        for i, name in enumerate(self.names):
            clock = HLC(name, time_source=self._clock_for(i))
            obj = self.workload.make(i, name, clock=clock) if self._takes_clock() else self.workload.make(i, name)
            node = Node(name, obj, protocol=sc.protocol, neighbours=[self.names[j] for j in self.graph[i]],
                        transport=net, durable=sc.durable, options=sc.options.get(sc.protocol),
                        clock=lambda: self.now / 1000.0, signer=signers.get(name), keys=keys)
            self.nodes.append(node)
        self.oracle: Any = self.workload.cls()
        self.in_flight = 0
        self.timeline: list[tuple[float, int, int]] = []
        self._bytes = 0
        self._units = 0
        self._memory: list[int] = []
        self._lags: list[float] = []
        self.lag_timeline: list[tuple[float, float | None, float | None, float | None]] = []
        self._ticks, self._writes = _schedule(sc, self.rng)
        #: when the last write is made (ms of simulated time); see :func:`last_write_ms`
        self.last_write_ms = _last(self._writes)

    # --- set-up helpers ------------------------------------------------------------------------

    def _takes_clock(self) -> bool:
        import inspect

        return "clock" in inspect.signature(self.workload.make).parameters

    def _clock_for(self, i: int) -> Callable[[], int]:
        skew = self.sc.skew[i] if i < len(self.sc.skew) else 0.0

        def wall() -> int:
            return int((self.now + skew) * 1_000_000)  # simulated ms -> ns

        return wall

    def _push(self, t: float, kind: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, kind, args))

    def _latency(self, i: int, j: int) -> float:
        lat = self.sc.latency
        if isinstance(lat, tuple) and len(lat) == 2 and not isinstance(lat[0], (list, tuple)):
            base = self.rng.uniform(lat[0], lat[1])
        else:
            base = float(lat[i][j]) + (self.rng.uniform(0, self.sc.jitter) if self.sc.jitter else 0.0)
        if self.sc.reorder:
            base += self.rng.uniform(0, self.sc.reorder)
        return base

    def partitioned(self, a: int, b: int, t: float | None = None) -> bool:
        s = (self.now if t is None else t) / 1000.0
        return any(p.start <= s < p.end and p.separates(a, b) for p in self.sc.partitions)

    # --- events ---------------------------------------------------------------------------------

    def _on_send(self, src: str, dst: str, data: bytes, info: SendInfo) -> None:
        self._bytes += len(data)
        self._units += info.units
        i, j = self.index[src], self.index[dst]
        if self.partitioned(i, j) or self.rng.random() < self.sc.loss:
            return
        copies = 2 if self.rng.random() < self.sc.dup else 1
        for _ in range(copies):
            self.in_flight += 1
            self._push(self.now + self._latency(i, j), "deliver", src, dst, data)

    def _deliver(self, src: str, dst: str, data: bytes) -> None:
        self.in_flight -= 1
        if self.partitioned(self.index[src], self.index[dst]):
            return
        self.nodes[self.index[dst]].receive(src, data)

    def _op(self, i: int, n: int) -> None:
        node = self.nodes[i]
        if not node.up:
            return  # a down region accepts no writes (none is acknowledged)
        fn = self.workload.update(i, n, self._work_rng)
        delta = node.update(fn)
        self.oracle.merge(delta)

    def quiescent_at(self) -> float:
        """When the last write is made and the last fault heals (ms): convergence is measured from here."""
        sc = self.sc
        faults = [p.end * 1000.0 for p in sc.partitions] + [c.end * 1000.0 for c in sc.crashes]
        return max([self.last_write_ms, *faults])

    def run(self, progress: Callable[[float], None] | None = None) -> Result:
        sc = self.sc
        interval = sc.sync_interval
        per_region = sc.ops
        for i, offset in enumerate(self._ticks):
            for at, _, n in self._writes[i * per_region:(i + 1) * per_region]:
                self._push(at, "op", i, n)
            self._push(offset, "tick", i)
        for c in sc.crashes:
            self._push(c.start * 1000.0, "crash", c.region)
            self._push(c.end * 1000.0, "restart", c.region)
        quiet = self.quiescent_at()
        deadline = quiet + sc.max_rounds * interval
        self._push(interval, "round")
        converged_at: float | None = None
        reason = ""
        while self._queue:
            t, _, kind, args = heapq.heappop(self._queue)
            if t > deadline:
                reason = f"not converged {sc.max_rounds} rounds after the last write and heal"
                break
            self.now = t
            if kind != "round":
                self._dispatch(kind, args)
            else:
                self.timeline.append((t, self._bytes, self._units))
                self._memory.extend(sum(n.memory_units()) for n in self.nodes if n.up)
                self._sample_lag()
                if self.on_round is not None:
                    self.on_round(self)
                if progress is not None:
                    progress(min(1.0, t / max(quiet, 1.0)))
                if t >= quiet and self._all_equal():
                    converged_at = t
                    break
                self._push(t + interval, "round")
        else:
            reason = "the event queue ran dry"
        return self._result(converged_at, quiet, reason)

    def _dispatch(self, kind: str, args: tuple[Any, ...]) -> None:
        if kind == "deliver":
            self._deliver(*args)
        elif kind == "tick":
            self.nodes[args[0]].tick()
            self._push(self.now + self.sc.sync_interval, "tick", args[0])
        elif kind == "op":
            self._op(*args)
        elif kind == "crash":
            self.nodes[args[0]].crash()
        elif kind == "restart":
            self.nodes[args[0]].restart()

    def advance(self, ms: float) -> None:
        """Keep the network running for ``ms`` more simulated milliseconds (after :meth:`run`): sync rounds
        and deliveries go on, so acknowledgements settle and metrics can be read."""
        until = self.now + ms
        if not any(e[2] == "round" for e in self._queue):
            self._push(self.now + self.sc.sync_interval, "round")
        while self._queue and self._queue[0][0] <= until:
            t, _, kind, args = heapq.heappop(self._queue)
            self.now = t
            if kind == "round":
                self._push(t + self.sc.sync_interval, "round")
                if self.on_round is not None:
                    self.on_round(self)
            else:
                self._dispatch(kind, args)
        self.now = until

    def _sample_lag(self) -> None:
        sample = []
        for n in self.nodes:
            if n.up:
                for j in n.neighbours:
                    lag = n.protocol.peer_lag(j)
                    if lag is not None:
                        sample.append(lag[1])
        self._lags.extend(sample)
        self.lag_timeline.append((self.now, _quantile(sample, 0.5), _quantile(sample, 0.95),
                                  max(sample) if sample else None))

    def _all_equal(self) -> bool:
        first = self.nodes[0].state
        return all(n.up for n in self.nodes) and all(n.state == first for n in self.nodes[1:])

    def _result(self, converged_at: float | None, quiet: float, reason: str) -> Result:
        sc = self.sc
        digests = [hashlib.sha256(encode(n.state)).hexdigest() for n in self.nodes]
        final = self.nodes[0].state
        expected = self.workload.items(self.oracle.value)
        got = self.workload.items(final.value)
        stats = [n.stats for n in self.nodes]
        mem = self._memory or [0]
        converged = converged_at is not None and len(set(digests)) == 1
        if converged_at is not None and not converged:
            reason = "states compared equal but their encodings differ (a codec bug)"
        return Result(
            protocol=sc.protocol,
            converged=converged,
            convergence_time_ms=(converged_at - quiet) if converged_at is not None else None,
            rounds_to_converge=(round((converged_at - quiet) / sc.sync_interval) if converged_at is not None
                                else None),
            messages=sum(s.messages_sent for s in stats),
            bytes=sum(s.bytes_sent for s in stats),
            payload_bytes=sum(s.payload_bytes_sent for s in stats),
            metadata_bytes=sum(s.metadata_bytes_sent for s in stats),
            payload_units=sum(s.units_sent for s in stats),
            full_states=sum(s.full_states_sent for s in stats),
            memory_units_mean=sum(mem) / len(mem) / 1.0,
            memory_units_peak=max(mem),
            cpu_seconds=sum(s.cpu_seconds for s in stats),
            conflicts=self.workload.conflicts(final),
            conflicts_seen=sum(s.conflicts for s in stats),
            lag_p50_s=_quantile(self._lags, 0.5),
            lag_p95_s=_quantile(self._lags, 0.95),
            lag_max_s=max(self._lags) if self._lags else None,
            lost_writes=len(expected - got),
            unexpected=len(got - expected),
            digest=digests[0],
            digests_equal=len(set(digests)) == 1,
            reason="" if converged else (reason or "regions differ"),
            timeline=self.timeline,
            per_node=[dict(name=n.name, **n.stats.as_dict()) for n in self.nodes],
            last_write_ms=self.last_write_ms,
            quiescent_ms=quiet,
            lag_timeline=self.lag_timeline,
        )

    def describe(self) -> dict[str, Any]:
        """Facts about the overlay, for reports."""
        return {"edges": edges(self.graph), "diameter": diameter(self.graph)}


def _schedule(sc: Scenario, rng: random.Random) -> tuple[list[float], list[tuple[float, int, int]]]:
    """Each region's first sync tick (ms) and every write as (ms, region, n), drawn from ``rng`` in a fixed
    order. Region i makes its n-th write at n / rate s plus up to half a write period, so a scenario and a
    seed give the same writes at the same times whatever the protocol."""
    ticks: list[float] = []
    writes: list[tuple[float, int, int]] = []
    for i in range(sc.regions):
        ticks.append(rng.uniform(0, sc.sync_interval))
        for n in range(sc.ops):
            writes.append((n / sc.rate * 1000.0 + rng.uniform(0, 1000.0 / sc.rate) * 0.5, i, n))
    return ticks, writes


def _last(writes: list[tuple[float, int, int]]) -> float:
    return max((at for at, _, _ in writes), default=0.0)


def last_write_ms(scenario: Scenario) -> float:
    """When the last write of ``scenario`` is made, in ms of simulated time (0 when there are no writes).

    The one definition of "the last write": the simulator measures convergence from the later of this and
    the last heal (:meth:`Simulation.quiescent_at`), and :func:`crdts.sim.bound_faults` ends a run
    ``max_rounds`` sync intervals after it. It is the time the simulator draws for that write, the same
    for every protocol.

    >>> sc = Scenario(regions=3, ops=10, rate=2.0)
    >>> 4500.0 <= last_write_ms(sc) < 4750.0
    True
    >>> last_write_ms(sc) == Simulation(sc).last_write_ms
    True
    """
    return _last(_schedule(scenario, random.Random(scenario.seed))[1])


def _quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def simulate(scenario: Scenario, workload: Workload | None = None) -> Result:
    """Run one scenario. See :class:`Scenario` for the knobs."""
    t = time.perf_counter()
    r = Simulation(scenario, workload).run()
    r.per_node.append({"wall_seconds": time.perf_counter() - t})
    return r
