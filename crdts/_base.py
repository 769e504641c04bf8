"""What every type shares: replica binding, the merge protocol, value validation.

Private: the public names live in the type modules.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from . import kernel
from .causal import UINT_LIMIT, CausalContext
from .errors import InvariantError, LimitExceeded, ReplicaClash, ReplicaRequired

T = TypeVar("T", bound="CRDT")

# The type parameters of the generic types (AWSet[E], LWWMap[K, V], MVRegister[V], ...). They default to Any,
# so an object made without one (``AWSet("a")``) is ``AWSet[Any]`` rather than a type error.
if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVarWithDefault

    from .deltas import Batch

    E = _TypeVarWithDefault("E", default=Any)
    K = _TypeVarWithDefault("K", default=Any)
    V = _TypeVarWithDefault("V", default=Any)
else:
    E = TypeVar("E")
    K = TypeVar("K")
    V = TypeVar("V")

_UNSET: Any = object()

MAX_VALUE_DEPTH = 64
#: Tuples in set elements and map keys nest at most this deep.
MAX_ELEMENT_DEPTH = 32
#: Ints in elements and register values lie in -2**1024 .. 2**1024-1 (what the wire format carries).
INT_BOUND = 1 << 1024
#: Counters (GCounter/PNCounter entries, causal counter totals) stay below 2**64 in magnitude.
COUNTER_BOUND = UINT_LIMIT


def _int(e: int, what: str) -> int:
    if not -INT_BOUND <= e < INT_BOUND:
        raise ValueError(f"{what} ints must lie in -2**1024 .. 2**1024-1 (the wire format's range)")
    return e


def element(e: Any, depth: int = 0) -> Any:
    """Validate a set element or map key and return its canonical form.

    Allowed: None, bool, int, float (not NaN), str, bytes, and tuples of these. Python's equality
    decides identity (``1 == 1.0 == True``), so numbers are canonicalised: bools and integral
    floats become ints (``True`` -> ``1``, ``2.0`` -> ``2``, ``-0.0`` -> ``0``). Raises TypeError.
    """
    t = type(e)
    if t is str or t is bytes or e is None:
        return e
    if t is int:
        return e if -INT_BOUND <= e < INT_BOUND else _int(e, "set element and map key")
    if t is bool:
        return int(e)
    if t is float:
        if e != e:
            raise TypeError("NaN is not allowed as a set element or map key (it is not equal to itself)")
        if math.isfinite(e) and e.is_integer():
            return _int(int(e), "set element and map key")
        return e
    if t is tuple:
        if depth >= MAX_ELEMENT_DEPTH:
            raise TypeError(f"tuples in set elements and map keys may nest at most {MAX_ELEMENT_DEPTH} levels")
        return tuple(element(x, depth + 1) for x in e)
    raise TypeError(
        f"set elements and map keys must be None, bool, int, float, str, bytes or tuples of these; "
        f"got {t.__name__}: {e!r}"
    )


def value(v: Any, depth: int = 0) -> Any:
    """Validate a register value and return a private deep copy of it.

    Allowed: everything :func:`element` allows, plus lists and dicts with str keys (nested). Raises TypeError.
    """
    if depth > MAX_VALUE_DEPTH:
        raise TypeError(f"register values may nest at most {MAX_VALUE_DEPTH} levels")
    t = type(v)
    if t is str or t is bytes or t is bool or v is None:
        return v
    if t is int:
        return v if -INT_BOUND <= v < INT_BOUND else _int(v, "register value")
    if t is float:
        if v != v:
            raise TypeError("NaN is not allowed in register values (it is not equal to itself)")
        return v
    if t is tuple:
        return tuple(value(x, depth + 1) for x in v)
    if t is list:
        return [value(x, depth + 1) for x in v]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                raise TypeError(f"dict keys in register values must be str, got {type(k).__name__}: {k!r}")
            out[k] = value(x, depth + 1)
        return out
    raise TypeError(
        f"register values must be None, bool, int, float, str, bytes, or tuples, lists and dicts "
        f"(str keys) of these; got {t.__name__}: {v!r}"
    )


def thaw(v: Any) -> Any:
    """A copy safe to hand to the user (lists and dicts are copied so the state cannot be changed)."""
    t = type(v)
    if t is list:
        return [thaw(x) for x in v]
    if t is dict:
        return {k: thaw(x) for k, x in v.items()}
    if t is tuple:
        return tuple(thaw(x) for x in v)
    return v


def check_own_entry(replica: str | None, ours: int, theirs: int) -> None:
    """Refuse a merge that claims more events of this replica's own id than it made (see ReplicaClash)."""
    if replica is not None and theirs > ours:
        raise ReplicaClash(replica, ours, theirs)


