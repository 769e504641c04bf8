"""A user's own CRDT, written only against crdts' public API: the example of docs/extending.md.

``MaxRegister`` keeps the largest integer ever written. Its lattice is ``max`` over ints (with "nothing
written" as the bottom), so any two replicas that have seen the same writes agree, whatever the order.
"""

from __future__ import annotations

from typing import Any

import crdts
from crdts import codec
from crdts.errors import InvariantError, SchemaError

CODE = 4096  # a code in crdts.codec.USER_CODES, never reused for another type


class MaxRegister(crdts.CRDT):
    """The largest int ever written. Delta: the register itself (one int). Metadata: none."""

    __slots__ = ("_max",)

    def __init__(self, replica: str | None = None) -> None:
        self._replica = crdts.check_replica(replica)
        self._max: int | None = None

    @classmethod
    def _of(cls, n: int | None) -> MaxRegister:
        x = cls()
        x._max = n
        return x

    # -- the mutator returns its delta -------------------------------------------------------------
    def write(self, n: int) -> MaxRegister:
        self._need_replica("write")
        if type(n) is not int:
            raise TypeError(f"MaxRegister.write takes an int, got {type(n).__name__}")
        if not -(2**63) <= n < 2**63:
            raise ValueError("MaxRegister holds 64-bit ints")
        if self._max is None or n > self._max:
            self._max = n
        return MaxRegister._of(n)

    # -- reads ------------------------------------------------------------------------------------------
    @property
    def value(self) -> int | None:
        return self._max

    # -- the lattice --------------------------------------------------------------------------------------
    def merge(self, other: MaxRegister) -> None:
        self._check_other(other)
        if other._max is not None and (self._max is None or other._max > self._max):
            self._max = other._max

    def __eq__(self, other: object) -> bool:
        if type(other) is not MaxRegister:
            return NotImplemented
        return self._max == other._max

    def copy(self, replica: Any = crdts.UNSET) -> MaxRegister:
        c = MaxRegister(self._replica if replica is crdts.UNSET else replica)
        c._max = self._max
        return c

    def is_bottom(self) -> bool:
        return self._max is None

    # -- join decomposition (what the bprr protocol uses) ------------------------------------------------
    def units(self) -> int:
        return 0 if self._max is None else 1

    def decompose(self) -> list[MaxRegister]:
        return [] if self._max is None else [MaxRegister._of(self._max)]

    def delta_for(self, other: MaxRegister) -> MaxRegister:
        self._check_other(other)
        if self._max is not None and (other._max is None or self._max > other._max):
            return MaxRegister._of(self._max)
        return MaxRegister()

    def _check(self) -> None:
        if self._max is not None and type(self._max) is not int:
            raise InvariantError(f"MaxRegister holds an int, not {self._max!r}")

    def __repr__(self) -> str:
        return f"MaxRegister(replica={self._replica!r}, value={self._max!r})"


# -- the wire form: [] for the bottom, [n] otherwise -------------------------------------------------------

def _encode(x: MaxRegister) -> codec.Body:
    return [], ([] if x._max is None else [x._max])


def _decode(dec: codec.Decoder, body: list[Any]) -> MaxRegister:
    if not body:
        return MaxRegister()
    if len(body) != 1 or type(body[0]) is not int or not -(2**63) <= body[0] < 2**63:
        raise SchemaError("body", f"expected [] or [a 64-bit int], got {body!r}")
    return MaxRegister._of(body[0])


codec.register_type(MaxRegister, CODE, encode=_encode, decode=_decode)
