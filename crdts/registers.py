"""Registers: last-writer-wins (by hybrid logical clock) and multi-value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic

from ._base import _UNSET, CRDT, Causal, T, V, _no_option, check_replica, thaw, value
from .causal import HLC, CausalContext, Timestamp
from .errors import ConflictingWrite, InvariantError
from .kernel import same

__all__ = ["LWWRegister", "MVRegister", "ordered_values", "value_key"]


def _clock_for(replica: str | None, clock: HLC | None) -> HLC | None:
    if clock is not None:
        if not isinstance(clock, HLC):
            raise TypeError(f"clock must be a crdts.HLC, got {type(clock).__name__}")
        if replica is not None and clock.replica != replica:
            raise ValueError(f"clock belongs to replica {clock.replica!r}, not {replica!r}")
        return clock
    return HLC(replica) if replica is not None else None


def _fresh_clock(clock: HLC | None, replica: str | None) -> HLC | None:
    """A new clock for ``replica`` configured as ``clock`` (time source, drift bound), or a default one."""
    if replica is None:
        return None
    return clock.fresh(replica) if clock is not None else HLC(replica)


def _rebind_clock(me: Any, c: Any, clock: HLC | None, timestamps: Iterable[tuple[int, int, str]]) -> None:
    """Give ``c`` (a copy of ``me`` bound to its replica) its clock: ``clock`` if given, else ``me``'s for the
    same replica or a fresh one configured as ``me``'s; a new clock observes every timestamp the state holds."""
    if clock is not None:
        if c._replica is None:
            raise ValueError("clock= needs a replica to stamp writes as: bind(replica, clock=...)")
        c._clock = _clock_for(c._replica, clock)
    elif c._replica == me._replica and me._clock is not None:
        c._clock = me._clock
        return
    else:
        c._clock = _fresh_clock(me._clock, c._replica)
    if c._clock is not None:
        for ts in timestamps:
            c._clock.observe(ts)


def _copy_binding(me: Any, c: Any, replica: Any, newest: tuple[int, int, str] | None) -> None:
    """Bind ``c`` (a new copy of ``me``) as :meth:`CRDT.copy` does: ``me``'s replica and clock when ``replica``
    is unset or the same, else ``replica`` with a default clock that has observed ``newest`` (the newest
    timestamp of the state)."""
    if replica is _UNSET or replica == me._replica:
        c._replica, c._clock = me._replica, me._clock
        return
    c._replica = check_replica(replica)
    c._clock = _clock_for(c._replica, None)
    if c._clock is not None and newest is not None:
        c._clock.observe(newest)


def _check_ts(ts: Any, what: str) -> None:
    if (type(ts) is not tuple and not isinstance(ts, Timestamp)) or len(ts) != 3 \
            or type(ts[0]) is not int or type(ts[1]) is not int or ts[1] < 0 \
            or type(ts[2]) is not str or not ts[2]:
        raise InvariantError(f"{what}: bad timestamp {ts!r}")


def value_key(v: Any) -> bytes:
    """The sort key of a register value: its canonical CBOR encoding (the wire format's), so the order is
    the same on every replica and for every type of value (``0.0`` and ``-0.0``, ``1`` and ``True`` differ)."""
    import cbor2

    from .codec import enc_value

    return bytes(cbor2.dumps(enc_value(v), canonical=True))


def ordered_values(fun: dict[Any, Any]) -> tuple[Any, ...]:
    """The values of a DotFun of register values (copies), ordered by :func:`value_key`, then by dot. The
    order depends on the values only, never on who wrote them, so renaming a retired writer's dots (see
    crdts.retention) leaves it as it is. O(siblings log siblings).

    >>> ordered_values({("b", 1): "red", ("a", 4): "blue", ("c", 2): "green"})
    ('red', 'blue', 'green')
    """
    if len(fun) <= 1:
        return tuple(thaw(v) for v in fun.values())
    return tuple(thaw(fun[d]) for d in sorted(fun, key=lambda d: (value_key(fun[d]), d)))


