"""Regression tests for core bugs the law suite found, one minimal test each, named for the bug.

- resolve() with nothing to resolve wrote a None sibling (found by the ConflictRegister[highest] model
  law; fixed in 90c4193).
"""

from __future__ import annotations

from crdts import HLC, ConflictMap, ConflictRegister


def _clock(replica: str, wall: int) -> HLC:
    return HLC(replica, time_source=lambda: wall)


def test_conflict_register_resolve_with_nothing_to_resolve_hides_a_concurrent_assign() -> None:
    a = ConflictRegister("a", clock=_clock("a", 1))
    b = ConflictRegister("b", clock=_clock("b", 2))
    d1 = a.assign("x")
    d2 = b.resolve()  # b has seen no write: there is nothing to resolve
    a.merge(d2)
    b.merge(d1)
    assert a.siblings == b.siblings
    assert a.value == b.value == "x"  # the core writes a None sibling, which wins by timestamp


def test_conflict_register_highest_policy_value_raises_after_resolve_with_nothing_to_resolve() -> None:
    a = ConflictRegister("a", clock=_clock("a", 1), policy="highest")
    b = ConflictRegister("b", clock=_clock("b", 2), policy="highest")
    d1 = a.assign(3)
    d2 = b.resolve()  # nothing to resolve, yet it writes None ...
    a.merge(d2)
    b.merge(d1)
    assert a.value == b.value == 3  # ... and the policy's max(None, 3) raises TypeError


def test_conflict_map_resolve_of_an_absent_key_creates_the_key() -> None:
    m = ConflictMap("a", clock=_clock("a", 1))
    m.resolve("k")  # no sibling of "k" to resolve
    assert "k" not in m and m.value == {}
