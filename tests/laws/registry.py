"""The one registry of type specs: every exported CRDT type, with its operations and its model.

Adding a type means adding its spec here (``tests/laws/test_registry_complete.py`` fails until you
do); the laws in ``test_laws.py`` and the convergence machine then cover it. Operation strategies
and models come from :mod:`crdts.testing`, the public law suite.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
from hypothesis import strategies as st

from crdts import (
    AWSet,
    CCounter,
    ConflictMap,
    ConflictRegister,
    DWFlag,
    EWFlag,
    GCounter,
    GSet,
    LWWMap,
    LWWRegister,
    MVRegister,
    PNCounter,
    RWSet,
    TwoPSet,
)
from crdts.conflicts import highest_value
from crdts.testing import (
    Event,
    Op,
    TypeSpec,
    awset_model,
    ccounter_model,
    conflict_map_model,
    conflict_map_ops,
    conflict_register_model,
    conflict_register_ops,
    counter_ops,
    dwflag_model,
    ewflag_model,
    flag_ops,
    gcounter_model,
    gcounter_ops,
    gset_model,
    gset_ops,
    lwwmap_model,
    lwwmap_ops,
    lwwregister_model,
    mvregister_model,
    ormap_spec,
    pncounter_model,
    read_conflict_map,
    read_conflict_register,
    read_map,
    read_set,
    register_ops,
    rwset_model,
    set_ops,
    ticking_clock,
    twopset_model,
    twopset_ops,
)

__all__ = ["REGISTRY", "SPECS", "spec_for"]


def _first(nested: Any) -> Any:
    """The plain model of a causal type from its nested model ``(value, present)``."""
    return lambda events, view=None: nested(events, view)[0]


def _lww_factory(cls: type, **kwargs: Any) -> Any:
    def make(replica: str | None) -> Any:
        return cls(replica, clock=ticking_clock(replica) if replica is not None else None, **kwargs)

    return make


def _timestamp(obj: Any, op: Op, delta: Any) -> Any:
    return delta.timestamp


def _key_timestamp(obj: Any, op: Op, delta: Any) -> Any:
    return delta.timestamp(op.args[0])


def _sibling_timestamp(obj: Any, op: Op, delta: Any) -> Any:
    """The timestamp of the one sibling a conflict type's write delta holds (None for a remove)."""
    sibs = delta.siblings if isinstance(delta, ConflictRegister) else [
        s for k in list(delta) for s in delta.siblings(k)]
    return sibs[0].timestamp if sibs else None


# Plain lattices whose deltas carry their replica's running totals: the model gives the converged value only.
GCOUNTER = TypeSpec(cls=GCounter, ops=gcounter_ops, model=gcounter_model)
PNCOUNTER = TypeSpec(cls=PNCounter, ops=counter_ops, model=pncounter_model)

# Deltas carry exactly their operation's effects: every replica is checked against the model after every step.
GSET = TypeSpec(cls=GSet, ops=gset_ops, model=gset_model, read=read_set, local_model=True)
TWOPSET = TypeSpec(cls=TwoPSet, ops=twopset_ops, model=twopset_model, read=read_set, local_model=True)
LWWREGISTER = TypeSpec(cls=LWWRegister, ops=register_ops, model=lwwregister_model, local_model=True,
                       factory=_lww_factory(LWWRegister), record=_timestamp)
LWWMAP = TypeSpec(cls=LWWMap, ops=lwwmap_ops, model=lwwmap_model, read=read_map, local_model=True,
                  factory=_lww_factory(LWWMap), record=_key_timestamp)

# Causal types: their models nest in ORMap's.
CCOUNTER = TypeSpec(cls=CCounter, ops=functools.partial(counter_ops, reset=True),
                    model=_first(ccounter_model), nested=ccounter_model, local_model=True)
MVREGISTER = TypeSpec(cls=MVRegister, ops=register_ops, model=_first(mvregister_model), nested=mvregister_model,
                      read=lambda x: x.values, local_model=True)
EWFLAG = TypeSpec(cls=EWFlag, ops=flag_ops, model=_first(ewflag_model), nested=ewflag_model, local_model=True)
DWFLAG = TypeSpec(cls=DWFlag, ops=flag_ops, model=_first(dwflag_model), nested=dwflag_model, local_model=True)
AWSET = TypeSpec(cls=AWSet, ops=set_ops, model=_first(awset_model), nested=awset_model, read=read_set,
                 local_model=True)
RWSET = TypeSpec(cls=RWSet, ops=set_ops, model=_first(rwset_model), nested=rwset_model, read=read_set,
                 local_model=True)

# Conflict types: MVRegister rules, read as a policy's winner with the siblings visible.
CONFLICT_REGISTER = TypeSpec(cls=ConflictRegister, ops=conflict_register_ops, model=conflict_register_model(),
                             read=read_conflict_register, factory=_lww_factory(ConflictRegister),
                             record=_sibling_timestamp, local_model=True)
