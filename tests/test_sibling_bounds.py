"""Bounds on conflict siblings nobody resolves: ``max_siblings`` and ``sibling_ttl`` of ConflictRegister and
ConflictMap, the archive hook, the counters, and convergence whatever the delivery order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdts import HLC, ConflictMap, ConflictRegister, decode, encode
from crdts.conflicts import DEFAULT_MAX_SIBLINGS


def _clocks(names, start=1000):
    t = itertools.count(start)
    return {r: HLC(r, time_source=lambda: next(t), max_drift=None) for r in names}


def test_max_siblings_drops_the_oldest_into_the_archive_and_counts():
    names = ["r0", "r1", "r2", "r3", "r4"]
    clocks = _clocks(names)
    archived = []
    regs = {r: ConflictRegister(r, clock=clocks[r], max_siblings=2, archive=lambda k, s: archived.append((k, s)))
            for r in names}
    deltas = [regs[r].assign(f"v{i}", actor=r) for i, r in enumerate(names)]   # five concurrent writes
    x = regs["r0"]
    for d in deltas[1:]:
        x.merge(d)
    assert [s.value for s in x.siblings] == ["v3", "v4"] and x.value == "v4"   # the two newest
    dropped = [s.value for _k, sibs in archived for s in sibs]
    assert dropped == ["v0", "v1", "v2"] and all(k is None for k, _ in archived)
    assert x.siblings_dropped == 3 and x.bounds_hit == {"max_siblings": 3}
    meta = x.metadata()
    assert meta["siblings"] == 2 and meta["conflicted"] == 1
    x._check()
    # The drop is an observed removal: a replica that still holds a dropped sibling loses it on merge.
    y = regs["r1"]
    y.merge(deltas[0])
    assert [s.value for s in y.siblings] == ["v0", "v1"]
    y.merge(x.take_dropped())
    assert y.siblings == ()                              # x dropped v0, v1 and v2: y follows
    for d in deltas:
        y.merge(d)
    assert y.value == x.value and [s.value for s in y.siblings] == ["v3", "v4"]
    assert x.take_dropped() is None


def test_sibling_ttl_drops_siblings_written_long_before_the_newest():
    t = {"a": 100, "b": 150, "c": 360}
    archived = []
    regs = {r: ConflictRegister(r, clock=HLC(r, time_source=lambda r=r: t[r], max_drift=None), sibling_ttl=220)
            for r in t}
    da, db, dc = (regs[r].assign(r) for r in t)
    x = ConflictRegister("x", sibling_ttl=220, archive=lambda k, s: archived.extend(s))
    x.merge(da)
    x.merge(db)
    assert len(x.siblings) == 2                          # 50 apart: kept
    x.merge(dc)
    assert [s.value for s in x.siblings] == ["b", "c"]    # c - a = 260 > 220: a goes; c - b = 210: b stays
    assert [s.value for s in archived] == ["a"] and x.bounds_hit == {"sibling_ttl": 1} and x.siblings_dropped == 1


def test_conflict_map_bounds_each_key_and_keeps_its_index():
    names = ["a", "b", "c", "d"]
    clocks = _clocks(names)
    archived = []
    maps = {r: ConflictMap(r, clock=clocks[r], max_siblings=1, archive=lambda k, s: archived.append((k, s)))
            for r in names}
    deltas = [maps[r].set("k", r) for r in names] + [maps["a"].set("other", 1)]
    x = maps["a"]
    for d in deltas:
        x.merge(d)
    assert x.value == {"k": "d", "other": 1} and x.conflicted_keys() == frozenset()
    assert sorted(s.value for k, sibs in archived for s in sibs) == ["a", "b", "c"]
    assert {k for k, _ in archived} == {"k"}
    x._check()
    again = decode(encode(x))
    assert again == x and again.max_siblings == DEFAULT_MAX_SIBLINGS
    assert x.copy().max_siblings == 1 and x.fresh("z").max_siblings == 1


def test_bounds_are_checked():
    with pytest.raises(ValueError):
        ConflictRegister("a", max_siblings=0)
    with pytest.raises(ValueError):
        ConflictMap("a", sibling_ttl=-1)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.sampled_from([ConflictRegister, ConflictMap]), st.integers(1, 3), st.sampled_from([None, 3]))
def test_bounded_siblings_converge_under_any_delivery_order(data, cls, bound, ttl):
    """Writes (some after seeing others: they supersede), removes, and deliveries in a random order; each
    replica ships its writes' deltas and what its bounds dropped (take_dropped). Once everything is delivered,
    every replica holds the same state, the same value, and at most ``bound`` siblings per key."""
    names = ["a", "b", "c"]
    clocks = _clocks(names, start=0)
    objs = {r: cls(r, clock=clocks[r], max_siblings=bound, sibling_ttl=ttl) for r in names}
    pending: list[tuple[str, object]] = []            # (destination, delta)

    def ship(src, d):
        pending.extend((dst, d) for dst in names if dst != src)

    def deliver(i):
        dst, d = pending.pop(i)
        objs[dst].merge(d)
        dropped = objs[dst].take_dropped()
        if dropped is not None:
            ship(dst, dropped)

    for _ in range(data.draw(st.integers(1, 24), label="steps")):
        if pending and data.draw(st.booleans(), label="deliver"):
            deliver(data.draw(st.integers(0, len(pending) - 1), label="which"))
            continue
        r = data.draw(st.sampled_from(names), label="writer")
        v = data.draw(st.integers(0, 5), label="value")
        o = objs[r]
        if cls is ConflictRegister:
            ship(r, o.assign(v))
        elif data.draw(st.integers(0, 4), label="op") == 0:
            ship(r, o.remove("k"))
        else:
            ship(r, o.set(data.draw(st.sampled_from(["k", "j"]), label="key"), v))
    while pending:
        deliver(data.draw(st.integers(0, len(pending) - 1), label="final"))
    first = objs["a"]
    for o in objs.values():
        o._check()
        assert o == first and o.value == first.value
        funs = [o._store] if cls is ConflictRegister else list(o._store.values())
        assert all(len(f) <= bound for f in funs)


def test_a_drop_reaches_a_replica_that_never_held_the_siblings_that_outnumbered_it():
    """x drops the oldest of three siblings (max 2); y, which saw only the other two, supersedes them. y learns
    of the oldest later: without x's drop (take_dropped) y would keep it and x would not."""
    names = ["a", "b", "c", "x", "y"]
    clocks = _clocks(names)
    regs = {r: ConflictRegister(r, clock=clocks[r], max_siblings=2) for r in names}
    da, db, dc = (regs[r].assign(r) for r in "abc")
    x, y = regs["x"], regs["y"]
    for d in (da, db, dc):
        x.merge(d)
    assert [s.value for s in x.siblings] == ["b", "c"]
    y.merge(db)
    y.merge(dc)
    dy = y.assign("y")                                  # supersedes b and c, not a
    x.merge(dy)
    y.merge(da)
    assert x.value == "y" and [s.value for s in y.siblings] == ["a", "y"]
    y.merge(x.take_dropped())
    assert y == x and [s.value for s in y.siblings] == ["y"]


def test_deltas_and_unbound_groups_keep_every_sibling():
    names = ["a", "b", "c"]
    clocks = _clocks(names)
    deltas = [ConflictRegister(r, clock=clocks[r]).assign(r) for r in names]
    group = ConflictRegister(max_siblings=1)            # a delta group (no replica): carries what it holds
    for d in deltas:
        group.merge(d)
    assert len(group.siblings) == 3 and group.siblings_dropped == 0 and group.take_dropped() is None
    x = ConflictRegister("x", max_siblings=1)
    x.merge(group)
    assert [s.value for s in x.siblings] == ["c"] and x.siblings_dropped == 2


def test_a_raising_sibling_archive_hook_is_counted_and_the_merge_stays():
    def hook(key, sibs):
        raise RuntimeError("archive down")

    clocks = _clocks(["a", "b"])
    x = ConflictRegister("a", clock=clocks["a"], max_siblings=1, archive=hook)
    x.assign(1)
    x.merge(ConflictRegister("b", clock=clocks["b"]).assign(2))
    assert x.value == 2 and len(x.siblings) == 1 and x.bounds_hit == {"max_siblings": 1, "archive_errors": 1}
