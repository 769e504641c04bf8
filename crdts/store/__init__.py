"""Durable replicas: a keyspace of named CRDTs, its change log, and its sync bookkeeping, committed before
anything is acknowledged.

A :class:`Store` keeps, for one region:

* **meta**: the region's replica id and incarnation, the hybrid clock's high-water mark, the log's last
  sequence number (lsn);
* **objects**: per name, a snapshot of the CRDT (its codec bytes) and the lsn it covers;
* **the log**: every change since the snapshots, ``(lsn, name, origin, delta bytes)`` — a local write's
  delta, or the part of a received delta that was new here. It is also what the region syncs to its peers
  from, so it is kept until every peer has it;
* **peers**: per peer, the last lsn of ours it has committed (so a restart resumes where it stopped) and
  the last lsn of its that we have committed.

Everything changes through :meth:`Store.commit` of a :class:`Commit`: one atomic, durable transaction.
The region acknowledges a write (to its caller) and sends a message carrying it (to a peer) only after the
commit that holds it returned, and acknowledges a peer's message only after the commit that holds its merge
returned. :class:`SQLiteStore` is the backend (stdlib ``sqlite3``, WAL, ``synchronous=FULL``); another is one
class implementing :class:`Store`'s five methods.
"""

from __future__ import annotations

from .base import Commit, LogEntry, Meta, ObjectRecord, Store, StoreError
from .sqlite import SQLiteStore

__all__ = ["Commit", "LogEntry", "Meta", "ObjectRecord", "SQLiteStore", "Store", "StoreError"]
