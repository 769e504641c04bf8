"""Conflicts made visible: registers and maps that read as a deterministic winner but keep every
concurrent sibling, with who wrote it, from where and when, until a later write or a ``resolve``.

>>> from crdts import HLC
>>> t = iter(range(1, 10**6))
>>> eu = ConflictRegister("eu", clock=HLC("eu", time_source=lambda: next(t)))
>>> us = ConflictRegister("us", clock=HLC("us", time_source=lambda: next(t)))
>>> d1 = eu.assign("Dublin", actor="alice"); d2 = us.assign("Boston", actor="bob")   # concurrent
>>> eu.merge(d2); us.merge(d1)
>>> eu.value, [(s.value, s.replica, s.actor) for s in eu.conflicts]      # LWW winner; both siblings kept
('Boston', [('Dublin', 'eu', 'alice'), ('Boston', 'us', 'bob')])
>>> us.merge(eu.resolve("Dublin", actor="carol"))                        # supersedes exactly what it saw
>>> us.value, us.conflicts
('Dublin', ())
"""

from __future__ import annotations

import logging
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, Generic, NamedTuple, TypeVar, overload

from ._base import _UNSET, Causal, K, KeyedStoreReads, T, V, check_replica, element, thaw, value
from .causal import HLC, CausalContext, Timestamp
from .errors import InvariantError
from .kernel import DotMap, candidate_keys
from .registers import _check_ts, _clock_for, _fresh_clock, _rebind_clock
from .retention import call_archive, is_archive

__all__ = ["DEFAULT_MAX_SIBLINGS", "ConflictEvent", "ConflictMap", "ConflictRegister", "Sibling", "highest_value",
           "lww", "policy_of"]

log = logging.getLogger("crdts")


class Sibling(NamedTuple):
    """One concurrent write: its value, origin replica, HLC timestamp, optional actor, and whether it
    was written by ``resolve``."""

    value: Any
    replica: str
    timestamp: Timestamp
    actor: str | None
    resolution: bool


class ConflictEvent(NamedTuple):
    """Told to subscribers. ``kind`` is ``"change"``, ``"conflict"`` (siblings appeared or grew) or
    ``"resolved"`` (a conflict was superseded). ``key`` is None for a register."""

    kind: str
    key: Any
    siblings: tuple[Sibling, ...]
    regions: tuple[str, ...]


Policy = Callable[[tuple[Sibling, ...]], Any]
Archive = Callable[[Any, tuple[Sibling, ...]], Any]
D = TypeVar("D")

#: siblings a key (or a register) keeps by default: past it the oldest are dropped (see :class:`ConflictRegister`)
DEFAULT_MAX_SIBLINGS = 64


def _check_bounds(max_siblings: Any, sibling_ttl: Any) -> None:
    if max_siblings is not None and (type(max_siblings) is not int or max_siblings < 1):
        raise ValueError(f"max_siblings must be an int >= 1 or None, got {max_siblings!r}")
    if sibling_ttl is not None and (type(sibling_ttl) is not int or sibling_ttl < 0):
        raise ValueError(f"sibling_ttl must be an int >= 0 (the clock's wall unit) or None, got {sibling_ttl!r}")


def _over_bounds(fun: dict[Any, Any], max_siblings: int | None, ttl: int | None) -> list[tuple[Any, str]]:
    """The siblings of ``fun`` the bounds drop, with the bound that drops each: with ``ttl``, those whose wall
    time is more than ``ttl`` before the newest sibling's; then, past ``max_siblings``, the oldest. Oldest and
    newest by HLC timestamp (then dot): a function of the siblings only, the same on every replica."""
    if len(fun) <= 1 or (ttl is None and (max_siblings is None or len(fun) <= max_siblings)):
        return []
    order = sorted(fun, key=lambda d: (fun[d][1], d))
    out: list[tuple[Any, str]] = []
    i = 0
    if ttl is not None:
        newest = fun[order[-1]][1][0]
        while newest - fun[order[i]][1][0] > ttl:
            out.append((order[i], "sibling_ttl"))
            i += 1
    if max_siblings is not None and len(order) - i > max_siblings:
        out.extend((d, "max_siblings") for d in order[i:len(order) - max_siblings])
    return out
