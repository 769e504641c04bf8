"""Retirement (crdts.retention): the registry's arguments, its wire form (untrusted bytes are validated) and the
refusals of crdts.retention.Retirements.receive. The convergence and value laws are the law suite's
("retire", crdts.testing.retire), run for every built-in type in tests/laws."""

from __future__ import annotations

import copy
from typing import Any

import cbor2
import pytest

from crdts import AWSet, DecodeError, GCounter, MVRegister, PNCounter, decode, encode
from crdts.errors import ReplicaRequired, RetiredReplica, UnknownRetirement
from crdts.retention import Retirements, archive_of


def _retire(objs: dict[str, Any], gone: str, *, heir: str | None = None) -> dict[str, Retirements]:
    """Run the protocol among ``objs`` (every replica a member, ``gone`` too if it is there) until ``gone`` is
    retired everywhere."""
    regs = {n: Retirements(n, clock=lambda: 0.0) for n in objs}
    first = next(iter(objs))
    regs[first].decide(gone, members=list(objs), heir=heir)
    for _ in range(6):
        for n, reg in regs.items():
            reg.step(objs[n])
        for a in regs:
            for b in regs:
                if a != b:
                    regs[a].merge(decode(encode(regs[b])))
        for a in objs:
            for b in objs:
                if a != b:
                    regs[a].receive(objs[a], objs[b].copy(replica=None))
    assert all(gone in reg.tombstones() for reg in regs.values())
    return regs


def test_counters_keep_their_value_and_forget_the_retired_id() -> None:
    objs = {n: PNCounter(n) for n in ("a", "b", "r")}
    objs["r"].increment(5)
    objs["r"].decrement(2)
    objs["a"].increment(1)
    for x in objs.values():
        for y in objs.values():
            x.merge(y)
    _retire(objs, "r", heir="b")
    for n in ("a", "b"):
        assert objs[n].value == 4
        assert "r" not in objs[n]._rt_ids() and archive_of("b") in objs[n]._rt_ids()
    assert objs["a"] == objs["b"]


def test_a_stale_state_naming_the_retired_replica_is_renamed_on_arrival() -> None:
    a, b, r = AWSet("a"), AWSet("b"), AWSet("r")
    d = r.add("x")
    a.merge(d)
    b.merge(d)
    stale = b.copy(replica=None)
    regs = _retire({"a": a, "b": b, "r": r}, "r")
    regs["a"].receive(a, stale)
    assert sorted(a.value) == ["x"] and "r" not in a._rt_ids()


def test_a_late_write_is_refused_and_changes_nothing() -> None:
    objs = {n: MVRegister(n) for n in ("a", "b", "r")}
    d = objs["r"].assign("old")
    for n in ("a", "b"):
        objs[n].merge(d)
    r = objs.pop("r")             # r is dead to the others, yet writes on
    regs = _retire(objs, "r")
    late = r.assign("new")
    before = encode(objs["a"])
    with pytest.raises(RetiredReplica) as e:
        regs["a"].receive(objs["a"], late)
    assert e.value.replica == "r"
    assert encode(objs["a"]) == before and objs["a"].values == ("old",)


def test_the_retired_replica_stops_writing() -> None:
    objs = {n: GCounter(n) for n in ("a", "b", "r")}
    objs["r"].increment()
    _retire(objs, "r")
    with pytest.raises(ReplicaRequired):
        objs["r"].increment()
    assert objs["a"].value == objs["b"].value == 1


def test_a_state_naming_unknown_archive_events_is_refused_until_the_records_arrive() -> None:
    objs = {n: GCounter(n) for n in ("a", "b", "r")}
    objs["r"].increment(3)
    for n in ("a", "b"):
        objs[n].merge(objs["r"])
    _retire(objs, "r")
    newcomer, reg = GCounter("c"), Retirements("c")
    with pytest.raises(UnknownRetirement):
        reg.receive(newcomer, objs["a"].copy(replica=None))
    assert newcomer.value == 0 and not newcomer._rt_ids()


