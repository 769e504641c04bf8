"""Workloads for the simulator: which CRDT each region holds and what its updates are.

A workload is an object with ``cls`` (the CRDT class), ``make(region index, replica)`` (the object a
node owns) and ``update(region index, n, rng)`` returning ``fn(state) -> delta`` for the n-th update of
that region, plus ``items(value)`` (what the checker compares: elements, entries or a count).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ..counters import GCounter, PNCounter
from ..maps import LWWMap, ORMap
from ..registers import MVRegister
from ..sets import AWSet, GSet

__all__ = ["WORKLOADS", "Workload", "make_workload"]

Update = Callable[[Any], Any]


def _canon(v: Any) -> Any:
    """A hashable form of a value that does not depend on set or dict iteration order."""
    if isinstance(v, (set, frozenset)):
        return ("set", tuple(sorted((_canon(x) for x in v), key=repr)))
    if isinstance(v, dict):
        return ("dict", tuple(sorted(((k, _canon(x)) for k, x in v.items()), key=repr)))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_canon(x) for x in v))
    return v


class Workload:
    """Base workload: subclasses set ``cls`` and ``name`` and define ``update``."""

    name = "?"
    cls: type = GSet

    def __init__(self, regions: int, ops: int) -> None:
        self.regions = regions
        self.ops = ops

    def make(self, index: int, replica: str, clock: Any = None) -> Any:
        return self.cls(replica)

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        raise NotImplementedError

    def items(self, value: Any) -> set[Any]:
        """The checker's view of a value: a set of facts, each an acknowledged write's effect."""
        if isinstance(value, (set, frozenset)):
            return set(value)
        if isinstance(value, dict):
            return {(k, _canon(v)) for k, v in value.items()}
        return {value}

    def conflicts(self, state: Any) -> int:
        """Concurrent writes kept visible in a final state (siblings); 0 for types without conflicts."""
        return 0


class GCounterWork(Workload):
    name, cls = "gcounter", GCounter

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        return lambda s: s.increment()


class PNCounterWork(Workload):
    name, cls = "pncounter", PNCounter

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        k = rng.randint(1, 5)
        return (lambda s: s.increment(k)) if rng.random() < 0.6 else (lambda s: s.decrement(k))


class GSetWork(Workload):
    name, cls = "gset", GSet

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        e = f"r{index}-{n}"
        return lambda s: s.add(e)


class AWSetWork(Workload):
    """Add-wins set with churn: 70% adds of new elements, 30% removes of an element the region added."""

    name, cls = "awset", AWSet

    def __init__(self, regions: int, ops: int) -> None:
        super().__init__(regions, ops)
        self.added: dict[int, list[str]] = {}

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        mine = self.added.setdefault(index, [])
        if mine and rng.random() < 0.3:
            e = mine.pop(rng.randrange(len(mine)))
            return lambda s: s.remove(e)
        e = f"r{index}-{n}"
        mine.append(e)
        return lambda s: s.add(e)


class LWWMapWork(Workload):
    """Last-writer-wins map over 100 keys shared by every region (so writes collide)."""

    name, cls = "lwwmap", LWWMap
    keys = 100

    def make(self, index: int, replica: str, clock: Any = None) -> Any:
        return LWWMap(replica, clock=clock)

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        k = f"k{rng.randrange(self.keys)}"
        v = f"r{index}-{n}"
        return lambda s: s.set(k, v)


class ZipfWork(LWWMapWork):
    """LWW map over 10,000 keys chosen with a Zipf(1.0) skew: a few hot keys take most writes."""

    name = "zipf"
    keys = 10_000

    def __init__(self, regions: int, ops: int, s: float = 1.0) -> None:
        super().__init__(regions, ops)
        weights = [1.0 / (i + 1) ** s for i in range(self.keys)]
        total = sum(weights)
        acc = 0.0
        self.cdf = []
        for w in weights:
            acc += w / total
            self.cdf.append(acc)

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        import bisect

        k = f"k{min(bisect.bisect_left(self.cdf, rng.random()), self.keys - 1)}"
        v = f"r{index}-{n}"
        return lambda s: s.set(k, v)


class GMapWork(Workload):
    """The GMap K% workload of Enes et al.: an LWW map over 1,000 keys, each region owning its share;
    each update writes K% of the region's own keys."""

    name, cls = "gmap", LWWMap
    total_keys = 1000

    def __init__(self, regions: int, ops: int, percent: int = 10) -> None:
        super().__init__(regions, ops)
        if not 0 < percent <= 100:
            raise ValueError("gmap:K needs 0 < K <= 100")
        self.percent = percent
        self.name = f"gmap:{percent}"

    def make(self, index: int, replica: str, clock: Any = None) -> Any:
        return LWWMap(replica, clock=clock)

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        own = [k for k in range(self.total_keys) if k % self.regions == index]
        count = max(1, round(len(own) * self.percent / 100))
        chosen = own[:] if count >= len(own) else rng.sample(own, count)
        v = n

        def write(s: Any) -> Any:
            group = LWWMap()
            for k in chosen:
                group.merge(s.set(k, v))
            return group

        return write


