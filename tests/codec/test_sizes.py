"""Size targets of the wire format: a one-op AWSet delta fits 64 bytes; a 20k-element AWSet costs at most 1.4x the
plain CBOR of its elements plus its version vector."""

from __future__ import annotations

import cbor2

from crdts import (
    AWSet,
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
    encode,
)


def test_one_op_deltas_are_small() -> None:
    assert len(encode(AWSet("eu-west-1").add("apple"))) <= 64
    s = AWSet("eu-west-1")
    for i in range(1000):
        s.add(f"item-{i}")
    assert len(encode(s.add("item-5"))) <= 64           # re-add: the delta also carries the replaced dot
    assert len(encode(s.remove("item-7"))) <= 64
    for delta in (GCounter("eu-west-1").increment(5), PNCounter("eu-west-1").decrement(5),
                  GSet("eu-west-1").add("apple"), RWSet("eu-west-1").add("apple"),
                  MVRegister("eu-west-1").assign("apple"), EWFlag("eu-west-1").enable(),
                  DWFlag("eu-west-1").enable(), LWWRegister("eu-west-1").assign("apple"),
                  LWWMap("eu-west-1").set("fruit", "apple"),
                  ORMap("eu-west-1").update("fruit", AWSet, lambda x: x.add("apple"))):
        assert len(encode(delta)) <= 64, type(delta).__name__


def _ratio(s: AWSet) -> float:
    plain = len(cbor2.dumps(sorted(s.value))) + len(cbor2.dumps(s._ctx.vv))
    return len(encode(s)) / plain


def test_20k_awset_is_at_most_1_4x_plain_cbor() -> None:
    s = AWSet("eu-west-1")
    for i in range(20_000):
        s.add(f"item-{i:05d}")
    assert _ratio(s) <= 1.4


def test_20k_awset_with_removals_and_three_writers_is_at_most_1_4x_plain_cbor() -> None:
    reps = [AWSet(r) for r in ("eu-west-1", "us-east-1", "ap-south-1")]
    for i in range(20_000):
        reps[i % 3].add(f"k{i}")
    for r in reps[1:]:
        reps[0].merge(r)
    for i in range(0, 20_000, 7):
        reps[0].remove(f"k{i}")
    assert _ratio(reps[0]) <= 1.4