def _no_option(obj: Any, **options: Any) -> None:
    """TypeError for an option (``clock=``, ``policy=``) given to a type that does not take it."""
    for name, v in options.items():
        if v is not None:
            raise TypeError(f"{type(obj).__name__} takes no {name}= ({_OPTION_TAKERS[name]})")


_OPTION_TAKERS = {
    "clock": "only LWWRegister, LWWMap, ConflictRegister and ConflictMap stamp their writes with a clock",
    "policy": "only ConflictRegister and ConflictMap have a policy",
}


def check_replica(replica: Any) -> str | None:
    if replica is None or (type(replica) is str and replica):
        return replica
    raise TypeError(f"replica must be a non-empty str or None, got {replica!r}")


#: What :meth:`CRDT.restore_from` leaves as it is: the binding, the clock, the subscribers.
_KEPT_ON_RESTORE = frozenset({"_replica", "_clock", "_subs", "__weakref__", "__dict__"})


class CRDT(abc.ABC):
    """Base of every state-based type: binding, truthiness, configuration (``bind``/``fresh``), batches.

    The contract (:mod:`crdts.contract`) is its abstract methods: a subclass that lacks one cannot be
    instantiated (``TypeError`` names what is missing). Your own types subclass it (docs/extending.md).
    """

    __slots__ = ("_replica",)
    _replica: str | None

    @property
    def replica(self) -> str | None:
        """The replica id this object mutates as, or None for a read-only object (a delta, a decoded state)."""
        return self._replica

    @property
    @abc.abstractmethod
    def value(self) -> object:
        """The plain Python value (each type says which)."""

    @property
    def clock(self) -> Any:
        """The hybrid logical clock this object stamps its writes with (a :class:`~crdts.HLC`), or None for
        types that keep no clock (and for unbound objects)."""
        return None

    def __bool__(self) -> bool:
        """Truthiness by value, for every type: ``bool(x) is bool(x.value)`` (a disabled flag, a zero
        counter, an empty set or map, a register holding None or nothing are all falsy)."""
        return bool(self.value)

    def bind(self: T, replica: str | None, *, clock: Any = None, policy: Any = None) -> T:
        """A copy of this object bound to ``replica`` with its configuration: ``clock`` (an :class:`~crdts.HLC`
        of ``replica``) for the types that stamp writes, ``policy`` for the conflict types. Options left None
        keep this object's configuration (a clock is renewed for a new replica with the same time source).
        A type that takes no such option raises TypeError naming it. Refuses, as :meth:`copy` does, a
        replica whose events this state holds beyond what it could have made. O(size)."""
        _no_option(self, clock=clock, policy=policy)
        return self.copy(replica=replica)

    def fresh(self: T, replica: str | None) -> T:
        """An empty object of this class bound to ``replica``, with this object's configuration (policy;
        a new clock with the same time source and drift bound). What a node starts over with. O(1)."""
        return type(self)(replica)  # type: ignore[call-arg]

    def batch(self: T) -> Batch[T]:
        """``with x.batch() as b:`` ... then ``b.delta`` is one delta for every mutation made in the block.
        O(size of ``x``) on entry and exit (a snapshot, then :meth:`delta_for`); see :mod:`crdts.deltas`."""
        from .deltas import Batch

        return Batch(self)

    def restore_from(self, snapshot: Any) -> None:
        """Make this object's state that of ``snapshot`` (a ``copy()`` taken earlier, same class), in place:
        the object keeps its identity, binding, clock and subscribers. For rolling back a failed
        transaction; not a merge (no lattice join). O(1): the snapshot's parts are taken over."""
        if type(snapshot) is not type(self):
            raise TypeError(f"cannot restore a {type(self).__name__} from a {type(snapshot).__name__}")
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name not in _KEPT_ON_RESTORE and hasattr(snapshot, name):
                    setattr(self, name, getattr(snapshot, name))

    def _need_replica(self, method: str) -> str:
        r = self._replica
        if r is None:
            raise ReplicaRequired(type(self).__name__, method)
        return r

    def _check_other(self, other: Any) -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")

    @abc.abstractmethod
    def merge(self, other: Any) -> None:
        """Join ``other`` (same class) into this object, in place: idempotent, commutative, associative;
        validates first, so a refused merge changes nothing; TypeError for another class."""

    @abc.abstractmethod
    def copy(self: T, replica: Any = _UNSET) -> T:
        """An independent copy; ``replica=`` rebinds it (None: read-only)."""

    @abc.abstractmethod
    def _check(self) -> None:
        """Raise :class:`~crdts.errors.InvariantError` when an internal invariant does not hold."""

    @abc.abstractmethod
    def delta_for(self: T, other: T) -> T:
        """Δ(self, other): the smallest delta that brings ``other`` up to ``other ⊔ self``."""

    @abc.abstractmethod
    def decompose(self: T) -> list[T]:
        """The irredundant join decomposition of this state into join-irreducibles."""

    @abc.abstractmethod
    def units(self) -> int:
        """The number of join-irreducibles (elements or entries) this state holds."""

    @abc.abstractmethod
    def is_bottom(self) -> bool:
        """True for the empty state (nothing written or seen)."""

    def check_merge(self, other: Any) -> None:
        """The checks a merge of ``other`` makes before it looks at the stores (its own replica id, limits,
        clocks), cheaply and without changing anything; raises what the merge would raise for them. A
        protocol calls it before any work that grows with ``other`` (such as :meth:`delta_for`)."""
        return None

    def new_origins(self, other: Any) -> set[str] | None:
        """The replica ids that made the events of ``other`` this object has not seen; None for types whose
        state does not say who wrote it (grow-only and two-phase sets). Used to check what a peer relays."""
        return None

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    # -- retirement (crdts.retention): a type that keeps metadata per replica id overrides these four ----------

    def _rt_ids(self) -> set[str]:
        """The replica ids this state keeps metadata for (none by default: the type keeps nothing per replica)."""
        return set()

    def _rt_mark(self, replica: str) -> tuple[int, ...]:
        """How much of ``replica``'s history this state holds, as a tuple of counts (each monotone in the
        history; equal marks mean the same history). ``()`` for types that keep nothing per replica."""
        return ()

    def _rt_top(self, replica: str) -> tuple[int, ...]:
        """The furthest event of ``replica`` this state holds, as a mark (above :meth:`_rt_mark` when a causal
        context holds scattered events beyond its version vector entry)."""
        return self._rt_mark(replica)

    def _rt_filter(self, replica: str, final: tuple[int, ...]) -> bool:
        """Drop ``replica``'s events beyond the mark ``final`` (a late write of a retired replica); True if any."""
        return False

    def _rt_alias(self, replica: str, archive: str, base: tuple[int, ...], final: tuple[int, ...]) -> bool:
        """Rename ``replica``'s events ``1 .. final`` into ``archive``'s events ``base + 1 .. base + final`` without
        changing the value; True if this state changed."""
        return False

    def metadata(self) -> dict[str, int]:
        """The size of this state's metadata: ``replicas`` (ids it keeps metadata for), ``context`` (version
        vector or counter entries), ``cloud`` (scattered dots of a causal context), ``archives`` (archive ids
        among the replicas, see crdts.retention). O(replicas)."""
        from .retention import is_archive

        ids = self._rt_ids()
        return {"replicas": len(ids), "context": len(ids), "cloud": 0, "archives": sum(map(is_archive, ids))}


