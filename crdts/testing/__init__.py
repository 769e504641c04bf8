"""The crdts law suite, public: run the laws every built-in type obeys on your own CRDTs.

Needs hypothesis (``pip install crdts[testing]``). A type plugs in with a :class:`TypeSpec`: its
class, a strategy of operations, how to run one operation, and a *model*: a specification of the
value as a function of the causal history (every operation, the replica that made it and the
operations that replica had seen when it made it). The laws are:

* the join laws: ``merge`` is idempotent, commutative and associative (compared with ``==``), and a
  fresh unbound object is its identity;
* every mutator inflates its replica and returns a delta that, merged into a copy taken before the
  mutation, gives the mutated replica (the delta law);
* merging another class raises ``TypeError``; mutating an unbound object raises ``ReplicaRequired``;
* a merge that is refused (``crdts.CRDTError``, e.g. a dot that carries two payloads) changes nothing;
* ``copy`` and ``merge`` never share state; ``_check()`` passes after every step;
* ``crdts.encode``/``decode`` round-trip to an equal object and equal objects encode to equal bytes;
* join decomposition: ``decompose()`` and ``delta_for()`` (what the ``bprr`` protocol relies on);
* replicas converge through every sync protocol (the simulator, with loss, duplication, reordering);
* **model agreement**: a random history over 2-4 replicas with arbitrary delivery of deltas and
  full states (any order, duplicates, omissions), then a full exchange, leaves every replica equal
  and with the value the model gives.

Use it from pytest, one test per law::

    import pytest
    from crdts.testing import LAWS, TypeSpec, Op, call
    from hypothesis import strategies as st

    SPEC = TypeSpec(cls=MyCounter, ops=lambda replicas: st.builds(Op, st.just("increment"),
                    st.tuples(st.integers(0, 3))), model=lambda events: sum(e.op.args[0] for e in events))

    @pytest.mark.parametrize("law", sorted(LAWS))
    def test_laws(law):
        LAWS[law](SPEC)

A :class:`Cluster` is a set of simulated replicas that records that history:

>>> from crdts import GCounter
>>> spec = TypeSpec(cls=GCounter, ops=gcounter_ops, model=gcounter_model)
>>> cluster = Cluster(spec, ["eu", "us"])
>>> delta, ids = cluster.op("eu", Op("increment", (2,)))
>>> _ = cluster.op("us", Op("increment", (3,)))
>>> cluster.merge("us", delta, ids)          # us has now seen eu's operation
>>> [(e.replica, e.op, sorted(e.past)) for e in cluster.events]
[('eu', increment(2), []), ('us', increment(3), [])]
>>> cluster.sync_all(); cluster.check_converged()     # equal, and the value the model gives
>>> cluster.objects["us"].value
5
>>> check_laws(spec, ["model", "mutators"], settings=hypothesis.settings(max_examples=5, database=None))

How the causal history is recorded: each replica keeps the set of operation ids
it has seen, its own operations plus those carried by what it merged. The delta of an operation
carries that one operation; a full state carries everything its sender had seen. An
:class:`Event`'s ``past`` is that set when the operation ran. Because deltas may arrive in any
order, ``past`` is *not* closed under causality: a replica may merge the delta of ``b`` (which saw
``a``) before, or without, the delta of ``a``. The models below are written for that: an operation
overrides the operations *it* saw, and what it overrode stays overridden.

The models of the built-in types share one shape: an operation **cancels** the operations in its
``past`` that it overrides (an AWSet ``add(e)``/``remove(e)`` cancels the ``add(e)`` it saw, a
``clear()`` all of them; any MVRegister assign cancels the assigns it saw; ...), the value is read
from the operations nobody cancelled. A causal type nested in an :class:`~crdts.ORMap` sees a
``remove(key)``/``clear()`` of the map as a ``reset`` operation that cancels every operation on the
key it saw; the ``nested`` model of a spec returns ``(value, present)`` so the map model knows
whether the key is still there.
"""

from __future__ import annotations

import itertools
import re
import unittest
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

try:
    import hypothesis
    from hypothesis import given, note
    from hypothesis import strategies as st
    from hypothesis.control import currently_in_test_context
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "crdts.testing needs hypothesis, an optional dependency: pip install crdts[testing]"
    ) from exc

import attrs

import crdts
from crdts.kernel import same

__all__ = [
    "LAWS",
    "RESET",
    "LawError",
    "Cluster",
    "Event",
    "Op",
    "TypeSpec",
    "amounts",
    "call",
    "check_laws",
    "elements",
    "from_wire",
    "keys",
    "plans",
    "register_values",
    "run_plan",
    "ticking_clock",
    "to_wire",
]


# --------------------------------------------------------------------------------------------
# Operations, histories and type specs