Obs = TypeVar("Obs", bound="_Observable")


def lww(siblings: tuple[Sibling, ...]) -> Any:
    """Last writer wins: the sibling with the highest (wall, logical, replica) timestamp."""
    return max(siblings, key=lambda s: s.timestamp).value


def highest_value(siblings: tuple[Sibling, ...]) -> Any:
    """The largest value (values must be comparable; ties by timestamp)."""
    return max(siblings, key=lambda s: (s.value, s.timestamp)).value


_POLICIES: dict[str, Policy] = {"lww": lww, "highest": highest_value}


def policy_of(policy: str | Policy) -> Policy:
    """``"lww"``, ``"highest"`` or a function ``siblings -> value``."""
    if callable(policy):
        return policy
    if policy not in _POLICIES:
        raise ValueError(f"unknown policy {policy!r}: use 'lww', 'highest' or a function of the siblings")
    return _POLICIES[policy]


def _siblings(fun: dict[Any, Any]) -> tuple[Sibling, ...]:
    # The writer is the timestamp's replica (the dot's, unless a retired writer's dot was renamed into an archive:
    # see crdts.retention); siblings are ordered by writer, then dot: the dot order for dots not renamed, and the
    # same order after a renaming (a writer has one sibling at most: each write replaces what it has seen).
    return tuple(Sibling(thaw(v[0]), v[1][2], Timestamp(*v[1]), v[2], v[3])
                 for d, v in sorted(fun.items(), key=lambda dv: (dv[1][1][2], dv[0])))


def _check_fun(fun: dict[Any, Any], where: str) -> None:
    for d, v in fun.items():
        if type(v) is not tuple or len(v) != 4:
            raise InvariantError(f"{where}: sibling {d!r} must be (value, timestamp, actor, resolution)")
        _check_ts(v[1], where)
        if v[1][2] != d[0] and not is_archive(d[0]):
            raise InvariantError(f"{where}: sibling {d!r} stamped by {v[1][2]!r}, not its origin")
        if v[2] is not None and type(v[2]) is not str:
            raise InvariantError(f"{where}: actor must be a str or None")
        if type(v[3]) is not bool:
            raise InvariantError(f"{where}: resolution flag must be a bool")
        try:
            value(v[0])
        except TypeError as exc:
            raise InvariantError(f"{where}: {exc}") from None


class _Subscribers:
    """Subscriber lists and safe dispatch: a failing callback is logged and counted, never raised."""

    __slots__ = ("errors", "on_change", "on_conflict")

    def __init__(self) -> None:
        self.on_change: list[Callable[[ConflictEvent], Any]] = []
        self.on_conflict: list[Callable[[ConflictEvent], Any]] = []
        self.errors = 0

    def emit(self, events: list[ConflictEvent]) -> None:
        for ev in events:
            for cb in (self.on_change if ev.kind == "change" else self.on_conflict):
                try:
                    cb(ev)
                except Exception:
                    self.errors += 1
                    log.exception("crdts: a %s subscriber raised; the merge stays applied", ev.kind)


def _events(key: Any, before: dict[Any, Any] | None, after: dict[Any, Any] | None) -> list[ConflictEvent]:
    before = before or {}
    after = after or {}
    if before.keys() == after.keys():
        return []
    sibs = _siblings(after)
    regions = tuple(sorted({v[1][2] for v in after.values()}))
    out = [ConflictEvent("change", key, sibs, regions)]
    if len(after) > 1 and not after.keys() <= before.keys():
        out.append(ConflictEvent("conflict", key, sibs, regions))
    elif len(before) > 1 and len(after) <= 1:
        out.append(ConflictEvent("resolved", key, sibs, tuple(sorted({v[1][2] for v in before.values()}))))
    return out


def _stamp(me: Any) -> tuple[int, int, str]:
    """A fresh HLC reading for a write. An object bound by ``decode(..., replica=)`` has no clock yet: it
    gets one that starts past every sibling it holds."""
    if me._clock is None:
        me._clock = _clock_for(me._replica, None)
        for ts in me._timestamps():
            me._clock.observe(ts)
    return me._clock.tick()


