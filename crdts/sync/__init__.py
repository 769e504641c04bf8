"""Anti-entropy: a transport-agnostic replica node and the sync protocols it can run.

See docs/sync.md for each protocol's guarantees and costs.
"""

from .messages import Message, decode_message, encode_message
from .node import LocalTransport, Node, NodeStats, SendInfo, Transport
from .protocols import PROTOCOLS, BPRRProtocol, CausalProtocol, DeltaProtocol, DigestProtocol, StateProtocol

__all__ = [
    "PROTOCOLS",
    "BPRRProtocol",
    "CausalProtocol",
    "DeltaProtocol",
    "DigestProtocol",
    "LocalTransport",
    "Message",
    "Node",
    "NodeStats",
    "SendInfo",
    "StateProtocol",
    "Transport",
    "decode_message",
    "encode_message",
]