@attrs.frozen(repr=False)
class Op:
    """One operation: a method name and its arguments, e.g. ``Op("add", ("a",))``.

    ORMap updates nest: ``Op("update", ("k1", Op("add", ("a",))))``.
    """

    name: str
    args: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(map(repr, self.args))})"


#: The operation a map's ``remove(key)``/``clear()`` becomes in the history of a nested value.
RESET = Op("reset")


@attrs.frozen
class Event:
    """One operation of a causal history.

    ``id`` is unique in the history; ``seq`` counts the operations of ``replica`` (1, 2, ...), so
    ``(replica, seq)`` orders a replica's operations; ``past`` holds the ids of the operations the
    replica had seen when it ran this one (not this one); ``note`` is what :attr:`TypeSpec.record`
    kept (the timestamp of a last-writer-wins write).
    """

    id: int
    replica: str
    seq: int
    op: Op
    past: frozenset[int]
    note: Any = None


class LawError(AssertionError):
    """A law does not hold; the message says which, on which objects."""


def call(obj: Any, op: Op) -> Any:
    """Run ``op`` as a method call, ``getattr(obj, op.name)(*op.args)``, and return its delta."""
    return getattr(obj, op.name)(*op.args)


def _value(obj: Any) -> Any:
    return obj.value


@attrs.frozen(kw_only=True)
class TypeSpec:
    """Everything the laws need to know about one CRDT type.

    * ``cls``: the class.
    * ``ops``: ``(replica_ids) -> strategy of Op``. Draw from small domains so operations collide.
    * ``model``: ``(events) -> expected value``: the specification of the value as a function of the
      causal history (a sequence of :class:`Event` in execution order). Compared with ``read(obj)``.
    * ``apply``: runs one :class:`Op` on a replica object and returns the delta (default :func:`call`).
    * ``factory``: ``(replica or None) -> new object`` when ``cls(replica=...)`` is not enough
      (e.g. to inject a deterministic clock).
    * ``read``: the observable value compared with the model (default ``obj.value``).
    * ``record``: ``(obj, op, delta) -> note`` kept in the :class:`Event` (e.g. a timestamp).
    * ``local_model``: if True, ``model(events, view=ids)`` also gives the value at a replica that has
      seen only the operations ``ids``, and the laws check every replica after every step, not only
      after the final exchange. True for types whose deltas carry exactly their operation's effects
      (not GCounter and PNCounter, whose deltas carry their replica's running totals).
    * ``nested``: for causal types that nest in an ORMap: ``(events, view=None) -> (value, present)``
      where the events may include :data:`RESET` operations.
    * ``nest_as``: the class to name in ``ORMap.update`` (default ``cls``).
    * ``name``: shown in test ids (default the class name).
    """

    cls: type
    ops: Callable[[Sequence[str]], st.SearchStrategy[Op]]
    model: Callable[..., Any]
    apply: Callable[[Any, Op], Any] = call
    factory: Callable[[str | None], Any] | None = None
    read: Callable[[Any], Any] = _value
    record: Callable[[Any, Op, Any], Any] | None = None
    local_model: bool = False
    nested: Callable[..., tuple[Any, bool]] | None = None
    nest_as: type | None = None
    name: str = attrs.field()

    @name.default
    def _name(self) -> str:
        return self.cls.__name__

    def make(self, replica: str | None) -> Any:
        """A fresh object bound to ``replica`` (None: unbound, the bottom of the lattice)."""
        if self.factory is not None:
            return self.factory(replica)
        return self.cls(replica=replica)

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------------------------
# Strategies: small domains, so that operations on the same element, key or flag collide.

#: Elements: a few strings, the numbers 1, 1.0 and True (which are one element), a tuple and None.
ELEMENTS: tuple[Hashable, ...] = ("a", "b", 1, 1.0, "c", True, ("t", 1), None)
#: Map keys.
KEYS: tuple[Hashable, ...] = ("k1", "k2", 1, True, "k3")


def _domain(values: Sequence[Any], key: str) -> st.SearchStrategy[Any]:
    # Each example draws once how much of the domain it uses (all draws in one example share it), so
    # that some examples hammer one or two values while others spread over all of them.
    size = st.shared(st.integers(1, len(values)), key=f"crdts.testing.{key}")
    return size.flatmap(lambda k: st.sampled_from(values[:k]))


def elements() -> st.SearchStrategy[Hashable]:
    """Set elements from a small domain: ``"a"``, ``"b"``, ``"c"``, the one element 1 == 1.0 == True,
    a tuple and None. Each example uses a prefix of that list, so some use only ``"a"``."""
    return _domain(ELEMENTS, "elements")


def keys() -> st.SearchStrategy[Hashable]:
    """Map keys from a small domain (each example uses a prefix of :data:`KEYS`)."""
    return _domain(KEYS, "keys")


