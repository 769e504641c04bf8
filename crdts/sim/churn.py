"""Replica churn: regions leave and new ones join over a long run, and what that does to the metadata.

A run keeps ``live`` regions replicating one add-wins set that holds one element. Every sync round one live region
re-adds the element (a write: its replica id enters the causal context), and the regions sync over a full mesh with
one of the sync protocols (:mod:`crdts.sync`: a :class:`~crdts.sync.Node` per region), their retirement registries
(:class:`crdts.retention.Retirements`) riding on the protocol's messages. A churn event (``rate`` per round on
average) takes the oldest live region away for good and brings a new one in (a new replica id, bootstrapped from a
live region's state and registry); with ``prune`` a live region then decides that the one that left retires
(members: the regions still live), and the protocol of crdts.retention runs its course within the sync rounds.

Three runs side by side, with the same writes: **pruned** (churn and retirement), **unpruned** (churn, no
retirement: every replica id that ever wrote stays in the context) and **baseline** (``live`` regions that never
change). Each sample gives the bytes of the full state (``crdts.encode`` of a live region's set), of its retirement
registry, the entries of its causal context, and the bytes every region of the run sent so far.

>>> r = churn_run(ChurnScenario(events=20, rate=0.5, samples=4), "bprr")
>>> r.samples[-1]["pruned_state"] <= 2 * r.samples[-1]["baseline_state"] < r.samples[-1]["unpruned_state"]
True
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from ..codec import decode, encode
from ..retention import Retirements
from ..sets import AWSet
from ..sync import PROTOCOLS, LocalTransport, Node

__all__ = ["ChurnResult", "ChurnScenario", "churn_run", "churn_runs", "format_churn", "plot_churn"]

ELEMENT = "x"

#: At most this many rounds after the last churn event for the last retirements to finish.
_SETTLE = 50


@attrs.frozen
class ChurnScenario:
    """``events`` churn events (each one leave and one join) at ``rate`` per sync round (Poisson-like: each
    round has an event with probability ``rate``, several if ``rate`` > 1), ``live`` regions at all times, one
    sync round per simulated second, a retirement record kept ``ttl`` seconds, ``samples`` samples over the
    run, ``seed`` for the choices."""

    live: int = 5
    events: int = 1000
    rate: float = 0.5
    ttl: float = 60.0
    samples: int = 20
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.live < 2:
            raise ValueError("churn needs at least 2 live regions (one inherits the history of the one that leaves)")
        if self.events < 0 or not self.rate > 0 or not self.ttl > 0 or self.samples < 1:
            raise ValueError("churn needs events >= 0, rate > 0, ttl > 0 and samples >= 1")


@attrs.frozen
class ChurnResult:
    scenario: ChurnScenario
    #: one dict per sample: round, churned, and per run (pruned, unpruned, baseline) the state bytes,
    #: registry bytes and context entries of live region 0 of that run
    samples: list[dict[str, Any]]
    #: True when every run's live regions ended equal to each other with no retirement pending (the last
    #: sample is taken then)
    converged: bool
    #: the sync protocol the regions ran
    protocol: str = "state"

    def to_json(self) -> dict[str, Any]:
        return {"scenario": attrs.asdict(self.scenario), "protocol": self.protocol, "samples": self.samples,
                "converged": self.converged}


class _Group:
    """The live regions of one run: a :class:`~crdts.sync.Node` each, running ``protocol`` over a full mesh of
    in-process links (every message goes as bytes, and is decoded on arrival: what travels is what is
    measured); with ``prune`` every node owns a retirement registry, which rides on its messages."""

    def __init__(self, names: list[str], prune: bool, ttl: float, clock: list[float], protocol: str) -> None:
        self.prune = prune
        self.ttl = ttl
        self.clock = clock
        self.protocol = protocol
        self.net = LocalTransport()
        self.nodes: dict[str, Node] = {}
        self.sent_by_gone = 0      # bytes sent by the regions that left
        for n in names:
            self.join(n, None)

    def _registry(self, name: str, source: str | None) -> Retirements | None:
        if not self.prune:
            return None
        clock = self.clock
        reg = Retirements(name, ttl=self.ttl, clock=lambda: clock[0])
        if source is not None:
            src = self.nodes[source].retirements
            assert src is not None
            reg.merge(decode(encode(src)))
        return reg

    def join(self, name: str, source: str | None) -> None:
        """A new region: its state and registry are a live region's (as a bootstrap from a snapshot would)."""
        clock = self.clock
        crdt: Any = AWSet if source is None else self.nodes[source].state.copy(replica=name)
        peers = sorted(self.nodes)
        self.nodes[name] = Node(name, crdt, protocol=self.protocol, neighbours=peers, transport=self.net,
                                clock=lambda: clock[0], retirements=self._registry(name, source))
        for p in peers:
            self.nodes[p].add_neighbour(name)

    def leave(self, name: str, decider: str) -> None:
        gone = self.nodes.pop(name)
        self.sent_by_gone += gone.stats.bytes_sent
        self.net.nodes.pop(name, None)
        for n in self.nodes.values():
            n.remove_neighbour(name)
        if self.prune:
            reg = self.nodes[decider].retirements
            assert reg is not None
            reg.decide(name, members=sorted(self.nodes))

    def write(self, name: str) -> None:
        self.nodes[name].update(lambda s: s.add(ELEMENT))

    def sync(self) -> None:
        """One round: every region ticks (its registry steps, its protocol sends), then the network delivers
        everything (answers included)."""
        for n in sorted(self.nodes):
            self.nodes[n].tick()
        self.net.deliver_all()

    def measure(self) -> tuple[int, int, int, int]:
        """Live region 0's full state bytes, registry bytes and context entries; the bytes sent so far."""
        x = self.nodes[min(self.nodes)]
        md = x.state.metadata()
        reg = x.retirements
        sent = self.sent_by_gone + sum(n.stats.bytes_sent for n in self.nodes.values())
        return (len(encode(x.state.copy(replica=None))), 0 if reg is None else len(encode(reg)),
                md["context"] + md["cloud"], sent)

    def settled(self) -> bool:
        """The live regions are equal and no retirement is pending."""
        xs = [n.state for n in self.nodes.values()]
        return all(x == xs[0] for x in xs) and not any(
            n.retirements.pending() for n in self.nodes.values() if n.retirements is not None)


