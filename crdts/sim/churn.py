"""Replica churn: regions leave and new ones join over a long run, and what that does to the metadata.

A run keeps ``live`` regions replicating one add-wins set that holds one element. Every sync round one live
region re-adds the element (a write: its replica id enters the causal context), and the regions exchange full
states (the ``state`` protocol's message) over a full mesh, with their retirement registries
(:class:`crdts.retention.Retirements`) beside them. A churn event (``rate`` per round on average) takes the
oldest live region away for good and brings a new one in (a new replica id, bootstrapped from a live region's
state and registry); with ``prune`` a live region then decides that the one that left retires (members: the
regions still live), and the protocol of crdts.retention runs its course within the sync rounds.

Three runs side by side, with the same writes: **pruned** (churn and retirement), **unpruned** (churn, no
retirement: every replica id that ever wrote stays in the context) and **baseline** (``live`` regions that never
change). Each sample gives the bytes of the full state (``crdts.encode`` of a live region's set), of its
retirement registry, and the entries of its causal context.

>>> r = churn_run(ChurnScenario(events=20, rate=0.5, samples=4))
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

__all__ = ["ChurnResult", "ChurnScenario", "churn_run", "format_churn", "plot_churn"]

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

    def to_json(self) -> dict[str, Any]:
        return {"scenario": attrs.asdict(self.scenario), "samples": self.samples, "converged": self.converged}


class _Group:
    """The live regions of one run: their sets and registries, and how they sync."""

    def __init__(self, names: list[str], prune: bool, ttl: float, clock: list[float]) -> None:
        self.prune = prune
        self.ttl = ttl
        self.clock = clock
        self.objs: dict[str, AWSet] = {}
        self.regs: dict[str, Retirements] = {}
        for n in names:
            self.join(n, None)

    def join(self, name: str, source: str | None) -> None:
        """A new region: its state and registry are a live region's (as a bootstrap from a snapshot would)."""
        clock = self.clock
        reg = Retirements(name, ttl=self.ttl, clock=lambda: clock[0])
        if source is None:
            self.objs[name] = AWSet(name)
        else:
            self.objs[name] = self.objs[source].copy(replica=name)
            reg.merge(decode(encode(self.regs[source])))
        self.regs[name] = reg

    def leave(self, name: str, decider: str) -> None:
        del self.objs[name], self.regs[name]
        if self.prune:
            self.regs[decider].decide(name, members=sorted(self.objs))

    def write(self, name: str) -> None:
        self.objs[name].add(ELEMENT)

    def sync(self) -> None:
        """One round: every region steps, then sends its registry and its full state to every other region
        (as bytes, decoded on arrival: what travels is what is measured)."""
        names = sorted(self.objs)
        for n in names:
            self.regs[n].step(self.objs[n])
        regs = {n: encode(self.regs[n]) for n in names} if self.prune else {}
        states = {n: encode(self.objs[n].copy(replica=None)) for n in names}
        for dst in names:
            for src in names:
                if src == dst:
                    continue
                if self.prune:
                    self.regs[dst].merge(decode(regs[src]))
                self.regs[dst].receive(self.objs[dst], decode(states[src]))
            self.regs[dst].step(self.objs[dst])

    def measure(self) -> tuple[int, int, int]:
        first = min(self.objs)
        x = self.objs[first]
        md = x.metadata()
        return len(encode(x.copy(replica=None))), len(encode(self.regs[first])), md["context"] + md["cloud"]

    def settled(self) -> bool:
        """The live regions are equal and no retirement is pending."""
        xs = list(self.objs.values())
        return all(x == xs[0] for x in xs) and not any(reg.pending() for reg in self.regs.values())


def churn_run(sc: ChurnScenario) -> ChurnResult:
    """Run the three runs of ``sc`` in lockstep (same seed, same writes). O(rounds * live**2 * state size)."""
    rng = random.Random(sc.seed)
    clock = [0.0]
    names = [f"r{i}" for i in range(sc.live)]
    runs = {"pruned": _Group(names, True, sc.ttl, clock), "unpruned": _Group(names, False, sc.ttl, clock),
            "baseline": _Group(names, False, sc.ttl, clock)}
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
            row: dict[str, Any] = {"round": k, "churned": churned}
            for name, g in runs.items():
                state, registry, entries = g.measure()
                row[f"{name}_state"] = state
                row[f"{name}_registry"] = registry
                row[f"{name}_entries"] = entries
            samples.append(row)
    for _ in range(_SETTLE):   # the last retirements finish (no churn, no writes)
        if all(g.settled() for g in runs.values()):
            break
        k += 1
        clock[0] = float(k)
        for g in runs.values():
            g.sync()
    if samples[-1]["round"] == k:
        samples.pop()
    row = {"round": k, "churned": churned}
    for name, g in runs.items():
        state, registry, entries = g.measure()
        row.update({f"{name}_state": state, f"{name}_registry": registry, f"{name}_entries": entries})
    samples.append(row)
    return ChurnResult(sc, samples, all(g.settled() for g in runs.values()))


def format_churn(r: ChurnResult) -> str:
    """The table of ``crdts simulate --churn``: one row per sample."""
    head = (f"{'round':>7} {'churned':>7} | {'pruned B':>8} {'registry B':>10} {'entries':>7} | "
            f"{'unpruned B':>10} {'entries':>7} | {'baseline B':>10} {'ratio':>6}")
    lines = [head, "-" * len(head)]
    for s in r.samples:
        ratio = s["pruned_state"] / s["baseline_state"]
        lines.append(f"{s['round']:>7} {s['churned']:>7} | {s['pruned_state']:>8} {s['pruned_registry']:>10} "
                     f"{s['pruned_entries']:>7} | {s['unpruned_state']:>10} {s['unpruned_entries']:>7} | "
                     f"{s['baseline_state']:>10} {ratio:>6.2f}")
    return "\n".join(lines)


def plot_churn(r: ChurnResult, path: str, title: str | None = None) -> None:
    """A PNG of the full state's bytes over the churn run: pruned, unpruned and never-churned (matplotlib on
    the Agg backend, as crdts.sim.plot; the ``sim`` extra)."""
    from .plot import pyplot

    plt = pyplot()
    xs = [s["churned"] for s in r.samples]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, label, style, marker in (("unpruned", "without retirement", "--", "s"),
                                       ("pruned", "with retirement", "-", "o"),
                                       ("baseline", f"{r.scenario.live} never-churned regions", ":", "^")):
        ax.plot(xs, [s[f"{name}_state"] for s in r.samples], linestyle=style, marker=marker, label=label)
    ax.set_xlabel("regions that left (each replaced by a new one)")
    ax.set_ylabel("bytes of the full state")
    ax.set_title(title or f"One-element set, {r.scenario.live} live regions, churn {r.scenario.rate:g}/round")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
