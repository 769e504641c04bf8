"""The kernel's joins against the textbook formula of the delta-CRDT paper, on random histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crdts import AWSet, CausalContext, DoubleSpentDot, InvariantError
from crdts.kernel import DotMap, DotSetMap, check_store, join, validate


def textbook_dotset_map_join(a: AWSet, b: AWSet) -> dict:
    """(s ∩ s') ∪ (s ∖ c') ∪ (s' ∖ c), per key, keys with empty results dropped."""
    s1, c1, s2, c2 = a._store, a._ctx, b._store, b._ctx
    out = {}
    for k in set(s1) | set(s2):
        x, y = set(s1.get(k, ())), set(s2.get(k, ()))
        r = (x & y) | {d for d in x if not c2.contains(d)} | {d for d in y if not c1.contains(d)}
        if r:
            out[k] = r
    return out


ops = st.lists(
    st.tuples(
        st.integers(0, 2),                                   # replica
        st.sampled_from(["add", "add", "remove", "clear", "merge_group", "merge_state"]),
        st.integers(0, 40),                                  # element
        st.lists(st.integers(0, 10_000), max_size=20),      # picks for delta groups
    ),
    max_size=120,
)


@settings(max_examples=60)
@given(ops)
def test_setmap_join_equals_textbook_formula(history):
    reps = [AWSet(f"r{i}") for i in range(3)]
    deltas = []
    for r, op, e, picks in history:
        x = reps[r]
        if op == "add":
            deltas.append(x.add(e))
        elif op == "remove":
            deltas.append(x.remove(e))
        elif op == "clear":
            deltas.append(x.clear())
        elif op == "merge_group" and deltas:
            g = AWSet()
            for p in picks:
                g.merge(deltas[p % len(deltas)])
            x.merge(g)
        elif op == "merge_state":
            x.merge(reps[e % 3])
        x._check()
    for a in reps:
        for b in [*reps, AWSet()]:
            expected = textbook_dotset_map_join(a, b)
            got = a.copy()
            got.merge(b)
            got._check()
            assert {k: set(v) for k, v in got._store.items()} == expected


def test_join_reports_added_and_removed_dots():
    s1 = DotMap.of({"x": {("a", 1)}, "y": {("a", 2)}})
    c1 = CausalContext({"a": 2})
    s2 = DotMap.of({"z": {("b", 1)}})
    c2 = CausalContext({"a": 1, "b": 1})            # saw ('a', 1) and dropped it
    added, removed = join(s1, c1, s2, c2)
    assert added == [("b", 1)] and removed == [("a", 1)]
    assert dict(s1) == {"y": {("a", 2)}, "z": {("b", 1)}}
    c1.join(c2)
    assert check_store(s1, c1) == 2


def test_double_spent_dot_is_refused_and_changes_nothing():
    a = AWSet("a")
    a.add("x")
    forged = AWSet()
    forged._store = DotSetMap.of({"y": frozenset({("a", 1)})})   # the same dot, another element
    forged._ctx = CausalContext({"a": 1})
    before = a.copy()
    try:
        a.merge(forged)
    except DoubleSpentDot as exc:
        assert exc.dot == ("a", 1)
    else:  # pragma: no cover
        raise AssertionError("merge of a double-spent dot must be refused")
    assert a == before and a.value == frozenset({"x"})


def test_validate_refuses_mixed_store_kinds():
    try:
        validate(DotMap.of({"k": {("a", 1)}}), DotMap.of({"k": {("a", 2): 1}}))
    except InvariantError as exc:
        assert "DotSet" in str(exc) and "DotFun" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("mixed kinds must be refused")
