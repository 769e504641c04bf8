"""The built-in types' side of the law suite: their operation strategies, their models (the
specifications of their values over causal histories), readers that check their read APIs, and the
registry of specs of every exported type (:data:`SPECS`), which the project's own tests run the laws,
the codec, decomposition and simulator tests over. Write your own type's spec the same way (see
docs/extending.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import attrs
from hypothesis import strategies as st

import crdts
from crdts import (
    AWSet,
    CCounter,
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
from crdts.conflicts import ConflictMap, ConflictRegister, highest_value

from . import (
    ELEMENTS,
    KEYS,
    RESET,
    Event,
    LawError,
    Op,
    TypeSpec,
    amounts,
    call,
    elements,
    keys,
    register_values,
    ticking_clock,
)

__all__ = [
    "REGISTRY",
    "SPECS",
    "awset_model",
    "ccounter_model",
    "conflict_map_model",
    "conflict_map_ops",
    "conflict_register_model",
    "conflict_register_ops",
    "counter_ops",
    "dwflag_model",
    "ewflag_model",
    "flag_ops",
    "gcounter_model",
    "gcounter_ops",
    "gset_model",
    "gset_ops",
    "lwwmap_model",
    "lwwmap_ops",
    "lwwregister_model",
    "mvregister_model",
    "ormap_spec",
    "pncounter_model",
    "read_conflict_map",
    "read_conflict_register",
    "read_map",
    "read_set",
    "register_ops",
    "rwset_model",
    "set_ops",
    "spec_for",
    "twopset_model",
    "twopset_ops",
]


def _op(name: str, *args: st.SearchStrategy[Any]) -> st.SearchStrategy[Op]:
    return st.tuples(*args).map(lambda a: Op(name, a))


def gcounter_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``increment(n)``."""
    return _op("increment", amounts())


def counter_ops(replicas: Sequence[str] = (), *, reset: bool = False) -> st.SearchStrategy[Op]:
    """``increment(n)``, ``decrement(n)`` and, with ``reset=True``, ``reset()`` (the causal counter)."""
    choices = [_op("increment", amounts()), _op("decrement", amounts())]
    if reset:
        choices.append(st.just(Op("reset")))
    return st.one_of(choices)


def register_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``assign(v)``."""
    return _op("assign", register_values())


def flag_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``enable()``, ``disable()``."""
    return st.sampled_from([Op("enable"), Op("disable")])


def gset_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``add(e)``."""
    return _op("add", elements())


def twopset_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``add(e)`` twice as often as ``remove(e)``."""
    add = _op("add", elements())
    return st.one_of(add, add, _op("remove", elements()))


