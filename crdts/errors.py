"""Typed errors. Every error raised on purpose by crdts derives from :class:`CRDTError`.

Each error carries the facts that explain it as attributes, and a message a person can act on.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CRDTError",
    "ReplicaRequired",
    "DecodeError",
    "UnsupportedVersion",
    "UnknownType",
    "PayloadTooLarge",
    "InvariantError",
    "DoubleSpentDot",
    "ConflictingWrite",
]


class CRDTError(Exception):
    """Base class of every error raised on purpose by crdts."""


class ReplicaRequired(CRDTError):
    """A mutator was called on an object that is not bound to a replica (``replica=None``).

    Deltas and decoded objects are unbound; bind them with ``obj.copy(replica="r1")`` or
    ``decode(data, replica="r1")`` before mutating.
    """

    def __init__(self, type_name: str, method: str) -> None:
        self.type_name = type_name
        self.method = method
        super().__init__(
            f"{type_name}.{method}() needs a replica id: this object is read-only (replica=None). "
            f"Bind it first, e.g. obj.copy(replica='eu-west') or {type_name}(replica='eu-west')."
        )


class DecodeError(CRDTError, ValueError):
    """Bytes could not be decoded into a crdts object: malformed, truncated, oversized or impossible."""


class UnsupportedVersion(DecodeError):
    """The envelope names a format version this library cannot read."""

    def __init__(self, found: object, supported: tuple[int, ...]) -> None:
        self.found = found
        self.supported = supported
        super().__init__(f"unsupported wire format version {found!r}; this library reads {list(supported)}")


class UnknownType(DecodeError):
    """The envelope names a type code that is not in the registry."""

    def __init__(self, code: object) -> None:
        self.code = code
        super().__init__(f"unknown type code {code!r} in envelope")


class PayloadTooLarge(DecodeError):
    """The input exceeds a configured size limit."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(f"{what} is {size}, over the limit of {limit}")


class InvariantError(CRDTError):
    """An object's internal invariant does not hold (raised by ``_check()`` and by validation)."""


class DoubleSpentDot(CRDTError):
    """One dot carries two different payloads: the other side is corrupt or forged.

    Merging it would break associativity, so the merge is refused and nothing changes.
    """

    def __init__(self, dot: tuple[str, int], ours: Any, theirs: Any) -> None:
        self.dot = dot
        self.ours = ours
        self.theirs = theirs
        super().__init__(f"dot {dot!r} carries {ours!r} here but {theirs!r} in the merged state")


class ConflictingWrite(CRDTError):
    """Two last-writer-wins writes share one timestamp but carry different values (forged or corrupt)."""

    def __init__(self, timestamp: Any, ours: Any, theirs: Any) -> None:
        self.timestamp = timestamp
        self.ours = ours
        self.theirs = theirs
        super().__init__(f"timestamp {timestamp!r} carries {ours!r} here but {theirs!r} in the merged state")