def _row(k: int, churned: int, runs: dict[str, _Group]) -> dict[str, Any]:
    row: dict[str, Any] = {"round": k, "churned": churned}
    for name, g in runs.items():
        state, registry, entries, sent = g.measure()
        row.update({f"{name}_state": state, f"{name}_registry": registry, f"{name}_entries": entries,
                    f"{name}_sent": sent})
    return row


def churn_run(sc: ChurnScenario, protocol: str = "state") -> ChurnResult:
    """Run the three runs of ``sc`` in lockstep (same seed, same writes) with ``protocol``.
    O(rounds * live**2 * state size)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    rng = random.Random(sc.seed)
    clock = [0.0]
    names = [f"r{i}" for i in range(sc.live)]
    runs = {"pruned": _Group(names, True, sc.ttl, clock, protocol),
            "unpruned": _Group(names, False, sc.ttl, clock, protocol),
            "baseline": _Group(names, False, sc.ttl, clock, protocol)}
    live = list(names)        # oldest first
    next_id = sc.live
    churned = 0
    rounds = max(1, round(sc.events / sc.rate))
    every = max(1, rounds // sc.samples)
    samples: list[dict[str, Any]] = []
    k = -1
    while churned < sc.events or k < 0:
        k += 1
        clock[0] = float(k)
        events = 0
        if k:
            events = int(sc.rate) + (rng.random() < sc.rate - int(sc.rate))
            events = min(events, sc.events - churned)
        for _ in range(events):
            gone = live.pop(0)
            new = f"r{next_id}"
            next_id += 1
            source = rng.choice(live)
            for name in ("pruned", "unpruned"):
                g = runs[name]
                g.leave(gone, decider=source)
                g.join(new, source)
            live.append(new)
            churned += 1
        writer = rng.randrange(len(live))
        for name, g in runs.items():
            g.write(live[writer] if name != "baseline" else names[writer])
        for g in runs.values():
            g.sync()
        if k % every == 0:
            samples.append(_row(k, churned, runs))
    for _ in range(_SETTLE):   # the last retirements finish (no churn, no writes)
        if all(g.settled() for g in runs.values()):
            break
        k += 1
        clock[0] = float(k)
        for g in runs.values():
            g.sync()
    if samples[-1]["round"] == k:
        samples.pop()
    samples.append(_row(k, churned, runs))
    return ChurnResult(sc, samples, all(g.settled() for g in runs.values()), protocol)


def churn_runs(sc: ChurnScenario, protocols: list[str]) -> dict[str, ChurnResult]:
    """:func:`churn_run` for each of ``protocols``."""
    return {p: churn_run(sc, p) for p in protocols}


def format_churn(r: ChurnResult) -> str:
    """The table of ``crdts simulate --churn`` for one protocol: one row per sample."""
    head = (f"{'round':>7} {'churned':>7} | {'pruned B':>8} {'registry B':>10} {'entries':>7} {'sent kB':>8} | "
            f"{'unpruned B':>10} {'entries':>7} {'sent kB':>8} | {'baseline B':>10} {'ratio':>6}")
    lines = [head, "-" * len(head)]
    for s in r.samples:
        ratio = s["pruned_state"] / s["baseline_state"]
        lines.append(f"{s['round']:>7} {s['churned']:>7} | {s['pruned_state']:>8} {s['pruned_registry']:>10} "
                     f"{s['pruned_entries']:>7} {s['pruned_sent'] / 1000:>8.0f} | {s['unpruned_state']:>10} "
                     f"{s['unpruned_entries']:>7} {s['unpruned_sent'] / 1000:>8.0f} | "
                     f"{s['baseline_state']:>10} {ratio:>6.2f}")
    return "\n".join(lines)


def plot_churn(results: ChurnResult | dict[str, ChurnResult], path: str, title: str | None = None) -> None:
    """A PNG of the churn run: the full state's bytes per protocol with and without retirement, and the
    never-churned regions' (left); the bytes sent so far (right). Matplotlib on the Agg backend, as
    crdts.sim.plot; the ``sim`` extra."""
    from .plot import pyplot

    runs = {results.protocol: results} if isinstance(results, ChurnResult) else results
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    first = next(iter(runs.values()))
    for i, (proto, r) in enumerate(runs.items()):
        xs = [s["churned"] for s in r.samples]
        c = colors[i % len(colors)]
        for name, style, marker, label in (("unpruned", "--", "s", "without retirement"),
                                           ("pruned", "-", "o", "with retirement")):
            ax.plot(xs, [s[f"{name}_state"] for s in r.samples], linestyle=style, color=c, marker=marker,
                    markersize=3, label=f"{proto}, {label}")
            ax2.plot(xs, [s[f"{name}_sent"] / 1e6 for s in r.samples], linestyle=style, color=c, marker=marker,
                     markersize=3, label=f"{proto}, {label}")
    ax.plot([s["churned"] for s in first.samples], [s["baseline_state"] for s in first.samples], linestyle=":",
            color="black", label=f"{first.scenario.live} never-churned regions")
    ax.set_xlabel("regions that left (each replaced by a new one)")
    ax.set_ylabel("bytes of the full state (log scale)")
    ax.set_yscale("log")
    sc = first.scenario
    ax.set_title(title or f"Full state: one-element set, {sc.live} live regions, churn {sc.rate:g}/round",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax2.set_xlabel("regions that left (each replaced by a new one)")
    ax2.set_ylabel("MB sent by all regions (log scale)")
    ax2.set_yscale("log")
    ax2.set_title("Traffic (registries included)", fontsize=10)
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
