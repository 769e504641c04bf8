"""Hypothesis strategies for the codec tests: states and deltas of every type, built by random operations
and merges, with awkward elements and values (mixed types, tuples, floats, unicode, ints near 2**64)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from crdts import (
    HLC,
    AWSet,
    CausalContext,
    CCounter,
    ConflictMap,
    ConflictRegister,
    DWFlag,
    EWFlag,
    GCounter,
    GSet,
    LWWMap,
    LWWRegister,
    MVRegister,
    ORMap,
    PNCounter,
    RWSet,
    Timestamp,
    TwoPSet,
    VersionVector,
)
from crdts.testing.builtin import SPECS

REPLICAS = ("a", "b", "é-west", "z" * 30)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64 - 1),
    st.sampled_from([0, 1, -1, 23, 24, 255, 256, 2**32, 2**64 - 1, -(2**64)]),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.binary(max_size=6),
)
#: Set elements / map keys: scalars and tuples of them (the core canonicalises bools and integral floats).
elements = st.recursive(scalars, lambda inner: st.tuples(inner) | st.tuples(inner, inner), max_leaves=4)
small_elements = st.sampled_from(["x", "y", "é", 1, 1.0, True, 2.5, None, b"b", ("t", 1), (), -7, 2**64 - 1])
#: Register values: scalars, tuples, lists, dicts with str keys.
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
nestables = st.sampled_from([AWSet, RWSet, MVRegister, EWFlag, DWFlag, PNCounter, ORMap])


def _clock(replica: str) -> HLC:
    ticks = itertools.count()
    skew = sum(map(ord, replica)) % 3
    return HLC(replica, time_source=lambda: 1_700_000_000_000_000_000 + skew * 1000 + next(ticks) // 2)


def make(cls: type, replica: str) -> Any:
    if cls in (LWWRegister, LWWMap, ConflictRegister, ConflictMap):
        return cls(replica, clock=_clock(replica))
    return cls(replica)


def _nested_op(draw: Callable[..., Any], ncls: type, depth: int) -> Callable[[Any], Any]:
    if ncls in (AWSet, RWSet):
        e = draw(small_elements)
        return draw(st.sampled_from([lambda s: s.add(e), lambda s: s.remove(e)]))
    if ncls is MVRegister:
        v = draw(values)
        return lambda r: r.assign(v)
    if ncls in (EWFlag, DWFlag):
        return draw(st.sampled_from([lambda f: f.enable(), lambda f: f.disable()]))
    if ncls is PNCounter:
        n = draw(st.integers(0, 2**40))
        return draw(st.sampled_from([lambda c: c.increment(n), lambda c: c.decrement(n)]))
    if ncls is ORMap:
        inner = draw(nestables if depth < 2 else st.sampled_from([AWSet, MVRegister]))
        k = draw(small_elements)
        fn = _nested_op(draw, inner, depth + 1)
        return lambda m: m.update(k, inner, fn)
    raise AssertionError(ncls)


def op(draw: Callable[..., Any], cls: type) -> Callable[[Any], Any]:
    """A random mutator call for ``cls`` (a function of the object that returns the delta)."""
    if cls is GCounter:
        n = draw(st.integers(0, 2**40))
        return lambda x: x.increment(n)
    if cls in (PNCounter, CCounter):
        n = draw(st.integers(0, 2**40))
        return draw(st.sampled_from([lambda x: x.increment(n), lambda x: x.decrement(n)]))
    if cls is GSet:
        e = draw(elements)
        return lambda x: x.add(e)
    if cls is TwoPSet:
        e = draw(small_elements | elements)
        return draw(st.sampled_from([lambda x: x.add(e), lambda x: x.remove(e)]))
    if cls in (AWSet, RWSet):
        e = draw(small_elements | elements)
        return draw(st.sampled_from([lambda x: x.add(e), lambda x: x.add(e), lambda x: x.remove(e),
                                     lambda x: x.clear()]))
    if cls in (LWWRegister, MVRegister):
        v = draw(values)
        return lambda x: x.assign(v)
    if cls in (EWFlag, DWFlag):
        return draw(st.sampled_from([lambda x: x.enable(), lambda x: x.disable()]))
    if cls is LWWMap:
        k, v = draw(small_elements | elements), draw(values)
        return draw(st.sampled_from([lambda x: x.set(k, v), lambda x: x.set(k, v), lambda x: x.remove(k)]))
    if cls is ORMap:
        ncls = draw(nestables)
        k = draw(small_elements)
        fn = _nested_op(draw, ncls, 0)
        return draw(st.sampled_from([lambda x: x.update(k, ncls, fn), lambda x: x.update(k, ncls, fn),
                                     lambda x: x.remove(k)]))
    if cls is ConflictRegister:
        v, actor = draw(values), draw(st.none() | st.sampled_from(["ada", "é", "ops"]))
        return draw(st.sampled_from([lambda x: x.assign(v, actor=actor), lambda x: x.resolve(v, actor=actor)]))
    if cls is ConflictMap:
        k, v = draw(small_elements | elements), draw(values)
        actor = draw(st.none() | st.sampled_from(["ada", "é", "ops"]))
        return draw(st.sampled_from([lambda x: x.set(k, v, actor=actor), lambda x: x.set(k, v),
                                     lambda x: x.resolve(k, v, actor=actor), lambda x: x.remove(k)]))
    raise AssertionError(cls)


#: Every type of the one registry (crdts.testing.builtin.SPECS): a new exported type is here as soon as it has a
#: spec, and ``op`` above fails for it until it learns the type's awkward operations.
CRDT_TYPES = list(dict.fromkeys(spec.cls for spec in SPECS))


@st.composite
def histories(draw: Callable[..., Any], cls: type, max_steps: int = 12) -> tuple[list[Any], list[Any]]:
    """Replicas of ``cls`` after random ops and merges, and every delta the ops returned."""
    n = draw(st.integers(1, 3))
    reps = [make(cls, REPLICAS[i]) for i in range(n)]
    deltas: list[Any] = []
    for _ in range(draw(st.integers(0, max_steps))):
        i = draw(st.integers(0, n - 1))
        if n > 1 and draw(st.booleans()):
            j = draw(st.integers(0, n - 1))
            src = draw(st.sampled_from([reps[j], *deltas[-3:]]))
            reps[i].merge(src)
        else:
            deltas.append(op(draw, cls)(reps[i]))
    return reps, deltas


@st.composite
def objects(draw: Callable[..., Any], cls: type) -> Any:
    """One state or delta of ``cls`` (or a VersionVector / CausalContext / Timestamp)."""
    if cls is VersionVector:
        return VersionVector(draw(st.dictionaries(st.sampled_from(REPLICAS), st.integers(0, 2**64 - 1))))
    if cls is CausalContext:
        vv = draw(st.dictionaries(st.sampled_from(REPLICAS), st.integers(0, 50)))
        cloud = draw(st.lists(st.tuples(st.sampled_from(REPLICAS), st.integers(1, 80))))
        return CausalContext(vv, cloud)
    if cls is Timestamp:
        return Timestamp(draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**64 - 1)),
                         draw(st.sampled_from(REPLICAS)))
    reps, deltas = draw(histories(cls))
    return draw(st.sampled_from(reps + deltas))


ALL_TYPES = [*CRDT_TYPES, VersionVector, CausalContext, Timestamp]