class ORMapWork(Workload):
    """Observed-remove map of carts: nested add-wins sets, causal counters and multi-value registers."""

    name, cls = "ormap", ORMap
    keys = 20

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        k = f"cart{rng.randrange(self.keys)}"
        x = rng.random()
        item = f"item{rng.randrange(10)}"
        if x < 0.4:
            return lambda s: s.update(k, AWSet, lambda c: c.add(item))
        if x < 0.55:
            return lambda s: s.update(k, AWSet, lambda c: c.remove(item))
        if x < 0.8:
            return lambda s: s.update(f"{k}-qty", PNCounter, lambda c: c.increment(1))
        if x < 0.95:
            return lambda s: s.update(f"{k}-note", MVRegister, lambda r: r.assign(f"r{index}-{n}"))
        return lambda s: s.remove(k)

    def conflicts(self, state: Any) -> int:
        return sum(len(v) - 1 for v in state.value.values() if isinstance(v, tuple) and len(v) > 1)


class ProfileWork(Workload):
    """User profiles in a :class:`~crdts.conflicts.ConflictMap`: 20 fields written by every region with an
    actor; concurrent writes stay visible as conflicts, and 10% of updates resolve a conflicted field."""

    name = "profile"
    fields = 20

    @property
    def cls(self) -> type:  # type: ignore[override]
        from ..conflicts import ConflictMap

        return ConflictMap

    def make(self, index: int, replica: str, clock: Any = None) -> Any:
        return self.cls(replica, clock=clock)

    def update(self, index: int, n: int, rng: random.Random) -> Update:
        k = f"field{rng.randrange(self.fields)}"
        actor = f"user{rng.randrange(5)}"
        if rng.random() < 0.1:
            return lambda s: s.resolve(next(iter(sorted(s.conflicted_keys(), key=repr)), k), actor=actor)
        v = f"r{index}-{n}"
        return lambda s: s.set(k, v, actor=actor)

    def conflicts(self, state: Any) -> int:
        return len(state.conflicted_keys())


WORKLOADS: dict[str, type[Workload]] = {w.name: w for w in (GCounterWork, PNCounterWork, GSetWork, AWSetWork,
                                                            LWWMapWork, ZipfWork, ORMapWork, ProfileWork)}


def make_workload(spec: str, regions: int, ops: int) -> Workload:
    """``gcounter``, ``pncounter``, ``gset``, ``awset``, ``lwwmap``, ``zipf``, ``ormap`` or ``gmap:K``."""
    if spec.startswith("gmap"):
        _, _, k = spec.partition(":")
        try:
            percent = int(k or 10)
        except ValueError:
            raise ValueError(f"gmap:K needs an integer K, got {k!r}") from None
        return GMapWork(regions, ops, percent)
    if spec not in WORKLOADS:
        raise ValueError(f"unknown workload {spec!r}; choose one of {sorted(WORKLOADS)} or gmap:K")
    return WORKLOADS[spec](regions, ops)