def set_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``add(e)``, ``remove(e)``, and now and then ``clear()`` (AWSet, RWSet)."""
    add = _op("add", elements())
    remove = _op("remove", elements())
    return st.one_of(add, add, add, remove, remove, st.just(Op("clear")))


def lwwmap_ops(replicas: Sequence[str] = ()) -> st.SearchStrategy[Op]:
    """``set(k, v)`` and ``remove(k)``."""
    put = _op("set", keys(), register_values())
    return st.one_of(put, put, _op("remove", keys()))



# --------------------------------------------------------------------------------------------
# Models: specifications of the value over causal histories.


Item = tuple[Any, ...]


class _Effects:
    """Which effects of a causal history are still in force, as seen from any point of it.

    Each operation leaves *items* (its effects: an add leaves one, a remove none, an RWSet ``clear``
    one remove token per element it saw present) and *overrides* some of the items in force where
    it ran: those in its ``past`` that no operation in its ``past`` had already overridden. An
    operation cannot override what its replica no longer had, which matters when deltas arrive out of
    causal order: a replica may hold an item whose overrider it has not received yet.

    ``items(x, in_force)`` gives the items ``x`` leaves; ``overrides(x, item, in_force)`` whether ``x``
    overrides an item in force where it ran (``in_force`` is that set). Both may look at
    ``in_force``: that is how an operation that depends on the local value (``clear``) is specified.
    O(events * past) with memoisation.
    """

    def __init__(self, events: Sequence[Event],
                 items: Callable[[Event, frozenset[Item]], Iterable[Item]],
                 overrides: Callable[[Event, Item, frozenset[Item]], bool]) -> None:
        self.by_id = {e.id: e for e in events}
        self._items_fn, self._overrides_fn = items, overrides
        self._items: dict[int, frozenset[Item]] = {}
        self._gone: dict[int, frozenset[Item]] = {}

    def in_force(self, ids: Iterable[int]) -> frozenset[Item]:
        """The items in force after the operations ``ids`` (those in this history)."""
        made: set[Item] = set()
        gone: set[Item] = set()
        for i in ids:
            x = self.by_id.get(i)
            if x is not None:
                made |= self.items(x)
                gone |= self.overridden(x)
        return frozenset(made - gone)

    def items(self, x: Event) -> frozenset[Item]:
        if x.id not in self._items:
            self._items[x.id] = frozenset(self._items_fn(x, self.in_force(x.past)))
        return self._items[x.id]

    def overridden(self, x: Event) -> frozenset[Item]:
        if x.id not in self._gone:
            before = self.in_force(x.past)
            self._gone[x.id] = frozenset(t for t in before if self._overrides_fn(x, t, before))
        return self._gone[x.id]

    def final(self, view: Iterable[int] | None = None) -> frozenset[Item]:
        """The items in force at a replica that has seen the operations ``view`` (default: all)."""
        return self.in_force(self.by_id if view is None else view)


def _amount(e: Event) -> int:
    return e.op.args[0] if e.op.name == "increment" else -e.op.args[0]


def gcounter_model(events: Sequence[Event]) -> int:
    """The sum of every increment."""
    return sum(e.op.args[0] for e in events)


def pncounter_model(events: Sequence[Event]) -> int:
    """Increments minus decrements."""
    return sum(_amount(e) for e in events)


def ccounter_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[int, bool]:
    """The causal counter, with reset (which is what an ORMap ``remove`` does to a nested counter).

    Each increment or decrement of replica ``r`` leaves ``r``'s running total: its amount plus the
    running total ``r`` held when it ran (that of ``r``'s previous operation, if no reset ``r`` had
    seen overrode it); it overrides ``r``'s previous total. A reset overrides every total in force
    where it ran. The value is the sum of the totals in force. Without resets this is the plain sum;
    with them it is the documented reset-remove semantics: an increment concurrent with a reset keeps
    its replica's whole running total, including what the reset saw. ``present``: some total is in
    force (even a zero one).
    """
    totals: dict[int, int] = {}

    def items(x: Event, before: frozenset[Item]) -> Iterable[Item]:
        if x.op.name == "reset":
            return ()
        carried = sum(totals[i] for (i,) in before if fx.by_id[i].replica == x.replica)
        totals[x.id] = _amount(x) + carried
        return [(x.id,)]

    def overrides(x: Event, item: Item, before: frozenset[Item]) -> bool:
        return x.op.name == "reset" or fx.by_id[item[0]].replica == x.replica

    fx = _Effects(events, items, overrides)
    for e in events:  # in order, so totals are known before they are carried
        fx.items(e)
    live = fx.final(view)
    return sum(totals[i] for (i,) in live), bool(live)


def mvregister_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[tuple[Any, ...], bool]:
    """The values of the assigns in force: each assign (or reset) overrides the assigns it saw.
    In the canonical order of the values (:func:`crdts.registers.value_key`), whoever wrote them."""
    from crdts.registers import value_key

    fx = _Effects(events, lambda x, _: [(x.id,)] if x.op.name == "assign" else (), lambda x, t, _: True)
    live = sorted((fx.by_id[i] for (i,) in fx.final(view)),
                  key=lambda e: (value_key(e.op.args[0]), e.replica, e.seq))
    return tuple(e.op.args[0] for e in live), bool(live)


def ewflag_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[bool, bool]:
    """Enable-wins: True iff some enable is in force; every flag operation (or reset) overrides the
    enables it saw."""
    fx = _Effects(events, lambda x, _: [(x.id,)] if x.op.name == "enable" else (), lambda x, t, _: True)
    on = bool(fx.final(view))
    return on, on


def dwflag_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[bool, bool]:
    """Disable-wins: every enable and disable leaves a token and overrides the tokens it saw; True
    iff tokens are in force and all are enables (False initially)."""
    fx = _Effects(events, lambda x, _: [(x.id, x.op.name == "enable")] if x.op.name != "reset" else (),
                  lambda x, t, _: True)
    live = fx.final(view)
    return bool(live) and all(on for _, on in live), bool(live)


def _seen(events: Sequence[Event], view: AbstractSet[int] | None) -> Sequence[Event]:
    return events if view is None else [e for e in events if e.id in view]


def gset_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> frozenset[Any]:
    """Every element ever added."""
    return frozenset(e.op.args[0] for e in _seen(events, view))


def twopset_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> frozenset[Any]:
    """Added and never removed (before or after)."""
    events = _seen(events, view)
    added = {e.op.args[0] for e in events if e.op.name == "add"}
    removed = {e.op.args[0] for e in events if e.op.name == "remove"}
    return frozenset(added - removed)


def awset_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[frozenset[Any], bool]:
    """Add-wins: ``e`` is present iff some ``add(e)`` is in force. An ``add(e)`` or ``remove(e)``
    overrides the ``add(e)`` it saw, ``clear()`` and reset every add it saw; so an add concurrent
    with a remove survives."""

    def items(x: Event, _: frozenset[Item]) -> Iterable[Item]:
        return [(x.id, x.op.args[0])] if x.op.name == "add" else ()

    def overrides(x: Event, item: Item, _: frozenset[Item]) -> bool:
        return x.op.name in ("clear", "reset") or x.op.args[0] == item[1]

    value = frozenset(e for _, e in _Effects(events, items, overrides).final(view))
    return value, bool(value)


def rwset_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[frozenset[Any], bool]:
    """Remove-wins: ``add(e)`` and ``remove(e)`` leave a token for ``e`` and override the tokens of
    ``e`` they saw; ``e`` is present iff tokens of ``e`` are in force and all are adds, so a remove
    concurrent with an add wins. ``clear()`` is a ``remove(e)`` of every element present where it
    ran. ``present``: some token is in force."""

    def present(tokens: Iterable[Item]) -> frozenset[Any]:
        adds: dict[Any, bool] = {}
        for _, e, add in tokens:
            adds[e] = adds.get(e, True) and add
        return frozenset(e for e, ok in adds.items() if ok)

    def items(x: Event, before: frozenset[Item]) -> Iterable[Item]:
        n = x.op.name
        if n in ("add", "remove"):
            return [(x.id, x.op.args[0], n == "add")]
        if n == "clear":
            return [(x.id, e, False) for e in present(before)]
        return ()

    def overrides(x: Event, item: Item, _: frozenset[Item]) -> bool:
        return x.op.name == "reset" or any(item[1] == t[1] for t in fx.items(x))

    fx = _Effects(events, items, overrides)
    live = fx.final(view)
    return present(live), bool(live)


def lwwregister_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> Any:
    """The value of the assign with the highest timestamp (``note``); None before any."""
    events = _seen(events, view)
    if not events:
        return None
    return max(events, key=lambda e: e.note).op.args[0]


def lwwmap_model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> dict[Any, Any]:
    """Per key, the write (set or remove) with the highest timestamp; keys whose winner is a set."""
    winners: dict[Any, Event] = {}
    for e in _seen(events, view):
        k = e.op.args[0]
        w = winners.get(k)
        if w is None or e.note > w.note:
            winners[k] = e
    return {k: e.op.args[1] for k, e in winners.items() if e.op.name == "set"}


ACTORS: tuple[str | None, ...] = (None, "alice", "bob")


def conflict_register_ops(replicas: Sequence[str] = (), values: st.SearchStrategy[Any] | None = None,
                          *, pick: bool = True) -> st.SearchStrategy[Op]:
    """``assign(v, actor)``, ``resolve(v, None, actor)`` and, with ``pick``, ``resolve()`` (which writes
    the policy's pick among the siblings it sees)."""
    vs = register_values() if values is None else values
    actor = st.sampled_from(ACTORS)
    assign = _op("assign", vs, actor)
    choices = [assign, assign, _op("resolve", vs, st.none(), actor)]
    if pick:
        choices.append(st.just(Op("resolve")))
    return st.one_of(choices)


def conflict_map_ops(replicas: Sequence[str] = (), values: st.SearchStrategy[Any] | None = None,
                     *, pick: bool = True) -> st.SearchStrategy[Op]:
    """``set(k, v, actor)``, ``resolve(k, v, None, actor)``, ``remove(k)`` and, with ``pick``,
    ``resolve(k)``."""
    vs = register_values() if values is None else values
    actor = st.sampled_from(ACTORS)
    put = _op("set", keys(), vs, actor)
    choices = [put, put, _op("resolve", keys(), vs, st.none(), actor), _op("remove", keys())]
    if pick:
        choices.append(_op("resolve", keys()))
    return st.one_of(choices)


def _sibling_model(events: Sequence[Event], view: AbstractSet[int] | None, policy: Callable[[Any], Any],
                   keyed: bool) -> dict[Any, tuple[Any, ...]]:
    """Siblings per key (``keyed``: the first argument; else one key, None) for the conflict types.
    Every write (set, assign, resolve) leaves a sibling and overrides the siblings of its key it saw,
    as an MVRegister; a remove only overrides. A write without a value (``resolve()``) writes the
    policy's pick among the siblings of its key where it ran, and nothing if it saw none (there is
    nothing to resolve). Siblings are ordered by (replica, seq)."""
    from crdts.conflicts import Sibling

    skip = 1 if keyed else 0  # the arguments before the value

    def key(x: Event) -> Any:
        return x.op.args[0] if keyed else None

    written: dict[int, Sibling] = {}  # event id -> its sibling (values may be lists: not in the items)

    def groups(items: Iterable[Item]) -> dict[Any, tuple[Any, ...]]:
        out: dict[Any, list[tuple[tuple[str, int], int]]] = {}
        for i, k, order in items:
            out.setdefault(k, []).append((order, i))
        return {k: tuple(written[i] for _, i in sorted(v)) for k, v in out.items()}

    def items(x: Event, before: frozenset[Item]) -> Iterable[Item]:
        if x.op.name == "remove":
            return ()
        k, args = key(x), x.op.args[skip:]
        if args:
            v, actor = args[0], args[-1]
        else:
            sibs = groups(before).get(k, ())
            if not sibs:
                return ()  # nothing to resolve: no write
            v, actor = policy(sibs), None
        written[x.id] = Sibling(v, x.replica, x.note, actor, x.op.name == "resolve")
        return [(x.id, k, (x.replica, x.seq))]

    def overrides(x: Event, item: Item, _: frozenset[Item]) -> bool:
        return bool(key(x) == item[1])

    return groups(_Effects(events, items, overrides).final(view))


def conflict_register_model(policy: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """The model of a ConflictRegister read as ``(value, siblings, conflicts)``: the siblings are the
    writes in force (an MVRegister), ordered by (replica, seq), each with its value, replica,
    timestamp (the event's ``note``), actor and whether it was a ``resolve``; the value is the
    policy's pick (``lww`` by default); conflicts are the siblings when there are two or more."""
    from crdts.conflicts import lww

    pol = policy or lww

    def model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[Any, ...]:
        sibs = _sibling_model(events, view, pol, keyed=False).get(None, ())
        return (pol(sibs) if sibs else None, sibs, sibs if len(sibs) > 1 else ())

    return model


def conflict_map_model(policy: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """The model of a ConflictMap read as ``(value, siblings per key, conflicted keys)``: per key, the
    ConflictRegister model, where ``remove(k)`` overrides the siblings of ``k`` it saw (so a
    concurrent ``set`` survives); a key is present while it has siblings."""
    from crdts.conflicts import lww

    pol = policy or lww

    def model(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[Any, ...]:
        per_key = _sibling_model(events, view, pol, keyed=True)
        return ({k: pol(s) for k, s in per_key.items()}, per_key,
                frozenset(k for k, s in per_key.items() if len(s) > 1))

    return model


def read_conflict_register(x: Any) -> tuple[Any, ...]:
    """``(value, siblings, conflicts)`` of a ConflictRegister."""
    return (x.value, x.siblings, x.conflicts)


def read_conflict_map(m: Any) -> tuple[Any, ...]:
    """``(value, {key: siblings}, conflicted keys)`` of a ConflictMap, after checking its read API."""
    v = read_map(m)
    per_key = {k: m.siblings(k) for k in list(m)}
    for k, sibs in per_key.items():
        if m.conflicts(k) != (sibs if len(sibs) > 1 else ()):
            raise LawError(f"ConflictMap.conflicts({k!r}) disagrees with its siblings {sibs!r}")
    return (v, per_key, m.conflicted_keys())


def ormap_spec(values: Mapping[Hashable, TypeSpec | Sequence[TypeSpec]], *, name: str | None = None,
               remove_weight: int = 1) -> TypeSpec:
    """A spec for :class:`~crdts.ORMap` whose key ``k`` holds ``values[k]``: the spec of a causal type
    (one with a ``nested`` model), or several, in which case each update of ``k`` picks one of them
    (replicas that disagree on a key's class). ``update`` names ``spec.nest_as or spec.cls``.
    Operations: ``update(k, spec name, op)``, ``remove(k)``, ``clear()``.

    Model: per key and class, the nested model over the updates of that key with that class, where a
    ``remove(key)`` or ``clear()`` (of this map, or of an enclosing one) becomes a :data:`RESET` that
    cancels exactly the operations on the key it saw. A key is present iff its nested model says
    something of it survives; if it survives under several classes, the map shows the one whose
    class name sorts first.
    """
    table: dict[Hashable, dict[str, TypeSpec]] = {}
    for k, v in values.items():
        specs = [v] if isinstance(v, TypeSpec) else list(v)
        if len({s.cls for s in specs}) != len(specs):
            raise ValueError(f"key {k!r}: two specs of one class")
        for spec in specs:
            if spec.nested is None:
                raise ValueError(f"the spec for key {k!r} ({spec.name}) has no nested model")
        table[k] = {s.name: s for s in specs}
    key_list = list(table)

    def ops(replicas: Sequence[str]) -> st.SearchStrategy[Op]:
        def tag(k: Hashable, sn: str) -> Callable[[Op], Op]:
            return lambda op: Op("update", (k, sn, op))

        updates = st.one_of([spec.ops(replicas).map(tag(k, sn)) for k in key_list for sn, spec in table[k].items()])
        removes = st.sampled_from(key_list).map(lambda k: Op("remove", (k,)))
        return st.one_of([updates] * 4 + [removes] * remove_weight + [st.just(Op("clear"))])

    def apply(m: Any, op: Op) -> Any:
        if op.name == "update":
            k, sn, inner = op.args
            spec = table[k][sn]
            return m.update(k, spec.nest_as or spec.cls, lambda c: spec.apply(c, inner))
        return call(m, op)

    def nested(events: Sequence[Event], view: AbstractSet[int] | None = None) -> tuple[dict[Any, Any], bool]:
        out: dict[Any, Any] = {}
        for k in key_list:
            shown: tuple[str, Any] | None = None
            for sn, spec in table[k].items():
                sub: list[Event] = []
                updated = False
                for e in events:
                    n = e.op.name
                    if n == "update" and e.op.args[0] == k and e.op.args[1] == sn:
                        sub.append(attrs.evolve(e, op=e.op.args[2]))
                        updated = True
                    elif (n == "remove" and e.op.args[0] == k) or n in ("clear", "reset"):
                        sub.append(attrs.evolve(e, op=RESET))
                if updated:
                    v, present = spec.nested(sub, view)  # type: ignore[misc]
                    if present and (shown is None or spec.cls.__name__ < shown[0]):
                        shown = (spec.cls.__name__, v)
            if shown is not None:
                out[k] = shown[1]
        return out, bool(out)

    label = name or "ORMap[" + ", ".join(f"{k}: {'|'.join(table[k])}" for k in key_list) + "]"
    return TypeSpec(cls=crdts.ORMap, ops=ops, apply=apply, model=lambda ev, view=None: nested(ev, view)[0],
                    nested=nested, read=read_map, local_model=True, name=label)


def read_set(x: Any) -> frozenset[Any]:
    """``x.value``, after checking that ``len``, ``in`` and iteration agree with it."""
    v = x.value
    if not isinstance(v, frozenset):
        raise LawError(f"{type(x).__name__}.value is a {type(v).__name__}, not a frozenset")
    if len(x) != len(v) or frozenset(iter(x)) != v or not all(e in x for e in v):
        raise LawError(f"{type(x).__name__}: len/in/iteration disagree with value {v!r}")
    for e in ELEMENTS:
        if (e in x) != (e in v):
            raise LawError(f"{type(x).__name__}: {e!r} in x is {e in x} but the value is {v!r}")
    return v


def read_map(m: Any) -> dict[Any, Any]:
    """``m.value``, after checking that ``len``, ``in``, ``keys()``, ``get``/``m[k]`` agree with it;
    for an ORMap, ``m[k]`` must be an unbound copy whose value is ``m.value[k]``."""
    v = m.value
    if not isinstance(v, dict):
        raise LawError(f"{type(m).__name__}.value is a {type(v).__name__}, not a dict")
    if len(m) != len(v) or set(m.keys()) != set(v) or not all(k in m for k in v):
        raise LawError(f"{type(m).__name__}: len/in/keys() disagree with value {v!r}")
    for k in KEYS:
        if (k in m) != (k in v):
            raise LawError(f"{type(m).__name__}: {k!r} in m is {k in m} but the value is {v!r}")
    for k, nested_value in v.items():
        got = m[k]
        if isinstance(m, crdts.ORMap):
            if getattr(got, "replica", None) is not None or got.value != nested_value:
                raise LawError(f"ORMap: m[{k!r}] is {got!r}, not an unbound copy with value {nested_value!r}")
        elif got != nested_value or m.get(k) != nested_value:
            raise LawError(f"{type(m).__name__}: m[{k!r}] is {got!r} but the value says {nested_value!r}")
    return v



# --------------------------------------------------------------------------------------------
# The registry: one spec (or more) per exported type. Adding a type to crdts means adding its spec here;
# the project's meta-test fails until every exported type has one.

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

#: Every spec of an exported type, in a stable order (test ids are the names).
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