def _check_actor(actor: Any) -> None:
    if actor is not None and type(actor) is not str:
        raise TypeError(f"actor must be a str, got {actor!r}")


def _copy_with_clock(me: Any, replica: Any) -> Any:
    """Causal.copy plus the clock (a new one when rebinding, past every sibling's timestamp) and policy;
    subscribers are not copied."""
    c: Any = Causal.copy(me, replica)
    same = replica is _UNSET or replica == me._replica
    c._clock = me._clock if same else _clock_for(check_replica(replica), None)
    c._policy, c._subs = me._policy, _Subscribers()
    _init_bounds(c, *me._bounds)
    if not same and c._clock is not None:
        for ts in me._timestamps():
            c._clock.observe(ts)
    return c


def _init_bounds(me: Any, max_siblings: int | None, sibling_ttl: int | None, archive: Archive | None) -> None:
    _check_bounds(max_siblings, sibling_ttl)
    me._bounds = (max_siblings, sibling_ttl, archive)
    me._dropped = set()
    me.siblings_dropped = 0
    me.bounds_hit = {}


class _Observable:
    """``subscribe``, ``clock``, ``bind``, ``fresh`` and the sibling bounds for the conflict types (their
    ``_subs`` holds the callbacks, ``_clock`` the clock, ``_policy`` the policy, ``_bounds`` the bounds)."""

    __slots__ = ()
    _subs: _Subscribers
    _clock: HLC | None
    _policy: Policy
    _replica: str | None
    _bounds: tuple[int | None, int | None, Archive | None]
    _dropped: set[Any]
    #: siblings dropped by a bound (``max_siblings``, ``sibling_ttl``) on this replica
    siblings_dropped: int
    #: how often each bound dropped siblings: ``{"max_siblings": n, "sibling_ttl": n}``
    bounds_hit: dict[str, int]

    @property
    def max_siblings(self) -> int | None:
        """The most siblings a register (a key of a map) keeps; past it the oldest are dropped. None: no bound."""
        return self._bounds[0]

    @property
    def sibling_ttl(self) -> int | None:
        """A sibling written more than this before the newest one (clock wall unit) is dropped. None: no TTL."""
        return self._bounds[1]

    def _bound(self, key: Any, fun: dict[Any, Any]) -> list[Any]:
        """Apply the sibling bounds to ``fun`` (the siblings of ``key``), in place; returns the dropped dots.

        A dropped sibling leaves the store and its dot stays in the causal context: an observed removal, as
        ``resolve`` makes, so it is a join-inflation and the other replicas drop it too when they merge this
        state, or the delta :meth:`take_dropped` returns. Only a replica (an object bound to a replica id) bounds
        its siblings: deltas, delta groups and read-only copies carry every sibling they hold."""
        if self._replica is None:   # a delta, a delta group or a read-only copy keeps what it carries
            return []
        drops = _over_bounds(fun, self._bounds[0], self._bounds[1])
        if not drops:
            return []
        me: Any = self
        gone = {d: fun[d] for d, _ in drops}
        for d, _ in drops:
            del fun[d]
        for why in {why for _, why in drops}:
            me.bounds_hit[why] = me.bounds_hit.get(why, 0) + 1
        me.siblings_dropped += len(drops)
        me._dropped.update(gone)
        archive = self._bounds[2]
        if archive is not None and not call_archive(archive, key, _siblings(gone), what="a sibling"):
            me.bounds_hit["archive_errors"] = me.bounds_hit.get("archive_errors", 0) + 1
        return list(gone)

    def take_dropped(self) -> Any:
        """The siblings the bounds dropped here since the last call, as a delta (their dots, no payload) to
        ship to the other replicas like a local write's delta; None if none. A sync node ships it itself."""
        me: Any = self
        if not me._dropped:
            return None
        dots, me._dropped = me._dropped, set()
        return type(self)._delta(self._empty_store(), CausalContext._of_dots(dots))  # type: ignore[attr-defined]

    def _empty_store(self) -> Any:
        raise NotImplementedError

    def metadata(self) -> dict[str, int]:
        """The causal metadata (see :meth:`CRDT.metadata`) plus ``siblings`` held and ``conflicted`` registers
        or keys (the count of siblings dropped by the bounds is :attr:`siblings_dropped`)."""
        meta: dict[str, int] = super().metadata()  # type: ignore[misc]
        meta["siblings"] = sum(1 for _ in self._siblings_raw())
        meta["conflicted"] = self._n_conflicted()
        return meta

    def _n_conflicted(self) -> int:
        raise NotImplementedError

    @property
    def clock(self) -> HLC | None:
        return self._clock

    @property
    def policy(self) -> Policy:
        """The function that picks the value among the siblings."""
        return self._policy

    def bind(self: Obs, replica: str | None, *, clock: HLC | None = None, policy: str | Policy | None = None) -> Obs:
        """A copy bound to ``replica``, stamping its writes with ``clock`` and reading with ``policy`` (both
        kept from this object when None; see :meth:`CRDT.bind`). Subscribers are not copied."""
        me: Any = self
        c = me.copy(replica=replica)
        _rebind_clock(me, c, clock, me._timestamps())
        if policy is not None:
            c._policy = policy_of(policy)
        return c

    def fresh(self: Obs, replica: str | None) -> Obs:
        """An empty object for ``replica`` with this one's policy and a clock configured as this one's."""
        me: Any = self
        mx, ttl, archive = me._bounds
        return type(self)(replica, clock=_fresh_clock(me._clock, replica), policy=me._policy,  # type: ignore[call-arg]
                          max_siblings=mx, sibling_ttl=ttl, archive=archive)

    @property
    def is_resolution(self) -> bool:
        """Whether this state (typically a delta) carries a sibling written by ``resolve``."""
        return any(sib[3] for sib in self._siblings_raw())

    def _siblings_raw(self) -> Any:
        raise NotImplementedError

    def _timestamps(self) -> Iterator[Any]:
        for v in self._siblings_raw():
            yield v[1]

    def subscribe(self, on_change: Callable[[ConflictEvent], Any] | None = None,
                  on_conflict: Callable[[ConflictEvent], Any] | None = None) -> None:
        """Be told, after each merge, which value or keys changed and which conflicts appeared or were
        resolved. A callback that raises is logged (logger ``crdts``) and counted; the merge stays applied."""
        if on_change is not None:
            self._subs.on_change.append(on_change)
        if on_conflict is not None:
            self._subs.on_conflict.append(on_conflict)


