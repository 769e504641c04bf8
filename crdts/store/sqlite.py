"""The SQLite backend: one file per region, WAL journal, ``synchronous=FULL`` (a committed transaction is on
disk when :meth:`SQLiteStore.commit` returns; NORMAL could lose it on power loss in WAL mode).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "eu.db")
>>> s = SQLiteStore(path, replica="eu-west")
>>> s.commit(Commit(log=[LogEntry(1, "cart:1", None, b"\\x01")], meta=Meta("eu-west", lsn=1)))
>>> s.close()
>>> again = SQLiteStore(path, replica="eu-west")
>>> again.meta().lsn, [e.name for e in again.log()]
(1, ['cart:1'])
>>> SQLiteStore(path, replica="us-east")
Traceback (most recent call last):
  ...
crdts.store.base.StoreError: store ...: it belongs to region 'eu-west', not 'us-east': ...
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator

from .base import Commit, LogEntry, Meta, ObjectRecord, Store, StoreError

__all__ = ["SQLiteStore"]

#: What ``PRAGMA application_id`` holds in a crdts store (ASCII "CRDT"): a file without it is not ours.
APPLICATION_ID = 0x43524454
#: The layout version (``PRAGMA user_version``); a store of a newer layout is refused.
LAYOUT_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE objects (name TEXT PRIMARY KEY, data BLOB NOT NULL, lsn INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE log (lsn INTEGER PRIMARY KEY, name TEXT NOT NULL, origin TEXT, delta BLOB NOT NULL);
CREATE TABLE peers (peer TEXT PRIMARY KEY, sent INTEGER NOT NULL DEFAULT 0, received INTEGER NOT NULL DEFAULT 0)
    WITHOUT ROWID;
"""



#: How a commit's per-peer counters are written, in this order: (the Commit field, its upsert). A reset sets the
#: counter; an advance keeps the larger of the stored and the new value.
_PEER_UPSERTS = tuple(
    (attr, f"INSERT INTO peers (peer, {col}) VALUES (?, ?) ON CONFLICT(peer) DO UPDATE SET {col} = {val}")
    for attr, col, val in (("sent_reset", "sent", "excluded.sent"),
                           ("received_reset", "received", "excluded.received"),
                           ("sent", "sent", "max(sent, excluded.sent)"),
                           ("received", "received", "max(received, excluded.received)")))


class SQLiteStore(Store):
    """A region's store in one SQLite file. ``replica`` is the region's base id: a new file is created for
    it, an existing one must be its own (another region's store, a file that is not a crdts store, or a
    newer layout is refused with :class:`StoreError`, and left untouched). ``max_bytes`` caps the file (a
    disk-full stand-in for tests and for operators who want a quota): a commit beyond it fails cleanly."""

    def __init__(self, path: str | os.PathLike[str], *, replica: str, max_bytes: int | None = None) -> None:
        self.path = os.fspath(path)
        # One connection, used by the region's event loop and by its commit thread: every call holds this
        # lock, so a close (or a read) never runs beside a commit that is still being written.
        self._lock = threading.RLock()
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            self._refuse_foreign()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(self.path, f"cannot open: {exc}") from exc
        db = self._db
        if exists:
            self._check_ids()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=OFF")
            if not exists:
                db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={LAYOUT_VERSION}")
                db.execute("INSERT INTO meta VALUES ('replica', ?), ('incarnation', 0), ('lsn', 0), ('clock', 0)",
                           (replica,))
                db.execute("COMMIT")
            if max_bytes is not None:
                page = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA max_page_count={max(1, max_bytes // page)}")
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(self.path, f"cannot prepare the store: {exc}") from exc
        owner = self.meta().replica
        if owner != replica:
            db.close()
            raise StoreError(self.path, f"it belongs to region {owner!r}, not {replica!r}: each region keeps its "
                                        f"own store (restoring another region's file would reuse its ids)")

    def _refuse_foreign(self) -> None:
        with open(self.path, "rb") as f:
            head = f.read(100)
        if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
            raise StoreError(self.path, "not a crdts store (not an SQLite database); left untouched")

    def _check_ids(self) -> None:
        """Read the file's application id and layout version through SQLite (the newest copy of the header
        may still be in the write-ahead log after a crash) before anything is written to it."""
        try:
            app = self._db.execute("PRAGMA application_id").fetchone()[0]
            layout = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(self.path, f"cannot read it: {exc}; left untouched") from exc
        if app != APPLICATION_ID or layout > LAYOUT_VERSION:
            self._db.close()
        if app != APPLICATION_ID:
            raise StoreError(self.path, "not a crdts store (an SQLite file of another application); left untouched")
        if layout > LAYOUT_VERSION:
            raise StoreError(self.path, f"layout version {layout} is newer than this library reads "
                                        f"({LAYOUT_VERSION}); upgrade crdts")

    # --- reads ------------------------------------------------------------------------------------

    def meta(self) -> Meta:
        with self._lock:
            rows = dict(self._db.execute("SELECT key, value FROM meta"))
        return Meta(str(rows["replica"]), int(rows["incarnation"]), int(rows["lsn"]), int(rows["clock"]))

    def objects(self) -> Iterator[ObjectRecord]:
        with self._lock:
            rows = self._db.execute("SELECT name, data, lsn FROM objects").fetchall()
        for name, data, lsn in rows:
            yield ObjectRecord(name, bytes(data), lsn)

    def log(self, after: int = 0) -> Iterator[LogEntry]:
        with self._lock:
            rows = self._db.execute("SELECT lsn, name, origin, delta FROM log WHERE lsn > ? ORDER BY lsn",
                                    (after,)).fetchall()
        for lsn, name, origin, delta in rows:
            yield LogEntry(lsn, name, origin, bytes(delta))

    def peers(self) -> dict[str, tuple[int, int]]:
        with self._lock:
            return {p: (s, r) for p, s, r in self._db.execute("SELECT peer, sent, received FROM peers")}

    def log_floor(self) -> int:
        """The lowest lsn still in the log (0: empty)."""
        with self._lock:
            row = self._db.execute("SELECT min(lsn) FROM log").fetchone()
        return int(row[0] or 0)

    # --- the one way to write ----------------------------------------------------------------------

    def commit(self, c: Commit) -> None:
        with self._lock:
            self._commit(c)

    def _commit(self, c: Commit) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            if c.log:
                db.executemany("INSERT INTO log VALUES (?, ?, ?, ?)",
                               [(e.lsn, e.name, e.origin, e.delta) for e in c.log])
            if c.snapshots:
                db.executemany("INSERT INTO objects VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                               "data = excluded.data, lsn = excluded.lsn",
                               [(o.name, o.data, o.lsn) for o in c.snapshots])
            for attr, sql in _PEER_UPSERTS:  # resets first: a later advance in the same commit is newer
                rows = getattr(c, attr)
                if rows:
                    db.executemany(sql, rows.items())
            if c.meta is not None:
                m = c.meta
                db.executemany("UPDATE meta SET value = ? WHERE key = ?",
                               [(m.incarnation, "incarnation"), (m.lsn, "lsn"), (m.clock, "clock")])
            if c.truncate_below is not None:
                db.execute("DELETE FROM log WHERE lsn <= ?", (c.truncate_below,))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            full = "full" in str(exc).lower()
            raise StoreError(self.path, f"{'the disk (or the store quota) is full' if full else 'write failed'}: "
                                        f"{exc}; nothing of this commit was written") from exc

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (the store stays correct without it; this bounds the WAL's size)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the file; waits for a commit being written by another thread to finish first."""
        with self._lock:
            self._db.close()
