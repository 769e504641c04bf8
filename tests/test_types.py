"""Named scenarios for the types: binding, refusals, canonical elements, metadata, tricky concurrency."""

from __future__ import annotations

import pytest

from crdts import (
    HLC,
    AWSet,
    CCounter,
    ConflictingWrite,
    DWFlag,
    EWFlag,
    GCounter,
    GSet,
    LWWMap,
    LWWRegister,
    MVRegister,
    ORMap,
    ORSet,
    PNCounter,
    ReplicaRequired,
    RWSet,
    TwoPSet,
    encode,
)

ALL = [GCounter, PNCounter, CCounter, LWWRegister, MVRegister, EWFlag, DWFlag, GSet, TwoPSet, AWSet, RWSet,
       ORMap, LWWMap]

FIRST_MUTATOR = {
    GCounter: lambda x: x.increment(),
    PNCounter: lambda x: x.decrement(),
    CCounter: lambda x: x.increment(),
    LWWRegister: lambda x: x.assign(1),
    MVRegister: lambda x: x.assign(1),
    EWFlag: lambda x: x.enable(),
    DWFlag: lambda x: x.enable(),
    GSet: lambda x: x.add(1),
    TwoPSet: lambda x: x.add(1),
    AWSet: lambda x: x.add(1),
    RWSet: lambda x: x.add(1),
    ORMap: lambda x: x.update("k", AWSet, lambda s: s.add(1)),
    LWWMap: lambda x: x.set("k", 1),
}


def clock(replica, start=0):
    t = iter(range(start, 10**9))
    return HLC(replica, time_source=lambda: next(t))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_unbound_object_refuses_mutation_and_names_the_fix(cls):
    with pytest.raises(ReplicaRequired, match="copy\\(replica="):
        FIRST_MUTATOR[cls](cls())
    delta = FIRST_MUTATOR[cls](cls("a"))
    assert delta.replica is None
    with pytest.raises(ReplicaRequired):
        FIRST_MUTATOR[cls](delta)
    bound = delta.copy(replica="b")
    FIRST_MUTATOR[cls](bound)          # rebinding makes it writable
    bound._check()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_merging_another_class_is_a_type_error_and_changes_nothing(cls):
    x = cls("a")
    FIRST_MUTATOR[cls](x)
    before = x.copy()
    other = GSet("b") if cls is not GSet else GCounter("b")
    with pytest.raises(TypeError):
        x.merge(other)
    assert x == before


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_copy_is_independent(cls):
    x = cls("a")
    y = x.copy()
    FIRST_MUTATOR[cls](y)
    assert x == cls() and x != y and y.replica == "a"


def test_orset_is_awset():
    assert ORSet is AWSet


@pytest.mark.parametrize("bad", [[1], {"a": 1}, {1}, object(), float("nan"), (1, [2])])
def test_bad_elements_are_type_errors(bad):
    s = AWSet("a")
    with pytest.raises(TypeError):
        s.add(bad)
    assert s == AWSet()


def test_equal_numbers_are_one_canonical_element():
    a, b = AWSet("a"), AWSet("b")
    a.add(True)
    b.add(1.0)
    a.merge(b)
    assert a.value == frozenset({1}) and type(next(iter(a.value))) is int
    assert True in a and 1 in a and len(a) == 1


def test_register_values_are_copied_on_write_and_read():
    r = MVRegister("a")
    v = {"tags": ["x"]}
    r.assign(v)
    v["tags"].append("mutated")
    out = r.values[0]
    out["tags"].append("also mutated")
    assert r.values == ({"tags": ["x"]},)
    with pytest.raises(TypeError):
        r.assign({1: "non-str key"})


def test_awset_metadata_after_many_add_remove_pairs_is_a_version_vector():
    a, b = AWSet("a"), AWSet("b")
    for i in range(2000):
        b.merge(a.add(f"item-{i}"))
        b.merge(a.remove(f"item-{i}"))
    for x in (a, b):
        assert not x._store and not x._store.index
        assert x._ctx.vv == {"a": 2000} and not x._ctx.cloud
    assert a == b


def test_awset_delta_does_not_grow_with_state():
    a = AWSet("a")
    for i in range(5000):
        a.add(i)
    d = a.add("new")
    assert len(d._store) == 1 and d._ctx.size() == 1


