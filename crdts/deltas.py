"""Shipping several mutations as one delta: :class:`DeltaBuffer` (explicit) and ``x.batch()`` (a snapshot).

Every mutator returns its own delta. To send several mutations in one message, join their deltas: a
:class:`DeltaBuffer` does that as you go, at the cost of the deltas' merges; ``with x.batch() as b:``
needs nothing from the code inside the block and computes the delta once, at the end, from a snapshot
(O(size of ``x``)).

>>> from crdts import AWSet, DeltaBuffer
>>> s, replica = AWSet("a"), AWSet("b")
>>> buf = DeltaBuffer()
>>> _ = buf.add(s.add("x")); _ = buf.add(s.add("y")); _ = buf.add(s.remove("x"))
>>> len(buf)
3
>>> replica.merge(buf.take())              # one delta for three mutations
>>> sorted(replica), len(buf)
(['y'], 0)
>>> with s.batch() as b:
...     _ = s.add("z"); _ = s.clear()
>>> replica.merge(b.delta); replica == s
True
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, TypeVar

from ._base import CRDT

__all__ = ["Batch", "DeltaBuffer"]

C = TypeVar("C", bound=CRDT)


class DeltaBuffer(Generic[C]):
    """Joins mutators' deltas into one: ``add(delta)`` as you mutate, ``take()`` to ship them.

    Merging the taken delta into a replica has the effect of merging every added delta (the join is
    associative and idempotent). Not thread-safe. Cost: one merge per ``add`` (O(size of the delta)).
    """

    __slots__ = ("_count", "_delta")

    def __init__(self) -> None:
        self._delta: C | None = None
        self._count = 0

    def add(self, delta: C) -> C:
        """Join ``delta`` (a mutator's result, or any state of the buffer's type) into the buffer; returns it.
        Raises TypeError for a delta of another type than those already added."""
        if not isinstance(delta, CRDT):
            raise TypeError(f"DeltaBuffer.add takes a CRDT delta, got {type(delta).__name__}")
        if self._delta is None:
            self._delta = delta.copy(replica=None)
        else:
            self._delta.merge(delta)
        self._count += 1
        return delta

    @property
    def delta(self) -> C | None:
        """The joined delta so far (None if nothing was added). Read-only: do not mutate it."""
        return self._delta

    def take(self) -> C | None:
        """The joined delta (None if nothing was added), and start over empty."""
        d, self._delta, self._count = self._delta, None, 0
        return d

    def __len__(self) -> int:
        """How many deltas were added since the last :meth:`take`."""
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __repr__(self) -> str:
        return f"DeltaBuffer({self._count} deltas, {self._delta!r})"


class Batch(Generic[C]):
    """What ``with x.batch() as b:`` gives: after the block, ``b.delta`` is the delta of every mutation
    made to ``x`` inside it (``x.delta_for(snapshot)``), ready to ship as one message.

    Cost: a copy of ``x`` on entry and a :meth:`~crdts._base.CRDT.delta_for` on exit, O(size of ``x``) each;
    the mutators themselves cost what they always do. For a few mutations on a large object, a
    :class:`DeltaBuffer` is cheaper. If the block raises, ``delta`` still holds the mutations made before
    the error (they are in ``x``).
    """

    __slots__ = ("_obj", "_snapshot", "delta")

    def __init__(self, obj: C) -> None:
        self._obj = obj
        self._snapshot: C | None = None
        self.delta: C | None = None

    def __enter__(self) -> Batch[C]:
        self._snapshot = self._obj.copy()
        self.delta = None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        snap, self._snapshot = self._snapshot, None
        assert snap is not None
        self.delta = self._obj.delta_for(snap)
