"""The store interface: what a backend implements, and the records it keeps."""

from __future__ import annotations

import abc
from collections.abc import Iterator

import attrs

from ..errors import CRDTError

__all__ = ["Commit", "LogEntry", "Meta", "ObjectRecord", "Store", "StoreError"]


class StoreError(CRDTError):
    """The store cannot be opened or written: a file that is not a crdts store, another region's store, an
    unknown format version, a disk that is full. ``path`` names the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"store {path}: {reason}")


@attrs.frozen(slots=True)
class Meta:
    """A region's identity and counters. ``replica`` is the region's base id; writes are made as
    ``replica`` (incarnation 0) or ``replica~N``; ``lsn`` is the last log sequence number committed;
    ``clock`` the highest hybrid-clock wall time the region has stamped or seen (restored on restart, so
    a clock that went back never stamps a write below an earlier one)."""

    replica: str
    incarnation: int = 0
    lsn: int = 0
    clock: int = 0

    @property
    def replica_id(self) -> str:
        """The id the region writes as now."""
        return self.replica if self.incarnation == 0 else f"{self.replica}~{self.incarnation}"


@attrs.frozen(slots=True)
class ObjectRecord:
    """A named object's snapshot: its codec bytes and the lsn they cover (log entries above it follow)."""

    name: str
    data: bytes
    lsn: int


@attrs.frozen(slots=True)
class LogEntry:
    """One change: ``delta`` (codec bytes) of object ``name``, made here (``origin`` None) or received from
    peer ``origin`` (only the part that was new here)."""

    lsn: int
    name: str
    origin: str | None
    delta: bytes


@attrs.define(slots=True)
class Commit:
    """What one transaction writes, all or nothing."""

    log: list[LogEntry] = attrs.field(factory=list)
    snapshots: list[ObjectRecord] = attrs.field(factory=list)
    #: peer -> the last lsn of ours it has committed
    sent: dict[str, int] = attrs.field(factory=dict)
    #: peer -> the last lsn of its that we have committed
    received: dict[str, int] = attrs.field(factory=dict)
    #: peer -> what it has of ours, set exactly (lowered: after it said it lost state)
    sent_reset: dict[str, int] = attrs.field(factory=dict)
    #: peer -> what we have of its, set exactly (lowered: the source we counted in started over)
    received_reset: dict[str, int] = attrs.field(factory=dict)
    meta: Meta | None = None
    #: drop log entries at or below this lsn (their objects' snapshots cover them; every peer has them)
    truncate_below: int | None = None

    def __bool__(self) -> bool:
        return bool(self.log or self.snapshots or self.sent or self.received or self.sent_reset
                    or self.received_reset or self.meta is not None or self.truncate_below is not None)


class Store(abc.ABC):
    """A region's durable keyspace. Methods are called from one thread at a time."""

    @abc.abstractmethod
    def meta(self) -> Meta:
        """The region's identity and counters (as of the last commit)."""

    @abc.abstractmethod
    def objects(self) -> Iterator[ObjectRecord]:
        """Every object's snapshot."""

    @abc.abstractmethod
    def log(self, after: int = 0) -> Iterator[LogEntry]:
        """The log entries above ``after``, in lsn order."""

    @abc.abstractmethod
    def peers(self) -> dict[str, tuple[int, int]]:
        """peer -> (the last lsn of ours it committed, the last lsn of its we committed)."""

    @abc.abstractmethod
    def commit(self, c: Commit) -> None:
        """Write ``c`` atomically and durably (fsynced) before returning; raise :class:`StoreError` (and write
        nothing) if it cannot be written."""

    def close(self) -> None:  # noqa: B027 - a backend without resources has nothing to close
        """Release the backend's resources."""
