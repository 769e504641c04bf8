"""The type contract: truthiness by value, configuration kept by bind/fresh and across a node's restart,
maps as Mappings, several mutators per ORMap update, one delta for several mutations, JSON export, and
the errors that name what to do instead."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

import pytest

import crdts
from crdts import (
    HLC,
    AWSet,
    CCounter,
    ConflictMap,
    ConflictRegister,
    DeltaBuffer,
    Dot,
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
    VersionVector,
    decode,
    encode,
    to_json,
)
from crdts.conflicts import highest_value, lww
from crdts.sync import LocalTransport, Node


def clock(replica: str, start: int = 1) -> HLC:
    t = iter(range(start, 10**9))
    return HLC(replica, time_source=lambda: next(t))


# --- truthiness: bool(x) is bool(x.value), for every type -------------------------------------------


def _states() -> list[tuple[str, Any]]:
    """(label, object) pairs: each type empty, emptied, holding a falsy value and holding a truthy one."""
    out: list[tuple[str, Any]] = []
    f = EWFlag("a")
    out += [("EWFlag empty", EWFlag("a")), ("EWFlag on", (f.enable(), f)[1])]
    f = EWFlag("a")
    f.enable()
    f.disable()
    out.append(("EWFlag disabled", f))
    g = DWFlag("a")
    out += [("DWFlag empty", DWFlag("a")), ("DWFlag on", (g.enable(), g)[1])]
    g = DWFlag("a")
    g.enable()
    g.disable()
    out.append(("DWFlag disabled", g))
    z = GCounter("a")
    z.increment(0)
    out += [("GCounter zero", GCounter("a")), ("GCounter zero increment", z)]
    c = GCounter("a")
    c.increment(2)
    out.append(("GCounter 2", c))
    p = PNCounter("a")
    p.increment(2)
    p.decrement(2)
    out.append(("PNCounter back to 0", p))
    q = PNCounter("a")
    q.decrement(1)
    out.append(("PNCounter -1", q))
    cc = CCounter("a")
    cc.increment(3)
    cc.decrement(3)
    out.append(("CCounter back to 0", cc))
    cc2 = CCounter("a")
    cc2.increment(1)
    out.append(("CCounter 1", cc2))
    out.append(("MVRegister empty", MVRegister("a")))
    mv = MVRegister("a")
    mv.assign(None)
    out.append(("MVRegister holding None", mv))  # a sibling survives: truthy, as its value () is not empty
    r = LWWRegister("a", clock=clock("a"))
    out.append(("LWWRegister empty", LWWRegister("a")))
    r.assign(None)
    out.append(("LWWRegister holding None", r))
    r2 = LWWRegister("a", clock=clock("a"))
    r2.assign(0)
    out.append(("LWWRegister holding 0", r2))
    r3 = LWWRegister("a", clock=clock("a"))
    r3.assign("x")
    out.append(("LWWRegister holding 'x'", r3))
    for cls in (GSet, TwoPSet, AWSet, RWSet):
        s = cls("a")
        out.append((f"{cls.__name__} empty", cls("a")))
        s.add("x")
        out.append((f"{cls.__name__} one", s))
    s2 = AWSet("a")
    s2.add("x")
    s2.remove("x")
    out.append(("AWSet emptied", s2))
    m = ORMap("a")
    out.append(("ORMap empty", ORMap("a")))
    m.update("k", EWFlag, lambda f: f.enable())
    out.append(("ORMap one", m))
    m2 = ORMap("a")
    m2.update("k", EWFlag, lambda f: f.enable())
    m2.update("k", EWFlag, lambda f: f.disable())
    out.append(("ORMap emptied", m2))
    lm = LWWMap("a", clock=clock("a"))
    out.append(("LWWMap empty", LWWMap("a")))
    lm.set("k", 0)
    out.append(("LWWMap one", lm))
    lm2 = LWWMap("a", clock=clock("a"))
    lm2.set("k", 1)
    lm2.remove("k")
    out.append(("LWWMap removed", lm2))
    cr = ConflictRegister("a", clock=clock("a"))
    out.append(("ConflictRegister empty", ConflictRegister("a")))
    cr.assign(0)
    out.append(("ConflictRegister holding 0", cr))
    cr2 = ConflictRegister("a", clock=clock("a"))
    cr2.assign("x")
    out.append(("ConflictRegister holding 'x'", cr2))
    cm = ConflictMap("a", clock=clock("a"))
    out.append(("ConflictMap empty", ConflictMap("a")))
    cm.set("k", 0)
    out.append(("ConflictMap one", cm))
    return out


@pytest.mark.parametrize(("label", "x"), _states(), ids=[s[0] for s in _states()])
def test_bool_is_bool_of_the_value(label: str, x: Any) -> None:
    assert bool(x) is bool(x.value), label


def test_the_falsy_states_the_issue_names() -> None:
    f = EWFlag("a")
    f.enable()
    f.disable()
    assert not f and f.value is False
    assert not GCounter("a") and not MVRegister("a") and not AWSet("a") and not ORMap("a")
    r = LWWRegister("a")
    r.assign(None)
    assert not r


def test_every_exported_type_defines_truthiness_by_value() -> None:
    """A type added later inherits CRDT.__bool__ (bool of its value) unless it overrides it."""
    for name in crdts.__all__:
        obj = getattr(crdts, name)
        if isinstance(obj, type) and issubclass(obj, crdts._base.CRDT) and obj is not crdts.CRDT:
            x = obj("a") if obj not in (LWWRegister, LWWMap) else obj("a", clock=clock("a"))
            assert bool(x) is bool(x.value) is False, name


# --- ORMap: an emptied nested value leaves the map; value_of reads it as empty ---------------------------


def test_an_emptied_nested_value_leaves_the_map_and_value_of_reads_it_as_empty() -> None:
    profile = ORMap("a")
    profile.update("newsletter", EWFlag, lambda f: f.enable())
    profile.update("newsletter", EWFlag, lambda f: f.disable())
    profile.update("suspended", DWFlag, lambda f: f.disable())      # a DWFlag token stays: False, present
    assert profile.value == {"suspended": False}
    assert "newsletter" not in profile
    with pytest.raises(KeyError):
        profile["newsletter"]
    assert profile.get("newsletter") is None
    for key in ("newsletter", "never-set"):
        flag = profile.value_of(key, EWFlag)
        assert type(flag) is EWFlag and flag.value is False and flag.replica is None
    assert profile.value_of("suspended", DWFlag).value is False
    tags = ORMap("a")
    tags.update("t", AWSet, lambda s: s.add("x"))
    tags.update("t", AWSet, lambda s: s.clear())
    assert tags.value == {} and tags.value_of("t", AWSet).value == frozenset()


def test_value_of_a_present_key_is_a_read_only_copy_and_counters_read_as_ccounters() -> None:
    m = ORMap("a")
    m.update("n", PNCounter, lambda c: c.increment(2))
    n = m.value_of("n", PNCounter)
    assert type(n) is CCounter and n.value == 2 and n.replica is None
    assert type(m.value_of("absent", GCounter)) is CCounter
    with pytest.raises(TypeError, match="cannot nest"):
        m.value_of("n", GSet)


@pytest.mark.parametrize(("cls", "instead"), [
    (GSet, "AWSet"), (TwoPSet, "AWSet"), (LWWRegister, "MVRegister"), (LWWMap, "ORMap"),
    (ConflictRegister, "MVRegister"), (ConflictMap, "ORMap"),
])
def test_non_causal_types_cannot_nest_and_the_error_names_the_alternative(cls: type, instead: str) -> None:
    m = ORMap("a")
    with pytest.raises(TypeError, match=f"{cls.__name__} cannot nest in an ORMap.*use {instead}"):
        m.update("k", cls, lambda x: None)
    assert m.is_bottom()


def test_counters_nest_as_causal_counters() -> None:
    m = ORMap("a")
    m.update("p", PNCounter, lambda c: c.decrement(2))
    m.update("g", GCounter, lambda c: c.increment(1))
    assert m.value == {"p": -2, "g": 1} and type(m["p"]) is CCounter and type(m["g"]) is CCounter


def test_update_takes_a_parameterised_class() -> None:
    m: ORMap[str] = ORMap("a")
    m.update("k", AWSet[str], lambda s: s.add("x"))
    assert m.value == {"k": frozenset({"x"})}


# --- ORMap.update: any number of mutators -----------------------------------------------------------------


def _replayed(before: ORMap, delta: ORMap) -> ORMap:
    r = before.copy(replica=None)
    r.merge(delta)
    return r


@pytest.mark.parametrize("fn", [
    lambda s: (s.clear(), s.add("new")),            # replace the content
    lambda s: None,                                  # no mutator
    lambda s: (s.add("y"), s.remove("y")),          # made and removed in the same fn
    lambda s: (s.remove("x"), s.add("x"), s.add("z")),
], ids=["clear-then-add", "none", "add-remove", "re-add"])
def test_update_runs_several_mutators_and_its_delta_is_the_change(fn: Any) -> None:
    m = ORMap("a")
    m.update("k", AWSet, lambda s: (s.add("x"), s.add("w")))
    before = m.copy()
    d = m.update("k", AWSet, fn)
    m._check()
    assert _replayed(before, d) == m.copy(replica=None)


def test_update_replaces_a_set_and_a_concurrent_add_survives() -> None:
    a, b = ORMap("a"), ORMap("b")
    b.merge(a.update("tags", AWSet, lambda s: (s.add("x"), s.add("y"))))
    d1 = a.update("tags", AWSet, lambda s: (s.clear(), s.add("z")))
    d2 = b.update("tags", AWSet, lambda s: s.add("w"))
    a.merge(d2)
    b.merge(d1)
    assert a == b and a.value == {"tags": frozenset({"z", "w"})}


def test_update_in_nested_maps_with_several_mutators() -> None:
    a, b = ORMap("a"), ORMap("b")
    d = a.update("u", ORMap, lambda m: (m.update("f", EWFlag, lambda f: f.enable()),
                                        m.update("n", PNCounter, lambda c: (c.increment(5), c.decrement(1)))))
    b.merge(d)
    assert b == a and b.value == {"u": {"f": True, "n": 4}}
    a._check()


def test_update_refuses_a_merge_into_the_nested_object_and_rolls_back() -> None:
    other = AWSet("z")
    other.add("foreign")
    m = ORMap("a")
    m.update("k", AWSet, lambda s: s.add("x"))
    before = m.copy()
    with pytest.raises(TypeError, match="merged another state"):
        m.update("k", AWSet, lambda s: (s.add("y"), s.merge(other)))
    assert m == before
    m._check()


# --- configuration: clock and policy kept by bind, fresh, decode + bind, and a node's restart --------------


def test_bind_sets_or_keeps_clock_and_policy() -> None:
    cm = ConflictMap("a", clock=clock("a"), policy="highest")
    cm.set("k", 1)
    b = cm.bind("b")
    assert b.replica == "b" and b.policy is highest_value and b.clock is not None and b.clock.replica == "b"
    c = cm.bind("c", clock=clock("c", 100), policy="lww")
    assert c.policy is lww and c.clock.peek()[0] >= 1
    d = c.set("k", 2)
    assert d.siblings("k")[0].timestamp.wall >= 100
    reg = LWWRegister("a", clock=clock("a"))
    reg.assign("v")
    rb = reg.bind("b", clock=clock("b", 50))
    assert rb.replica == "b" and rb.value == "v" and rb.clock.replica == "b"
    with pytest.raises(ValueError, match="belongs to replica"):
        reg.bind("b", clock=clock("x"))


@pytest.mark.parametrize("x", [GSet("a"), AWSet("a"), GCounter("a"), ORMap("a"), MVRegister("a")], ids=type)
def test_bind_refuses_an_option_the_type_does_not_take(x: Any) -> None:
    with pytest.raises(TypeError, match=f"{type(x).__name__} takes no clock="):
        x.bind("b", clock=HLC("b"))
    with pytest.raises(TypeError, match=f"{type(x).__name__} takes no policy="):
        x.bind("b", policy="highest")
    assert x.bind("b").replica == "b"


def test_lww_types_take_no_policy() -> None:
    with pytest.raises(TypeError, match="LWWMap takes no policy="):
        LWWMap("a").bind("b", policy="highest")


def test_decode_then_bind_restores_the_policy_and_the_clock() -> None:
    cm = ConflictMap("a", clock=clock("a"), policy="highest")
    cm.set("k", 3)
    data = encode(cm)
    assert decode(data).policy is lww              # the wire format does not carry a policy
    back = decode(data).bind("a", policy="highest", clock=clock("a", 10))
    assert back.policy is highest_value and back.clock is not None and back.replica == "a"


def test_fresh_is_empty_with_the_same_configuration() -> None:
    src = clock("a")
    cm = ConflictMap("a", clock=HLC("a", time_source=src.time_source, max_drift=7), policy="highest")
    cm.set("k", 1)
    f = cm.fresh("a~1")
    assert f.is_bottom() and f.replica == "a~1" and f.policy is highest_value
    assert f.clock.replica == "a~1" and f.clock.time_source is src.time_source and f.clock.max_drift == 7
    lm = LWWMap("a", clock=HLC("a", time_source=src.time_source, max_drift=None)).fresh("b")
    assert lm.clock.max_drift is None and lm.clock.time_source is src.time_source
    assert type(AWSet("a").fresh("b")) is AWSet


def test_a_non_durable_node_keeps_its_objects_policy_across_crash_and_restart() -> None:
    net = LocalTransport()
    node = Node("a", ConflictMap("a", clock=clock("a"), policy="highest"), protocol="bprr", transport=net,
                durable=False)
    node.update(lambda m: m.set("k", 1))
    node.crash()
    node.restart()
    assert node.replica == "a~1" and node.state.is_bottom()
    assert node.state.policy is highest_value
    node.update(lambda m: m.set("k", 5))
    node.update(lambda m: m.set("k", 2))
    assert node.state.policy is highest_value


def test_modules_do_not_read_each_others_private_clock_parts() -> None:
    import crdts.conflicts
    import crdts.maps
    import crdts.sync.node

    assert "._clock" not in inspect.getsource(crdts.sync.node)
    for mod in (crdts.maps, crdts.conflicts):
        assert "._tick(" not in inspect.getsource(mod)


def test_hlc_tick_is_public_and_plain() -> None:
    c = clock("a")
    t1, t2 = c.tick(), c.now()
    assert type(t1) is tuple and t1 == (1, 0, "a") and t2 > t1


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GCounter, PNCounter, CCounter])
@pytest.mark.parametrize("bad", [1.5, "1", True, None])
def test_a_wrong_type_of_amount_is_a_type_error(cls: type, bad: Any) -> None:
    x = cls("a")
    with pytest.raises(TypeError, match="takes an int"):
        x.increment(bad)
    if cls is not GCounter:
        with pytest.raises(TypeError, match="takes an int"):
            x.decrement(bad)
    with pytest.raises(ValueError, match="n >= 0"):
        x.increment(-1)
    assert x.is_bottom()


def test_in_on_a_version_vector_looks_up_replica_ids() -> None:
    vv = VersionVector({"node1": 2})
    assert "node1" in vv and "node2" not in vv and 3 not in vv
    assert dict(vv.items()) == {"node1": 2} and list(vv.keys()) == ["node1"]
    with pytest.raises(TypeError, match="contains_dot"):
        ("node1", 1) in vv  # noqa: B015
    with pytest.raises(TypeError, match="contains_dot"):
        Dot("node1", 1) in vv  # noqa: B015
    assert vv.contains_dot(("node1", 2)) and not vv.contains_dot(("node1", 3))
    assert not vv.contains_dot(("node2", 1)) and not vv.contains_dot(("node1", 0))


def test_a_misspelt_protocol_option_names_the_protocol_and_the_option() -> None:
    with pytest.raises(TypeError, match=r"protocol 'delta' takes no option 'full_evry' \(its options: full_every\)"):
        Node("a", GSet, protocol="delta", options={"full_evry": 3})
    with pytest.raises(TypeError, match=r"protocol 'bprr' takes no option 'fanout' \(its options: none\)"):
        Node("a", GSet, protocol="bprr", options={"fanout": 3})
    assert Node("a", GSet, protocol="delta", options={"full_every": 3}).protocol is not None


def test_node_update_with_a_function_returning_nothing_is_a_type_error() -> None:
    node = Node("a", GSet)
    with pytest.raises(TypeError, match="fn must call a mutator of the GSet"):
        node.update(lambda s: None)


# --- maps are Mappings ------------------------------------------------------------------------------------


def test_maps_are_mappings() -> None:
    om = ORMap("a")
    om.update("k", AWSet, lambda s: s.add(1))
    lm = LWWMap("a", clock=clock("a"))
    lm.set("k", 1)
    lm.set("gone", 2)
    lm.remove("gone")
    cm = ConflictMap("a", clock=clock("a"))
    cm.set("k", 1)
    for m in (om, lm, cm):
        assert isinstance(m, Mapping)
        assert list(m.keys()) == ["k"] and len(m) == 1 and "k" in m and list(m) == ["k"]
        assert dict(m.items()) == {"k": m["k"]} and list(m.values()) == [m["k"]]
        assert m.get("absent") is None and m.get("absent", 7) == 7
    assert dict(lm.items()) == {"k": 1} and dict(cm.items()) == {"k": 1}
    assert dict(om.items())["k"].value == frozenset({1})
    assert om != {"k": om["k"]} and lm != {"k": 1}       # the lattice equality is kept, not Mapping's


# --- one delta for several mutations ------------------------------------------------------------------------


def test_delta_buffer_joins_the_deltas_of_several_mutations() -> None:
    s = AWSet("a")
    before = s.copy(replica=None)
    buf: DeltaBuffer[AWSet[str]] = DeltaBuffer()
    assert not buf and len(buf) == 0 and buf.take() is None
    buf.add(s.add("x"))
    buf.add(s.add("y"))
    buf.add(s.remove("x"))
    assert buf and len(buf) == 3
    d = buf.take()
    assert d is not None and len(buf) == 0 and d.replica is None
    before.merge(d)
    assert before == s.copy(replica=None)
    with pytest.raises(TypeError, match="takes a CRDT delta"):
        buf.add("x")  # type: ignore[arg-type]
    buf.add(s.add("z"))
    with pytest.raises(TypeError, match="cannot merge"):
        buf.add(GSet("a").add(1))  # type: ignore[arg-type]


def _mutate(x: Any) -> None:
    if isinstance(x, AWSet):
        x.add("a")
        x.add("b")
        x.remove("old")
    elif isinstance(x, ORMap):
        x.update("k", AWSet, lambda s: (s.clear(), s.add(1)))
        x.remove("old")
        x.update("n", PNCounter, lambda c: c.increment(2))
    elif isinstance(x, (LWWMap, ConflictMap)):
        x.set("k", 1)
        x.remove("old")
    elif isinstance(x, GCounter):
        x.increment(2)
        x.increment(3)


def _seeded(x: Any) -> Any:
    if isinstance(x, AWSet):
        x.add("old")
    elif isinstance(x, ORMap):
        x.update("old", EWFlag, lambda f: f.enable())
        x.update("k", AWSet, lambda s: s.add(0))
    elif isinstance(x, (LWWMap, ConflictMap)):
        x.set("old", 0)
    elif isinstance(x, GCounter):
        x.increment(1)
    return x


@pytest.mark.parametrize("make", [
    lambda: AWSet("a"), lambda: ORMap("a"), lambda: LWWMap("a", clock=clock("a")),
    lambda: ConflictMap("a", clock=clock("a")), lambda: GCounter("a"),
], ids=["AWSet", "ORMap", "LWWMap", "ConflictMap", "GCounter"])
def test_a_batch_delta_has_the_effect_of_the_mutations(make: Any) -> None:
    x = _seeded(make())
    replica = x.copy(replica=None)
    with x.batch() as b:
        _mutate(x)
    assert b.delta is not None and b.delta.replica is None
    replica.merge(b.delta)
    assert replica == x.copy(replica=None)


# --- JSON export ---------------------------------------------------------------------------------------------


def test_to_json_exports_values_as_plain_json() -> None:
    m = ORMap("a")
    m.update("tags", AWSet, lambda s: (s.add("b"), s.add("a"), s.add(2)))
    m.update("n", PNCounter, lambda c: c.increment(3))
    m.update("r", MVRegister, lambda r: r.assign((1, b"\x00", {"k": [1.5, float("inf")]})))
    out = to_json(m)
    assert out == {"n": 3, "r": [[1, {"bytes": "00"}, {"k": [1.5, "inf"]}]], "tags": [2, "a", "b"]}
    assert json.loads(json.dumps(out)) == out
    assert to_json({1: "x", "1": "y"}) == [["1", "y"], [1, "x"]]        # keys that are not all text: pairs
    assert to_json(frozenset({3, 1, 2})) == [1, 2, 3] and to_json(None) is None


def test_the_cli_uses_the_public_json_export() -> None:
    from crdts import cli

    assert cli._plain is to_json


def test_update_of_a_set_holding_none() -> None:
    m = ORMap("a")
    before = m.copy(replica=None)
    d = m.update("k", AWSet, lambda s: (s.add(None), s.add(0)))
    m._check()
    assert m.value == {"k": frozenset({None, 0})} and _replayed(before, d) == m.copy(replica=None)