class ConflictRegister(_Observable, Causal, Generic[V]):
    """A multi-value register that reads as a deterministic winner and shows its conflicts.

    State: a DotFun ``dot -> (value, HLC timestamp, actor, resolution)``, one entry per surviving write
    (the MVRegister rule: a write replaces every sibling it has seen). ``value`` applies the policy
    (``"lww"`` by default, ``"highest"``, or a function of the siblings) and is the same everywhere;
    ``conflicts`` lists the siblings while there is more than one. Metadata: one dot, timestamp and actor
    per sibling, plus the causal context. O(siblings).

    **Bounds.** Siblings nobody resolves are bounded: past ``max_siblings`` (default
    :data:`DEFAULT_MAX_SIBLINGS`; None: no bound) the oldest by HLC timestamp are dropped after a merge, and
    with ``sibling_ttl`` (in the clock's wall unit, nanoseconds by default; default None) so is every
    sibling written more than that before the newest one. A drop is an observed removal (the dot stays in the
    causal context) decided by a function of the siblings alone; it reaches the other replicas with the state,
    or as the delta :meth:`take_dropped` returns (a sync node ships it), so every replica ends with the same
    siblings and value. Only a replica bounds (deltas and unbound copies do not). ``archive(key, siblings)``
    (key None for a register) receives what is dropped; :attr:`siblings_dropped` and :attr:`bounds_hit`
    count. See docs/conflicts.md and docs/retention.md.
    """

    __slots__ = ("_bounds", "_clock", "_dropped", "_policy", "_subs", "bounds_hit", "siblings_dropped")
    _kind = dict

    def __init__(self, replica: str | None = None, clock: HLC | None = None,
                 policy: str | Policy = "lww", *, max_siblings: int | None = DEFAULT_MAX_SIBLINGS,
                 sibling_ttl: int | None = None, archive: Archive | None = None) -> None:
        super().__init__(replica)
        self._clock = _clock_for(replica, clock)
        self._policy = policy_of(policy)
        self._subs = _Subscribers()
        _init_bounds(self, max_siblings, sibling_ttl, archive)

    @classmethod
    def _delta(cls, store: Any, ctx: CausalContext) -> Any:
        d: Any = Causal._delta.__func__(cls, store, ctx)  # type: ignore[attr-defined]
        d._clock, d._policy, d._subs = None, lww, _Subscribers()
        _init_bounds(d, DEFAULT_MAX_SIBLINGS, None, None)
        return d

    def _siblings_raw(self) -> Iterator[Any]:
        return iter(self._store.values())

    def _empty_store(self) -> Any:
        return {}

    def _n_conflicted(self) -> int:
        return int(len(self._store) > 1)


    def copy(self: T, replica: Any = _UNSET) -> T:
        return _copy_with_clock(self, replica)

    def _write(self, v: Any, actor: str | None, resolution: bool, method: str) -> ConflictRegister[V]:
        _check_actor(actor)
        v = value(v)
        dot = self._new_dot(method)
        ts = _stamp(self)
        seen = set(self._store)
        seen.add(dot)
        self._store.clear()
        self._store[dot] = (v, ts, actor, resolution)
        return ConflictRegister._delta({dot: (value(v), ts, actor, resolution)}, CausalContext._of_dots(seen))

    def assign(self, v: V, actor: str | None = None) -> ConflictRegister[V]:
        """Write ``v`` (by ``actor``), replacing every sibling this replica has seen. O(siblings)."""
        return self._write(v, actor, False, "assign")

    def resolve(self, v: V = _UNSET, policy: str | Policy | None = None,
                actor: str | None = None) -> ConflictRegister[V]:
        """Write a resolution that supersedes exactly the siblings seen here: ``v``, or ``policy(siblings)``,
        or this register's policy. A write concurrent with the resolution stays a conflict. Without ``v``
        and with no sibling to resolve, nothing is written (the delta is empty)."""
        if v is _UNSET:
            sibs = self.siblings
            if not sibs:  # nothing to resolve: no write (a None sibling would hide concurrent writes)
                self._need_replica("resolve")
                return ConflictRegister._delta({}, CausalContext())
            v = (policy_of(policy) if policy is not None else self._policy)(sibs)
        return self._write(v, actor, True, "resolve")

    @property
    def siblings(self) -> tuple[Sibling, ...]:
        """Every surviving write, ordered by dot (the same everywhere)."""
        return _siblings(self._store)

    @property
    def conflicts(self) -> tuple[Sibling, ...]:
        """The siblings while there are two or more, else ()."""
        return self.siblings if len(self._store) > 1 else ()

    @property
    def value(self) -> V | None:
        """The policy's pick among the siblings (None before any write)."""
        sibs = self.siblings
        return thaw(self._policy(sibs)) if sibs else None

    def check_merge(self, other: Any) -> None:
        super().check_merge(other)
        if self._clock is not None and other._store:
            self._clock.check(max(v[1] for v in other._store.values()))

    def merge(self, other: Any) -> None:
        before = dict(self._store) if (self._subs.on_change or self._subs.on_conflict) else None
        super().merge(other)
        if self._clock is not None:
            for v in other._store.values():
                self._clock.observe(v[1])
        self._bound(None, self._store)
        if before is not None:
            self._subs.emit(_events(None, before, self._store))

    def _check_payload(self) -> None:
        _check_fun(self._store, "ConflictRegister")