CONFLICT_REGISTER_HIGHEST = attrs.evolve(
    CONFLICT_REGISTER, name="ConflictRegister[highest]",
    ops=functools.partial(conflict_register_ops, values=st.integers(0, 3)),
    model=conflict_register_model(highest_value), factory=_lww_factory(ConflictRegister, policy="highest"))
CONFLICT_MAP = TypeSpec(cls=ConflictMap, ops=conflict_map_ops, model=conflict_map_model(),
                        read=read_conflict_map, factory=_lww_factory(ConflictMap), record=_sibling_timestamp,
                        local_model=True)

#: The counter as users nest it: ``cart.update(key, PNCounter, lambda c: c.increment(3))`` gives a CCounter.
NESTED_COUNTER = attrs.evolve(CCOUNTER, nest_as=PNCounter, name="PNCounter")

ORMAP_AWSET = ormap_spec({"k1": AWSET, "k2": AWSET}, name="ORMap[AWSet]")
ORMAP_MVREGISTER = ormap_spec({"k1": MVREGISTER, "k2": MVREGISTER}, name="ORMap[MVRegister]")
ORMAP_EWFLAG = ormap_spec({"k1": EWFLAG, "k2": EWFLAG}, name="ORMap[EWFlag]")
ORMAP_COUNTER = ormap_spec({"k1": NESTED_COUNTER, "k2": NESTED_COUNTER}, name="ORMap[PNCounter]")
ORMAP_MIXED = ormap_spec(
    {"k1": RWSET, "k2": DWFLAG, "k3": ormap_spec({"k1": AWSET, "k2": NESTED_COUNTER}, name="ORMap")},
    name="ORMap[RWSet, DWFlag, ORMap]",
)
#: Replicas that disagree on a key's class: both entries are kept, the map shows the first class name.
ORMAP_CLASH = ormap_spec({"k1": [AWSET, MVREGISTER, NESTED_COUNTER], "k2": [EWFLAG, DWFLAG]},
                         name="ORMap[class clash]")

#: How many operations one batch may run (ids and seqs of a batch's operations are ``id * _SPREAD + i``).
_SPREAD = 8


def _batched(spec: TypeSpec) -> TypeSpec:
    """``spec`` nested with several mutators per ``ORMap.update``: ``Op("batch", (op, ...))`` runs zero to
    three of its operations in one ``fn`` (such as ``clear`` then ``add``). The nested model sees each batch
    as consecutive operations of its replica, each having seen the ones before it."""
    assert spec.nested is not None

    def ops(replicas: Any) -> Any:
        return st.lists(spec.ops(replicas), max_size=3).map(lambda xs: Op("batch", tuple(xs)))

    def apply(obj: Any, op: Op) -> Any:
        for inner in op.args:
            spec.apply(obj, inner)

    def nested(events: Any, view: Any = None) -> tuple[Any, bool]:
        parts = {e.id: (e.op.args if e.op.name == "batch" else (e.op,)) for e in events}

        def ids(xs: Any) -> set[int]:
            return {x * _SPREAD + i for x in xs for i in range(len(parts.get(x, ())) or 1)}

        flat = [Event(e.id * _SPREAD + i, e.replica, e.seq * _SPREAD + i, inner,
                      frozenset(ids(e.past) | {e.id * _SPREAD + j for j in range(i)}), e.note)
                for e in events for i, inner in enumerate(parts[e.id])]
        return spec.nested(flat, None if view is None else ids(view))  # type: ignore[misc]

    return attrs.evolve(spec, ops=ops, apply=apply, nested=nested, name=f"{spec.name}*")


#: Updates that run several mutators (or none) in one fn: the map's delta is computed from the change.
ORMAP_BATCHED = ormap_spec({"k1": _batched(AWSET), "k2": _batched(NESTED_COUNTER), "k3": _batched(MVREGISTER)},
                           name="ORMap[batched updates]")

#: Every spec, in a stable order (test ids are the names).
SPECS: list[TypeSpec] = [
    GCOUNTER, PNCOUNTER, CCOUNTER, LWWREGISTER, MVREGISTER, EWFLAG, DWFLAG, GSET, TWOPSET, AWSET, RWSET,
    LWWMAP, ORMAP_AWSET, ORMAP_MVREGISTER, ORMAP_EWFLAG, ORMAP_COUNTER, ORMAP_MIXED, ORMAP_CLASH, ORMAP_BATCHED,
    CONFLICT_REGISTER, CONFLICT_REGISTER_HIGHEST, CONFLICT_MAP,
]

#: name -> spec.
REGISTRY: dict[str, TypeSpec] = {spec.name: spec for spec in SPECS}
assert len(REGISTRY) == len(SPECS), "spec names must be unique"


def spec_for(cls: type) -> list[TypeSpec]:
    """The specs that exercise ``cls`` (ORMap has several)."""
    return [s for s in SPECS if s.cls is cls]
