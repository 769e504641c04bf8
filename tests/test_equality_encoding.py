"""Equality agrees with the canonical encoding: two objects that are equal (``==``) encode to identical
bytes, and a merge takes two payloads under one dot or timestamp for one only if they encode alike.

Register values are compared as the wire format carries them: by type all the way down and floats by
value and sign of zero, so ``0.0``/``-0.0``, ``1``/``True``/``1.0`` and ``[1]``/``[True]`` differ even
though Python's ``==`` takes each pair for one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from laws.registry import SPECS  # tests/ is on sys.path (rootdir-relative imports)

from crdts import (
    HLC,
    ConflictingWrite,
    ConflictMap,
    ConflictRegister,
    CRDTError,
    DoubleSpentDot,
    LWWMap,
    LWWRegister,
    MVRegister,
    ORMap,
    decode,
    encode,
    kernel,
)
from crdts.kernel import same
from crdts.ops import OpLWWRegister, OpMVRegister
from crdts.ops.operations import Assign
from crdts.testing import Op, TypeSpec, plans, register_values, run_plan

# -- kernel.same ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    (0.0, -0.0),
    (-0.0, 0.0),
    ([0.0], [-0.0]),
    ({"a": -0.0}, {"a": 0.0}),
    ((1,), (True,)),
    ([1], [True]),
    (1, 1.0),
    (True, 1.0),
    ({"p": [0.0, "x"]}, {"p": [-0.0, "x"]}),
    ((("t", 0.0),), (("t", -0.0),)),
], ids=repr)
def test_same_is_strict_about_types_and_the_sign_of_zero(a: Any, b: Any) -> None:
    assert a == b  # what plain equality cannot see
    assert not same(a, b)
    assert not same(b, a)


@pytest.mark.parametrize(("a", "b"), [
    (1.5, 1.5),
    (float("inf"), float("inf")),
    (float("-inf"), float("-inf")),
    (0.0, 0.0),
    (-0.0, float("-0.0")),
    ([1, 2.5, "x"], [1, 2.5, "x"]),
    ({"p": -0.0, "q": (1, None)}, {"q": (1, None), "p": -0.0}),
], ids=repr)
def test_same_holds_for_equal_values_of_one_type(a: Any, b: Any) -> None:
    assert same(a, b)
    assert same(b, a)


def test_same_store_checks_dotfun_values_through_dotmaps() -> None:
    a, b = ORMap("a"), ORMap("a")
    a.update("k", MVRegister, lambda r: r.assign(0.0))
    b.update("k", MVRegister, lambda r: r.assign(-0.0))
    assert a._store == b._store  # what plain equality cannot see
    assert not kernel.same_store(a._store, b._store)
    assert kernel.same_store(a._store, decode(encode(a))._store)


# -- the types --------------------------------------------------------------------------------------


def _clock(replica: str) -> HLC:
    return HLC(replica, time_source=lambda: 7)


def _lwwregister(v: Any) -> Any:
    x = LWWRegister("a", clock=_clock("a"))
    return x, x.assign(v)


def _mvregister(v: Any) -> Any:
    x = MVRegister("a")
    return x, x.assign(v)


def _lwwmap(v: Any) -> Any:
    x = LWWMap("a", clock=_clock("a"))
    x.set("other", "v")
    return x, x.set("k", v)


def _conflict_register(v: Any) -> Any:
    x = ConflictRegister("a", clock=_clock("a"))
    return x, x.assign(v, actor="alice")


def _conflict_map(v: Any) -> Any:
    x = ConflictMap("a", clock=_clock("a"))
    x.set("other", "v")
    return x, x.set("k", v)


def _ormap_mvregister(v: Any) -> Any:
    x = ORMap("a")
    x.update("other", MVRegister, lambda r: r.assign("v"))
    return x, x.update("k", MVRegister, lambda r: r.assign(v))


def _ormap_ormap_mvregister(v: Any) -> Any:
    x = ORMap("a")
    return x, x.update("outer", ORMap, lambda m: m.update("k", MVRegister, lambda r: r.assign(v)))


#: name -> (build(value) -> (state, the delta of the write of value), the error a clash raises)
BUILDERS: dict[str, tuple[Callable[[Any], Any], type[CRDTError]]] = {
    "LWWRegister": (_lwwregister, ConflictingWrite),
    "MVRegister": (_mvregister, DoubleSpentDot),
    "LWWMap": (_lwwmap, ConflictingWrite),
    "ConflictRegister": (_conflict_register, DoubleSpentDot),
    "ConflictMap": (_conflict_map, DoubleSpentDot),
    "ORMap[MVRegister]": (_ormap_mvregister, DoubleSpentDot),
    "ORMap[ORMap[MVRegister]]": (_ormap_ormap_mvregister, DoubleSpentDot),
}

#: Pairs of register values that ``==`` takes for one but the wire format does not.
TWINS: list[tuple[Any, Any]] = [
    (0.0, -0.0),
    (1, True),
    (1, 1.0),
    (True, 1.0),
    ([1], [True]),
    ([0.0], [-0.0]),
    ({"p": -0.0}, {"p": 0.0}),
    (("t", 1), ("t", 1.0)),
]


@pytest.mark.parametrize("pair", TWINS, ids=repr)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_states_differing_only_in_type_or_sign_of_zero_are_unequal(name: str, pair: tuple[Any, Any]) -> None:
    build, _ = BUILDERS[name]
    (a, da), (b, db) = build(pair[0]), build(pair[1])
    assert a != b and b != a and (a == b) is False
    assert encode(a) != encode(b)
    assert da != db and encode(da) != encode(db)
    assert decode(encode(a)) != b and decode(encode(b)) != a


@pytest.mark.parametrize("v", [0.0, -0.0, 1, True, 1.0, [1], [True], {"p": -0.0}, ("t", -0.0), 2.5, "x", None],
                         ids=repr)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_states_built_alike_are_equal_and_encode_alike(name: str, v: Any) -> None:
    build, _ = BUILDERS[name]
    (a, da), (b, db) = build(v), build(v)
    assert a == b and da == db
    assert encode(a) == encode(b) and encode(da) == encode(db)
    back = decode(encode(a))
    assert back == a and encode(back) == encode(a)


@pytest.mark.parametrize("pair", [(0.0, -0.0), (-0.0, 0.0), ([0.0], [-0.0]), ({"p": 0.0}, {"p": -0.0})], ids=repr)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_one_dot_or_timestamp_with_payloads_differing_in_the_sign_of_zero_is_a_clash(
        name: str, pair: tuple[Any, Any]) -> None:
    build, error = BUILDERS[name]
    (a, _), (b, db) = build(pair[0]), build(pair[1])
    for incoming in (b, db, decode(encode(b))):
        before = a.copy()
        wire = encode(a)
        with pytest.raises(error):
            a.merge(incoming)
        assert a == before and encode(a) == wire  # a refused merge changes nothing


# -- the op-based forms -----------------------------------------------------------------------------


def _op_lww(v: Any) -> OpLWWRegister:
    x = OpLWWRegister("a", members=["a"], clock=_clock("a"))
    x.assign(v)
    return x


def _op_mv(v: Any) -> OpMVRegister:
    x = OpMVRegister("a", members=["a"])
    x.assign(v)
    return x


@pytest.mark.parametrize("pair", TWINS, ids=repr)
@pytest.mark.parametrize("build", [_op_lww, _op_mv], ids=["OpLWWRegister", "OpMVRegister"])
def test_op_based_registers_compare_values_as_the_bytes_do(build: Callable[[Any], Any],
                                                           pair: tuple[Any, Any]) -> None:
    a, b = build(pair[0]), build(pair[1])
    assert a != b
    assert encode(a.to_state()) != encode(b.to_state())
    assert build(pair[0]) == a and encode(build(pair[0]).to_state()) == encode(a.to_state())


@pytest.mark.parametrize("pair", TWINS, ids=repr)
def test_assign_operations_compare_values_as_the_bytes_do(pair: tuple[Any, Any]) -> None:
    assert Assign(pair[0]) != Assign(pair[1]) and Assign(pair[0]) == Assign(pair[0])
    m0 = OpLWWRegister("b", members=["b"], clock=_clock("b")).assign(pair[0])
    m1 = OpLWWRegister("b", members=["b"], clock=_clock("b")).assign(pair[1])
    assert m0 != m1 and encode(m0) != encode(m1)
    assert decode(encode(m0)) == m0 and decode(encode(m1)) == m1


def test_assign_operations_stay_hashable_consistently_with_equality() -> None:
    assert hash(Assign(0.0)) == hash(Assign(-0.0)) and hash(Assign(1)) == hash(Assign(True))
    assert len({Assign(0.0), Assign(-0.0), Assign(0.0)}) == 2


# -- the property, over the law registry ------------------------------------------------------------


def _twin_value(v: Any) -> Any:
    """A register value that ``==`` takes for ``v`` but that differs from it in a type or a sign of zero
    wherever ``v`` holds a number (``v`` itself where it holds none)."""
    t = type(v)
    if t is bool:
        return int(v)
    if t is int:
        return float(v)
    if t is float:
        return -v if v == 0 else (int(v) if v.is_integer() else v)
    if t is list:
        return [_twin_value(x) for x in v]
    if t is tuple:
        return tuple(_twin_value(x) for x in v)
    if t is dict:
        return {k: _twin_value(x) for k, x in v.items()}
    return v


def _twin(op: Op) -> Op:
    """The same operation with its register value (if any) replaced by its twin: ``assign(v, ...)``,
    ``set(k, v, ...)``, ``resolve(v, None, actor)``, ``resolve(k, v, None, actor)``, and nested updates."""
    n, args = op.name, op.args
    if n == "update":
        return Op(n, (args[0], args[1], _twin(args[2])))
    if n == "assign":
        return Op(n, (_twin_value(args[0]), *args[1:]))
    if n == "set":
        return Op(n, (args[0], _twin_value(args[1]), *args[2:]))
    if n == "resolve" and len(args) in (3, 4):
        i = len(args) - 3
        return Op(n, (*args[:i], _twin_value(args[i]), *args[i + 1:]))
    return op


def _twin_plan(plan: Any) -> Any:
    replicas, steps = plan
    return replicas, [(s[0], s[1], _twin(s[2]), s[3]) if s[0] == "op" else s for s in steps]


@pytest.mark.parametrize("what", [
    lambda v: type(v) is float and v == 0 and math.copysign(1.0, v) < 0,
    lambda v: type(v) is float and v == 0 and math.copysign(1.0, v) > 0,
    lambda v: type(v) is bool and v,
    lambda v: type(v) is float and v == 1,
    lambda v: type(v) is list and any(type(x) is float and x == 0 and math.copysign(1.0, x) < 0 for x in v),
    lambda v: type(v) is list and any(type(x) is bool for x in v),
], ids=["-0.0", "0.0", "True", "1.0", "[-0.0]", "[True]"])
def test_the_value_strategy_draws_values_that_equality_confuses(what: Callable[[Any], bool]) -> None:
    assert what(find(register_values(), what, settings=settings(max_examples=2000, database=None)))


def _check_pair(name: str, a: Any, b: Any, aligned: bool) -> None:
    eq = a == b
    assert eq == (b == a), f"{name}: == is not symmetric for {a!r} and {b!r}"
    assert eq == (encode(a) == encode(b)), f"{name}: a == b is {eq} but the bytes say otherwise:\n  {a!r}\n  {b!r}"
    if aligned and not eq:
        # One history, twin values: the same dots and timestamps carry payloads that encode differently.
        x = a.copy()
        with pytest.raises(CRDTError):
            x.merge(b)
        assert x == a and encode(x) == encode(a), f"{name}: a refused merge changed the object"


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_equal_iff_same_bytes_on_twin_histories(spec: TypeSpec) -> None:
    """Run one random history twice, the second time with every register value replaced by a twin that
    ``==`` cannot tell from it (0.0/-0.0, 1/True/1.0, ...): states at the same step have the same dots and
    timestamps, so they are equal iff their values are the same, and must then encode alike; unequal,
    merging one into the other is a clash that changes nothing. Random pairs across the two runs, and
    across replicas, are equal iff they encode alike too."""

    @given(st.data())
    def run(data: st.DataObject) -> None:
        plan = data.draw(plans(spec, max_steps=10), label="history")
        pools: list[list[Any]] = []
        for p in (plan, _twin_plan(plan)):
            pool: list[Any] = [spec.make(None)]
            cluster = run_plan(spec, p, pool=pool)
            pool.extend(x.copy(replica=None) for x in cluster.objects.values())
            pools.append(pool)
        first, second = pools
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            _check_pair(spec.name, a, b, aligned=True)
        for _ in range(4):
            a = data.draw(st.sampled_from(first), label="a")
            b = data.draw(st.sampled_from(first + second), label="b")
            _check_pair(spec.name, a, b, aligned=False)

    run()
