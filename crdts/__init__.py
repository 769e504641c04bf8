"""crdts: conflict-free replicated data types for Python.

Two regions diverge, exchange deltas, and converge:

>>> from crdts import AWSet
>>> eu, us = AWSet(replica="eu-west"), AWSet(replica="us-east")
>>> d1 = eu.add("apple")          # every mutator changes the replica and returns a small delta
>>> d2 = us.add("pear")
>>> d3 = us.remove("pear")        # removal leaves no tombstone: the causal context carries it
>>> d4 = eu.add("pear")           # concurrent with us's remove: add wins
>>> for d in (d2, d3):
...     eu.merge(d)
>>> for d in (d1, d4):
...     us.merge(d)
>>> eu == us, sorted(eu.value)
(True, ['apple', 'pear'])
"""

from ._base import _UNSET as UNSET
from ._base import CRDT, check_replica
from ._json import to_json
from .causal import HLC, CausalContext, Dot, Ordering, Timestamp, VersionVector
from .codec import Limits, decode, encode
from .conflicts import ConflictMap, ConflictRegister
from .counters import CausalCounter, CCounter, GCounter, PNCounter
from .deltas import Batch, DeltaBuffer
from .errors import (
    CausalGap,
    ClockDrift,
    CloudTooLarge,
    ConflictingWrite,
    CRDTError,
    DecodeError,
    DoubleSpentDot,
    EncodeError,
    InvariantError,
    LimitExceeded,
    MalformedOp,
    PayloadTooLarge,
    ReplicaClash,
    ReplicaRequired,
    SchemaError,
    UnknownType,
    UnsupportedVersion,
)
from .flags import DWFlag, EWFlag
from .maps import LWWMap, ORMap
from .registers import LWWRegister, MVRegister
from .sets import AWSet, GSet, ORSet, RWSet, TwoPSet

__version__ = "0.1.0"

__all__ = [
    # types
    "GCounter",
    "PNCounter",
    "CCounter",
    "CausalCounter",
    "LWWRegister",
    "MVRegister",
    "EWFlag",
    "DWFlag",
    "GSet",
    "TwoPSet",
    "AWSet",
    "ORSet",
    "RWSet",
    "ORMap",
    "LWWMap",
    "ConflictRegister",
    "ConflictMap",
    # shipping several mutations as one delta; JSON export of values
    "DeltaBuffer",
    "Batch",
    "to_json",
    # causality
    "Dot",
    "VersionVector",
    "Ordering",
    "CausalContext",
    "HLC",
    "Timestamp",
    # errors
    "CRDTError",
    "ReplicaRequired",
    "DecodeError",
    "UnsupportedVersion",
    "UnknownType",
    "PayloadTooLarge",
    "InvariantError",
    "DoubleSpentDot",
    "ConflictingWrite",
    "MalformedOp",
    "CausalGap",
    "SchemaError",
    "EncodeError",
    "ReplicaClash",
    "ClockDrift",
    "LimitExceeded",
    "CloudTooLarge",
    # writing your own types (docs/extending.md)
    "CRDT",
    "UNSET",
    "check_replica",
    # wire format
    "encode",
    "decode",
    "Limits",
]

# The operation-based family (crdts.ops) loads last: it builds on everything above.
from . import ops as ops
