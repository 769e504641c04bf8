"""The SQLite store: durable commits, all or nothing, files that are not ours refused and left untouched."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from crdts.store import Commit, LogEntry, Meta, ObjectRecord, SQLiteStore, StoreError


def entry(lsn: int, name: str = "cart", origin: str | None = None) -> LogEntry:
    return LogEntry(lsn, name, origin, bytes([lsn % 256]) * 8)


def test_a_commit_is_there_after_reopening(tmp_path):
    path = tmp_path / "eu.db"
    s = SQLiteStore(path, replica="eu")
    s.commit(Commit(log=[entry(1), entry(2, "visits", "us")], snapshots=[ObjectRecord("cart", b"x", 1)],
                    sent={"us": 2}, received={"us": 7}, meta=Meta("eu", 0, 2, 123)))
    s.close()
    again = SQLiteStore(path, replica="eu")
    assert again.meta() == Meta("eu", 0, 2, 123)
    assert [(e.lsn, e.name, e.origin) for e in again.log()] == [(1, "cart", None), (2, "visits", "us")]
    assert [e.lsn for e in again.log(after=1)] == [2]
    assert list(again.objects()) == [ObjectRecord("cart", b"x", 1)]
    assert again.peers() == {"us": (2, 7)}


def test_a_crash_copy_with_its_write_ahead_log_opens(tmp_path):
    # What kill -9 leaves: the newest pages (even the header) only in the -wal file.
    path = tmp_path / "eu.db"
    s = SQLiteStore(path, replica="eu")
    s.commit(Commit(log=[entry(1)], meta=Meta("eu", 0, 1, 0)))
    crash = tmp_path / "crash"
    crash.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if (tmp_path / f"eu.db{suffix}").exists():
            shutil.copy(tmp_path / f"eu.db{suffix}", crash / f"eu.db{suffix}")
    s.close()
    again = SQLiteStore(crash / "eu.db", replica="eu")
    assert again.meta().lsn == 1 and [e.lsn for e in again.log()] == [1]


def test_counters_only_advance_but_resets_set_them_exactly(tmp_path):
    s = SQLiteStore(tmp_path / "eu.db", replica="eu")
    s.commit(Commit(sent={"us": 9}, received={"us": 9}))
    s.commit(Commit(sent={"us": 3}, received={"us": 4}))
    assert s.peers() == {"us": (9, 9)}
    # a reset and an advance in one commit: the reset is older, the advance wins
    s.commit(Commit(sent_reset={"us": 2}, sent={"us": 5}, received_reset={"us": 1}))
    assert s.peers() == {"us": (5, 1)}


def test_truncation_drops_the_log_below_a_floor(tmp_path):
    s = SQLiteStore(tmp_path / "eu.db", replica="eu")
    s.commit(Commit(log=[entry(i) for i in range(1, 11)]))
    s.commit(Commit(snapshots=[ObjectRecord("cart", b"s", 6)], truncate_below=6))
    assert [e.lsn for e in s.log()] == [7, 8, 9, 10]
    assert s.log_floor() == 7


def test_another_regions_store_is_refused(tmp_path):
    path = tmp_path / "eu.db"
    SQLiteStore(path, replica="eu").close()
    with pytest.raises(StoreError, match="belongs to region 'eu', not 'us'"):
        SQLiteStore(path, replica="us")


@pytest.mark.parametrize("content", [b"", b"hello, not a database at all" * 10])
def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "eu.db"
    path.write_bytes(content)
    if content:
        with pytest.raises(StoreError, match="not a crdts store"):
            SQLiteStore(path, replica="eu")
        assert path.read_bytes() == content
    else:
        SQLiteStore(path, replica="eu").close()          # an empty file is a new store


def test_an_sqlite_file_of_another_application_is_refused_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another application"):
        SQLiteStore(path, replica="eu")
    assert path.read_bytes() == before


def test_a_newer_layout_is_refused(tmp_path):
    path = tmp_path / "eu.db"
    SQLiteStore(path, replica="eu").close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="layout version 99 is newer"):
        SQLiteStore(path, replica="eu")


def test_a_full_disk_fails_the_commit_whole_and_the_store_stays_usable(tmp_path):
    s = SQLiteStore(tmp_path / "eu.db", replica="eu", max_bytes=64 * 1024)
    s.commit(Commit(log=[entry(1)], meta=Meta("eu", 0, 1, 0)))
    big = [LogEntry(i, f"obj{i}", None, bytes(4096)) for i in range(2, 60)]
    with pytest.raises(StoreError, match="full"):
        s.commit(Commit(log=big, sent={"us": 50}, meta=Meta("eu", 0, 59, 0)))
    assert [e.lsn for e in s.log()] == [1] and s.meta().lsn == 1 and s.peers() == {}
    s.commit(Commit(log=[entry(2)], meta=Meta("eu", 0, 2, 0)))       # small commits still go through
    assert s.meta().lsn == 2
