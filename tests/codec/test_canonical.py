"""Canonical bytes: equal states encode identically, whatever the merge order, insertion order or encoder."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdts import HLC, AWSet, CausalContext, GSet, Limits, LWWMap, LWWRegister, TwoPSet, decode, encode
from crdts.codec import sort_elements

from . import gen


def _fresh(cls: type) -> Any:
    return gen.make(cls, "fresh").copy(replica=None)


@pytest.mark.parametrize("cls", gen.CRDT_TYPES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_merge_order_does_not_change_bytes(cls: type, data: st.DataObject) -> None:
    reps, deltas = data.draw(gen.histories(cls))
    parts = reps + deltas
    order1 = data.draw(st.permutations(parts))
    order2 = data.draw(st.permutations(parts))
    a, b = _fresh(cls), _fresh(cls)
    for p in order1:
        a.merge(p)
    for p in order2:
        b.merge(p)
    assert a == b
    assert encode(a) == encode(b)
    # whichever replica holds the state, and however it was copied
    assert encode(a.copy(replica="other")) == encode(a)


@given(st.lists(gen.elements, max_size=12), st.randoms(use_true_random=False))
def test_insertion_order_does_not_change_bytes(elems: list[Any], rnd: Any) -> None:
    shuffled = list(elems)
    rnd.shuffle(shuffled)
    for cls in (GSet, TwoPSet):
        a, b = cls("a"), cls("b")
        for e in elems:
            a.add(e)
        for e in shuffled:
            b.add(e)
        assert encode(a) == encode(b)


@given(st.lists(gen.elements, min_size=1, max_size=12, unique_by=lambda e: encode_elem(e)))
def test_elements_are_sorted_by_their_encoded_bytes(elems: list[Any]) -> None:
    from crdts._base import element

    canon = list({element(e): None for e in elems})
    keyed = sorted(canon, key=encode_elem)
    assert [encode_elem(e) for e in sort_elements(canon)] == [encode_elem(e) for e in keyed]


def encode_elem(e: Any) -> bytes:
    from crdts._base import element

    return cbor2.dumps(element(e), canonical=True)


def test_string_order_is_length_first_like_the_encoded_bytes() -> None:
    assert sort_elements(["b", "aa", "é", "z", "ab"]) == ["b", "z", "aa", "ab", "é"]
    assert sort_elements([3, -1, 0, 300, -300, 24]) == [0, 3, 24, 300, -1, -300]


def test_dict_order_inside_register_values_does_not_matter() -> None:
    def reg(v: Any) -> LWWRegister:
        r = LWWRegister("a")
        r._ts, r._value = (1, 0, "a"), v
        return r

    assert encode(reg({"a": 1, "bb": 2, "c": {"y": 1, "x": 2}})) == encode(reg({"c": {"x": 2, "y": 1}, "bb": 2,
                                                                               "a": 1}))


def test_lwwmap_slot_order_does_not_matter() -> None:
    a = LWWMap("a")
    for k in ("x", "y", "z", 1, (2,)):
        a.set(k, k)
    b = LWWMap._of(dict(reversed(list(a._entries.items()))))  # the same entries, in the other slot order
    assert list(b._pos) != list(a._pos) and b == a
    assert encode(a) == encode(b) and encode(a, version=1) == encode(b, version=1)


def test_lwwmap_writers_interleaved_in_slots() -> None:
    # slots of two writers interleaved (deltas merged one by one): the groups are still one per writer
    t = iter(range(1, 100))
    a = LWWMap("a", clock=HLC("a", time_source=lambda: next(t)))
    b = LWWMap("b", clock=HLC("b", time_source=lambda: next(t)))
    for i in range(6):
        a.merge((a if i % 2 else b).set(f"k{i}", i))
    a.merge(b.set("k0", "again"))   # the key's old slot dies; its new one is last
    assert a._rix is not None and list(a._rix) != sorted(a._rix)
    c = LWWMap._of(a._entries)
    assert encode(a) == encode(c) and decode(encode(a)) == a
    assert decode(encode(a), limits=Limits(require_canonical=True)) == a


def test_lwwmap_equal_timestamps_are_ordered_by_key_bytes() -> None:
    # Two keys under one timestamp happen only with a reused replica id; the order must still be fixed.
    ts = (10, 0, "r")
    a = LWWMap._of({k: (ts, True, k) for k in ("bb", "a", 3)})
    b = LWWMap._of({k: (ts, True, k) for k in (3, "a", "bb")})
    assert encode(a) == encode(b)
    assert decode(encode(a), limits=Limits(require_canonical=True)) == a
    ts1 = (10, 1, "r")  # the same with a logical counter
    a = LWWMap._of({k: (ts1, True, k) for k in ("bb", "a", 3)})
    b = LWWMap._of({k: (ts1, True, k) for k in (3, "a", "bb")})
    assert encode(a) == encode(b) and encode(a, version=1) == encode(b, version=1)
    assert decode(encode(a), limits=Limits(require_canonical=True)) == a


def test_a_context_that_is_not_compact_encodes_like_its_compact_form() -> None:
    loose = CausalContext()
    loose._cl = {"a": {1, 2}, "b": {5}}
    compact = CausalContext({"a": 2}, [("b", 5)])
    assert encode(loose) == encode(compact)
    s1 = AWSet._delta(AWSet()._store, loose)
    s2 = AWSet._delta(AWSet()._store, compact)
    assert encode(s1) == encode(s2)


def test_awset_dict_insertion_order_does_not_matter() -> None:
    a, b = AWSet("a"), AWSet("b")
    for e in ("x", "y", "z"):
        a.add(e)
    for e in ("q", "r"):
        b.add(e)
    c1 = a.copy(replica=None)
    c1.merge(b)
    c2 = b.copy(replica=None)
    c2.merge(a)
    assert list(c1._store.by) != list(c2._store.by)  # the replicas' dicts were built in other orders
    assert encode(c1) == encode(c2)
    assert encode(c1, version=1) == encode(c2, version=1)


def test_int_values_beyond_int64_and_out_of_range() -> None:
    # the encoder checks int values in one C-level pass when they fit an int64, else by max/min
    from crdts.errors import EncodeError

    m = LWWMap("a")
    for i, v in enumerate((2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**100, 2**1024 - 1, -(2**1024))):
        m.set(f"k{i}", v)
    assert decode(encode(m)) == m and decode(encode(m, version=1)) == m
    m.set("big", 2**1024)
    with pytest.raises(EncodeError):
        encode(m)
    s = AWSet("a")
    for e in ("x", b"y", 3, 2**70, None):
        s.add(e)
    assert decode(encode(s)) == s and decode(encode(s, version=1)) == s
