"""Unit tests of dots, version vectors, causal contexts and the hybrid logical clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdts import HLC, CausalContext, Dot, InvariantError, Ordering, Timestamp, VersionVector, kernel

dots = st.tuples(st.sampled_from("abc"), st.integers(1, 12))


def test_version_vector_partial_order():
    a, b = VersionVector({"x": 1}), VersionVector({"x": 1, "y": 2})
    assert a.compare(b) is Ordering.BEFORE and b.compare(a) is Ordering.AFTER
    assert a.compare(a.copy()) is Ordering.EQUAL
    assert VersionVector({"x": 2}).compare(b) is Ordering.CONCURRENT
    assert a <= b and a < b and not b <= a
    assert b.contains_dot(Dot("y", 2)) and not b.contains_dot(Dot("y", 3))
    assert "y" in b and "z" not in b


def test_version_vector_rejects_bad_entries():
    with pytest.raises(ValueError):
        VersionVector({"x": -1})
    with pytest.raises(TypeError):
        VersionVector({"": 1})


@given(st.sets(dots))
def test_context_holds_exactly_its_dots_and_is_compact(ds):
    cc = CausalContext()
    for d in sorted(ds, key=lambda d: (d[1] * 7919) % 13):   # any insertion order
        cc.add(d)
    cc._check()
    assert set(cc.dots()) == ds
    assert cc.size() == len(ds)
    assert cc == CausalContext(cloud=ds)
    for r in "abc":
        contiguous = all((r, i) in ds for i in range(1, cc.max(r) + 1))
        assert contiguous == (not any(d[0] == r for d in cc.cloud))


@given(st.sets(dots), st.sets(dots))
def test_context_join_is_union(x, y):
    a, b = CausalContext(cloud=x), CausalContext(cloud=y)
    a.join(b)
    a._check()
    assert set(a.dots()) == x | y
    assert CausalContext(cloud=x) <= a and b <= a


def test_next_dot_skips_past_cloud():
    cc = CausalContext({"a": 2}, cloud=[("a", 5)])
    assert cc.next_dot("a") == Dot("a", 6) and cc.next_dot("b") == Dot("b", 1)


def test_uncompacted_context_fails_check():
    cc = CausalContext()
    cc._cl["a"] = {1}
    with pytest.raises(InvariantError):
        cc._check()


def test_hlc_strictly_increasing_with_a_clock_going_backwards():
    readings = iter([100, 90, 90, 80, 200])
    clock = HLC("r", time_source=lambda: next(readings))
    stamps = [clock.now() for _ in range(5)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert stamps[-1] == Timestamp(200, 0, "r")


def test_hlc_observe_orders_later_events_after_remote_ones():
    clock = HLC("slow", time_source=lambda: 10)
    remote = Timestamp(10_000, 3, "fast")
    clock.observe(remote)
    assert clock.now() > remote
    # totally ordered with replica as the tie-break
    assert Timestamp(5, 0, "a") < Timestamp(5, 0, "b") < Timestamp(5, 1, "a")


_dots = st.tuples(st.sampled_from("abc"), st.integers(1, 40))


@given(st.lists(st.one_of(
    st.tuples(st.just("add"), _dots),
    st.tuples(st.just("join"), st.dictionaries(st.sampled_from("abc"), st.integers(0, 40), max_size=3),
              st.sets(_dots, max_size=12)),
), max_size=30))
def test_context_joins_and_adds_match_a_plain_set_of_dots(steps):
    """Incremental compaction of the cloud (kept by replica) agrees with the naive model (a set of dots)."""
    cc = CausalContext()
    model: set[tuple[str, int]] = set()
    for step in steps:
        if step[0] == "add":
            cc.add(step[1])
            model.add(step[1])
        else:
            other = CausalContext(step[1], step[2])
            cc.join(other)
            model |= {(r, i) for r, n in step[1].items() for i in range(1, n + 1)} | step[2]
        cc._check()
        assert set(cc.dots()) == model and cc.size() == len(model)
        assert cc.cloud == set(cc.cloud_dots()) and len(cc.cloud) == cc.cloud_size()
        for r in "abc":
            assert cc.max(r) == max((n for q, n in model if q == r), default=0)
            assert all(cc.contains((r, i)) == ((r, i) in model) for i in range(1, 45))


@given(st.dictionaries(st.sampled_from("abc"), st.integers(0, 30), max_size=3), st.sets(_dots, max_size=15),
       st.dictionaries(st.sampled_from("abc"), st.integers(0, 30), max_size=3), st.sets(_dots, max_size=15))
def test_joined_cloud_size_is_the_cloud_a_join_leaves(vv1, cloud1, vv2, cloud2):
    a, b = CausalContext(vv1, cloud1), CausalContext(vv2, cloud2)
    predicted = a.joined_cloud_size(b)
    a.join(b)
    assert predicted == a.cloud_size()
    a._check()


@given(st.dictionaries(st.sampled_from("abc"), st.integers(0, 30), max_size=3), st.sets(_dots, max_size=15),
       st.dictionaries(st.sampled_from("abc"), st.integers(0, 30), max_size=3), st.sets(_dots, max_size=15))
def test_context_inclusion_is_inclusion_of_dot_sets(vv1, cloud1, vv2, cloud2):
    a, b = CausalContext(vv1, cloud1), CausalContext(vv2, cloud2)
    assert (a <= b) == (set(a.dots()) <= set(b.dots()))


def _scattered(replicas, n):
    return {(r, 2 * i + 3) for r in replicas for i in range(n)}


@pytest.mark.parametrize("replicas", [["a"], [f"r{i}" for i in range(12)]])
def test_a_large_cloud_is_checked_replica_by_replica_and_a_bad_one_is_named(replicas):
    good = CausalContext({}, _scattered(replicas, 80))
    good._check()
    assert good.cloud_size() == len(good.cloud) == 80 * len(replicas)
    r = replicas[0]

    def with_(q, cs):
        cl = {p: set(t) for p, t in good._cl.items()}
        cl[q] = cl.get(q, set()) | cs if isinstance(cs, set) else cs
        return CausalContext._raw({}, cl)

    for cc, message in (
        (with_(r, {1}), "should have been compacted"),      # just above the entry: belongs in the version vector
        (with_(r, {0}), "bad cloud dot"),
        (with_(r, {True}), "bad cloud dot"),
        (with_(r, {2.5}), "bad cloud dot"),
        (with_("", {9}), "bad cloud of replica"),
        (with_(r, [9]), "bad cloud of replica"),
        (with_("z", set()), "bad cloud of replica"),
    ):
        with pytest.raises(InvariantError, match=message):
            cc._check()


def test_large_clouds_join_column_wise_like_a_set_of_dots():
    a = CausalContext({"a": 3}, _scattered("ab", 50))
    b = CausalContext({"b": 4, "c": 1}, _scattered("abc", 80) | {("a", 4), ("c", 3)})
    model = set(a.dots()) | set(b.dots())
    predicted = a.joined_cloud_size(b)
    a.join(b)
    a._check()
    assert set(a.dots()) == model and len(a.cloud) == predicted
    fresh = CausalContext()
    fresh.join(b)                                        # an empty cloud takes a large one whole
    fresh._check()
    assert set(fresh.dots()) == set(b.dots()) and fresh == b
    assert all(fresh._cl[r] is not b._cl[r] for r in b._cl)    # copied, never shared


def test_a_message_whose_context_no_replica_may_hold_is_refused_as_it_is_decoded(monkeypatch):
    from crdts import AWSet, decode, encode
    from crdts.errors import CloudTooLarge, DecodeError, LimitExceeded, PayloadTooLarge

    s = AWSet._delta(kernel.DotSetMap(), CausalContext({}, _scattered("q", 200)))
    data = encode(s)
    monkeypatch.setattr(CausalContext, "max_cloud", 199)
    with pytest.raises(CloudTooLarge, match="199") as info:
        decode(data)
    assert isinstance(info.value, PayloadTooLarge) and isinstance(info.value, DecodeError)
    assert isinstance(info.value, LimitExceeded)
    monkeypatch.setattr(CausalContext, "max_cloud", 200)
    assert decode(data) == s