class ConflictMap(KeyedStoreReads, _Observable, Causal, Generic[K, V]):
    """An observed-remove map of conflict registers: per key, a winner by policy and visible siblings.

    State: a DotMap ``key -> DotFun`` of siblings sharing one causal context. ``set`` replaces the
    siblings of the key this replica has seen; ``remove`` drops them (a concurrent ``set`` survives);
    ``resolve(key, ...)`` supersedes exactly the siblings it saw. ``conflicted_keys()`` is kept up to date
    on every write and merge, so listing conflicts costs O(conflicted keys), not O(keys). The siblings of
    each key are bounded as a :class:`ConflictRegister`'s are (``max_siblings``, ``sibling_ttl``,
    ``archive`` called with the key).
    """

    __slots__ = ("_bounds", "_clock", "_conflicted", "_dropped", "_policy", "_subs", "bounds_hit", "siblings_dropped")
    _kind = DotMap

    def __init__(self, replica: str | None = None, clock: HLC | None = None,
                 policy: str | Policy = "lww", *, max_siblings: int | None = DEFAULT_MAX_SIBLINGS,
                 sibling_ttl: int | None = None, archive: Archive | None = None) -> None:
        super().__init__(replica)
        self._clock = _clock_for(replica, clock)
        self._policy = policy_of(policy)
        self._subs = _Subscribers()
        self._conflicted: set[Any] = set()
        _init_bounds(self, max_siblings, sibling_ttl, archive)

    @classmethod
    def _delta(cls, store: Any, ctx: CausalContext) -> Any:
        d: Any = Causal._delta.__func__(cls, store, ctx)  # type: ignore[attr-defined]
        d._clock, d._policy, d._subs = None, lww, _Subscribers()
        d._conflicted = {k for k, f in store.items() if len(f) > 1}
        _init_bounds(d, DEFAULT_MAX_SIBLINGS, None, None)
        return d

    def _siblings_raw(self) -> Iterator[Any]:
        for fun in self._store.values():
            yield from fun.values()

    def _empty_store(self) -> Any:
        return DotMap()

    def _n_conflicted(self) -> int:
        return len(self._conflicted)


    def copy(self: T, replica: Any = _UNSET) -> T:
        c: Any = _copy_with_clock(self, replica)
        c._conflicted = set(self._conflicted)  # type: ignore[attr-defined]
        return c

    def _write(self, key: Any, v: Any, actor: str | None, resolution: bool, method: str) -> ConflictMap[K, V]:
        _check_actor(actor)
        key = element(key)
        v = value(v)
        dot = self._new_dot(method)
        ts = _stamp(self)
        store = self._store
        index = store.index
        old = store.get(key, {})
        seen = set(old)
        seen.add(dot)
        for d in old:
            del index[d]
        entry = (v, ts, actor, resolution)
        store[key] = {dot: entry}
        index[dot] = key
        self._conflicted.discard(key)
        return ConflictMap._delta(DotMap.of({key: {dot: (value(v), ts, actor, resolution)}}),
                                  CausalContext._of_dots(seen))

    def set(self, key: K, v: V, actor: str | None = None) -> ConflictMap[K, V]:
        """Write ``key = v`` (by ``actor``), replacing the siblings of ``key`` seen here. O(siblings)."""
        return self._write(key, v, actor, False, "set")

    def resolve(self, key: K, v: V = _UNSET, policy: str | Policy | None = None,
                actor: str | None = None) -> ConflictMap[K, V]:
        """Supersede exactly the siblings of ``key`` seen here, with ``v`` or a policy's pick."""
        if v is _UNSET:
            sibs = self.siblings(key)
            if not sibs:  # nothing to resolve: no write, no key created
                self._need_replica("resolve")
                return ConflictMap._delta(DotMap(), CausalContext())
            v = (policy_of(policy) if policy is not None else self._policy)(sibs)
        return self._write(key, v, actor, True, "resolve")

    def remove(self, key: K) -> ConflictMap[K, V]:
        """Drop the siblings of ``key`` seen here (a concurrent ``set`` survives). O(siblings)."""
        self._need_replica("remove")
        key = element(key)
        old = self._store.pop(key, None) or {}
        for d in old:
            del self._store.index[d]
        self._conflicted.discard(key)
        return ConflictMap._delta(DotMap(), CausalContext._of_dots(set(old)))

    def siblings(self, key: K) -> tuple[Sibling, ...]:
        return _siblings(self._store.get(element(key), {}))

    def conflicts(self, key: K) -> tuple[Sibling, ...]:
        """The siblings of ``key`` while there are two or more, else ()."""
        fun = self._store.get(element(key), {})
        return _siblings(fun) if len(fun) > 1 else ()

    def conflicted_keys(self) -> frozenset[K]:
        """Keys with two or more siblings. O(conflicted keys)."""
        return frozenset(self._conflicted)

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: V | D) -> V | D: ...

    def get(self, key: K, default: Any = None) -> Any:
        """The policy's pick for ``key``, or ``default`` if it is absent."""
        try:
            fun = self._store.get(element(key))
        except TypeError:
            return default
        return thaw(self._policy(_siblings(fun))) if fun else default

    def __getitem__(self, key: K) -> V:
        fun = self._store.get(element(key))
        if not fun:
            raise KeyError(key)
        return thaw(self._policy(_siblings(fun)))

    def keys(self) -> KeysView[K]:
        """The present keys (a snapshot). O(keys)."""
        return dict.fromkeys(self._store).keys()

    def values(self) -> ValuesView[V]:
        """The policy's pick per key (a snapshot). O(entries)."""
        return self.value.values()

    def items(self) -> ItemsView[K, V]:
        """``(key, pick)`` pairs (a snapshot). O(entries)."""
        return self.value.items()

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._store))

    def __bool__(self) -> bool:
        return bool(self._store)

    @property
    def value(self) -> dict[K, V]:
        """``{key: winner}`` under this map's policy. O(entries)."""
        pol = self._policy
        return {k: thaw(pol(_siblings(f))) for k, f in self._store.items()}

    def check_merge(self, other: Any) -> None:
        super().check_merge(other)
        if self._clock is not None and other._store:
            self._clock.check(max(v[1] for fun in other._store.values() for v in fun.values()))

    def merge(self, other: Any) -> None:
        if type(other) is not type(self):
            self._check_other(other)
        store = self._store
        watching = bool(self._subs.on_change or self._subs.on_conflict)
        # Keys this merge can touch: those the other side names, and those holding dots it has seen.
        touched = set(candidate_keys(store, other._store, other._ctx, self._ctx))
        before = {k: dict(store[k]) for k in touched if k in store} if watching else None
        super().merge(other)
        if self._clock is not None:
            for fun in other._store.values():
                for v in fun.values():
                    self._clock.observe(v[1])
        index, conflicted = store.index, self._conflicted
        for k in touched:
            fun = store.get(k)
            if fun is not None and len(fun) > 1:
                for d in self._bound(k, fun):   # in place; the newest sibling always stays
                    del index[d]
            if fun is not None and len(fun) > 1:
                conflicted.add(k)
            else:
                conflicted.discard(k)
        if before is not None:
            events: list[ConflictEvent] = []
            for k in sorted(touched, key=repr):
                events.extend(_events(k, before.get(k), store.get(k)))
            self._subs.emit(events)

    def _check_payload(self) -> None:
        for k, fun in self._store.items():
            if type(fun) is not dict:
                raise InvariantError(f"ConflictMap key {k!r} must hold a DotFun of siblings")
            _check_fun(fun, f"ConflictMap key {k!r}")
        real = {k for k, f in self._store.items() if len(f) > 1}
        if real != self._conflicted:
            raise InvariantError(f"ConflictMap conflicted keys {self._conflicted!r} != {real!r}")


