"""JSON export of values: :func:`to_json`."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["to_json"]


def to_json(v: Any) -> Any:
    """A JSON-able form of a CRDT or of its value: plain data that ``json.dumps`` accepts, the same for
    equal values (sets and maps are sorted), so it can be compared, stored or shown.

    A CRDT stands for its ``value``; sets (``frozenset``) become sorted lists; tuples become lists;
    ``bytes`` become ``{"bytes": hex}``; a dict whose keys are all str stays a dict (sorted by key); a dict
    with other keys (ints, tuples, ...) becomes a list of ``[key, value]`` pairs sorted by key, since a
    JSON object's keys are text and ``1`` and ``"1"`` would collide; NaN and infinities become their
    ``repr`` (JSON has no such numbers).

    >>> from crdts import AWSet, ORMap, to_json
    >>> m = ORMap("a")
    >>> _ = m.update("tags", AWSet, lambda s: (s.add("b"), s.add("a"), s.add(b"\\x01")))
    >>> to_json(m)
    {'tags': [{'bytes': '01'}, 'a', 'b']}
    >>> to_json({1: (2, 3)})
    [[1, [2, 3]]]
    """
    from ._base import CRDT

    if isinstance(v, CRDT):
        v = v.value
    if isinstance(v, (set, frozenset)):
        return sorted((to_json(x) for x in v), key=lambda x: (type(x).__name__, repr(x)))
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v):
            return {k: to_json(x) for k, x in sorted(v.items())}
        return [[to_json(k), to_json(x)] for k, x in sorted(v.items(), key=lambda kv: repr(kv[0]))]
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return v
