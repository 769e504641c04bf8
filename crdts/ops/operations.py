"""The operations: immutable, encodable payloads that a mutator prepares and every replica applies.

An operation says *what* happened (``Add("apple")``); the :class:`~crdts.ops.broadcast.OpMessage`
that carries it says *who, which one and after what* (origin, sequence number, causal dependencies).
Pure op-based designs keep the two apart: the effect of an operation reads its causal timestamp from
the message, so an add-wins remove carries no tags of its own (Baquero, Almeida, Shoker 2014).

Constructors do not validate (they sit on the hot path of every mutator, which builds well-formed
operations); :meth:`OpCRDT.apply <crdts.ops.OpCRDT.apply>` validates whatever arrives from outside
and raises :class:`~crdts.errors.MalformedOp` before anything changes.

>>> Add("apple"), Increment(2), Update("cart", "AWSet", Add("pear"))
(Add(element='apple'), Increment(n=2, total=None), Update(key='cart', kind='AWSet', op=Add(element='pear')))
"""

from __future__ import annotations

from typing import Any

import attrs

from ..causal import Timestamp
from ..kernel import same

__all__ = ["Add", "Assign", "Clear", "Decrement", "Increment", "Operation", "Remove", "Update"]


@attrs.frozen(slots=True)
class Increment:
    """Add ``n >= 0`` to a counter.

    ``total`` is set only by the causal counter nested in an :class:`~crdts.ops.OpORMap`: the origin's
    running total after this operation (what :class:`crdts.CCounter` carries per dot), so that a map
    remove concurrent with it resets exactly what the delta-state map resets.
    """

    n: int
    total: int | None = None


@attrs.frozen(slots=True)
class Decrement:
    """Subtract ``n >= 0`` from a counter (``total`` as for :class:`Increment`)."""

    n: int
    total: int | None = None


class _Exact:
    """The comparison key of a register value: equal iff :func:`crdts.kernel.same` (type- and sign-strict);
    hashed as the value."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return type(other) is _Exact and same(self.v, other.v)

    def __hash__(self) -> int:
        return hash(self.v)


@attrs.frozen(slots=True)
class Assign:
    """Write a register. ``timestamp`` is the hybrid-logical-clock reading of a last-writer-wins
    write; a multi-value register's assign has none (its causal timestamp is the message's)."""

    value: Any = attrs.field(eq=_Exact)  # compared as the bytes are: Assign(0.0) != Assign(-0.0)
    timestamp: Timestamp | None = None


@attrs.frozen(slots=True)
class Add:
    """Add an element to an add-wins set."""

    element: Any


@attrs.frozen(slots=True)
class Remove:
    """Remove an element from a set, or a key from a map: only the effects the origin had delivered."""

    element: Any


@attrs.frozen(slots=True)
class Clear:
    """Remove every element (set) or key (map) the origin had delivered."""


@attrs.frozen(slots=True)
class Update:
    """Apply the nested operation ``op`` to the value of ``key`` in an observed-remove map.

    ``kind`` names the nested type as the delta-state :class:`crdts.ORMap` stores it: ``"CCounter"``,
    ``"MVRegister"``, ``"AWSet"`` or ``"ORMap"``.
    """

    key: Any
    kind: str
    op: Any


#: Every operation class.
Operation = Increment | Decrement | Assign | Add | Remove | Clear | Update
OPERATIONS: tuple[type, ...] = (Increment, Decrement, Assign, Add, Remove, Clear, Update)
