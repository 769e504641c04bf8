"""Who a peer is and what it may say: authorization, limits, and (optionally) signed deltas.

A transport authenticates the sending peer (a TLS certificate, a NATS credential; the simulator and
:class:`~crdts.sync.LocalTransport` simply name it) and hands the node that *identity* with each
message. The node's :class:`Authorizer` turns it into a :class:`Grant`: whether the peer may talk to
this node at all, the replica ids it may originate writes for, and whether it may relay writes of
others. Everything else a message says is a claim, checked against these and against the node's
:class:`SyncLimits` before anything changes.

>>> auth = Authorizer({"eu-west": Grant({"eu-west"}), "us-east": ["us-east"]})
>>> auth.grant("eu-west").may_originate("eu-west~2")      # incarnations of an allowed id are allowed
True
>>> auth.grant("eu-west").may_originate("us-east"), auth.grant("mallory")
(False, None)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ..codec import DEFAULT_LIMITS, Limits
from ..errors import CRDTError

__all__ = ["Authorizer", "Grant", "SyncLimits", "Unauthorized", "base_replica"]


class Unauthorized(CRDTError):
    """A peer said something its grant does not allow (or has no grant): the message is refused and counted."""

    def __init__(self, peer: str, reason: str) -> None:
        self.peer = peer
        self.reason = reason
        super().__init__(f"peer {peer!r} is not allowed to {reason}")


def base_replica(replica: str) -> str:
    """The replica id without its incarnation suffix: ``"eu-west~3"`` -> ``"eu-west"``."""
    return replica.partition("~")[0]


def _names(ids: Iterable[str]) -> frozenset[str]:
    if isinstance(ids, str):
        raise TypeError(f"a grant's origins are a collection of replica ids, not the str {ids!r}")
    return frozenset(ids)


@attrs.frozen(slots=True)
class Grant:
    """What one authenticated peer may do.

    ``origins``: replica ids it may originate writes for (an id covers its incarnations ``id~N``);
    ``relay``: whether it may forward writes that other replicas originated (every protocol but a full
    mesh of direct links needs it; without it, everything new in its messages must be its own);
    ``snapshots``: whether its claims about other origins' histories (digest and op snapshots) are
    believed. With relaying peers and no signatures, a peer is trusted with what it relays: see
    docs/security.md.
    """

    origins: frozenset[str] = attrs.field(converter=_names)
    relay: bool = True
    snapshots: bool = True

    def may_originate(self, replica: str) -> bool:
        return replica in self.origins or base_replica(replica) in self.origins


class Authorizer:
    """Maps an authenticated identity to its :class:`Grant` (``None``: refused).

    ``peers`` maps identities to a Grant or to the replica ids they may originate; ``default`` is the
    grant of identities not listed (``None``, the default, refuses them). A callable may be given
    instead of the mapping.
    """

    def __init__(self, peers: Mapping[str, Grant | Iterable[str]] | Callable[[str], Grant | None],
                 default: Grant | None = None) -> None:
        if callable(peers):
            self._lookup: Callable[[str], Grant | None] = peers
        else:
            table = {k: v if isinstance(v, Grant) else Grant(frozenset(v)) for k, v in peers.items()}
            self._lookup = lambda identity: table.get(identity, default)

    def grant(self, identity: str) -> Grant | None:
        return self._lookup(identity)


def _positive(name: str) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if type(value) is not int or value < 1:
            raise ValueError(f"SyncLimits.{name} must be an int >= 1, got {value!r}")
    return check


def _ttl(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and (type(value) not in (int, float) or not value > 0):
        raise ValueError(f"SyncLimits.log_ttl must be a number of seconds > 0 or None, got {value!r}")


@attrs.frozen(slots=True)
class SyncLimits:
    """Caps on what a peer can make a node hold or do. Each has a default, and a counter in
    ``NodeStats.limits_hit`` that says when it was reached.

    ``max_message_bytes``: a message's size, checked before it is parsed (at most ``codec.max_bytes``,
    which bounds the payload decoded inside it). ``max_buffer``: delta-intervals the causal protocols keep
    for neighbours that have not acknowledged them; past it the oldest go, and a neighbour that needed
    them gets a full state. ``max_pending``: writes held because they arrived out of order (digest log
    entries beyond a gap, op messages waiting for their dependencies); past it new ones are refused (the
    sender repairs later). ``max_log``: writes kept for catch-up (digest and op logs); past it the oldest
    go, and a peer that needed them gets a snapshot. ``log_ttl``: seconds (by the node's clock) a write is
    kept in those logs (default None: no TTL, only ``max_log`` and the acknowledgements bound them); past
    it the write goes, as past ``max_log``. The protocols' ``archive`` option receives what either drops
    (see docs/retention.md, "Bounded logs and siblings"). ``max_members``: replicas an op node admits into its
    group. ``codec``: the codec limits payloads are decoded with.
    """

    max_message_bytes: int = attrs.field(default=DEFAULT_LIMITS.max_bytes, validator=_positive("max_message_bytes"))
    max_buffer: int = attrs.field(default=4096, validator=_positive("max_buffer"))
    max_pending: int = attrs.field(default=4096, validator=_positive("max_pending"))
    max_log: int = attrs.field(default=100_000, validator=_positive("max_log"))
    max_members: int = attrs.field(default=1024, validator=_positive("max_members"))
    log_ttl: float | None = attrs.field(default=None, validator=_ttl)
    codec: Limits = DEFAULT_LIMITS

    def __attrs_post_init__(self) -> None:
        if self.max_message_bytes > self.codec.max_bytes:
            raise ValueError(f"SyncLimits.max_message_bytes ({self.max_message_bytes}) must not exceed the codec's "
                             f"max_bytes ({self.codec.max_bytes}); raise both for larger states")