# The conflict map is a read-only Mapping (see crdts.maps for why it is registered, not inherited).
Mapping.register(ConflictMap)


# --- wire format (docs/wire-format.md, "Conflict types") ---------------------------------------------
# ConflictRegister (code 14): [vv counts, cloud, siblings], siblings a DotFun whose values are
# [value, wall, logical, actor or null, resolution]; the timestamp's replica is the dot's, except for a sibling
# whose dot was renamed into an archive (a retired writer's, crdts.retention): it carries the writer as a sixth
# item, [value, wall, logical, actor or null, resolution, writer].
# ConflictMap (code 15): [vv counts, cloud, entries], entries [key, siblings, key, siblings, ...]
# ordered by each key's smallest dot.

CONFLICT_REGISTER_CODE = 14
CONFLICT_MAP_CODE = 15


def _enc_siblings(vals: list[Any]) -> list[Any]:
    """Siblings given as ``(sibling, its dot's replica)``: a renamed sibling (the writer is not the dot's
    replica, which is an archive) also names its writer."""
    from .codec import enc_value

    return [[enc_value(v), ts[0], ts[1], a, res] if ts[2] == owner else [enc_value(v), ts[0], ts[1], a, res, ts[2]]
            for (v, ts, a, res), owner in vals]


def _tagged(fun: dict[Any, Any]) -> dict[Any, Any]:
    return {d: (v, d[0]) for d, v in fun.items()}