class KeyedStoreReads:
    """``in``, ``len`` and iteration over the keys of a causal type's DotMap store (AWSet elements,
    ConflictMap keys): the keys are canonical elements, so a lookup canonicalises first."""

    __slots__ = ()
    _store: Any

    def __contains__(self, key: object) -> bool:
        try:
            return element(key) in self._store
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self) -> Any:
        return iter(list(self._store))


class Causal(CRDT):
    """Base of the causal types: a dot store over a causal context, joined by the kernel.

    Subclasses set ``_kind`` (``set``, ``dict`` or ``kernel.DotMap``) and define mutators that return
    deltas built with :meth:`_delta`. The merge here is the only one the causal types use.
    """

    __slots__ = ("_ctx", "_store")
    _kind: ClassVar[type] = set
    _store: Any
    _ctx: CausalContext

    def __init__(self, replica: str | None = None) -> None:
        self._replica = check_replica(replica)
        self._store = self._kind()
        self._ctx = CausalContext()

    @classmethod
    def _delta(cls: type[T], store: Any, ctx: CausalContext) -> T:
        d = cls.__new__(cls)
        d._replica = None
        d._store = store  # type: ignore[attr-defined]
        d._ctx = ctx  # type: ignore[attr-defined]
        return d

    def _new_dot(self, method: str) -> tuple[str, int]:
        """Allocate the next dot of this replica and record it in the context. O(1).

        A bound object's context never holds a dot of its own replica beyond its version vector entry
        (binding and merges refuse one: :class:`~crdts.errors.ReplicaClash`), so the next dot is the entry + 1.
        """
        r = self._replica
        if r is None:
            raise ReplicaRequired(type(self).__name__, method)
        vv = self._ctx.vv
        n = vv.get(r, 0) + 1
        vv[r] = n
        return (r, n)

    def merge(self, other: Any) -> None:
        """Join ``other`` (a delta or a full state of the same class) into this object, in place.

        Validates first: a refused merge raises and changes nothing. Idempotent, commutative, associative.
        Refused: a dot carrying two payloads (:class:`~crdts.errors.DoubleSpentDot`), events of this
        replica's own id beyond its counter (:class:`~crdts.errors.ReplicaClash`), a causal context whose
        scattered dots would exceed ``CausalContext.max_cloud`` (:class:`~crdts.errors.LimitExceeded`).
        Cost: O(size of other + dots of ours that other's context names).
        """
        if type(other) is not type(self):
            self._check_other(other)
        if other is self:
            return
        self.check_merge(other)
        kernel.merge_into(self._store, self._ctx, other._store, other._ctx)
        self._ctx.join(other._ctx)

    def check_merge(self, other: Any) -> None:
        """Own replica id and dot-cloud limit (subclasses add theirs). Changes nothing. O(other's context)."""
        octx = other._ctx
        r = self._replica
        if r is not None:
            mine = self._ctx.vv.get(r, 0)
            theirs = octx.max(r)
            if theirs > mine:
                raise ReplicaClash(r, mine, theirs)
        if octx._cl and octx.cloud_size() + self._ctx.cloud_size() > CausalContext.max_cloud:
            # the sum is an upper bound: count exactly only then
            cap = CausalContext.max_cloud
            size = self._ctx.joined_cloud_size(octx)
            if size > cap:
                raise LimitExceeded("scattered dots in the causal context", size, cap)

    def _check_binding(self, replica: str | None) -> None:
        """Binding to ``replica`` must not reuse dots: refuse a state holding events of it beyond its entry."""
        if replica is None:
            return
        ctx = self._ctx
        n = ctx.vv.get(replica, 0)
        beyond = ctx._cloud_of(replica)
        if beyond:
            raise ReplicaClash(replica, n, max(beyond))
        if n >= UINT_LIMIT - 1:
            raise LimitExceeded(f"the event counter of replica {replica!r}", n + 1, UINT_LIMIT - 1)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return kernel.same_store(self._store, other._store) and self._ctx == other._ctx

    def copy(self: T, replica: Any = _UNSET) -> T:
        """An independent copy; ``replica=`` rebinds it (None makes it read-only). O(size)."""
        c = type(self).__new__(type(self))
        if replica is _UNSET:
            c._replica = self._replica
        else:
            c._replica = check_replica(replica)
            if replica is not None and replica != self._replica:
                self._check_binding(replica)  # type: ignore[attr-defined]
        c._store = kernel.copy_store(self._store)  # type: ignore[attr-defined]
        c._ctx = self._ctx.copy()  # type: ignore[attr-defined]
        return c

    @property
    def context(self) -> CausalContext:
        """A copy of the causal context: every dot this object has seen."""
        return self._ctx.copy()

    def is_bottom(self) -> bool:
        """True for the empty state (nothing seen)."""
        return not self._store and self._ctx.is_empty()

    def delta_for(self: T, other: T) -> T:
        """Δ(self, other): the smallest delta whose merge brings ``other`` up to ``other ⊔ self``.

        Built from the join decomposition (Enes et al. 2019): the live and removed dots of ``self`` that
        ``other`` lacks. Cost O(size of self) at most; O(size of a delta) when ``self`` is a delta.
        """
        if type(other) is not type(self):
            self._check_other(other)
        s, c = kernel.difference(self._store, self._ctx, other._store, other._ctx)  # type: ignore[attr-defined]
        return type(self)._delta(s, c)  # type: ignore[attr-defined]

    def decompose(self: T) -> list[T]:
        """The irredundant join decomposition: one object per join-irreducible. O(dots of the context)."""
        cls = type(self)
        return [cls._delta(s, c) for s, c in kernel.decompose(self._store, self._ctx)]  # type: ignore

    def units(self) -> int:
        """Size in join-irreducibles (live dots plus removed dots): the payload unit of the sync benchmarks."""
        return self._ctx.size()

    def new_origins(self, other: Any) -> set[str] | None:
        """Replicas with dots in ``other``'s context that this one lacks. O(other's context representation)."""
        prefixes, dots = kernel._context_minus(other._ctx, self._ctx, 0)
        return set(prefixes) | set(dots)

    def _check(self) -> None:
        self._check_parts(store=True, payload=True)

    def _check_parts(self, store: bool, payload: bool) -> None:
        """:meth:`_check`, leaving out ``kernel.check_store`` (``store=False``) and :meth:`_check_payload`
        (``payload=False``): for the codec, when its decoder established those invariants as it read (see
        ``Decoder.checked_store``). The store's class and the context are always checked."""
        if not isinstance(self._store, self._kind):
            raise InvariantError(f"{type(self).__name__} store must be a {self._kind.__name__}")
        self._ctx._check()
        if store:
            kernel.check_store(self._store, self._ctx)
        if payload:
            self._check_payload()

    def _check_payload(self) -> None:
        """Type-specific checks on the store's keys and values."""

    def _rt_ids(self) -> set[str]:
        from .retention import causal_ids

        return causal_ids(self)

    def _rt_mark(self, replica: str) -> tuple[int, ...]:
        return (self._ctx.vv.get(replica, 0),)

    def _rt_top(self, replica: str) -> tuple[int, ...]:
        return (self._ctx.max(replica),)

    def _rt_filter(self, replica: str, final: tuple[int, ...]) -> bool:
        from .retention import causal_filter

        return causal_filter(self, replica, final)

    def _rt_alias(self, replica: str, archive: str, base: tuple[int, ...], final: tuple[int, ...]) -> bool:
        from .retention import causal_alias

        return causal_alias(self, replica, archive, base, final)

    def metadata(self) -> dict[str, int]:
        from .retention import is_archive

        ctx = self._ctx
        ids = self._rt_ids()
        return {"replicas": len(ids), "context": len(ctx.vv), "cloud": ctx.cloud_size(),
                "archives": sum(map(is_archive, ids)), "dots": kernel.ndots(self._store)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(replica={self._replica!r}, value={self._repr_value()!r})"

    def _repr_value(self) -> Any:
        return getattr(self, "value", None)
