"""Bounds on CausalBroadcast's catch-up log: max_log, log_ttl, the archive hook and the counters."""

from __future__ import annotations

import pytest

from crdts.errors import CausalGap
from crdts.ops import CausalBroadcast


def test_max_log_drops_the_oldest_into_the_archive_and_counts() -> None:
    archived: list = []
    a = CausalBroadcast("a", ["a", "b"], max_log=3, archive=archived.extend)
    msgs = [a.stamp(i) for i in range(10)]            # b never acknowledges: nothing becomes stable
    assert a.log_size == 3 and [m.seq for m in a.log_since({"a": 7})] == [8, 9, 10]
    assert archived == msgs[:7]                         # what was dropped, in log order: nothing silently lost
    assert a.log_dropped == 7 and a.bounds_hit == {"max_log": 7} and a.metadata()["log_dropped"] == 7
    with pytest.raises(CausalGap):                      # a replica that needs a dropped message: a snapshot
        a.log_since({})
    b = CausalBroadcast("b", ["a", "b"], delivered={"a": 7})   # ...such as a state snapshot covering a:7
    assert [m.seq for r in a.log_since(b.delivered) for m in b.receive(r)] == [8, 9, 10]


def test_log_ttl_drops_what_was_logged_too_long_ago() -> None:
    now = [0.0]
    archived: list = []
    group = ["a", "b", "c"]                            # c stays silent: nothing becomes stable
    a = CausalBroadcast("a", group, log_ttl=10, clock=lambda: now[0], archive=archived.append)
    b = CausalBroadcast("b", group)
    old = [a.stamp(i) for i in range(3)]
    now[0] = 5.0
    a.receive(b.stamp("from b"))                       # logged at 5
    assert a.log_size == 4 and not archived
    now[0] = 12.0
    assert a.expire() == 3                             # the three logged at 0 are 12 s old; b:1 is 7 s old
    assert archived == [old] and a.log_dropped == 3 and a.bounds_hit == {"log_ttl": 1}
    now[0] = 15.5
    a.stamp("new")                                     # a stamp expires too
    assert [m.op for m in archived[1]] == ["from b"] and a.log_size == 1 and a.log_dropped == 4
    with pytest.raises(CausalGap):
        a.log_since({})


def test_a_raising_archive_hook_is_counted_and_delivery_goes_on() -> None:
    def hook(msgs):
        raise RuntimeError("archive down")

    a = CausalBroadcast("a", ["a", "b"], max_log=1, archive=hook)
    a.stamp(1)
    a.stamp(2)
    assert a.log_size == 1 and a.log_dropped == 1 and a.bounds_hit == {"max_log": 1, "archive_errors": 1}


def test_bound_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        CausalBroadcast("a", ["a"], max_log=-1)
    with pytest.raises(ValueError):
        CausalBroadcast("a", ["a"], log_ttl="1")


def test_turning_log_ttl_on_counts_what_is_logged_as_logged_now() -> None:
    now = [100.0]
    a = CausalBroadcast("a", ["a", "b"], clock=lambda: now[0])
    for i in range(3):
        a.stamp(i)
    a.log_ttl = 10                                     # the three already logged count as logged at 100
    assert a.expire() == 0 and a.log_size == 3
    now[0] = 105.0
    a.stamp(3)
    now[0] = 110.0
    assert a.expire() == 3 and a.log_size == 1 and a.bounds_hit == {"log_ttl": 1}
    a.log_ttl = None
    now[0] = 1000.0
    assert a.expire() == 0 and a.log_size == 1
    with pytest.raises(ValueError):
        a.log_ttl = -1
