"""Round trip for every type: decode(encode(x)) is an equal object of the same class, exact in its types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crdts import (
    AWSet,
    CausalContext,
    GSet,
    Limits,
    LWWMap,
    LWWRegister,
    MVRegister,
    ORMap,
    PNCounter,
    Timestamp,
    VersionVector,
    decode,
    encode,
)
from crdts._base import CRDT

from . import gen


def exact(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1, 1.0 and True differ; so do [1] and (1,))."""
    if type(a) is not type(b):
        return False
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(map(exact, a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(exact(a[k], b[k]) for k in a)
    if type(a) is float:
        return a == b and str(a) == str(b)  # -0.0 keeps its sign
    return a == b


@pytest.mark.parametrize("cls", gen.ALL_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_round_trip(cls: type, data: st.DataObject) -> None:
    x = data.draw(gen.objects(cls))
    raw = encode(x)
    assert isinstance(raw, bytes)
    back = decode(raw, limits=Limits(require_canonical=True))
    assert type(back) is type(x)
    assert back == x
    assert encode(back) == raw
    if isinstance(x, CRDT):
        assert back.replica is None
        bound = decode(raw, replica="zz")
        assert bound == x and bound.replica == "zz"
        # a bound decoded object can mutate, and the original is untouched
        before = encode(x)
        gen.op(data.draw, cls)(bound)
        bound._check()
        assert encode(x) == before


@pytest.mark.parametrize("v", [
    1, 1.0, True, False, 0, -0.0, 0.0, float("inf"), -1.5, 2**64 - 1, -(2**64), 2**64, -(2**64) - 1, 2**1023,
    "", "é", b"", b"\x00", None, (), (1,), [1], [(1,)], ([1],), {"a": (1, [2, {"b": ()}])}, {"": None},
    [[[[]]]], ((((),),),),
], ids=repr)
def test_register_values_keep_their_types(v: Any) -> None:
    r = LWWRegister("a")
    r.assign(v)
    back = decode(encode(r))
    assert exact(back._value, r._value)
    m = MVRegister("a")
    m.assign(v)
    assert exact(decode(encode(m)).values, m.values)
    lm = LWWMap("a")
    lm.set("k", v)
    assert exact(decode(encode(lm)).get("k"), v)


def test_one_true_and_one_point_zero_are_one_element_but_three_values() -> None:
    s = GSet("a")
    for e in (1, 1.0, True):
        s.add(e)
    assert decode(encode(s)).value == {1}
    assert len({encode(_reg(v)) for v in (1, 1.0, True)}) == 3


def _reg(v: Any) -> LWWRegister:
    r = LWWRegister("a", clock=None)
    r._ts, r._value = (5, 0, "a"), v
    return r


def test_integral_floats_and_huge_ints_as_elements() -> None:
    s = GSet("a")
    for e in (1e300, -1e300, 2.0**64, float("inf"), float("-inf"), 0.5, (1e20, -0.0)):
        s.add(e)
    back = decode(encode(s))
    assert back == s
    assert int(1e300) in back.value and (int(1e20), 0) in back.value


def test_deeply_nested_values_and_maps_fit_the_default_depth() -> None:
    v: Any = "leaf"
    for i in range(64):
        v = [v] if i % 3 else ((v,) if i % 2 else {"k": v})
    m = ORMap("a")
    m.update("k", ORMap, lambda inner: inner.update("j", ORMap, lambda i2: i2.update(
        "r", MVRegister, lambda r: r.assign(v))))
    assert decode(encode(m)) == m
    r = LWWRegister("a")
    r.assign(v)
    assert exact(decode(encode(r))._value, r._value)


def test_unbound_and_bound_lww_types_get_a_clock_when_bound() -> None:
    r = LWWRegister("a")
    r.assign("x")
    back = decode(encode(r), replica="b")
    d = back.assign("y")                       # its clock observed the decoded timestamp
    assert d.timestamp > r.timestamp
    m = LWWMap("a")
    m.set("k", 1)
    m2 = decode(encode(m), replica="b")
    m2.set("k", 2)
    m.merge(m2)
    assert m.get("k") == 2


def test_causality_values() -> None:
    for x in (VersionVector(), VersionVector({"a": 2**64 - 1}), CausalContext(),
              CausalContext({"a": 1}, [("a", 3), ("b", 9)]), Timestamp(0, 0, "r")):
        back = decode(encode(x))
        assert type(back) is type(x) and back == x
    assert decode(encode(VersionVector({"a": 1})), replica="zz") == VersionVector({"a": 1})


def test_counters_nest_in_maps_as_causal_counters() -> None:
    m = ORMap("a")
    m.update("n", PNCounter, lambda c: c.increment(2**63))
    m.update("n", PNCounter, lambda c: c.decrement(5))
    assert decode(encode(m)).value == {"n": 2**63 - 5}


@settings(max_examples=20)
@given(st.lists(st.text(max_size=4), min_size=1, max_size=40, unique=True), st.data())
def test_awset_with_removals_and_several_replicas(elems: list[str], data: st.DataObject) -> None:
    reps = [AWSet(r) for r in gen.REPLICAS[:3]]
    for i, e in enumerate(elems):
        reps[i % 3].add(e)
    for e in data.draw(st.lists(st.sampled_from(elems), max_size=10)):
        reps[0].merge(reps[1])
        reps[0].remove(e)
    for r in reps[1:]:
        r.merge(reps[0])
        reps[0].merge(r)
    x = reps[0]
    assert decode(encode(x), limits=Limits(require_canonical=True)) == x


@settings(max_examples=20)
@given(st.integers(2, 24), st.lists(st.tuples(st.integers(0, 23), st.integers(0, 30), st.booleans()), max_size=120))
@example(24, [(w, w % 7, w % 5 != 0) for w in range(24)] * 2)
def test_lwwmap_of_many_writers_with_dead_and_interleaved_slots(nwriters: int,
                                                               writes: list[tuple[int, int, bool]]) -> None:
    # Up to 24 writers (past the one-byte fast path of the writer spans), each writing into a map of its own
    # and merged into one map in turns: keys overwritten leave dead slots, and writers' slots interleave.
    from itertools import count

    from crdts import HLC

    t = count(1)
    names = [f"w{i:02d}" for i in range(nwriters)]
    ws = [LWWMap(n, clock=HLC(n, time_source=t.__next__)) for n in names]
    x = LWWMap("x", clock=HLC("x", time_source=t.__next__))
    for w, k, present in [(w, w, True) for w in range(nwriters)] + writes:  # every writer writes
        m = ws[w % nwriters]
        m.merge(x)
        if present:
            m.set(f"k{k}", w)
        else:
            m.remove(f"k{k}")
        x.merge(m)
    back = decode(encode(x), limits=Limits(require_canonical=True))
    assert back == x and exact(back.value, x.value)
    assert encode(back) == encode(x) == encode(LWWMap._of(x._entries))  # one canonical form whatever the slots


def test_register_refuses_taken_codes_and_classes() -> None:
    from crdts import codec

    class Point:
        pass

    def enc(x):
        return [], []

    def dec(d, b):
        return Point()

    with pytest.raises(ValueError, match="reserved for crdts"):
        codec.register_type(Point, 7, encode=enc, decode=dec, arity=0)
    with pytest.raises(ValueError, match="already registered"):
        codec.register_type(Point, 7, encode=enc, decode=dec, arity=0, _builtin=True)
    with pytest.raises(ValueError, match="already registered"):
        codec.register_type(AWSet, 4000, encode=enc, decode=dec, arity=0)
    with pytest.raises(ValueError):
        codec.register_type(Point, -1, encode=enc, decode=dec, arity=0)
    with pytest.raises(ValueError):
        codec.register_type(Point, 1 << 16, encode=enc, decode=dec, arity=0)
    assert Point not in codec.TYPE_CODES