@pytest.mark.parametrize("args", [
    dict(replica="", members=["a", "b"]),
    dict(replica="r~*", members=["a", "b"]),
    dict(replica="r", members="ab"),
    dict(replica="r", members=["r"]),
    dict(replica="r", members=["a", "b~*"]),
    dict(replica="r", members=["a", "b"], heir="c"),
    dict(replica="r", members=["a", "r"], heir="r"),
])
def test_decide_refuses_bad_arguments_and_changes_nothing(args: dict[str, Any]) -> None:
    reg = Retirements("a")
    with pytest.raises((TypeError, ValueError)):
        reg.decide(args.pop("replica"), **args)
    assert not reg and reg.version == 0


def _registry() -> Retirements:
    objs = {n: GCounter(n) for n in ("a", "b", "r", "s")}
    objs["r"].increment(2)
    for x in objs.values():
        x.merge(objs["r"])
    regs = _retire(objs, "r")
    regs["a"].decide("s", members=["a", "b", "s"])
    regs["a"].step(objs["a"])
    return regs["a"]


def test_the_registry_round_trips() -> None:
    reg = _registry()
    back = decode(encode(reg))
    assert type(back) is Retirements and back == reg
    assert encode(back) == encode(reg)


def _mutations() -> list[tuple[str, Any]]:
    env = cbor2.loads(encode(_registry()))
    body = env[4:]
    out = []

    def mutate(name: str, fn: Any) -> None:
        b = copy.deepcopy(body)
        fn(b)
        out.append((name, cbor2.dumps([*env[:4], *b])))

    recs = 0
    perf = next(i for i, r in enumerate(body[0]) if r[3] is not None)
    prop = next(i for i, r in enumerate(body[0]) if r[3] is None)
    mutate("archive retires", lambda b: b[recs].__setitem__(perf, ["r~*", *b[recs][perf][1:]]))
    mutate("empty replica id", lambda b: b[recs][perf].__setitem__(0, ""))
    mutate("replica id not text", lambda b: b[recs][perf].__setitem__(0, 7))
    mutate("records unsorted", lambda b: b[recs].reverse())
    mutate("record neither proposed nor performed", lambda b: b[recs][prop].__setitem__(1, []))
    mutate("heir not a member", lambda b: b[recs][prop][1][0].__setitem__(0, "zz"))
    mutate("members unsorted", lambda b: b[recs][prop][1][0][1].reverse())
    mutate("performed with votes", lambda b: b[recs][perf].__setitem__(2, b[recs][prop][2]))
    mutate("heir is the retired replica", lambda b: b[recs][perf][3].__setitem__(0, b[recs][perf][0]))
    mutate("negative time", lambda b: b[recs][perf][3].__setitem__(1, -1.0))
    mutate("infinite time", lambda b: b[recs][perf][3].__setitem__(1, float("inf")))
    mutate("block beyond its archive", lambda b: b[recs][perf][3][2][0].__setitem__(2, [99]))
    mutate("negative mark", lambda b: b[recs][perf][3][2][0].__setitem__(2, [-1]))
    mutate("blocks of another replica", lambda b: b[recs][perf][3][2][0].__setitem__(0, "q"))
    mutate("marks of two lengths", lambda b: b[recs][perf][3][2][0].__setitem__(1, [0, 0]))
    mutate("archive id without its suffix", lambda b: b[1][0].__setitem__(0, "a"))
    mutate("vote version 0", lambda b: b[recs][prop][2][0].__setitem__(1, 0))
    mutate("vote marks another replica", lambda b: b[recs][prop][2][0][3][0].__setitem__(0, "q"))
    mutate("record of the wrong size", lambda b: b[recs][perf].append(None))
    return out


@pytest.mark.parametrize("name,data", _mutations(), ids=[n for n, _ in _mutations()])
def test_malformed_registries_are_refused(name: str, data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)


def test_a_refused_registry_changes_nothing() -> None:
    reg = _registry()
    before = encode(reg)
    _, data = _mutations()[0]
    with pytest.raises(DecodeError):
        reg.merge(decode(data))
    assert encode(reg) == before
