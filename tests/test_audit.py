"""The audit log on disk: mid-file corruption is skipped (never cut), only a torn tail is cut (and kept in
the quarantine file), sequence numbers never repeat, a failed append or compaction leaves no trace, and a
file that is not an audit log is refused untouched."""

from __future__ import annotations

import errno
import os
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from crdts.errors import AuditLogError, CRDTError, NotAnAuditLog
from crdts.sync.audit import AuditLog

HEADER = 14                                  # b"CRDTS-AUDIT\0" + version (2 bytes)


def fill(log: AuditLog, n: int, spans: list[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """Append ``n`` write records; with ``spans``, note where each one's bytes went (from the file size)."""
    records = []
    for i in range(n):
        size = os.path.getsize(log.path) if log.path and os.path.exists(log.path) else 0
        records.append(log.append("write", region="eu", ts=[i, 0, "eu"], actor="ada", key=f"k{i}",
                                  detail={"i": i}))
        if spans is not None and log.path:
            spans.append((size, os.path.getsize(log.path)))
    return records


def flip(path: Path, offset: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def log200(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[dict[str, Any]], list[tuple[int, int]]]:
    """The bytes of a 200-record log file, its records, and where each record's bytes are."""
    path = tmp_path_factory.mktemp("audit") / "audit.log"
    spans: list[tuple[int, int]] = []
    records = fill(AuditLog(path, fsync=False), 200, spans)
    return path.read_bytes(), records, spans


# where the flipped bit lands in the frame, as (offset from the frame start or -offset from its end, bit)
FLIPS = {
    "marker": (1, 3),
    "type": (4, 0),
    "length-high-bit": (5, 7),                # a length far past the end of the file
    "length-low-bit": (8, 0),                 # a length one byte off
    "body": (30, 2),
    "crc": (-2, 5),
}


@pytest.mark.parametrize("where", FLIPS)
def test_one_flipped_bit_mid_file_skips_one_record_and_cuts_nothing(tmp_path, log200, where):
    data, records, spans = log200
    path = tmp_path / "audit.log"
    path.write_bytes(data)
    start, end = spans[99]                                    # the record with seq 100
    at, bit = FLIPS[where]
    flip(path, (start if at >= 0 else end) + at, bit)
    damaged = path.read_bytes()
    for _ in range(2):                                        # a second reopen gives the same result
        log = AuditLog(path)
        assert log.records() == records[:99] + records[100:]
        assert (log.corrupt_records, log.truncated_bytes) == (1, 0)
        assert log.corrupt_bytes == end - start and log.damage[0].offset == start
        assert path.read_bytes() == damaged                   # nothing cut, nothing rewritten
        assert log.quarantined() == []
    assert log.append("write", region="eu", ts=[0])["seq"] == 201
    assert [r["seq"] for r in AuditLog(path).records()] == [*range(1, 100), *range(101, 202)]


def test_scan_reads_without_changing_the_file(tmp_path, log200):
    data, records, spans = log200
    path = tmp_path / "audit.log"
    path.write_bytes(data[:-3])                               # a torn tail
    flip(path, spans[10][0] + 20, 0)
    before = path.read_bytes()
    scan = AuditLog.scan(path)
    assert scan.records == tuple(records[:10] + records[11:199])
    assert [d.kind for d in scan.damage] == ["corrupt", "torn tail"] and scan.corrupt_records == 1
    assert scan.high_water > 199                              # 199 shown, and the torn tail may hold more
    assert path.read_bytes() == before and not Path(f"{path}.quarantine").exists()


def test_a_torn_tail_is_cut_at_every_offset_and_kept_in_quarantine(tmp_path):
    path = tmp_path / "audit.log"
    spans: list[tuple[int, int]] = []
    records = fill(AuditLog(path), 5, spans)
    data = path.read_bytes()
    start, end = spans[-1]
    for cut in range(start + 1, end):
        path.write_bytes(data[:cut])
        Path(f"{path}.quarantine").unlink(missing_ok=True)
        log = AuditLog(path)
        assert log.records() == records[:4]
        assert (log.truncated_bytes, log.corrupt_records) == (cut - start, 0)
        assert [(q["reason"], q["offset"], q["bytes"]) for q in log.quarantined()] == [
            ("torn tail", start, data[start:cut])]
        reopened = AuditLog(path)                             # the cut is done: nothing more to cut
        assert reopened.records() == records[:4] and reopened.truncated_bytes == 0
        nxt = reopened.append("write", region="eu", ts=[0])["seq"]
        assert nxt > 5                                        # seq 5 may be in the cut bytes
        assert [r["seq"] for r in AuditLog(path).records()] == [1, 2, 3, 4, nxt]


def test_two_damaged_records_at_the_end_both_keep_their_seqs_out_of_reuse(tmp_path):
    path = tmp_path / "audit.log"
    spans: list[tuple[int, int]] = []
    fill(AuditLog(path), 5, spans)
    flip(path, spans[3][0] + 20, 1)
    flip(path, spans[4][0] + 20, 1)
    log = AuditLog(path)
    assert [r["seq"] for r in log.records()] == [1, 2, 3]
    assert (log.corrupt_records, log.truncated_bytes) == (1, spans[4][1] - spans[4][0])
    nxt = log.append("write", region="eu", ts=[0])["seq"]
    assert nxt > 5 and AuditLog(path).append("write", region="eu", ts=[0])["seq"] == nxt + 1


# --- failed appends -------------------------------------------------------------------------------

@contextmanager
def failing(name: str, fail: Callable[..., Any], times: int = 1) -> Iterator[list[int]]:
    """Patch ``os.<name>`` so that its next ``times`` calls go to ``fail(real, *args)``."""
    real = getattr(os, name)
    calls = [0]

    def fake(*args: Any) -> Any:
        calls[0] += 1
        return fail(real, *args) if calls[0] <= times else real(*args)

    with mock.patch.object(os, name, fake):
        yield calls


def enospc(real: Callable[..., Any], *args: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def half_then_eio(real: Callable[..., Any], fd: int, data: Any) -> Any:
    real(fd, bytes(data[:len(data) // 2]))
    raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("how", ["fsync-enospc", "half-write-eio"])
def test_a_failed_append_leaves_no_partial_record_and_burns_its_seq(tmp_path, how):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    records = fill(log, 3)
    patch = failing("fsync", enospc) if how == "fsync-enospc" else failing("write", half_then_eio)
    with patch, pytest.raises(OSError) as err:
        log.append("write", region="eu", ts=[9], key="lost")
    assert err.value.errno == (errno.ENOSPC if how == "fsync-enospc" else errno.EIO)   # the original error
    assert log.records() == records
    again = AuditLog(path)
    assert again.records() == records
    assert (again.corrupt_records, again.truncated_bytes) == (0, 0)
    assert log.append("write", region="eu", ts=[10])["seq"] == 5                        # seq 4 is burned
    assert AuditLog(path).append("write", region="eu", ts=[11])["seq"] == 6
    final = AuditLog(path)
    assert [r["seq"] for r in final.records()] == [1, 2, 3, 5, 6] and final.corrupt_records == 0


def test_when_the_truncate_back_fails_too_the_next_write_removes_the_partial_record_first(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    records = fill(log, 3)
    with failing("write", half_then_eio), failing("ftruncate", enospc, times=2), pytest.raises(OSError):
        log.append("write", region="eu", ts=[9])
    assert AuditLog.scan(path).torn_tail is not None                     # the half record is still there
    crashed = tmp_path / "crashed.log"                                   # had the process died now
    crashed.write_bytes(path.read_bytes())
    restarted = AuditLog(crashed)
    assert restarted.records() == records and restarted.truncated_bytes > 0
    assert restarted.append("write", region="eu", ts=[0])["seq"] > 4
    new = log.append("write", region="eu", ts=[10])                      # the process lives on
    assert new["seq"] == 5
    final = AuditLog(path)
    assert final.records() == [*records, new] and (final.corrupt_records, final.truncated_bytes) == (0, 0)


def test_a_failing_disk_fails_every_append_and_no_seq_repeats(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    records = fill(log, 2)
    seqs = [r["seq"] for r in records]
    with failing("fsync", enospc, times=10**6):
        for _ in range(3):
            with pytest.raises(OSError):
                log.append("write", region="eu", ts=[0])
    assert log.records() == records
    seqs.append(log.append("write", region="eu", ts=[0])["seq"])
    seqs.append(AuditLog(path).append("write", region="eu", ts=[0])["seq"])
    assert seqs == [1, 2, 6, 7]


# --- foreign files --------------------------------------------------------------------------------

def legacy_log() -> bytes:
    import cbor2
    body = cbor2.dumps({"seq": 1, "kind": "write"}, canonical=True)
    return struct.pack(">I", len(body)) + body + struct.pack(">I", zlib.crc32(body))


@pytest.mark.parametrize("content", [
    random.Random(7).randbytes(5000),
    b"#!/bin/sh\necho not an audit log\n",
    b"CRDTS-AUD",                                           # part of the header only
    b"CRDTS-AUDIT\x00\x00\x02" + b"\x00" * 40,              # a format version from the future
    legacy_log(),
], ids=["random", "text", "partial-header", "future-version", "unversioned"])
def test_a_file_that_is_not_an_audit_log_is_refused_and_left_unchanged(tmp_path, content):
    path = tmp_path / "audit.log"
    path.write_bytes(content)
    with pytest.raises(NotAnAuditLog) as err:
        AuditLog(path)
    assert isinstance(err.value, AuditLogError) and isinstance(err.value, CRDTError)
    assert str(path) in str(err.value) and "left unchanged" in str(err.value)
    assert err.value.version == (2 if content.startswith(b"CRDTS-AUDIT\x00") else None)
    with pytest.raises(NotAnAuditLog):
        AuditLog.scan(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log"]


def test_an_empty_or_missing_file_is_a_new_log(tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    for name in ("empty.log", "missing.log"):
        log = AuditLog(tmp_path / name)
        assert log.records() == [] and (tmp_path / name).read_bytes().startswith(b"CRDTS-AUDIT\x00")
        assert log.append("write", region="eu", ts=[0])["seq"] == 1
        assert len(AuditLog(tmp_path / name).records()) == 1


# --- compaction -----------------------------------------------------------------------------------

@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_compaction_leaves_the_file_and_the_records_unchanged(tmp_path, step):
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_records=1)
    records = fill(log, 4)
    before = path.read_bytes()
    with failing(step, enospc), pytest.raises(OSError):
        log.compact()
    assert path.read_bytes() == before and log.records() == records
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log"]
    assert log.compact() == 3 and AuditLog(path).records() == records[3:]


def test_compaction_keeps_the_high_water_mark_and_quarantines_damage(tmp_path):
    now = [0.0]
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_age=10, clock=lambda: now[0])
    spans: list[tuple[int, int]] = []
    fill(log, 4, spans)
    start, end = spans[1]
    flip(path, start + 20, 4)
    log = AuditLog(path, max_age=10, clock=lambda: now[0])
    assert log.corrupt_records == 1
    damaged = path.read_bytes()[start:end]
    now[0] = 100.0
    assert log.compact() == 3                               # every write expired
    reopened = AuditLog(path)
    assert reopened.records() == [] and reopened.corrupt_records == 0
    assert [(q["reason"], q["offset"], q["bytes"]) for q in reopened.quarantined()] == [("corrupt", start, damaged)]
    assert reopened.append("write", region="eu", ts=[0])["seq"] == 5


def test_when_only_the_directory_fsync_fails_the_compaction_has_happened(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_records=1)
    records = fill(log, 3)
    with mock.patch("crdts.sync.audit._fsync_dir", side_effect=OSError(errno.EIO, "Input/output error")), \
            pytest.raises(OSError):
        log.compact()
    assert log.records() == records[2:] == AuditLog(path).records()


def test_a_foreign_quarantine_file_stops_the_cut_and_nothing_changes(tmp_path):
    path = tmp_path / "audit.log"
    fill(AuditLog(path), 2)
    path.write_bytes(path.read_bytes()[:-5])
    Path(f"{path}.quarantine").write_bytes(b"my notes\n")
    before = path.read_bytes()
    with pytest.raises(NotAnAuditLog, match="quarantine"):
        AuditLog(path)
    assert path.read_bytes() == before and Path(f"{path}.quarantine").read_bytes() == b"my notes\n"


# --- the property ---------------------------------------------------------------------------------

class Crash(BaseException):
    """The process dies in the middle of a write."""


def crash_after(fraction: float) -> Callable[..., Any]:
    def write(real: Callable[..., Any], fd: int, data: Any) -> Any:
        real(fd, bytes(data[:1 + int(fraction * (len(data) - 1))]))     # at least one byte reaches the disk
        raise Crash
    return write


OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 4)),
    st.tuples(st.just("flip"), st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7))),
    st.tuples(st.just("crash"), st.floats(0, 1, exclude_max=True)),     # a torn append, then a restart
    st.tuples(st.just("lose-tail"), st.floats(0, 1, exclude_max=True)),  # a crash cuts the last record
    st.tuples(st.just("fail"), st.booleans()),       # an append that raises EIO (and cannot truncate back)
    st.tuples(st.just("reopen"), st.none()),
)


@given(st.lists(OPS, max_size=14))
def test_acknowledged_untouched_records_survive_and_seqs_never_repeat(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("prop") / "audit.log"
    log = AuditLog(path, fsync=False)
    acked: dict[int, dict[str, Any]] = {}          # seq -> record, for every append that returned
    spans: dict[int, tuple[int, int]] = {}         # seq -> the bytes its append wrote
    touched: set[int] = set()                      # records with a flipped or cut byte
    handed_out: set[int] = set()                   # acknowledged, burned, or partly on disk
    tail: int | None = None                        # the record whose frame ends the file, if any
    flips = 0                                      # at most 3, which CRC-32 always detects

    def check(log: AuditLog) -> None:
        event(f"cut={bool(log.truncated_bytes)} corrupt={log.corrupt_records}")
        seqs = [r["seq"] for r in log.records()]
        assert seqs == sorted(set(seqs))
        assert all(acked[r["seq"]] == r for r in log.records())
        assert set(acked) - touched <= set(seqs)

    for op, arg in ops:
        size = path.stat().st_size
        if op == "append":
            for _ in range(arg):
                rec = log.append("write", region="eu", ts=[len(handed_out)], key=len(handed_out))
                assert rec["seq"] not in handed_out
                handed_out.add(rec["seq"])
                acked[rec["seq"]] = rec
                end = path.stat().st_size
                spans[rec["seq"]], size = (size, end), end
                tail = rec["seq"]
        elif op == "flip" and size > HEADER and flips < 3:
            at = HEADER + int(arg[0] * (size - HEADER))
            flips += 1
            flip(path, at, arg[1])
            touched |= {s for s, (a, b) in spans.items() if a <= at < b}
        elif op == "crash":
            handed_out.add(log._next)
            with failing("write", crash_after(arg)), pytest.raises(Crash):
                log.append("write", region="eu", ts=[0])
            log, tail = AuditLog(path, fsync=False), None
            check(log)
        elif op == "lose-tail" and tail is not None and spans[tail][1] == size:
            a, b = spans[tail]
            os.truncate(path, a + 1 + int(arg * (b - a - 1)))     # power lost before the disk had it all
            touched.add(tail)
            log, tail = AuditLog(path, fsync=False), None
            check(log)
        elif op == "fail":
            handed_out.add(log._next)
            with failing("write", half_then_eio), failing("ftruncate", enospc, times=int(arg)), \
                    pytest.raises(OSError):
                log.append("write", region="eu", ts=[0])
            tail = None
        elif op == "reopen":
            log, tail = AuditLog(path, fsync=False), None
            check(log)
    log = AuditLog(path, fsync=False)
    check(log)
    assert log.append("write", region="eu", ts=[0])["seq"] not in handed_out