def test_awset_concurrent_add_survives_remove_but_observed_add_does_not():
    a, b = AWSet("a"), AWSet("b")
    b.merge(a.add("x"))
    d_rm = b.remove("x")
    d_add = a.add("x")                    # concurrent with the remove
    a.merge(d_rm)
    b.merge(d_add)
    assert a.value == b.value == frozenset({"x"})
    d_rm2 = b.remove("x")                 # this remove saw both adds
    a.merge(d_rm2)
    assert a.value == frozenset() and a == b


def test_rwset_clear_wins_over_concurrent_add_and_a_later_add_returns():
    a, b = RWSet("a"), RWSet("b")
    b.merge(a.add("x"))
    d1, d2 = a.clear(), b.add("x")
    a.merge(d2)
    b.merge(d1)
    assert a.value == b.value == frozenset() and a == b
    a.merge(b.add("x"))
    assert a.value == frozenset({"x"})


def test_twopset_remove_is_forever():
    s = TwoPSet("a")
    s.add("x")
    s.remove("x")
    s.add("x")
    assert s.value == frozenset() and s.tombstones == frozenset({"x"})


def test_flags_start_false():
    assert EWFlag("a").value is False and DWFlag("a").value is False


def test_mvregister_siblings_are_ordered_by_dot_everywhere():
    a, b, c = MVRegister("a"), MVRegister("b"), MVRegister("c")
    ds = [c.assign("from c"), a.assign("from a"), b.assign("from b")]
    for x in (a, b, c):
        for d in ds:
            x.merge(d)
    assert a.values == b.values == c.values == ("from a", "from b", "from c")


def test_lww_write_after_merge_wins_despite_a_lagging_clock():
    fast = LWWRegister("fast", clock=clock("fast", start=10**6))
    slow = LWWRegister("slow", clock=HLC("slow", time_source=lambda: 5))
    slow.merge(fast.assign("early"))
    fast.merge(slow.assign("late"))
    assert fast.value == slow.value == "late"


def test_lww_ties_break_by_replica_id_in_any_order():
    a = LWWRegister("a", clock=HLC("a", time_source=lambda: 7))
    b = LWWRegister("b", clock=HLC("b", time_source=lambda: 7))
    da, db = a.assign("A"), b.assign("B")
    a.merge(db)
    b.merge(da)
    assert a.value == b.value == "B" and a.timestamp.replica == "b"


def test_lww_conflicting_write_is_refused_and_changes_nothing():
    a = LWWRegister("a", clock=HLC("a", time_source=lambda: 7))
    a.assign("mine")
    forged = LWWRegister()
    forged._ts, forged._value = a._ts, "forged"
    with pytest.raises(ConflictingWrite):
        a.merge(forged)
    assert a.value == "mine"


def test_lwwmap_refused_bulk_merges_change_nothing():
    # one conflicting entry among hundreds, through each merge path (block append, covering copy, a map
    # with dead slots and two writers): the merge raises and the map is as it was
    t = iter(range(1, 10**6))
    a = LWWMap("a", clock=HLC("a", time_source=lambda: next(t)))
    for i in range(300):
        a.set(i, i)
    b = LWWMap("b", clock=HLC("b", time_source=lambda: next(t)))
    for i in range(200, 600):
        b.set(i, -i)
    for case in range(4):
        x = a.copy()
        if case:
            x.merge(b)
        before, snapshot = encode(x), x.copy()
        ents = dict(x._entries)
        k = list(ents)[(case * 97) % len(ents)]
        ts, present, v = ents[k]
        evil = {**ents, k: (ts, True, "evil" if v != "evil" else "x")}
        evil.update({10**6 + j: ((ts[0] + 1, 0, "z"), True, j) for j in range(50)})
        for forged in (LWWMap._of(evil), LWWMap._of({**ents, k: (ts, not present, None if present else 1)})):
            with pytest.raises(ConflictingWrite):
                x.merge(forged)
            x._check()
            assert encode(x) == before and x == snapshot


