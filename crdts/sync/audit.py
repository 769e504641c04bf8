"""An append-only audit trail of writes, conflicts and resolutions, durable across crashes.

Each record is a CBOR map ``{"seq", "kind", "region", "ts", "actor", "key", "detail", "at"}``: ``kind`` is
``write``, ``conflict`` or ``resolution``; ``ts`` the writer's HLC reading ``[wall, logical, replica]``
(or the node clock ``[seconds]`` for types without an HLC); ``at`` the local wall time of the record.
On disk a record is framed as ``length (4 bytes, big-endian) | CBOR | CRC-32 (4 bytes)`` and the file
is fsynced before ``append`` returns, so an acknowledged record survives a crash; a torn tail from a
crash mid-write is detected by its length or checksum and cut off on reopen.

>>> log = AuditLog()                     # in memory; AuditLog("path/to/audit.log") keeps a file
>>> _ = log.append("write", region="eu", ts=[1, 0, "eu"], actor="alice", key="cart")
>>> _ = log.append("conflict", region="eu", ts=[2, 0, "eu"], key="cart", detail={"regions": ["eu", "us"]})
>>> [r["kind"] for r in log.records()], log.to_jsonl().count("\\n")
(['write', 'conflict'], 2)
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import cbor2

__all__ = ["AuditLog"]

_KINDS = ("write", "conflict", "resolution")


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, frozenset):
        return sorted((_jsonable(x) for x in v), key=repr)
    return v


class AuditLog:
    """Append-only log of records with a retention policy.

    ``max_records`` and ``max_age`` (seconds) bound the ``write`` records that :meth:`compact` keeps;
    ``conflict`` and ``resolution`` records are what audits need and are always kept. ``path=None`` keeps
    the log in memory only (nothing survives a crash).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_records: int | None = None,
                 max_age: float | None = None, fsync: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.path = None if path is None else os.fspath(path)
        self.max_records = max_records
        self.max_age = max_age
        self.fsync = fsync
        self.clock = clock
        self._records: list[dict[str, Any]] = []
        self._next = 1
        self.truncated_bytes = 0
        if self.path is not None:
            self.reopen()

    # --- writing ------------------------------------------------------------------------------

    def append(self, kind: str, *, region: str, ts: list[Any], actor: str | None = None, key: Any = None,
               detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add one record; with a file, it is on disk (fsynced) when this returns."""
        if kind not in _KINDS:
            raise ValueError(f"audit record kind must be one of {_KINDS}, got {kind!r}")
        rec = {"seq": self._next, "kind": kind, "region": region, "ts": list(ts), "actor": actor, "key": key,
               "detail": detail or {}, "at": self.clock()}
        if self.path is not None:
            with open(self.path, "ab") as f:
                f.write(self._frame(rec))
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
        self._records.append(rec)
        self._next += 1
        return rec

    @staticmethod
    def _frame(rec: dict[str, Any]) -> bytes:
        body = cbor2.dumps(rec, canonical=True)
        return struct.pack(">I", len(body)) + body + struct.pack(">I", zlib.crc32(body))

    # --- reading ------------------------------------------------------------------------------

    def reopen(self) -> None:
        """Reload the records from the file (after a restart); a torn tail is cut off."""
        if self.path is None:
            return
        self._records = []
        good = 0
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        pos = 0
        while pos + 8 <= len(data):
            (n,) = struct.unpack_from(">I", data, pos)
            end = pos + 4 + n + 4
            if end > len(data):
                break
            body = data[pos + 4:pos + 4 + n]
            (crc,) = struct.unpack_from(">I", data, pos + 4 + n)
            if zlib.crc32(body) != crc:
                break
            try:
                rec = cbor2.loads(body, max_depth=16, allow_indefinite=False)
            except Exception:
                break
            if type(rec) is not dict or rec.get("kind") not in _KINDS:
                break
            self._records.append(rec)
            pos = good = end
        self.truncated_bytes = len(data) - good
        if self.truncated_bytes:
            with open(self.path, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        self._next = (self._records[-1]["seq"] + 1) if self._records else 1

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The records, oldest first (optionally of one kind)."""
        return [r for r in self._records if kind is None or r["kind"] == kind]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def to_cbor(self) -> bytes:
        """Every record, as one CBOR array."""
        return cbor2.dumps(self._records, canonical=True)

    def to_jsonl(self) -> str:
        """Every record as a JSON line (bytes as ``{"bytes": hex}``)."""
        return "".join(json.dumps(_jsonable(r), sort_keys=True) + "\n" for r in self._records)

    # --- retention ----------------------------------------------------------------------------

    def compact(self, now: float | None = None) -> int:
        """Apply the retention policy to ``write`` records (conflicts and resolutions are kept) and
        rewrite the file atomically. Returns how many records were dropped."""
        now = self.clock() if now is None else now
        writes = [r for r in self._records if r["kind"] == "write"]
        drop: set[int] = set()
        if self.max_age is not None:
            drop |= {r["seq"] for r in writes if now - r["at"] > self.max_age}
        if self.max_records is not None and len(writes) > self.max_records:
            drop |= {r["seq"] for r in writes[:len(writes) - self.max_records]}
        if not drop:
            return 0
        self._records = [r for r in self._records if r["seq"] not in drop]
        if self.path is not None:
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as f:
                for r in self._records:
                    f.write(self._frame(r))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return len(drop)
