"""The post-decode ``_check()`` leaves out only what the store decoder established as it read.

The version-2 AWSet store decoder builds its store with every invariant of ``kernel.check_store`` checked or
true by construction (and, for scalar elements, the element check of ``AWSet._check_payload``), so ``decode``
does not run those parts again. Everything else still runs: the context check always, the store check for
every other store (version 1, nested stores, the other types), the element check whenever an element had to
be converted. The fuzz tests (tests/codec/test_fuzz.py) check that what ``decode`` accepts passes the full
``_check()`` even with that pass switched off entirely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crdts import AWSet, CausalContext, DecodeError, ORMap, RWSet, decode, encode, kernel
from crdts.codec import _wire
from crdts.codec import sets as codec_sets
from crdts.errors import InvariantError
from crdts.sets import _CANONICAL_AS_IS


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts of the store, payload and context checks run during the test."""
    seen = {"store": 0, "payload": 0, "ctx": 0}
    store, payload, ctx = kernel.check_store, AWSet._check_payload, CausalContext._check

    def count_store(*a: Any, **k: Any) -> int:
        seen["store"] += 1
        return store(*a, **k)

    def count_payload(self: AWSet[Any]) -> None:
        seen["payload"] += 1
        payload(self)

    def count_ctx(self: CausalContext) -> None:
        seen["ctx"] += 1
        ctx(self)

    monkeypatch.setattr(kernel, "check_store", count_store)
    monkeypatch.setattr(AWSet, "_check_payload", count_payload)
    monkeypatch.setattr(CausalContext, "_check", count_ctx)
    yield seen


def _awset(*elems: Any) -> AWSet[Any]:
    a, b = AWSet("a"), AWSet("b")
    for i, e in enumerate(elems):
        (a if i % 2 else b).add(e)
    a.merge(b)
    a.remove(elems[0])
    return a


def test_the_scalar_types_the_decoder_passes_are_canonical_as_they_are() -> None:
    assert _wire._SCALAR_INT_ELEMS <= _CANONICAL_AS_IS
    assert codec_sets._AS_IS_CANONICAL


def test_version_2_awset_skips_the_store_and_element_checks_only(calls: dict[str, int]) -> None:
    s = _awset("x", "y", 3, b"z", None)
    assert decode(encode(s)) == s
    assert calls == {"store": 0, "payload": 0, "ctx": 1}


def test_converted_elements_are_still_checked(calls: dict[str, int]) -> None:
    s = _awset("x", (1, "t"), 2.5)
    assert decode(encode(s)) == s
    assert calls["store"] == 0 and calls["payload"] == 1 and calls["ctx"] == 1


def test_version_1_awset_runs_every_check(calls: dict[str, int]) -> None:
    s = _awset("x", "y", "z")
    assert decode(encode(s, version=1)) == s
    assert calls == {"store": 1, "payload": 1, "ctx": 1}


def test_other_causal_types_and_nested_sets_run_every_check(calls: dict[str, int]) -> None:
    m: ORMap[str] = ORMap("a")
    m.update("k", AWSet, lambda s: s.add("x"))
    assert decode(encode(m)) == m
    assert calls["store"] >= 1 and calls["ctx"] == 1  # check_store recurses into the nested set's store
    before = calls["store"]
    r: RWSet[str] = RWSet("a")
    r.add("x")
    assert decode(encode(r)) == r
    assert calls["store"] > before and calls["ctx"] == 2


def test_a_subclass_with_its_own_check_gets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = []

    def own_check(self: AWSet[Any]) -> None:
        ran.append(self)

    monkeypatch.setattr(AWSet, "_check", own_check)
    s = _awset("x", "y")
    assert decode(encode(s)) == s
    assert len(ran) == 1


def test_a_broken_context_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: CausalContext) -> None:
        raise InvariantError("broken context")

    monkeypatch.setattr(CausalContext, "_check", broken)
    with pytest.raises(DecodeError, match="broken context"):
        decode(encode(_awset("x", "y")))


def test_lwwmap_is_built_with_every_invariant_of_its_check_unless_a_key_was_converted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from crdts import LWWMap
    from crdts.codec import maps as codec_maps
    from crdts.maps import _CANONICAL_KEYS

    assert _wire._SCALAR_INT_ELEMS <= _CANONICAL_KEYS and codec_maps._KEYS_AS_IS_CANONICAL
    ran: list[LWWMap[Any, Any]] = []
    check = LWWMap._check

    def counted(self: LWWMap[Any, Any]) -> None:
        ran.append(self)
        check(self)

    monkeypatch.setattr(LWWMap, "_check", counted)
    a: LWWMap[Any, Any] = LWWMap("a")
    b: LWWMap[Any, Any] = LWWMap("b")
    for i in range(20):
        (a if i % 2 else b).set(f"k{i % 7}" if i % 3 else i, i)
    a.remove("k1")
    a.merge(b)
    for version in (1, 2):
        assert decode(encode(a, version=version)) == a
    assert ran == []                                   # scalar keys: established by the decoder
    a.set((1, "t"), "converted")                       # a tuple key is converted by the decoder: checked
    assert decode(encode(a)) == a and len(ran) == 1