def lww_pair(late: int | None = None) -> tuple[LWWMap, LWWMap]:
    """a writes keys 0..199, then b (later) keys 100..499; a may then write key ``late`` again (newer than b's
    write of it), and b writes key 1000 last, so b is the larger map with the newest write."""
    t = iter(range(1, 10**6))
    a = LWWMap("a", clock=HLC("a", time_source=lambda: next(t)))
    b = LWWMap("b", clock=HLC("b", time_source=lambda: next(t)))
    for i in range(200):
        a.set(i, i)
    for i in range(100, 500):
        b.set(i, -i)
    if late is not None:
        a.set(late, "late")
    b.set(1000, 0)
    return a, b


def test_lwwmap_merge_under_a_larger_newer_map_keeps_each_newer_entry():
    # The larger map with the newest write goes first in the merged columns when it keeps every key both hold
    # (a sample of our keys guesses that first). Key 150 of ours is newer than theirs and outside the sample
    # (it moved to the end of our keys): the merge still keeps, per key, the newer entry.
    a, b = lww_pair(late=150)
    keys = list(a._pos)
    assert keys[-1] == 150 and 150 not in keys[::len(keys) // 64]
    expected = {**{i: i for i in range(100)}, **{i: -i for i in range(100, 500)}, 150: "late", 1000: 0}
    for x, y in ((a.copy(), b), (b.copy(), a)):
        x.merge(y)
        x._check()
        assert x.value == expected
    a, b = lww_pair()                                  # b keeps every shared key: joined under it
    x = a.copy()
    x.merge(b)
    x._check()
    assert x.value == {**{i: i for i in range(100)}, **{i: -i for i in range(100, 500)}, 1000: 0}
    assert list(x._pos)[:401] == list(b._pos)          # b's keys first, in its order, then ours
    same = b.copy()
    same.merge(LWWMap._of({k: e for k, e in a._entries.items() if k >= 150}))  # the same writes as a's
    z = a.copy()
    z.merge(same)
    z._check()
    assert z == x


def test_lwwmap_refused_merge_under_a_larger_newer_map_changes_nothing():
    a, b = lww_pair()
    ents = dict(b._entries)
    ents[150] = (a._entries[150][0], True, "evil")     # a's timestamp of key 150 with another value
    forged = LWWMap._of(ents)
    before, snapshot = encode(a), a.copy()
    with pytest.raises(ConflictingWrite):
        a.merge(forged)
    a._check()
    assert encode(a) == before and a == snapshot


@pytest.mark.parametrize("theirs", [
    {"e": ((0, 0, "w"), True, 1)},                                               # smaller: the general join
    {"b": ((9, 0, "w"), True, 1), "f": ((8, 0, "w"), True, 1), "g": ((7, 0, "w"), True, 1)},  # larger, newer
    {"c": ((2, 0, "w"), True, 1), "d": ((2, 0, "w"), True, 1), "b": ((9, 0, "w"), True, 1)},  # holds all of ours
])
def test_lwwmap_conflicting_write_names_our_entry_and_theirs(theirs):
    # Key "a" at one timestamp with two values: whichever merge path finds it, the error says which is whose.
    x = LWWMap._of({"a": ((5, 0, "w"), True, "ours"), "c": ((1, 0, "w"), True, 1), "d": ((1, 0, "w"), True, 1)})
    y = LWWMap._of({"a": ((5, 0, "w"), True, "theirs"), **theirs})
    with pytest.raises(ConflictingWrite) as e:
        x.merge(y)
    assert (e.value.ours, e.value.theirs) == ((True, "ours"), (True, "theirs"))


def test_lwwmap_remove_is_a_timestamped_write():
    a, b = LWWMap("a", clock=clock("a")), LWWMap("b", clock=clock("b", start=100))
    b.merge(a.set("k", 1))
    da = a.set("k", 2)                    # earlier wall time
    db = b.remove("k")                    # later: wins
    a.merge(db)
    b.merge(da)
    assert a.value == b.value == {} and len(a) == len(b) == 0 and "k" not in a
    a._check()
    b._check()


def test_lwwmap_len_tracks_merges():
    a, b = LWWMap("a", clock=clock("a")), LWWMap("b", clock=clock("b", start=1000))
    for i in range(10):
        a.set(i, i)
    for i in range(5):
        b.remove(i)
    a.merge(b)
    a._check()
    assert len(a) == 5 and sorted(a.keys()) == [5, 6, 7, 8, 9]


def test_ormap_keeps_entries_of_different_classes_apart():
    a, b = ORMap("a"), ORMap("b")
    d1 = a.update("k", AWSet, lambda s: s.add(1))
    d2 = b.update("k", MVRegister, lambda r: r.assign("v"))
    a.merge(d2)
    b.merge(d1)
    assert a == b and a.classes("k") == ["AWSet", "MVRegister"] and a["k"].value == frozenset({1})
    a._check()


def test_ormap_getitem_is_read_only_copy():
    m = ORMap("a")
    m.update("k", AWSet, lambda s: s.add(1))
    view = m["k"]
    with pytest.raises(ReplicaRequired):
        view.add(2)
    assert m.value == {"k": frozenset({1})}
    with pytest.raises(KeyError):
        m["missing"]


def test_ormap_update_ignores_what_fn_returns_and_keeps_the_index_consistent():
    m = ORMap("a")
    d = m.update("k", AWSet, lambda s: (s.add(1), None)[1])   # the delta comes from the change, not from fn
    m._check()
    assert m.value == {"k": frozenset({1})}
    assert d.value == {"k": frozenset({1})}
    with pytest.raises(TypeError, match=r"cannot nest in an ORMap.*use ORMap"):
        m.update("k", LWWMap, lambda x: x)


def test_ormap_remove_resets_observed_effects_only():
    a, b = ORMap("a"), ORMap("b")
    b.merge(a.update("cart", AWSet, lambda s: s.add("apple")))
    d_rm = a.remove("cart")
    d_up = b.update("cart", AWSet, lambda s: s.add("pear"))
    a.merge(d_up)
    b.merge(d_rm)
    assert a.value == b.value == {"cart": frozenset({"pear"})}


def test_ormap_nested_counter_reset_remove():
    a, b = ORMap("a"), ORMap("b")
    b.merge(a.update("n", PNCounter, lambda c: c.increment(3)))
    d_rm = b.remove("n")
    d_inc = a.update("n", PNCounter, lambda c: c.increment(1))   # a had contributed 3: keeps 3 + 1
    a.merge(d_rm)
    b.merge(d_inc)
    assert a.value == b.value == {"n": 4}


def test_nested_ormap_three_levels():
    a, b = ORMap("a"), ORMap("b")
    d = a.update("u1", ORMap, lambda m: m.update("prefs", ORMap, lambda p: p.update("dark", EWFlag,
                                                                                      lambda f: f.enable())))
    b.merge(d)
    assert b.value == {"u1": {"prefs": {"dark": True}}}
    b.merge(a.remove("u1"))
    assert b.value == {}
    b._check()


def test_lwwmap_with_a_clock_but_no_replica_is_read_only():
    m = LWWMap(None, clock=HLC("a", time_source=lambda: 1))
    with pytest.raises(ReplicaRequired):
        m.set("k", 1)
    assert m.value == {}


def test_ormap_update_ignores_a_delta_from_another_object():
    a = ORMap("a")
    d = a.update("s", AWSet, lambda s: AWSet("z").add(1))     # fn changed nothing of the map
    a._check()
    assert a.value == {} and d.is_bottom()


def test_ormap_update_is_atomic_when_fn_raises_after_mutating():
    m = ORMap("a")
    m.update("k", AWSet, lambda s: s.add(0))
    before = m.copy()
    with pytest.raises(ZeroDivisionError):
        m.update("k", AWSet, lambda s: (s.add(1), 1 / 0))
    assert m == before and m.value == {"k": frozenset({0})}
    m._check()
    with pytest.raises(ZeroDivisionError):
        m.update("new", AWSet, lambda s: (s.add(1), 1 / 0))
    assert m == before
    m._check()


def test_ormap_update_runs_several_mutators_in_one_fn():
    m = ORMap("a")
    m.update("k", AWSet, lambda s: s.add(0))
    before = m.copy()
    d = m.update("k", AWSet, lambda s: (s.add(1), s.add(2)))
    replay = before.copy(replica="b")
    replay.merge(d)
    assert replay == m.copy(replica="b") and m.value == {"k": frozenset({0, 1, 2})}
    m._check()


