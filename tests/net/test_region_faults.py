"""A region under faults of its own and lies of its peers: each test is a scenario that once went wrong."""

from __future__ import annotations

import asyncio

import pytest

from crdts import AWSet, PNCounter, encode
from crdts.errors import DecodeError
from crdts.net import Region, RegionLimits
from crdts.net.frames import MAX_COUNTER, decode_frame, encode_frame
from crdts.store import SQLiteStore, StoreError
from crdts.sync.trust import Authorizer, Grant

from .harness import Net


def run(coro):
    return asyncio.run(coro)


def kinds(frames):
    return [decode_frame(f, 1 << 30).kind for f in frames]


class SlowStore(SQLiteStore):
    delay = 0.0
    boom: BaseException | None = None

    def commit(self, c):
        import time

        time.sleep(self.delay)
        if self.boom is not None:
            exc, self.boom = self.boom, None
            raise exc
        super().commit(c)


def test_counters_a_frame_claims_are_bounded():
    for frame in (encode_frame("hello", "us", 0, MAX_COUNTER), encode_frame("ack", 1 << 63),
                  encode_frame("batch", 0, 1 << 63, []), encode_frame("done", MAX_COUNTER),
                  encode_frame("batch", 5, 4, [])):
        with pytest.raises(DecodeError):
            decode_frame(frame, 1 << 20)


def test_a_backend_that_raises_anything_does_not_stop_the_group_commit(tmp_path):
    async def main():
        r = Region(SlowStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        await r.start()
        r.store.boom = OverflowError("Python int too large to convert to SQLite INTEGER")
        with pytest.raises(StoreError, match="OverflowError"):
            await r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True)
        assert await r.write("s", AWSet, lambda s: s.add("b"), returns_delta=True) == 1
        assert r.get("s").value == {"b"}
        await r.close()

    run(main())


