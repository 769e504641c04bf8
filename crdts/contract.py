"""The contract every CRDT type meets, as code: what merges, the codec, the sync protocols, the simulator and
the law suite (``crdts.testing``) rely on. A type of your own that meets it, and registers its wire form
(:func:`crdts.codec.register_type`), works with all of them (docs/extending.md).

* :class:`StateCRDT`: a join-semilattice bound to a replica. ``merge`` is idempotent, commutative and
  associative, validates before it changes anything, and raises ``TypeError`` for another class;
  ``copy(replica=...)`` is independent of its original (``replica=None``: read-only); ``==`` is equality of
  lattice states (not of bindings); ``is_bottom()``; ``value``; ``_check()`` raises
  :class:`~crdts.errors.InvariantError` when an internal invariant is broken.
* :class:`DeltaCRDT`: its mutators return deltas (objects of the same class, unbound) such that merging the
  delta into a copy taken before the mutation gives the mutated object; and its join decomposition:
  ``decompose()`` (the join-irreducibles), ``units()`` (how many), ``delta_for(other)`` (the smallest
  delta that brings ``other`` up to ``other ⊔ self``), which the ``bprr`` protocol uses.
* :class:`CausalCRDT`: a dot store over a causal context (``crdts._base.Causal``): it can nest in an
  :class:`~crdts.ORMap`, sharing the map's context.
* :class:`OpCRDT`: an operation-based replica over a causal broadcast (``crdts.ops``).

``crdts.CRDT`` is the base class of every built-in state-based type; subclassing it gives replica binding
(``replica``, ``_need_replica``), ``_check_other``, ``!=``, unhashability, truthiness by value, ``bind``,
``fresh`` and ``batch``. Its abstract methods are the contract: a subclass that lacks one cannot be
instantiated, and :func:`missing` lists them.

>>> from crdts import AWSet, ORMap
>>> isinstance(AWSet("a"), DeltaCRDT), isinstance(ORMap("a"), CausalCRDT), missing(AWSet)
(True, True, [])
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["CausalCRDT", "DeltaCRDT", "OpCRDT", "StateCRDT", "missing"]

S = TypeVar("S", bound="StateCRDT")


@runtime_checkable
class StateCRDT(Protocol):
    """A state-based CRDT: a join-semilattice bound to a replica."""

    @property
    def replica(self) -> str | None: ...

    @property
    def value(self) -> Any: ...

    def merge(self, other: Any) -> None: ...

    def copy(self, replica: Any = ...) -> Any: ...

    def is_bottom(self) -> bool: ...

    def _check(self) -> None: ...


@runtime_checkable
class DeltaCRDT(StateCRDT, Protocol):
    """A delta-state CRDT: mutators return deltas, and the state has a join decomposition."""

    def delta_for(self, other: Any) -> Any: ...

    def decompose(self) -> list[Any]: ...

    def units(self) -> int: ...


@runtime_checkable
class CausalCRDT(DeltaCRDT, Protocol):
    """A causal CRDT: a dot store over a causal context (nests in an ORMap)."""

    _store: Any
    _ctx: Any

    @property
    def context(self) -> Any: ...


@runtime_checkable
class OpCRDT(Protocol):
    """An operation-based CRDT: ``apply`` takes operations delivered in causal order, exactly once."""

    @property
    def value(self) -> Any: ...

    def apply(self, msg: Any) -> Any: ...


def missing(cls: type) -> list[str]:
    """The members of the contract that ``cls`` does not define: for a subclass of ``crdts.CRDT``, its
    abstract methods left unimplemented (such a class cannot be instantiated); otherwise the members of
    :class:`DeltaCRDT` it lacks. Empty for a complete type."""
    abstract = getattr(cls, "__abstractmethods__", None)
    if abstract is not None:
        return sorted(abstract)
    names = ("merge", "copy", "is_bottom", "_check", "delta_for", "decompose", "units", "value")
    out = [n for n in names if not hasattr(cls, n)]
    if cls.__eq__ is object.__eq__:
        out.append("__eq__")
    return out
