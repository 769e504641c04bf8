"""Flags: enable-wins and disable-wins booleans (both start False)."""

from __future__ import annotations

from ._base import Causal
from .causal import CausalContext
from .errors import InvariantError

__all__ = ["DWFlag", "EWFlag"]


class EWFlag(Causal):
    """Enable-wins flag: True while some enable is not overridden by a disable that saw it.

    State: a DotSet. ``enable`` replaces the dots it saw with one new dot; ``disable`` drops the dots it
    saw. Concurrency: enable wins over a concurrent disable. Metadata: at most one dot per replica that
    enabled concurrently, plus the causal context. Operations O(dots).

    >>> a, b = EWFlag("a"), EWFlag("b")
    >>> b.merge(a.enable())
    >>> d1 = a.disable(); d2 = b.enable()        # concurrent: enable wins
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    (True, True)
    """

    __slots__ = ()
    _kind = set

    def enable(self) -> EWFlag:
        """Set the flag. O(dots)."""
        dot = self._new_dot("enable")
        seen = set(self._store)
        seen.add(dot)
        self._store.clear()
        self._store.add(dot)
        return EWFlag._delta({dot}, CausalContext._of_dots(seen))

    def disable(self) -> EWFlag:
        """Clear the flag (enables made concurrently still win). O(dots)."""
        self._need_replica("disable")
        seen = set(self._store)
        self._store.clear()
        return EWFlag._delta(set(), CausalContext._of_dots(seen))

    @property
    def value(self) -> bool:
        return bool(self._store)

    def __bool__(self) -> bool:
        return bool(self._store)


class DWFlag(Causal):
    """Disable-wins flag: True only if every latest concurrent operation was an enable. Starts False.

    State: a DotFun of tokens ``dot -> True`` (enable) or ``False`` (disable); each operation replaces
    the tokens it saw with one new token. Concurrency: disable wins over a concurrent enable.
    Metadata: one token per replica that wrote concurrently (one after quiescence), plus the causal
    context. Operations O(tokens).

    >>> a, b = DWFlag("a"), DWFlag("b")
    >>> b.merge(a.enable())
    >>> d1 = a.disable(); d2 = b.enable()        # concurrent: disable wins
    >>> a.merge(d2); b.merge(d1)
    >>> a.value, a == b
    (False, True)
    """

    __slots__ = ()
    _kind = dict

    def _write(self, on: bool, method: str) -> DWFlag:
        dot = self._new_dot(method)
        seen = set(self._store)
        seen.add(dot)
        self._store.clear()
        self._store[dot] = on
        return DWFlag._delta({dot: on}, CausalContext._of_dots(seen))

    def enable(self) -> DWFlag:
        """Set the flag (a concurrent disable wins). O(tokens)."""
        return self._write(True, "enable")

    def disable(self) -> DWFlag:
        """Clear the flag. O(tokens)."""
        return self._write(False, "disable")

    @property
    def value(self) -> bool:
        s = self._store
        return bool(s) and all(s.values())

    def _check_payload(self) -> None:
        if any(type(v) is not bool for v in self._store.values()):
            raise InvariantError("DWFlag tokens must be bools")
