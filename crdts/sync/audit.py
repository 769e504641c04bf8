"""An append-only audit trail of writes, conflicts and resolutions, durable across crashes.

Each record is a CBOR map ``{"seq", "kind", "region", "ts", "actor", "key", "detail", "at"}``: ``kind`` is
``write``, ``conflict`` or ``resolution``; ``ts`` the writer's HLC reading ``[wall, logical, replica]``
(or the node clock ``[seconds]`` for types without an HLC); ``at`` the local wall time of the record.

**File format (version 1).** The file starts with a 14-byte header, ``b"CRDTS-AUDIT\\x00"`` and the format
version (2 bytes, big-endian); a file without it is refused with :class:`~crdts.errors.NotAnAuditLog` and
left untouched. Then come frames, ``sync marker (4 bytes) | type (1) | length (4, big-endian) | CBOR body |
CRC-32 (4)``, the CRC covering everything before it. Type 1 is a record; type 2 a *high-water mark*, the
CBOR array ``[seq, padding bytes]``: every seq up to ``seq`` has been handed out, even if no record shows
it. The file is fsynced before ``append`` returns, so an acknowledged record survives a crash.

**Reopening** (:meth:`AuditLog.reopen`, also run by the constructor) reads every frame whose marker, length
and CRC verify. An unreadable stretch followed by a valid frame is *corrupt*: it is skipped, counted in
``corrupt_records`` / ``corrupt_bytes``, logged, and left in place (the middle of the file is never
rewritten); the sync markers let the reader find the next record even when a length field is damaged.
Only a *torn tail*, the last unreadable piece with nothing valid after it (a crash in the middle of an
append), is cut off: its bytes are first appended to the quarantine file ``<path>.quarantine`` (same header
and framing, type 3 entries ``{"reason", "offset", "at", "bytes"}``, read by :meth:`AuditLog.quarantined`),
``truncated_bytes`` counts them, and a high-water mark takes their place. :meth:`AuditLog.scan` reads a file
the same way without changing anything.

**Sequence numbers never repeat.** ``seq`` is handed out before the write; a failed append burns it, and
its seq goes into a high-water mark as soon as a write succeeds. After a reopen the next seq is above every
seq the file shows; when unreadable bytes follow the last frame that shows one, it also skips as many seqs
as those bytes could hold (one per started 14 bytes, the smallest frame; high-water marks are padded to
keep that bound), so a cut tail or a damaged last record never gives its seq to a new record. (A seq burned
by a failed append can come back only if the process dies before any later write succeeds: then no byte of
its record is on disk and no caller saw it.)

**A failed append** (an ``OSError`` from the write or the fsync: disk full, I/O error) leaves no partial
record: the file is truncated back to its size before the append (if that fails too, the next write
retries the truncation first, and a reopen cuts the leftover as a torn tail), the in-memory records are
unchanged, and the original ``OSError`` is raised so callers can tell ``ENOSPC`` from ``EIO``.

>>> log = AuditLog()                     # in memory; AuditLog("path/to/audit.log") keeps a file
>>> _ = log.append("write", region="eu", ts=[1, 0, "eu"], actor="alice", key="cart")
>>> _ = log.append("conflict", region="eu", ts=[2, 0, "eu"], key="cart", detail={"regions": ["eu", "us"]})
>>> [r["kind"] for r in log.records()], log.to_jsonl().count("\\n")
(['write', 'conflict'], 2)

One bit flipped in the first record of a file: the others survive, and no seq is reused.

>>> import os, shutil, tempfile
>>> tmp = tempfile.mkdtemp()
>>> path = os.path.join(tmp, "audit.log")
>>> log = AuditLog(path)
>>> for i in range(3):
...     _ = log.append("write", region="eu", ts=[i], key=i)
>>> with open(path, "r+b") as f:
...     _ = f.seek(40)
...     bit = f.read(1)[0] ^ 1
...     _ = f.seek(40)
...     _ = f.write(bytes([bit]))
>>> log = AuditLog(path)
>>> [r["seq"] for r in log.records()], log.corrupt_records, log.truncated_bytes
([2, 3], 1, 0)
>>> log.append("write", region="eu", ts=[3])["seq"]
4
>>> shutil.rmtree(tmp)
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

import attrs
import cbor2

from ..errors import NotAnAuditLog

__all__ = ["AuditLog", "Damage", "Scan"]

logger = logging.getLogger("crdts")

_KINDS = ("write", "conflict", "resolution")

FORMAT_VERSION = 1
_MAGIC = b"CRDTS-AUDIT\x00"
_HEADER = _MAGIC + struct.pack(">H", FORMAT_VERSION)
_SYNC = b"\xc3\x7a\xd9\x5e"
_HEAD = struct.Struct(">4sBI")          # sync marker, frame type, body length
_CRC = struct.Struct(">I")
_RECORD, _HIGH_WATER, _QUARANTINED = 1, 2, 3
_MIN_FRAME = _HEAD.size + 1 + _CRC.size   # a frame with a one-byte body


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


@attrs.frozen
class Damage:
    """An unreadable stretch of an audit log file: ``length`` bytes at ``offset``.

    ``kind`` is ``"corrupt"`` (bytes that are not a valid frame, or a valid frame that is not a record
    this log accepts, with valid frames after it: skipped and kept) or ``"torn tail"`` (the last piece,
    with nothing valid after it: cut by :meth:`AuditLog.reopen`).
    """

    offset: int
    length: int
    kind: str


@attrs.frozen
class Scan:
    """What a read-only pass over an audit log file found (see :meth:`AuditLog.scan`).

    ``high_water`` bounds the seqs handed out so far: the highest seq a readable record or high-water mark
    shows, plus ``hidden``, as many as the unreadable bytes after the last of those could hold (one per
    started 14 bytes, the smallest frame).
    """

    records: tuple[dict[str, Any], ...]
    damage: tuple[Damage, ...]
    high_water: int
    hidden: int
    size: int

    @property
    def corrupt_records(self) -> int:
        return sum(1 for d in self.damage if d.kind == "corrupt")

    @property
    def corrupt_bytes(self) -> int:
        return sum(d.length for d in self.damage if d.kind == "corrupt")

    @property
    def torn_tail(self) -> Damage | None:
        return self.damage[-1] if self.damage and self.damage[-1].kind == "torn tail" else None


# --- framing ---------------------------------------------------------------------------------------

def _frame(kind: int, body: bytes) -> bytes:
    head = _HEAD.pack(_SYNC, kind, len(body))
    return head + body + _CRC.pack(zlib.crc32(body, zlib.crc32(head)))


def _mark(high: int, size: int) -> bytes:
    """A high-water mark frame for ``high``, padded to at least ``size`` bytes (see :func:`_scan`)."""
    body = cbor2.dumps([high, b""])
    pad = max(0, size - _HEAD.size - len(body) - _CRC.size)
    return _frame(_HIGH_WATER, cbor2.dumps([high, bytes(pad)]) if pad else body)


def _frame_end(data: bytes, pos: int) -> int:
    """The end of the valid frame starting at ``pos``, or -1 if there is none."""
    if data[pos:pos + 4] != _SYNC or pos + _HEAD.size + _CRC.size > len(data):
        return -1
    end = pos + _HEAD.size + _HEAD.unpack_from(data, pos)[2] + _CRC.size
    if end > len(data):
        return -1
    return end if zlib.crc32(memoryview(data)[pos:end - _CRC.size]) == _CRC.unpack_from(data, end - 4)[0] else -1


def _frames(data: bytes) -> Iterator[tuple[int, int, int | None]]:
    """``(offset, end, type)`` for each valid frame after the header, in file order, and ``(offset, end,
    None)`` for each damaged piece between them. A damaged stretch ends at the next valid frame or at the
    end of data, and is split at the sync markers it holds (one piece per frame that was probably there)."""
    pos, n = len(_HEADER), len(data)
    while pos < n:
        end = _frame_end(data, pos)
        if end >= 0:
            yield pos, end, data[pos + 4]
            pos = end
            continue
        stop = data.find(_SYNC, pos + 1)
        while stop >= 0 and _frame_end(data, stop) < 0:
            stop = data.find(_SYNC, stop + 1)
        stop = n if stop < 0 else stop
        cuts = []
        cut = data.find(_SYNC, pos + 1, stop)
        while cut >= 0:
            cuts.append(cut)
            cut = data.find(_SYNC, cut + 1, stop)
        for cut in cuts:
            yield pos, cut, None
            pos = cut
        yield pos, stop, None
        pos = stop


def _decode(body: bytes) -> Any:
    """The one CBOR item ``body`` holds, or ``None`` if it is not exactly that."""
    fp = io.BytesIO(body)
    try:
        value = cbor2.CBORDecoder(fp, max_depth=16, allow_indefinite=False).decode()
    except Exception:
        return None
    return value if fp.tell() == len(body) else None


def _check_header(path: str, data: bytes) -> None:
    if len(data) < len(_HEADER) and _MAGIC.startswith(data[:len(_MAGIC)]):
        raise NotAnAuditLog(path, f"its audit log header is incomplete ({len(data)} of {len(_HEADER)} bytes)")
    if data[:len(_MAGIC)] != _MAGIC:
        if len(data) >= 8:                 # the unversioned framing that preceded format version 1
            n = _CRC.unpack_from(data, 0)[0]
            if 8 + n <= len(data) and zlib.crc32(data[4:4 + n]) == _CRC.unpack_from(data, 4 + n)[0]:
                raise NotAnAuditLog(path, "it looks like an audit log written before file format version 1 "
                                          "(no file header), which this library no longer reads")
        raise NotAnAuditLog(path, f"it does not start with the audit log header {_MAGIC!r} "
                                  f"(found {data[:len(_MAGIC)]!r})")
    version = struct.unpack_from(">H", data, len(_MAGIC))[0]
    if version != FORMAT_VERSION:
        raise NotAnAuditLog(path, f"it is in audit log format version {version}; this library reads "
                                  f"[{FORMAT_VERSION}]", version=version)


def _is_record(rec: Any) -> TypeGuard[dict[str, Any]]:
    return (type(rec) is dict and rec.get("kind") in _KINDS and type(rec.get("seq")) is int
            and rec["seq"] >= 1)


def _scan(path: str, data: bytes) -> Scan:
    _check_header(path, data)
    records: list[dict[str, Any]] = []
    damage: list[Damage] = []
    high = unseen = 0       # unseen: unreadable bytes after the last frame that showed a seq
    last: tuple[int, int, int | None] | None = None
    for last in _frames(data):
        pos, end, kind = last
        value = None if kind is None else _decode(data[pos + _HEAD.size:end - _CRC.size])
        if kind == _RECORD and _is_record(value) and (not records or value["seq"] > records[-1]["seq"]):
            records.append(value)
            high, unseen = max(high, value["seq"]), 0
        elif (kind == _HIGH_WATER and type(value) is list and len(value) == 2 and type(value[0]) is int
              and value[0] >= 0 and type(value[1]) is bytes):
            high, unseen = max(high, value[0]), 0
        else:
            if type(value) is dict and type(value.get("seq")) is int:
                high = max(high, value["seq"])
            damage.append(Damage(pos, end - pos, "corrupt"))
            unseen += end - pos
    if last is not None and last[2] is None and last[1] == len(data):
        damage[-1] = attrs.evolve(damage[-1], kind="torn tail")
    # Seqs grow along the file, so only unreadable bytes after the last seq seen can hide higher ones. A
    # frame is at least _MIN_FRAME bytes per seq it adds to those before it (a record adds one; a high-water
    # mark is padded to match), and a crash cuts only the frame being written, so those bytes hide at most
    # one seq per started _MIN_FRAME bytes, whatever the damage did to markers and lengths.
    hidden = -(-unseen // _MIN_FRAME)
    return Scan(tuple(records), tuple(damage), high + hidden, hidden, len(data))


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _fsync_dir(path: str) -> None:
    dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _replace(path: str, content: bytes) -> None:
    """Make ``path`` hold exactly ``content``, through ``<path>.tmp``, fsync and rename: a crash or an error
    leaves the old file or the new one, never a mix. The directory is not fsynced yet."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create(path: str, content: bytes) -> None:
    _replace(path, content)
    _fsync_dir(path)