def amounts() -> st.SearchStrategy[int]:
    """Counter amounts: small, including 0."""
    return st.integers(0, 5)


def register_values() -> st.SearchStrategy[Any]:
    """Register values: a few scalars, and small lists and dicts (str keys) of them. The scalars include
    values that ``==`` cannot tell apart but the wire format can: 0, 0.0 and -0.0; 1, True and 1.0."""
    scalars = st.sampled_from([None, 0, 1, True, 2.5, "x", "y", b"z", ("t", 1), 0.0, -0.0, 1.0])
    return st.one_of(
        scalars,
        scalars,
        st.lists(scalars, max_size=2),
        st.dictionaries(st.sampled_from(["p", "q"]), scalars, max_size=2),
    )



def ticking_clock(replica: str) -> crdts.HLC:
    """A deterministic hybrid logical clock for tests: its wall time starts at a per-replica skew
    (0..2) and advances one tick every second reading, so replicas' writes often tie on wall time
    and the logical counter and replica id break the ties."""
    skew = sum(map(ord, replica)) % 3
    ticks = itertools.count()
    return crdts.HLC(replica, time_source=lambda: skew + next(ticks) // 2)



# --------------------------------------------------------------------------------------------
# Wire and a cluster of simulated replicas that records the causal history.


def _note(text: str) -> None:
    """``hypothesis.note`` inside a test, nothing outside one."""
    if currently_in_test_context():
        note(text)


def _codec() -> tuple[Callable[..., bytes], Callable[..., Any]] | None:
    enc, dec = getattr(crdts, "encode", None), getattr(crdts, "decode", None)
    return (enc, dec) if enc is not None and dec is not None else None


def to_wire(obj: Any) -> Any:
    """What travels: ``crdts.encode(obj)`` bytes if the codec exists, else an unbound copy."""
    codec = _codec()
    return codec[0](obj) if codec else obj.copy(replica=None)


def from_wire(data: Any) -> Any:
    codec = _codec()
    return codec[1](data) if codec else data.copy(replica=None)


def _describe(obj: Any) -> str:
    return f"{obj!r} (value {_safe_read(obj)!r})"


def _safe_read(obj: Any) -> Any:
    try:
        return obj.value
    except Exception as exc:  # only for messages
        return f"<value raised {exc!r}>"


class Cluster:
    """Simulated replicas of one type that record the causal history of what they do.

    ``op(r, op)`` runs an operation on replica ``r`` and returns ``(delta, ids)``; ``merge(r, state,
    ids)`` merges a delta or state carrying the operation ids ``ids``; ``state(r)`` gives a full
    state and the ids it carries. Every step runs ``_check()`` on what it touched; with
    ``check_mutators=True`` every operation also checks inflation and the delta law; with
    ``check_local=True`` and a spec with ``local_model``, the replica a step touched must read what the
    model says of the operations it has seen.
    """

    def __init__(self, spec: TypeSpec, replicas: Iterable[str], *, check_mutators: bool = True,
                 check_local: bool = True) -> None:
        self.spec = spec
        self.replicas = list(replicas)
        self.objects: dict[str, Any] = {r: spec.make(r) for r in self.replicas}
        self.seen: dict[str, set[int]] = {r: set() for r in self.replicas}
        self.events: list[Event] = []
        self.check_mutators = check_mutators
        self.check_local = check_local and spec.local_model
        self._seq: dict[str, int] = {r: 0 for r in self.replicas}

    def op(self, r: str, op: Op) -> tuple[Any, frozenset[int]]:
        spec, x = self.spec, self.objects[r]
        before = x.copy(replica=None) if self.check_mutators else None
        past = frozenset(self.seen[r])
        delta = spec.apply(x, op)
        _note(f"{r}: {op!r}")
        x._check()
        if type(delta) is not type(x):
            raise LawError(f"{spec.name}: {op!r} returned {delta!r}, not a {type(x).__name__} delta")
        delta._check()
        if getattr(delta, "replica", None) is not None:
            raise LawError(f"{spec.name}: the delta of {op!r} is bound to {delta.replica!r}; deltas are unbound")
        if before is not None:
            _check_mutation(spec, op, before, x, delta)
        self._seq[r] += 1
        eid = len(self.events)
        rec = spec.record(x, op, delta) if spec.record is not None else None
        self.events.append(Event(eid, r, self._seq[r], op, past, rec))
        self.seen[r].add(eid)
        self.check_replica(r, f"after {r} ran {op!r}")
        return delta, frozenset([eid])

    def fork(self) -> Cluster:
        """An independent copy of this cluster, replicas and history, as if every replica were restored
        from a backup: the two forks will reuse the same dots and timestamps for different operations."""
        twin = Cluster(self.spec, self.replicas, check_mutators=self.check_mutators, check_local=self.check_local)
        for r, x in self.objects.items():
            twin.objects[r] = x.copy()  # the replica's own state, restored as it is (same binding)
        twin.seen = {r: set(ids) for r, ids in self.seen.items()}
        twin.events = list(self.events)
        twin._seq = dict(self._seq)
        return twin

    def state(self, r: str) -> tuple[Any, frozenset[int]]:
        return self.objects[r].copy(replica=None), frozenset(self.seen[r])

    def merge(self, r: str, state: Any, ids: Iterable[int]) -> None:
        x = self.objects[r]
        x.merge(state)
        x._check()
        self.seen[r].update(ids)
        self.check_replica(r, f"after {r} merged operations {sorted(ids)}")

    def check_replica(self, r: str, when: str = "now") -> None:
        """``_check()`` and the read API of replica ``r``; with ``check_local``, its value against the model
        of what it has seen."""
        self.objects[r]._check()
        if not self.check_local:
            self.spec.read(self.objects[r])  # still checks the read API's consistency
            return
        expected = self.spec.model(self.events, view=frozenset(self.seen[r]))
        got = self.spec.read(self.objects[r])
        if not _same(got, expected):
            raise LawError(f"{self.spec.name}: {when}, {r} reads {got!r} but the model of what it has seen "
                           f"({sorted(self.seen[r])}) says {expected!r}.\n{self.history()}")

    def history(self) -> str:
        """The causal history, one operation a line."""
        lines = [f"  #{e.id} {e.replica}: {e.op!r} saw {sorted(e.past)}"
                 + (f" note={e.note!r}" if e.note is not None else "") for e in self.events]
        return "History:\n" + "\n".join(lines)

    def sync_all(self, wire: bool = True) -> None:
        """Exchange full states until everyone has everything (two rounds through replica 0)."""
        hub = self.replicas[0]
        for r in self.replicas[1:]:
            s, ids = self.state(r)
            self.merge(hub, from_wire(to_wire(s)) if wire else s, ids)
        s, ids = self.state(hub)
        for r in self.replicas[1:]:
            self.merge(r, from_wire(to_wire(s)) if wire else s, ids)

    def check_converged(self) -> None:
        """After :meth:`sync_all`: all replicas equal, and each one's value is the model's."""
        spec = self.spec
        first = self.objects[self.replicas[0]]
        for r in self.replicas[1:]:
            if self.objects[r] != first:
                raise LawError(f"{spec.name}: after a full exchange replica {r} differs from "
                               f"{self.replicas[0]}:\n  {_describe(self.objects[r])}\n  {_describe(first)}")
        expected = spec.model(self.events)
        for r in self.replicas:
            got = spec.read(self.objects[r])
            if not _same(got, expected):
                raise LawError(f"{spec.name}: replica {r} reads {got!r} but the model says {expected!r}.\n"
                               f"{self.history()}")


def _same(a: Any, b: Any) -> bool:
    """Equality of plain values, strict about types where crdts keeps them (:func:`crdts.kernel.same`).

    Set members and dict keys compare with ``==`` (crdts canonicalises them: 1, 1.0 and True are one
    element). Everything else, register values above all, must also have the same type and floats the
    same sign of zero: a register assigned ``True`` must not read ``1``, ``("t", 1)`` not ``["t", 1]``,
    ``-0.0`` not ``0.0``.
    """
    return same(a, b)


def _check_mutation(spec: TypeSpec, op: Op, before: Any, after: Any, delta: Any) -> None:
    joined = before.copy()
    joined.merge(after)
    if joined != after:
        raise LawError(f"{spec.name}: {op!r} does not inflate: before ⊔ after != after\n"
                       f"  before: {_describe(before)}\n  after: {_describe(after)}")
    patched = before.copy()
    patched.merge(delta)
    if patched != after:
        raise LawError(f"{spec.name}: delta law fails for {op!r}: before ⊔ delta != after\n"
                       f"  before: {_describe(before)}\n  delta: {_describe(delta)}\n"
                       f"  before ⊔ delta: {_describe(patched)}\n  after: {_describe(after)}")


# --------------------------------------------------------------------------------------------
# Plans: random histories as data, so failures shrink and print as a readable list of steps.

REPLICA_IDS = ("r1", "r2", "r3", "r4")


def plans(spec: TypeSpec, *, min_replicas: int = 2, max_replicas: int = 4, max_steps: int = 16,
          replicas: Sequence[str] | None = None) -> st.SearchStrategy[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """``(replicas, steps)``: a random history, as data, so that it shrinks and prints. Steps:

    * ``("op", r, op, inbox)``: replica ``r`` first merges the deltas named by ``inbox`` (each an
      index counted back from the most recent operation, modulo their number), then runs ``op``;
    * ``("deliver", i, r)``: merge one delta into ``r`` (so deltas arrive in any order, twice, or never);
    * ``("sync", src, dst)``: merge ``src``'s full state into ``dst``.

    Deliveries cluster just before operations and favour recent deltas, so that chains such as
    "r1 does x; r2 merges x and does y; r3 merges only y and does z" are common: out-of-order delivery
    only matters when a replica acts on what it has merged. ``replicas`` fixes the replica ids
    (default: the first 2-4 of r1..r4).
    """

    def for_replicas(n: int) -> st.SearchStrategy[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        rs = tuple(replicas) if replicas is not None else REPLICA_IDS[:n]
        replica = st.sampled_from(rs)
        back = st.just(0) | st.integers(0, 3) | st.integers(0, 31)
        inbox = st.lists(back, max_size=2).map(tuple)
        op_step = st.tuples(st.just("op"), replica, spec.ops(rs), inbox)
        step = st.one_of(op_step, op_step, op_step, st.tuples(st.just("deliver"), back, replica),
                         st.tuples(st.just("sync"), replica, replica))
        # Lengths spread evenly up to max_steps (st.lists alone averages about five steps).
        steps = st.integers(0, max_steps).flatmap(lambda k: st.lists(step, min_size=k, max_size=k))
        return st.tuples(st.just(rs), steps)

    if replicas is not None:
        return for_replicas(len(replicas))
    return st.integers(min_replicas, max_replicas).flatmap(for_replicas)


def run_plan(spec: TypeSpec, plan: tuple[Sequence[str], Sequence[tuple[Any, ...]]], *,
             check_mutators: bool = False, pool: list[Any] | None = None, cluster: Cluster | None = None
             ) -> Cluster:
    """Run a plan (see :func:`plans`) on a fresh :class:`Cluster` (or on ``cluster``, to continue its
    history); collect unbound states and deltas into ``pool`` if given."""
    replicas, steps = plan
    if cluster is None:
        cluster = Cluster(spec, replicas, check_mutators=check_mutators)
    deltas: list[tuple[Any, frozenset[int]]] = []

    def deliver(back: int, r: str) -> None:
        if deltas:
            d, ids = deltas[-1 - back % len(deltas)]
            _note(f"deliver the delta of #{min(ids)} to {r}")
            cluster.merge(r, d, ids)
            if pool is not None:
                pool.append(cluster.objects[r].copy(replica=None))

    for step in steps:
        kind = step[0]
        if kind == "op":
            _, r, op, inbox = step
            for back in inbox:
                deliver(back, r)
            d, ids = cluster.op(r, op)
            deltas.append((d, ids))
            if pool is not None:
                pool.append(d)
                pool.append(cluster.objects[r].copy(replica=None))
        elif kind == "deliver":
            deliver(step[1], step[2])
        else:
            _, src, dst = step
            if src != dst:
                _note(f"sync {src} -> {dst}")
                cluster.merge(dst, *cluster.state(src))
                if pool is not None:
                    pool.append(cluster.objects[dst].copy(replica=None))
    return cluster


# --------------------------------------------------------------------------------------------
# The laws. Each takes a TypeSpec and runs a hypothesis test (under the current settings profile,
# or ``settings`` if given); it raises on the first counterexample.


def _run(law: str, spec: TypeSpec, test: Callable[..., None], settings: hypothesis.settings | None,
         *strategies: st.SearchStrategy[Any]) -> None:
    test.__name__ = re.sub(r"\W+", "_", f"{law}_{spec.name}").strip("_")
    test.__qualname__ = f"{law}[{spec.name}]"
    # Distinct database keys (and derandomized seeds) per law and spec.
    test._hypothesis_internal_add_digest = f"crdts.testing:{law}:{spec.name}".encode()  # type: ignore[attr-defined]
    wrapped = given(*strategies)(test)
    if settings is not None:
        wrapped = settings(wrapped)
    wrapped()


def _pool_and_picks(spec: TypeSpec, data: st.DataObject, n: int) -> list[Any]:
    plan = data.draw(plans(spec), label="plan")
    pool: list[Any] = [spec.make(None)]
    run_plan(spec, plan, pool=pool)
    picks = []
    for i in range(n):
        j = data.draw(st.integers(0, len(pool) - 1), label=f"state {i}")
        picks.append(pool[j].copy())
    return picks


def _merged(a: Any, b: Any) -> Any:
    c = a.copy()
    c.merge(b)
    return c


def law_idempotent(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """``x ⊔ x == x``; ``x == x.copy()``; equality ignores the replica binding."""

    def test(data: st.DataObject) -> None:
        (x,) = _pool_and_picks(spec, data, 1)
        if _merged(x, x) != x:
            raise LawError(f"{spec.name}: merge is not idempotent: x ⊔ x != x for {_describe(x)}")
        if x.copy() != x or x.copy(replica="zz") != x:
            raise LawError(f"{spec.name}: a copy (or a rebound copy) differs from its original: {_describe(x)}")

    _run("idempotent", spec, test, settings, st.data())


def law_commutative(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """``x ⊔ y == y ⊔ x``."""

    def test(data: st.DataObject) -> None:
        x, y = _pool_and_picks(spec, data, 2)
        xy, yx = _merged(x, y), _merged(y, x)
        if xy != yx:
            raise LawError(f"{spec.name}: merge is not commutative:\n  x = {_describe(x)}\n  y = {_describe(y)}\n"
                           f"  x ⊔ y = {_describe(xy)}\n  y ⊔ x = {_describe(yx)}")

    _run("commutative", spec, test, settings, st.data())


def law_associative(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """``(x ⊔ y) ⊔ z == x ⊔ (y ⊔ z)``."""

    def test(data: st.DataObject) -> None:
        x, y, z = _pool_and_picks(spec, data, 3)
        left, right = _merged(_merged(x, y), z), _merged(x, _merged(y, z))
        if left != right:
            raise LawError(f"{spec.name}: merge is not associative:\n  x = {_describe(x)}\n  y = {_describe(y)}\n"
                           f"  z = {_describe(z)}\n  (x ⊔ y) ⊔ z = {_describe(left)}\n"
                           f"  x ⊔ (y ⊔ z) = {_describe(right)}")

    _run("associative", spec, test, settings, st.data())


def law_bottom(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """A fresh object (unbound or bound) is the identity of merge."""

    def test(data: st.DataObject) -> None:
        (x,) = _pool_and_picks(spec, data, 1)
        for bottom in (spec.make(None), spec.make("zz")):
            if _merged(bottom, x) != x or _merged(x, bottom) != x:
                raise LawError(f"{spec.name}: a fresh object is not the identity of merge for {_describe(x)}")
        if spec.make(None) != spec.make("zz"):
            raise LawError(f"{spec.name}: fresh objects bound and unbound are not equal")

    _run("bottom", spec, test, settings, st.data())


def law_mutators(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """Every operation inflates its replica (``x ⊑ x'``) and returns an unbound delta of the same class
    with ``x ⊔ delta == x'`` (the delta law); ``_check()`` passes on both."""

    def test(plan: Any) -> None:
        run_plan(spec, plan, check_mutators=True)

    _run("mutators", spec, test, settings, plans(spec))


def law_merge_type_error(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """Merging an object of another class raises TypeError and changes nothing."""
    others: list[Any] = [object(), None, 3, frozenset()]
    for cls in (crdts.GCounter, crdts.GSet, crdts.AWSet):
        if cls is not spec.cls:
            others.append(cls(replica=None))

    def test(data: st.DataObject) -> None:
        (x,) = _pool_and_picks(spec, data, 1)
        before = x.copy()
        for other in others:
            try:
                x.merge(other)
            except TypeError:
                pass
            else:
                raise LawError(f"{spec.name}: merging {other!r} did not raise TypeError")
            if x != before:
                raise LawError(f"{spec.name}: a refused merge of {other!r} changed the object")

    _run("merge_type_error", spec, test, settings, st.data())


def law_replica_required(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """A mutator on an unbound object (a delta, a copy with ``replica=None``) raises ReplicaRequired
    and changes nothing."""

    def test(data: st.DataObject) -> None:
        (x,) = _pool_and_picks(spec, data, 1)
        x = x.copy(replica=None)
        before = x.copy()
        op = data.draw(spec.ops(REPLICA_IDS), label="op")
        try:
            spec.apply(x, op)
        except crdts.ReplicaRequired:
            pass
        else:
            raise LawError(f"{spec.name}: {op!r} on an unbound object did not raise ReplicaRequired")
        if x != before:
            raise LawError(f"{spec.name}: {op!r} raised ReplicaRequired but changed the object")

    _run("replica_required", spec, test, settings, st.data())


def law_copy_independent(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """``copy`` and ``merge`` share no state: mutating a copy, or an object that merged ``x``, leaves
    ``x`` as it was (and vice versa)."""

    def test(data: st.DataObject) -> None:
        plan = data.draw(plans(spec, max_steps=8), label="plan")
        cluster = run_plan(spec, plan)
        r = cluster.replicas[0]
        x = cluster.objects[r]
        seen_value = spec.read(x)
        seen_wire = to_wire(x)
        c = x.copy()
        y = spec.make("zz")
        y.merge(x)
        for obj in (c, y):
            spec.apply(obj, data.draw(spec.ops(REPLICA_IDS), label="op"))
        if spec.read(x) != seen_value or (_codec() and to_wire(x) != seen_wire):
            raise LawError(f"{spec.name}: mutating a copy (or a replica that merged it) changed the original:"
                           f" {seen_value!r} became {spec.read(x)!r}")
        seen_c = spec.read(c)
        spec.apply(x, data.draw(spec.ops(REPLICA_IDS), label="op on the original"))
        if spec.read(c) != seen_c:
            raise LawError(f"{spec.name}: mutating the original changed its copy")

    _run("copy_independent", spec, test, settings, st.data())


def law_merge_atomic(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """A merge either applies fully or raises a ``crdts.CRDTError`` and changes nothing.

    Refused merges are provoked with *forks*: a history continued twice, independently (as if every
    replica were restored from a backup), so that one dot or one timestamp can carry two different
    payloads. Merges between the forks' states may succeed or be refused; either way
    ``_check()`` passes after."""

    def test(data: st.DataObject) -> None:
        common = run_plan(spec, data.draw(plans(spec, max_steps=6), label="common history"))
        forks = [common, common.fork()]
        r = data.draw(st.sampled_from(common.replicas), label="the replica whose backup was restored")
        pools: list[list[Any]] = []
        for i, fork in enumerate(forks):
            # Both forks start with an operation at r: they reuse its next dot or timestamp.
            delta, _ = fork.op(r, data.draw(spec.ops(common.replicas), label=f"fork {i + 1}: op at {r}"))
            pool: list[Any] = [fork.objects[r].copy(replica=None), delta]
            run_plan(spec, data.draw(plans(spec, max_steps=4, replicas=common.replicas), label=f"fork {i + 1}"),
                     cluster=fork, pool=pool)
            pools.append(pool + [x.copy(replica=None) for x in fork.objects.values()])
        x = data.draw(st.sampled_from(pools[0]), label="x from fork 1").copy()
        y = data.draw(st.sampled_from(pools[1]), label="y from fork 2")
        before = x.copy()
        try:
            x.merge(y)
        except crdts.CRDTError as exc:
            if x != before:
                raise LawError(f"{spec.name}: a refused merge ({exc!r}) changed the object:\n"
                               f"  before: {_describe(before)}\n  after: {_describe(x)}") from exc
        x._check()

    _run("merge_atomic", spec, test, settings, st.data())


def law_codec(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """``decode(encode(x)) == x`` (unbound, or bound with ``replica=``) and equal objects encode to
    equal bytes, whatever order their merges happened in. Skipped if crdts has no codec."""
    codec = _codec()
    if codec is None:
        raise unittest.SkipTest("crdts.encode/decode are not available")
    encode, decode = codec

    def test(data: st.DataObject) -> None:
        x, y, z = _pool_and_picks(spec, data, 3)
        for obj in (x, _merged(x, y)):
            raw = encode(obj)
            if not isinstance(raw, bytes):
                raise LawError(f"{spec.name}: encode returned {type(raw).__name__}, not bytes")
            back = decode(raw)
            if type(back) is not type(obj) or back != obj:
                raise LawError(f"{spec.name}: decode(encode(x)) != x for {_describe(obj)}: got {_describe(back)}")
            if getattr(back, "replica", None) is not None:
                raise LawError(f"{spec.name}: decode without replica= gave a bound object")
            bound = decode(raw, replica="zz")
            if bound != obj or getattr(bound, "replica", "zz") != "zz":
                raise LawError(f"{spec.name}: decode(data, replica='zz') is not an equal object bound to 'zz'")
        a = _merged(_merged(x, y), z)
        b = _merged(_merged(z, y), x)
        if a == b and encode(a) != encode(b):
            raise LawError(f"{spec.name}: equal objects encode to different bytes: {_describe(a)}")

    _run("codec", spec, test, settings, st.data())


def law_model(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """Model agreement: after a random history with arbitrary delivery and a full exchange, every
    replica is equal and reads what the model says."""

    def test(plan: Any) -> None:
        cluster = run_plan(spec, plan)
        cluster.sync_all()
        cluster.check_converged()

    _run("model", spec, test, settings, plans(spec))


#: Every law by name: ``LAWS[name](spec)`` runs it.
def law_decomposition(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """Join decomposition (Enes et al., ICDE 2019), what the ``bprr`` protocol relies on:
    ``⊔ x.decompose() == x``, as many parts as ``x.units()``, none redundant; for any ``y``,
    ``y ⊔ x.delta_for(y) == y ⊔ x``, ``x.delta_for(y)`` is optimal (exactly the parts of ``x`` that are new
    to ``y``) and ``x.delta_for(x)`` is the bottom."""

    def test(data: st.DataObject) -> None:
        x, y = _pool_and_picks(spec, data, 2)
        parts = x.decompose()
        whole = spec.make(None)
        for p in parts:
            whole.merge(p)
        if whole != x:
            raise LawError(f"{spec.name}: the join of x.decompose() is not x for {_describe(x)}")
        if len(parts) != x.units():
            raise LawError(f"{spec.name}: x.decompose() has {len(parts)} parts but x.units() says {x.units()}")
        for i in range(len(parts)):
            rest = spec.make(None)
            for j, p in enumerate(parts):
                if j != i:
                    rest.merge(p)
            if rest == x:
                raise LawError(f"{spec.name}: part {i} of x.decompose() is redundant for {_describe(x)}")
        if not x.delta_for(x).is_bottom():
            raise LawError(f"{spec.name}: x.delta_for(x) is not the bottom for {_describe(x)}")
        d = x.delta_for(y)
        if _merged(y, d) != _merged(y, x):
            raise LawError(f"{spec.name}: y ⊔ x.delta_for(y) != y ⊔ x for x={_describe(x)}, y={_describe(y)}")
        news = sum(1 for p in parts if _merged(y, p) != y)
        if d.units() != news:
            raise LawError(f"{spec.name}: x.delta_for(y) has {d.units()} units, but {news} parts of x are new to y "
                           f"(the optimal delta holds exactly those) for x={_describe(x)}, y={_describe(y)}")

    _run("decomposition", spec, test, settings, st.data())


class _PlannedWork:
    """A simulator workload (see :mod:`crdts.sim.workloads`) that runs pre-drawn operations of a spec."""

    name = "planned"

    def __init__(self, spec: TypeSpec, ops: Sequence[Sequence[Op]]) -> None:
        self.spec = spec
        self.cls = spec.cls
        self.planned = ops

    def make(self, index: int, replica: str) -> Any:
        return self.spec.make(replica)

    def update(self, index: int, n: int, rng: Any) -> Callable[[Any], Any]:
        op = self.planned[index][n]
        return lambda state: self.spec.apply(state, op)

    def items(self, value: Any) -> set[Any]:
        return {repr(value)}

    def conflicts(self, state: Any) -> int:
        return 0


def law_sync(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """Replicas that run the type's operations converge through every sync protocol of :mod:`crdts.sync`
    (in the simulator, with loss, duplication and reordering), to the join of every write's delta.

    Slower than the other laws: it runs a few examples (``settings`` can raise it)."""
    from crdts.sim import Scenario, Simulation
    from crdts.sync import PROTOCOLS

    if settings is None:
        current = hypothesis.settings()
        settings = hypothesis.settings(current, max_examples=min(current.max_examples, 4))

    def test(data: st.DataObject) -> None:
        replicas = ["r0", "r1", "r2"]
        k = data.draw(st.integers(1, 4), label="writes per region")
        planned = [data.draw(st.lists(spec.ops(replicas), min_size=k, max_size=k), label=f"r{i}") for i in range(3)]
        for protocol in sorted(PROTOCOLS):
            work = _PlannedWork(spec, planned)
            sc = Scenario(regions=3, topology="line", protocol=protocol, ops=k, seed=len(protocol), loss=0.1,
                          dup=0.1, reorder=200.0, max_rounds=80)
            sim = Simulation(sc, workload=work)  # type: ignore[arg-type]
            result = sim.run()
            if not result.converged:
                raise LawError(f"{spec.name}: {protocol} did not converge ({result.reason}) for {planned!r}")
            final = sim.nodes[0].state
            if final != sim.oracle:
                raise LawError(f"{spec.name}: {protocol} converged to {_describe(final)}, not to the join of "
                               f"every write {_describe(sim.oracle)}, for {planned!r}")

    _run("sync", spec, test, settings, st.data())


LAWS: dict[str, Callable[..., None]] = {
    "idempotent": law_idempotent,
    "commutative": law_commutative,
    "associative": law_associative,
    "bottom": law_bottom,
    "mutators": law_mutators,
    "merge_type_error": law_merge_type_error,
    "merge_atomic": law_merge_atomic,
    "replica_required": law_replica_required,
    "copy_independent": law_copy_independent,
    "codec": law_codec,
    "model": law_model,
    "decomposition": law_decomposition,
    "sync": law_sync,
}


def check_laws(spec: TypeSpec, laws: Iterable[str] | None = None,
               settings: hypothesis.settings | None = None) -> None:
    """Run the named laws (default: all) on ``spec``; raise on the first that fails. The codec law
    is skipped silently if crdts has no codec."""
    for name in laws if laws is not None else LAWS:
        try:
            LAWS[name](spec, settings=settings)
        except unittest.SkipTest:
            if laws is not None:
                raise


# The retirement law has a module of its own (it drives registries beside the states).
from .retire import law_retire  # noqa: E402

LAWS["retire"] = law_retire

# The built-in types' operation strategies, models and specs live in crdts.testing.builtin; their names
# are also here, for the examples above and for laws written against earlier versions.
from .builtin import *  # noqa: E402, F403
from .builtin import __all__ as _builtin_all  # noqa: E402

__all__ += _builtin_all