def _dec_siblings(d: Any, x: Any, ctx: CausalContext, path: str) -> dict[Any, Any]:
    from .codec import SchemaError

    raw = d.dotfun(x, ctx, path, "values")
    out = {}
    for dot, sib in raw.items():
        if type(sib) is not list or len(sib) not in (5, 6):
            raise SchemaError(path, f"sibling {dot!r}: expected [value, wall, logical, actor, resolution]")
        v, wall, logical, actor, res = sib[:5]
        writer = dot[0]
        if len(sib) == 6:
            writer = sib[5]
            if type(writer) is not str or not writer or writer == dot[0] or not is_archive(dot[0]):
                raise SchemaError(path, f"sibling {dot!r}: a writer is named only for a dot renamed into an "
                                  f"archive, and differs from the dot's replica")
        if type(wall) is not int or type(logical) is not int or wall < 0 or logical < 0:
            raise SchemaError(path, f"sibling {dot!r}: timestamp parts must be ints >= 0")
        if actor is not None and type(actor) is not str:
            raise SchemaError(path, f"sibling {dot!r}: actor must be text or null")
        if type(res) is not bool:
            raise SchemaError(path, f"sibling {dot!r}: resolution flag must be a boolean")
        out[dot] = (v, (wall, logical, writer), actor, res)
    return out


