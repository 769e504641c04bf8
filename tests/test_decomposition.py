"""Join decomposition laws for every type: ⊔⇓x = x, irredundant, irreducible; x ⊔ Δ(a, x) = x ⊔ a."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdts import (
    HLC,
    AWSet,
    CCounter,
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
    TwoPSet,
)

E = st.integers(0, 5)


def _counter_clock(r):
    t = iter(range(1, 10**9))
    return HLC(r, time_source=lambda: next(t) // 3)


OPS = {
    GCounter: st.sampled_from([lambda x, e: x.increment(e)]),
    PNCounter: st.sampled_from([lambda x, e: x.increment(e), lambda x, e: x.decrement(e)]),
    CCounter: st.sampled_from([lambda x, e: x.increment(e), lambda x, e: x.decrement(e)]),
    GSet: st.sampled_from([lambda x, e: x.add(e)]),
    TwoPSet: st.sampled_from([lambda x, e: x.add(e), lambda x, e: x.remove(e)]),
    AWSet: st.sampled_from([lambda x, e: x.add(e), lambda x, e: x.remove(e), lambda x, e: x.clear()]),
    RWSet: st.sampled_from([lambda x, e: x.add(e), lambda x, e: x.remove(e)]),
    EWFlag: st.sampled_from([lambda x, e: x.enable(), lambda x, e: x.disable()]),
    DWFlag: st.sampled_from([lambda x, e: x.enable(), lambda x, e: x.disable()]),
    MVRegister: st.sampled_from([lambda x, e: x.assign(e)]),
    LWWRegister: st.sampled_from([lambda x, e: x.assign(e)]),
    LWWMap: st.sampled_from([lambda x, e: x.set(e % 3, e), lambda x, e: x.remove(e % 3)]),
    ORMap: st.sampled_from([
        lambda x, e: x.update(e % 3, AWSet, lambda s: s.add(e)),
        lambda x, e: x.update(e % 3, AWSet, lambda s: s.remove(e)),
        lambda x, e: x.update("n", PNCounter, lambda c: c.increment(e)),
        lambda x, e: x.remove(e % 3),
    ]),
}


def make(cls, r):
    return cls(r, clock=_counter_clock(r)) if cls in (LWWRegister, LWWMap) else cls(r)


def history(cls):
    step = st.tuples(st.integers(0, 2), OPS[cls], E, st.booleans(), st.integers(0, 2))
    return st.lists(step, max_size=25)


def run(cls, hist):
    reps = [make(cls, f"r{i}") for i in range(3)]
    for r, op, e, sync, other in hist:
        op(reps[r], e)
        if sync:
            reps[r].merge(reps[other])
    return reps


def join_all(cls, parts):
    x = cls()
    for p in parts:
        x.merge(p)
    return x


@pytest.mark.parametrize("cls", list(OPS), ids=lambda c: c.__name__)
def test_decomposition_laws(cls):
    @settings(max_examples=40, deadline=None)
    @given(history(cls))
    def check(hist):
        reps = run(cls, hist)
        a, b = reps[0], reps[1]
        parts = a.decompose()
        assert join_all(cls, parts) == a.copy(replica=None)          # ⊔⇓a = a
        assert len(parts) == a.units()
        for i in range(len(parts)):                                    # irredundant
            rest = join_all(cls, parts[:i] + parts[i + 1:])
            assert rest != join_all(cls, parts)
        # optimal delta: b ⊔ Δ(a, b) = b ⊔ a, and Δ keeps exactly the irreducibles of a not below b
        d = a.delta_for(b)
        left, right = b.copy(), b.copy()
        left.merge(d)
        right.merge(a)
        assert left == right
        below_b = 0
        for p in parts:
            t = b.copy()
            t.merge(p)
            below_b += t == b
        assert d.units() == len(parts) - below_b
        assert a.delta_for(a).is_bottom()

    check()
