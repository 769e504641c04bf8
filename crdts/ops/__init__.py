"""Operation-based CRDTs and the causal broadcast they ride.

For transports that already deliver a log per region (Kafka partitions, Redis Streams, replication
slots), shipping small operations beats shipping states or deltas. A mutator *prepares* an operation,
stamps it with the replica's :class:`CausalBroadcast` and returns the :class:`OpMessage` to ship;
``apply`` takes whatever the transport brings (any order, duplicates), and the broadcast delivers
each operation exactly once, in causal order. Causal stability lets the types drop per-operation
metadata. ``to_state()``/``from_state()`` bridge to the delta-state types. See docs/ops.md.

Two regions diverge, exchange operations (out of order, with a duplicate), and converge:

>>> from crdts.ops import OpAWSet
>>> group = ["eu-west", "us-east"]
>>> eu, us = OpAWSet("eu-west", members=group), OpAWSet("us-east", members=group)
>>> m1 = eu.add("apple"); m2 = eu.add("pear"); m3 = us.add("fig")
>>> us.apply(m2)                       # arrives before m1, its causal predecessor: held back
()
>>> [m.op for m in us.apply(m1)]       # m1 delivers, and releases m2
[Add(element='apple'), Add(element='pear')]
>>> us.apply(m1), eu.apply(m3)         # the duplicate is dropped
((), (OpMessage(origin='us-east', seq=1, deps=(), op=Add(element='fig')),))
>>> eu == us, sorted(eu.value)
(True, ['apple', 'fig', 'pear'])
>>> sorted(eu.to_state().value)        # the equivalent delta-state crdts.AWSet
['apple', 'fig', 'pear']
"""

from . import wire  # noqa: F401  (registers OpMessage and Ack with the codec)
from ._base import OpCRDT
from .broadcast import Ack, Buffered, CausalBroadcast, OpMessage
from .counters import OpCCounter, OpPNCounter
from .maps import OpORMap
from .operations import Add, Assign, Clear, Decrement, Increment, Operation, Remove, Update
from .registers import OpLWWRegister, OpMVRegister
from .sets import OpAWSet

__all__ = [
    # types
    "OpCRDT",
    "OpPNCounter",
    "OpCCounter",
    "OpLWWRegister",
    "OpMVRegister",
    "OpAWSet",
    "OpORMap",
    # operations
    "Operation",
    "Increment",
    "Decrement",
    "Assign",
    "Add",
    "Remove",
    "Clear",
    "Update",
    # causal broadcast
    "CausalBroadcast",
    "OpMessage",
    "Ack",
    "Buffered",
]