class AuditLog:
    """Append-only log of records with a retention policy.

    ``max_records`` and ``max_age`` (seconds) bound the ``write`` records that :meth:`compact` keeps;
    ``conflict`` and ``resolution`` records are what audits need and are always kept. ``path=None`` keeps
    the log in memory only (nothing survives a crash); with a path, a missing or empty file becomes a new log.

    ``corrupt_records``, ``corrupt_bytes``, ``truncated_bytes`` and ``damage`` say what the last
    :meth:`reopen` found; ``quarantine_path`` is where cut bytes are kept.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_records: int | None = None,
                 max_age: float | None = None, fsync: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.path = None if path is None else os.fspath(path)
        self.quarantine_path = None if self.path is None else self.path + ".quarantine"
        self.max_records = max_records
        self.max_age = max_age
        self.fsync = fsync
        self.clock = clock
        self._records: list[dict[str, Any]] = []
        self._next = 1
        self._heal_to: int | None = None       # size to truncate back to before the next write
        self._burned: int | None = None        # highest seq burned by a failed append, not yet on disk
        self._durable = 0                      # highest seq the file accounts for
        self.damage: tuple[Damage, ...] = ()
        self.corrupt_records = 0
        self.corrupt_bytes = 0
        self.truncated_bytes = 0
        if self.path is not None:
            self.reopen()

    # --- writing ------------------------------------------------------------------------------

    def append(self, kind: str, *, region: str, ts: list[Any], actor: str | None = None, key: Any = None,
               detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add one record; with a file, it is on disk (fsynced) when this returns.

        An ``OSError`` from writing or syncing is raised as is, after the file was truncated back to its
        size before the call; the record is not added and its seq is never handed out again.
        """
        if kind not in _KINDS:
            raise ValueError(f"audit record kind must be one of {_KINDS}, got {kind!r}")
        rec = {"seq": self._next, "kind": kind, "region": region, "ts": list(ts), "actor": actor, "key": key,
               "detail": detail or {}, "at": self.clock()}
        data = _frame(_RECORD, cbor2.dumps(rec, canonical=True))
        self._next += 1                        # handed out: from here on, a failure burns it
        if self.path is not None:
            try:
                self._write_burned()
                self._write(data)
            except OSError:
                self._burned = rec["seq"]
                with contextlib.suppress(OSError):   # best effort: record the burned seq right away
                    self._write_burned()
                raise
            self._durable = rec["seq"]
        self._records.append(rec)
        return rec

    def _write_burned(self) -> None:
        """Write a high-water mark for the seqs burned by failed appends, if any are not on disk yet."""
        if self._burned is not None:
            self._write(_mark(self._burned, _MIN_FRAME * (self._burned - self._durable)))
            self._durable, self._burned = max(self._durable, self._burned), None

    def _write(self, data: bytes) -> None:
        """Append ``data`` and fsync; on an ``OSError``, truncate back to the size before and re-raise."""
        assert self.path is not None
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            if self._heal_to is not None:      # a failed append left bytes behind: remove them first
                os.ftruncate(fd, self._heal_to)
                if self.fsync:
                    os.fsync(fd)
                self._heal_to = None
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if self.fsync:
                    os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, size)
                    if self.fsync:
                        os.fsync(fd)
                except OSError:
                    self._heal_to = size
                raise
        finally:
            os.close(fd)

    def _quarantine(self, pieces: list[tuple[str, int, bytes]]) -> None:
        """Append ``(reason, offset, bytes)`` entries to the quarantine file (fsynced)."""
        assert self.quarantine_path is not None
        qpath = self.quarantine_path
        try:
            existing = _read(qpath)
        except FileNotFoundError:
            existing = b""
        if existing:
            _check_header(qpath, existing)
        else:
            _create(qpath, _HEADER)
        with open(qpath, "ab") as f:
            for reason, offset, raw in pieces:
                entry = {"reason": reason, "offset": offset, "at": self.clock(), "bytes": raw}
                f.write(_frame(_QUARANTINED, cbor2.dumps(entry, canonical=True)))
            f.flush()
            os.fsync(f.fileno())

    # --- reading ------------------------------------------------------------------------------

    @staticmethod
    def scan(path: str | os.PathLike[str]) -> Scan:
        """Read an audit log file without changing it: its readable records, its damage, its high-water mark.

        Raises :class:`~crdts.errors.NotAnAuditLog` for a file that is not one (an empty file scans empty).
        """
        p = os.fspath(path)
        data = _read(p)
        return _scan(p, data) if data else Scan((), (), 0, 0, 0)

    def reopen(self) -> None:
        """Reload the records from the file (after a restart).

        Corrupt stretches are skipped and counted, never removed; only a torn tail is cut, after its bytes
        went to the quarantine file. A missing or empty file becomes a new log; any other file without the
        audit log header raises :class:`~crdts.errors.NotAnAuditLog` and is left as it was.
        """
        if self.path is None:
            return
        try:
            data = _read(self.path)
        except FileNotFoundError:
            data = b""
        if not data:
            _create(self.path, _HEADER)
            data = _HEADER
        scan = _scan(self.path, data)
        high = scan.high_water                 # counts the seq the torn tail may have held
        torn = scan.torn_tail
        if torn is not None:
            self._quarantine([("torn tail", torn.offset, data[torn.offset:])])
            mark = _mark(high, _MIN_FRAME * scan.hidden)
            fd = os.open(self.path, os.O_WRONLY)
            try:                               # the mark replaces the tail: a crash leaves one or the other
                os.pwrite(fd, mark, torn.offset)
                os.ftruncate(fd, torn.offset + len(mark))
                os.fsync(fd)
            finally:
                os.close(fd)
            logger.warning("audit log %s: cut a torn tail of %d bytes at offset %d (kept in %s)",
                           self.path, torn.length, torn.offset, self.quarantine_path)
        for d in scan.damage:
            if d.kind == "corrupt":
                logger.warning("audit log %s: skipped %d corrupt bytes at offset %d", self.path, d.length, d.offset)
        self._records = list(scan.records)
        self.damage = scan.damage
        self.corrupt_records = scan.corrupt_records
        self.corrupt_bytes = scan.corrupt_bytes
        self.truncated_bytes = 0 if torn is None else torn.length
        self._durable = high if torn is not None else high - scan.hidden
        if self._next - 1 > high:              # seqs this object handed out that the file does not show
            self._burned = self._next - 1
        self._next = max(self._next, high + 1)
        self._heal_to = None

    def quarantined(self) -> list[dict[str, Any]]:
        """The entries of the quarantine file, oldest first: ``{"reason", "offset", "at", "bytes"}``."""
        if self.quarantine_path is None:
            return []
        try:
            data = _read(self.quarantine_path)
        except FileNotFoundError:
            return []
        _check_header(self.quarantine_path, data)
        entries = (_decode(data[pos + _HEAD.size:end - _CRC.size]) for pos, end, kind in _frames(data)
                   if kind == _QUARANTINED)
        return [e for e in entries if type(e) is dict]

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
        rewrite the file atomically. Returns how many records were dropped.

        The new file is written to ``<path>.tmp``, fsynced and renamed over the old one; damaged stretches
        of the old file go to the quarantine file first. If anything fails before the rename, the old file
        and the in-memory records are unchanged and the error is raised. If only the final directory fsync
        fails, the new file is in place and the records match it, and that error is raised.
        """
        now = self.clock() if now is None else now
        writes = [r for r in self._records if r["kind"] == "write"]
        drop: set[int] = set()
        if self.max_age is not None:
            drop |= {r["seq"] for r in writes if now - r["at"] > self.max_age}
        if self.max_records is not None and len(writes) > self.max_records:
            drop |= {r["seq"] for r in writes[:len(writes) - self.max_records]}
        if not drop:
            return 0
        keep = [r for r in self._records if r["seq"] not in drop]
        if self.path is None:
            self._records = keep
            return len(drop)
        data = _read(self.path)
        old = _scan(self.path, data)
        if old.damage:
            self._quarantine([(d.kind, d.offset, data[d.offset:d.offset + d.length]) for d in old.damage])
        high = max(self._next - 1, old.high_water)   # dropped records' seqs stay handed out
        last = keep[-1]["seq"] if keep else 0
        content = b"".join([_HEADER, *(_frame(_RECORD, cbor2.dumps(r, canonical=True)) for r in keep),
                            _mark(high, _MIN_FRAME * (high - last))])
        _replace(self.path, content)
        self._records = keep
        self._heal_to = self._burned = None
        self._durable = high
        _fsync_dir(self.path)
        return len(drop)