def _enc_register_store(store: Any, tb: Any) -> Any:
    from .codec import enc_dotfun

    return enc_dotfun(_tagged(store), tb, _enc_siblings)


def _dec_register_store(d: Any, x: Any, ctx: CausalContext, path: str) -> Any:
    return _dec_siblings(d, x, ctx, path)


def _enc_map_store(store: Any, tb: Any) -> Any:
    from .codec import enc_dotfun, enc_elements

    entries = sorted(store.items(), key=lambda kv: min(kv[1]))
    enc_elements([k for k, _ in entries], "ConflictMap keys")
    out: list[Any] = []
    for k, fun in entries:
        out.append(k)
        out.append(enc_dotfun(_tagged(fun), tb, _enc_siblings))
    return out


def _dec_map_store(d: Any, x: Any, ctx: CausalContext, path: str) -> Any:
    from .codec import SchemaError

    xs = d.array(x, path, stride=2)
    entries: dict[Any, Any] = {}
    seen: dict[Any, Any] = {}
    for i in range(0, len(xs), 2):
        k = d.elem(xs[i], path, i)
        if k in entries:
            raise SchemaError(path, f"key {k!r} appears twice")
        fun = _dec_siblings(d, xs[i + 1], ctx, f"{path}[{i + 1}]")
        if not fun:
            raise SchemaError(path, f"key {k!r} has no siblings")
        for dot in fun:
            if dot in seen:
                raise SchemaError(path, f"dot {dot!r} appears under both {seen[dot]!r} and {k!r}")
            seen[dot] = k
        entries[k] = fun
    return DotMap.of(entries)


def _register_codec() -> None:
    from . import codec

    codec.register_causal(ConflictRegister, CONFLICT_REGISTER_CODE, encode_store=_enc_register_store,
                          decode_store=_dec_register_store, _builtin=True)
    codec.register_causal(ConflictMap, CONFLICT_MAP_CODE, encode_store=_enc_map_store,
                          decode_store=_dec_map_store, _builtin=True)


_register_codec()