def test_catch_up_requests_are_answered_only_during_a_catch_up_and_within_limits(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"], limits=RegionLimits(max_batch_entries=16))
        await net.start()
        eu = net.regions["eu"]
        await net.fill("eu", 20, lambda i: "x" * 1000 + str(i))
        greedy = encode_frame("want", [], [f"o{i}" for i in range(20)] * 50)
        assert await eu.receive("us", greedy) == []                  # no catch-up under way: refused
        eu.peers["us"].catching_up = True
        assert await eu.receive("us", greedy) == []                  # 20 names, over 16 once deduplicated... refused
        assert eu.stats["limits"].get("want") == 1
        assert kinds(await eu.receive("us", encode_frame("want", [], ["o1", "o1", "o2"]))) == ["states"]
        assert eu.stats["rejected"].get("invalid", 0) >= 1
        await net.close()

    run(main())


def test_a_catch_up_request_whose_answer_is_over_sixteen_frames_is_refused_and_counted(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"], limits=RegionLimits(max_frame_bytes=4096))
        await net.start()
        eu = net.regions["eu"]
        await net.fill("eu", 80, lambda i: f"{i}:" + "x" * 900)
        eu.peers["us"].catching_up = True
        assert await eu.receive("us", encode_frame("want", [], [f"o{i}" for i in range(80)])) == []
        assert eu.stats["limits"].get("want") == 1
        assert kinds(await eu.receive("us", encode_frame("want", [], ["o1", "o2"]))) == ["states"]
        await net.close()

    run(main())


def test_an_object_of_another_type_at_a_peer_is_skipped_and_the_rest_goes_on(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        eu, us = net.regions["eu"], net.regions["us"]
        await eu.write("clash", AWSet, lambda s: s.add("set"))
        await us.write("clash", PNCounter, lambda c: c.increment())
        await eu.write("fine", AWSet, lambda s: s.add("after"))
        await net.rounds(4)
        assert us.get("fine").value == {"after"} and eu.get("clash").value == {"set"}
        assert us.stats["rejected"]["type_clash"] >= 1 and eu.stats["rejected"]["type_clash"] >= 1
        assert eu.peers["us"].sent == eu.committed and us.peers["eu"].sent == us.committed
        await net.close()

    run(main())


def test_a_batch_that_starts_past_what_the_receiver_has_is_answered_with_where_it_is(tmp_path):
    # us is restored from a backup that lacks eu's entry X which us had acknowledged; eu resumes from its mark
    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        eu, us = net.regions["eu"], net.regions["us"]
        await eu.write("a", AWSet, lambda s: s.add("before"))
        await net.rounds(3)
        await us.flush()
        net.back_up("us")
        us = await net.open("us")
        await net.rounds(2)
        await eu.write("x", AWSet, lambda s: s.add("X"))
        await net.rounds(2)
        assert eu.peers["us"].sent == eu.committed
        net.restore("us")
        await eu.write("y", AWSet, lambda s: s.add("Y"))
        us = await net.open("us")
        gap = encode_frame("batch", eu.committed - 1, eu.committed, [["y", encode(eu.get("y"))]])
        assert kinds(await us.receive("eu", gap)) == ["hello"]        # not acked: "I have less than that"
        await net.rounds(8)
        assert us.get("x").value == {"X"} and us.get("y").value == {"Y"}
        await net.close()

    run(main())


def test_catch_up_states_leave_only_once_what_they_hold_is_committed(tmp_path):
    async def main():
        eu = Region(SlowStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        await eu.start()
        await eu.write("s", AWSet, lambda s: s.add("a"), returns_delta=True)
        eu.connected("us")
        await eu.receive("us", encode_frame("hello", "us", 0, 0))
        eu.store.delay = 0.3
        pending = asyncio.ensure_future(eu.write("s", AWSet, lambda s: s.add("b"), returns_delta=True))
        await asyncio.sleep(0.01)
        eu.peers["us"].force_catchup = True
        frames = await eu.round("us")
        assert kinds(frames) == ["sums"] and eu.committed == eu.lsn      # sent after the commit of "b"
        await pending
        # and when that commit fails, nothing leaves
        eu.peers["us"].catching_up = False
        eu.peers["us"].force_catchup = True
        eu.store.boom = StoreError("eu.db", "the disk is full: injected")
        failing = asyncio.ensure_future(eu.write("s", AWSet, lambda s: s.add("c"), returns_delta=True))
        await asyncio.sleep(0.01)
        assert await eu.round("us") == []
        with pytest.raises(StoreError):
            await failing
        assert eu.get("s").value == {"a", "b"}
        await eu.close()

    run(main())


def test_a_restored_region_waits_for_its_peers_before_it_takes_a_write(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        await net.lose_an_acknowledged_write("eu")                    # ('eu', 2) acknowledged, then lost
        net.partition("eu", "us")                                     # no link yet when writes come
        eu = await net.open("eu", confirm_timeout=30)
        write = asyncio.ensure_future(eu.write("s", AWSet, lambda s: s.add("c")))
        await asyncio.sleep(0.05)
        assert not write.done()                                       # it waits for us's hello
        net.heal()
        await net.rounds(3)
        await write
        assert eu.incarnation == 1                                    # found out before the write: no dot reused
        await net.rounds(6)
        assert net.values("s") == {"eu": {"a", "b", "c"}, "us": {"a", "b", "c"}}
        await net.close()

    run(main())


def test_a_region_whose_peers_stay_silent_continues_as_a_new_incarnation(tmp_path):
    async def main():
        r = Region(SQLiteStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0, confirm_timeout=0.2)
        await r.start()
        await r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True)
        assert r.incarnation == 1 and r.events[-1].kind == "incarnation"
        await r.close()

    run(main())


def test_a_catch_up_with_a_refused_state_is_not_acknowledged_and_is_tried_again(tmp_path):
    # a full mesh without relaying: us, away past eu's log, cannot take eu's state of an object that holds
    # writes of ap it has not seen yet; it says nothing, and eu tries again once ap has delivered them
    async def main():
        names = ["ap", "eu", "us"]
        net = Net(tmp_path, names, limits=RegionLimits(max_log=5))
        for n in names:
            await net.open(n, forward=False,
                           authorizer=Authorizer({m: Grant(frozenset({m}), relay=False) for m in names if m != n}))
        ap, eu, us = (net.regions[n] for n in names)
        eu.catchup_timeout = 0.05
        await ap.write("cart", AWSet, lambda s: s.add("from-ap"))
        await net.rounds(3)
        net.partition("eu", "us")
        net.partition("ap", "us")
        await ap.write("cart", AWSet, lambda s: s.add("ap-2"))
        await eu.write("cart", AWSet, lambda s: s.add("from-eu"))
        for _ in range(20):
            await eu.write("busy", PNCounter, lambda c: c.increment())
        await net.rounds(3)
        await eu.compact()
        net.cut.discard(frozenset(("eu", "us")))
        net._connect("eu", "us")                                  # the eu-us link comes back first
        await net.rounds(4)
        assert us.stats["rejected"].get("unauthorized", 0) >= 1
        assert eu.peers["us"].sent < eu.committed                 # not acknowledged
        net.heal()
        for _ in range(10):
            await net.rounds(2)
            await asyncio.sleep(0.06)
        assert net.values("cart")["us"] == {"from-ap", "ap-2", "from-eu"}
        assert eu.peers["us"].sent == eu.committed
        await net.close()

    run(main())


class SlowCommit(SQLiteStore):
    """A store whose commit takes a while to write (inside the store's lock, as a slow disk would)."""

    def _commit(self, c):
        import time

        time.sleep(0.3)
        super()._commit(c)


def test_close_waits_for_the_commit_being_written_and_commits_what_is_pending(tmp_path):
    async def main():
        r = Region(SlowCommit(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        await r.start()
        first = asyncio.create_task(r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True))
        await asyncio.sleep(0.1)                 # its commit is being written in the commit thread
        second = asyncio.create_task(r.write("s", AWSet, lambda s: s.add("b"), returns_delta=True))
        await asyncio.sleep(0)
        await r.close()                          # closing the file under that commit used to be possible
        assert await first == 1 and await second == 2

    run(main())
    again = Region(SQLiteStore(tmp_path / "eu.db", replica="eu"), peers=["us"])
    assert again.get("s").value == {"a", "b"} and again.committed == 2
    again.store.close()


def test_a_write_after_close_is_refused_and_changes_nothing(tmp_path):
    async def main():
        r = Region(SQLiteStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        await r.start()
        await r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True)
        await r.close()
        with pytest.raises(StoreError, match="closed"):
            await asyncio.wait_for(r.write("s", AWSet, lambda s: s.add("b"), returns_delta=True), 5)
        assert r.lsn == r.committed == 1 and r.get("s").value == {"a"}

    run(main())


def test_writes_racing_a_close_are_each_committed_or_refused_never_left_waiting(tmp_path):
    async def main():
        r = Region(SlowCommit(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        await r.start()
        first = asyncio.create_task(r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True))
        await asyncio.sleep(0.1)
        closing = asyncio.create_task(r.close())
        await asyncio.sleep(0.05)
        late = [asyncio.create_task(r.write("s", AWSet, lambda s, i=i: s.add(f"late{i}"), returns_delta=True))
                for i in range(3)]
        await asyncio.wait_for(closing, 10)
        _, pending = await asyncio.wait([first, *late], timeout=5)
        assert not pending                              # every writer got an answer
        assert first.result() == 1
        assert all(isinstance(t.exception(), StoreError) for t in late)

    run(main())


def test_a_commit_outliving_close_timeout_answers_its_writer_and_does_not_block_the_loop(tmp_path):
    class VerySlow(SlowCommit):
        def _commit(self, c):
            import time

            time.sleep(1.0)
            super(SlowCommit, self)._commit(c)

    async def main():
        r = Region(VerySlow(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        r.close_timeout = 0.2
        await r.start()
        first = asyncio.create_task(r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True))
        await asyncio.sleep(0.1)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        t = asyncio.create_task(ticker())
        await r.close()
        with pytest.raises(StoreError, match="may or may not be on disk"):
            await asyncio.wait_for(first, 5)
        assert ticks >= 5                               # the loop kept running while the commit finished
        t.cancel()
        await asyncio.sleep(1.2)                        # the commit thread returns and the store closes

    run(main())