class LWWRegister(CRDT, Generic[V]):
    """Last-writer-wins register: the write with the highest hybrid-logical-clock timestamp wins.

    Timestamps are ``(wall, logical, replica)``; ties are broken by replica id, so every replica picks
    the same winner. A write made after merging another write always wins over it. Concurrent writes
    lose data by design: use :class:`MVRegister` to keep them. Metadata: one timestamp. O(1).

    >>> t = iter(range(100, 1000))
    >>> a = LWWRegister("a", clock=HLC("a", time_source=lambda: next(t)))
    >>> b = LWWRegister("b", clock=HLC("b", time_source=lambda: 50))   # b's clock lags
    >>> b.merge(a.assign("first"))
    >>> d = b.assign("second")                    # b saw "first", so its write wins anyway
    >>> a.merge(d); a.value, a == b
    ('second', True)
    """

    __slots__ = ("_clock", "_ts", "_value")

    def __init__(self, replica: str | None = None, clock: HLC | None = None) -> None:
        self._replica = check_replica(replica)
        self._clock = _clock_for(replica, clock)
        self._ts: tuple[int, int, str] | None = None
        self._value: Any = None

    def assign(self, v: V) -> LWWRegister[V]:
        """Write ``v`` with a fresh timestamp; the delta is the whole (tiny) register. O(size of v)."""
        self._need_replica("assign")
        v = value(v)
        ts = self._clock.now()  # type: ignore[union-attr]
        self._ts, self._value = ts, v
        d = LWWRegister.__new__(LWWRegister)
        d._replica, d._clock, d._ts, d._value = None, None, ts, v
        return d

    @property
    def value(self) -> V | None:
        """The winning value (None before any write)."""
        return thaw(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    @property
    def clock(self) -> HLC | None:
        return self._clock

    def bind(self, replica: str | None, *, clock: HLC | None = None, policy: Any = None) -> LWWRegister[V]:
        """A copy bound to ``replica``, stamping its writes with ``clock`` (see :meth:`CRDT.bind`)."""
        _no_option(self, policy=policy)
        c = self.copy(replica=replica)
        _rebind_clock(self, c, clock, () if self._ts is None else (self._ts,))
        return c

    def fresh(self, replica: str | None) -> LWWRegister[V]:
        """An empty register for ``replica`` whose clock is configured as this one's."""
        return LWWRegister(replica, clock=_fresh_clock(self._clock, replica))

    @property
    def timestamp(self) -> Timestamp | None:
        """The winning write's timestamp (None before any write)."""
        return None if self._ts is None else Timestamp(*self._ts)

    def merge(self, other: LWWRegister[V]) -> None:
        """Keep the write with the higher timestamp; observe it on this replica's clock. O(1)."""
        self._check_other(other)
        ts = other._ts
        if ts is None:
            return
        mine = self._ts
        if mine is not None and ts == mine and not same(other._value, self._value):
            raise ConflictingWrite(ts, self._value, other._value)
        if self._clock is not None:
            self._clock.check(ts)
        if mine is None or ts > mine:
            self._ts, self._value = ts, value(other._value)
        if self._clock is not None:
            self._clock.observe(ts)

    def __eq__(self, other: object) -> bool:
        if type(other) is not LWWRegister:
            return NotImplemented
        return self._ts == other._ts and same(self._value, other._value)

    def copy(self: T, replica: Any = _UNSET) -> T:
        c = LWWRegister.__new__(LWWRegister)
        me: LWWRegister = self  # type: ignore[assignment]
        _copy_binding(me, c, replica, me._ts)
        c._ts, c._value = me._ts, value(me._value)
        return c  # type: ignore[return-value]

    def delta_for(self, other: LWWRegister[V]) -> LWWRegister[V]:
        """This write if it beats ``other``'s, else the empty register. O(1)."""
        self._check_other(other)
        d = LWWRegister.__new__(LWWRegister)
        d._replica, d._clock, d._ts, d._value = None, None, None, None
        if self._ts is not None and (other._ts is None or self._ts > other._ts):
            d._ts, d._value = self._ts, self._value
        return d

    def new_origins(self, other: LWWRegister[V]) -> set[str] | None:
        ts = other._ts
        return {ts[2]} if ts is not None and (self._ts is None or ts > self._ts) else set()

    def decompose(self) -> list[LWWRegister[V]]:
        return [] if self._ts is None else [self.copy(replica=None)]

    def units(self) -> int:
        return 0 if self._ts is None else 1

    def is_bottom(self) -> bool:
        return self._ts is None

    def _check(self) -> None:
        if self._ts is not None:
            _check_ts(self._ts, "LWWRegister")
        elif self._value is not None:
            raise InvariantError("LWWRegister holds a value without a timestamp")

    def __repr__(self) -> str:
        return f"LWWRegister(replica={self._replica!r}, value={self._value!r}, timestamp={self._ts!r})"


class MVRegister(Causal, Generic[V]):
    """Multi-value register: keeps every concurrent write; a write that saw them replaces them all.

    State: a DotFun ``dot -> value``, one dot per surviving write, plus the causal context (never a
    version vector per value). ``values`` is in a canonical order of the values themselves (see
    :func:`ordered_values`), the same everywhere whoever wrote them. O(siblings).

    >>> a, b = MVRegister("a"), MVRegister("b")
    >>> d1 = a.assign("red"); d2 = b.assign("blue")        # concurrent writes: both kept
    >>> a.merge(d2); b.merge(d1)
    >>> a.values, a == b
    (('red', 'blue'), True)
    >>> d = a.assign("green"); b.merge(d); b.values         # a saw both, so it replaces both
    ('green',)
    """

    __slots__ = ()
    _kind = dict

    def assign(self, v: V) -> MVRegister[V]:
        """Write ``v``, replacing every value this replica has seen. O(siblings)."""
        v = value(v)
        dot = self._new_dot("assign")
        seen = set(self._store)
        seen.add(dot)
        self._store.clear()
        self._store[dot] = v
        return MVRegister._delta({dot: value(v)}, CausalContext._of_dots(seen))

    @property
    def values(self) -> tuple[V, ...]:
        """The concurrent values, in their canonical order (:func:`ordered_values`)."""
        return ordered_values(self._store)

    @property
    def value(self) -> tuple[V, ...]:
        """Same as :attr:`values` (so every type has ``value``)."""
        return self.values

    def __bool__(self) -> bool:
        return bool(self._store)  # some sibling survives

    def _check_payload(self) -> None:
        for d, v in self._store.items():
            try:
                value(v)
            except TypeError as exc:
                raise InvariantError(f"MVRegister dot {d!r}: {exc}") from None
