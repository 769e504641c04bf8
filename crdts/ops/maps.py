"""The op-based observed-remove map of nested op-based values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .._base import element
from ..counters import CCounter, GCounter, PNCounter
from ..errors import InvariantError, MalformedOp
from ..kernel import DotMap
from ..maps import ORMap, TypedKeyReads
from ..registers import MVRegister
from ..sets import AWSet
from ._base import MAX_NESTING, OpCRDT, StandIns, check_element, sort_key
from .broadcast import OpMessage
from .counters import OpCCounter, OpPNCounter
from .operations import Clear, Remove, Update
from .registers import OpMVRegister
from .sets import OpAWSet

__all__ = ["OpORMap"]


class OpORMap(TypedKeyReads, OpCRDT):
    """Op-based observed-remove map from keys to nested op-based values.

    ``update(key, cls, fn)`` hands ``fn`` the nested value (empty if absent); ``fn`` calls one of its
    mutators, which *prepares* the nested operation and returns it; the map ships
    ``Update(key, kind, op)`` and applies it. ``remove(key)`` ships ``Remove(key)``: it resets every
    effect on the key in its causal past, so an update concurrent with it survives (with only the
    effects the remove did not see). Nested kinds, named as in :class:`crdts.ORMap`: ``"CCounter"``
    (name :class:`OpPNCounter`, :class:`crdts.PNCounter` or :class:`crdts.GCounter`), ``"MVRegister"``,
    ``"AWSet"`` and ``"ORMap"``; the kind is part of the entry, as in the delta-state map.

    Delivery contract: **causal order**. Metadata: what the nested values keep (a dot per unstable
    set add, a dot per surviving register write, a dot per counting replica); stable set adds keep
    none. Every operation costs what its nested effect costs; ``remove`` O(effects on the key).

    >>> a = OpORMap("a", members=["a", "b"]); b = OpORMap("b", members=["a", "b"])
    >>> _ = b.apply(a.update("apples", OpPNCounter, lambda c: c.increment(3)))
    >>> m1 = a.remove("apples")                                            # concurrent with
    >>> m2 = b.update("apples", OpPNCounter, lambda c: c.increment(2))     # this update
    >>> m2.op
    Update(key='apples', kind='CCounter', op=Increment(n=2, total=2))
    >>> _ = a.apply(m2); _ = b.apply(m1)
    >>> a.value, b.value                   # the remove reset a's 3, not b's concurrent 2
    ({'apples': 2}, {'apples': 2})
    """

    __slots__ = ("_dirty", "_entries")
    state_class = ORMap

    def _init_state(self) -> None:
        self._entries: dict[tuple[Any, str], OpCRDT] = {}
        self._dirty: set[tuple[Any, str]] = set()  # entries that may hold unstable set dots

    # -- mutators (prepare) -----------------------------------------------------------------------

    def update(self, key: Any, cls: type[Any], fn: Callable[[Any], Any]) -> Any:
        """Apply ``fn`` to the nested value of ``key`` (class ``cls``); ship and apply its operation."""
        r = self._need_replica("update")
        key = element(key)
        kind = kind_of(cls)
        sub = self._entries.get((key, kind))
        view = sub if sub is not None else KINDS[kind]._view(r)
        op = fn(view)
        try:
            KINDS[kind]._check_op(op, "op", 1)
        except MalformedOp as exc:
            raise TypeError(f"OpORMap.update: fn must return the operation one {cls.__name__} mutator "
                            f"returns, got {op!r}") from exc
        return self._emit(Update(key, kind, op), "update")

    def remove(self, key: Any) -> Any:
        """Reset ``key``: drop every effect on it this replica has delivered. O(effects on the key)."""
        self._need_replica("remove")
        return self._emit(Remove(element(key)), "remove")

    def clear(self) -> Any:
        """Reset every key this replica has delivered. O(state)."""
        self._need_replica("clear")
        return self._emit(Clear(), "clear")

    # -- effect -----------------------------------------------------------------------------------

    @classmethod
    def _check_op(cls, op: Any, path: str, depth: int) -> None:
        t = type(op)
        if t is Update:
            check_element(op.key, f"{path}.key")
            kind = op.kind
            if type(kind) is not str or kind not in KINDS:
                raise MalformedOp(f"{path}.kind", f"one of {sorted(KINDS)}", kind)
            if depth >= MAX_NESTING:
                raise MalformedOp(path, f"maps nested at most {MAX_NESTING} deep", "deeper")
            KINDS[kind]._check_op(op.op, f"{path}.op", depth + 1)
        elif t is Remove:
            check_element(op.element, f"{path}.element")
        elif t is not Clear:
            raise MalformedOp(path, "Update, Remove or Clear", op)

    def _effect(self, op: Any, m: OpMessage) -> None:
        t = type(op)
        entries = self._entries
        if t is Update:
            kind = op.kind
            mk = (op.key, kind)
            sub = entries.get(mk)
            if sub is None:
                sub = KINDS[kind]._view(self._replica)
            sub._effect(op.op, m)
            if sub._empty():
                entries.pop(mk, None)
                self._dirty.discard(mk)
            else:
                entries[mk] = sub
                if kind in _COMPACTING:
                    self._dirty.add(mk)
        elif t is Remove:
            for kind in _NAMES:
                mk = (op.element, kind)
                sub = entries.get(mk)
                if sub is not None:
                    sub._reset(m)
                    if sub._empty():
                        del entries[mk]
                        self._dirty.discard(mk)
        else:
            self._reset(m)

    def _reset(self, m: OpMessage) -> None:
        entries = self._entries
        for mk, sub in list(entries.items()):
            sub._reset(m)
            if sub._empty():
                del entries[mk]
                self._dirty.discard(mk)

    def _compact(self, stable: dict[str, int], changed: set[str]) -> None:
        entries = self._entries
        for mk in list(self._dirty):
            sub = entries[mk]
            sub._compact(stable, changed)
            if not sub._compactable():
                self._dirty.discard(mk)

    def _compactable(self) -> bool:
        return bool(self._dirty)

    # -- reads ------------------------------------------------------------------------------------

    def _shown(self) -> dict[Any, tuple[str, OpCRDT]]:
        """key -> (kind, nested value) shown for each key: the kind whose name sorts first."""
        out: dict[Any, tuple[str, OpCRDT]] = {}
        for (k, kind), sub in self._entries.items():
            cur = out.get(k)
            if cur is None or kind < cur[0]:
                out[k] = (kind, sub)
        return out

    @property
    def value(self) -> dict[Any, Any]:
        """``{key: nested value}``. O(size)."""
        return {k: sub.value for k, (_, sub) in self._shown().items()}

    def __getitem__(self, key: Any) -> Any:
        """A read-only copy of the nested value at ``key``. Raises KeyError if absent."""
        k = element(key)
        for kind in _NAMES:
            sub = self._entries.get((k, kind))
            if sub is not None:
                return sub._copy(None)
        raise KeyError(key)

    def _typed(self) -> Any:
        return self._entries

    def _empty(self) -> bool:
        return not self._entries

    def _tags(self) -> int:
        return sum(sub._tags() for sub in self._entries.values())

    def _dots_held(self) -> Iterator[tuple[str, int]]:
        for sub in self._entries.values():
            yield from sub._dots_held()

    # -- bridge -----------------------------------------------------------------------------------

    def _store(self, alloc: StandIns) -> DotMap:
        order = sorted(self._entries, key=lambda mk: (sort_key(mk[0]), mk[1]))
        return DotMap.of({mk: self._entries[mk]._store(alloc) for mk in order})

    def _load(self, store: Any) -> None:
        for mk, sub_store in store.items():
            kind = mk[1]
            if kind not in KINDS:
                raise ValueError(f"cannot bootstrap an OpORMap from this snapshot: key {mk[0]!r} holds a "
                                 f"{kind}, which has no op-based form (supported: {sorted(KINDS)})")
            sub = KINDS[kind]._view(self._replica)
            sub._load(sub_store)
            self._entries[mk] = sub
            if kind in _COMPACTING:
                self._dirty.add(mk)

    def _copy_state(self, other: Any) -> None:
        self._entries = {mk: sub._copy(self._replica) for mk, sub in other._entries.items()}
        self._dirty = set(other._dirty)

    def _check_state(self, stable: dict[str, int] | None) -> None:
        for mk, sub in self._entries.items():
            if type(mk) is not tuple or len(mk) != 2 or KINDS.get(mk[1]) is not type(sub):
                raise InvariantError(f"OpORMap entry {mk!r} holds a {type(sub).__name__}")
            if sub._empty():
                raise InvariantError(f"OpORMap keeps an empty entry {mk!r}")
            if sub._compactable() and mk not in self._dirty:
                raise InvariantError(f"OpORMap entry {mk!r} holds unstable dots but is not tracked")
            sub._check_state(stable)


#: Nested kinds, by the class name crdts.ORMap stores them under.
KINDS: dict[str, type[OpCRDT]] = {
    "AWSet": OpAWSet,
    "CCounter": OpCCounter,
    "MVRegister": OpMVRegister,
    "ORMap": OpORMap,
}
_NAMES = sorted(KINDS)
OpORMap._names = _NAMES
_COMPACTING = frozenset({"AWSet", "ORMap"})
_ALIASES: dict[type, str] = {
    OpAWSet: "AWSet", AWSet: "AWSet",
    OpCCounter: "CCounter", OpPNCounter: "CCounter", CCounter: "CCounter", PNCounter: "CCounter",
    GCounter: "CCounter",
    OpMVRegister: "MVRegister", MVRegister: "MVRegister",
    OpORMap: "ORMap", ORMap: "ORMap",
}


def kind_of(cls: Any) -> str:
    """The nested kind a class names in ``OpORMap.update`` (op-based or delta-state class)."""
    try:
        return _ALIASES[cls]
    except (KeyError, TypeError):
        raise TypeError(f"OpORMap values are OpAWSet, OpPNCounter (a causal counter), OpMVRegister or OpORMap "
                        f"(or the delta-state class of the same name); got {cls!r}") from None