class SchemaError(DecodeError):
    """Well-formed CBOR whose content breaks the wire format: a wrong shape, an impossible value or state.

    ``path`` says where (e.g. ``body.store.singles[2]``), ``reason`` what is wrong.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class EncodeError(CRDTError, ValueError):
    """A state the wire format cannot carry (e.g. an int beyond 64 bits, a negative timestamp)."""


__all__ += ["SchemaError", "EncodeError"]


class MalformedOp(CRDTError, ValueError):
    """An operation or broadcast message that cannot be applied: a wrong shape, type or value.

    Raised by ``apply`` before anything changes (nothing is buffered, delivered or logged). ``path``
    says where (e.g. ``op.element`` or ``deps['b']``), ``expected`` what was needed, ``got`` what came.
    """

    def __init__(self, path: str, expected: str, got: Any) -> None:
        self.path = path
        self.expected = expected
        self.got = got
        super().__init__(f"malformed op at {path}: expected {expected}, got {got!r}")


class CausalGap(CRDTError):
    """The operations a replica needs from ``replica`` are no longer (or not yet) available here.

    ``expected`` is the first sequence number needed, ``got`` the first one this log can serve.
    Raised by ``log_since`` once the log has been compacted past what the requester has delivered:
    such a replica bootstraps from a state snapshot (``from_state``) instead.
    """

    def __init__(self, replica: str, expected: int, got: int) -> None:
        self.replica = replica
        self.expected = expected
        self.got = got
        super().__init__(
            f"causal gap for replica {replica!r}: needs its ops from seq {expected}, but this log starts "
            f"at seq {got}; bootstrap from a state snapshot (from_state) and follow the log from there")


__all__ += ["MalformedOp", "CausalGap"]


class LimitExceeded(CRDTError):
    """A merge or a message would take a replica past one of its limits: refused whole, nothing changed.

    ``what`` names the limit (e.g. ``"scattered dots in the causal context"``), ``value`` what it would
    have reached, ``limit`` the bound. Each limit is a setting; docs/security.md lists them and their defaults.
    """

    def __init__(self, what: str, value: int, limit: int) -> None:
        self.what = what
        self.value = value
        self.limit = limit
        super().__init__(f"{what} would reach {value}, over the limit of {limit}; the merge or message was refused")


class CloudTooLarge(PayloadTooLarge, LimitExceeded):
    """A causal context in a message carries more scattered dots than ``CausalContext.max_cloud``: no
    replica may hold them, so the message is refused as it is decoded (a :class:`DecodeError` to the codec's
    callers, a :class:`LimitExceeded` to a node's counters)."""

    def __init__(self, size: int, limit: int) -> None:
        self.what = "scattered dots in a causal context"
        self.size = self.value = size
        self.limit = limit
        CRDTError.__init__(self, f"a causal context of {size} scattered dots, over the limit of {limit} "
                                 f"(CausalContext.max_cloud); the message was refused")


class ClockDrift(CRDTError):
    """A remote timestamp is further ahead of the local clock than the clock's ``max_drift`` allows.

    The merge that carried it is refused (nothing changes): observing it would pin this replica's clock,
    and every clock that later hears from it, to a wall time far in the future.
    """

    def __init__(self, timestamp: Any, now: int, max_drift: int) -> None:
        self.timestamp = timestamp
        self.now = now
        self.max_drift = max_drift
        super().__init__(
            f"timestamp {tuple(timestamp)!r} is {timestamp[0] - now} time units ahead of this replica's clock "
            f"({now}), beyond the maximum drift of {max_drift}: the writer's clock (or this one) is wrong; "
            f"fix the clock, or raise HLC(max_drift=...)")


class ReplicaClash(CRDTError):
    """Events under this replica's own id that it never made: it would reuse their dots and lose its next writes.

    Either a second live process uses the same replica id, or this replica was restored from a snapshot
    older than what its peers have seen from it. The merge is refused; the replica must continue as a new
    incarnation (``Node`` does this by itself, see docs/security.md). ``replica`` is the id, ``ours`` the
    last event this replica made, ``theirs`` the highest one the other side claims.
    """

    def __init__(self, replica: str, ours: int, theirs: int) -> None:
        self.replica = replica
        self.ours = ours
        self.theirs = theirs
        super().__init__(
            f"the other side holds event {theirs} of replica {replica!r}, but this replica has made only {ours}: "
            f"another process uses the id {replica!r}, or this replica was restored from an old snapshot; "
            f"continue as a new incarnation (a new replica id) instead of reusing its counters")


__all__ += ["ClockDrift", "CloudTooLarge", "LimitExceeded", "ReplicaClash"]


class AuditLogError(CRDTError):
    """An audit log file cannot be used: ``path`` names the file, ``reason`` says what is wrong with it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"audit log {path!r}: {reason}")


class NotAnAuditLog(AuditLogError):
    """The file is not an audit log this library can read: foreign content, or an unknown format version.

    Nothing in the file was changed. ``version`` is the format version its header names (``None`` when
    there is no audit log header at all).
    """

    def __init__(self, path: str, reason: str, version: int | None = None) -> None:
        self.version = version
        super().__init__(path, f"{reason}; the file was left unchanged. Point AuditLog at a new or empty file, "
                               f"or move this one aside")


__all__ += ["AuditLogError", "NotAnAuditLog"]


class RetiredReplica(CRDTError):
    """The replica ``replica`` has been retired (see docs/retention.md): it may not write any more, and what it
    says is refused. ``replica`` is the retired id, ``reason`` what was refused."""

    def __init__(self, replica: str, reason: str) -> None:
        self.replica = replica
        self.reason = reason
        super().__init__(f"replica {replica!r} is retired: {reason}")


class UnknownRetirement(CRDTError):
    """A state names events of an archive (where a heir keeps the events of the replicas retired into it) beyond
    every retirement this replica knows of: merging it before learning that retirement could resurrect what the
    retirement removed. Refused whole, nothing changed; it merges once the retirement records arrive.
    ``archive`` is the archive id, ``theirs`` the position the state claims, ``known`` what the records cover."""

    def __init__(self, archive: str, theirs: tuple[int, ...], known: tuple[int, ...]) -> None:
        self.archive = archive
        self.theirs = theirs
        self.known = known
        super().__init__(f"the state holds events of archive {archive!r} up to {list(theirs)}, but the retirement "
                         f"records known here cover {list(known)}: merge the sender's retirement records first")


__all__ += ["RetiredReplica", "UnknownRetirement"]
