"""Regions with a store, synced over an in-process network: convergence, durability, restarts, catch-up."""

from __future__ import annotations

import asyncio

import pytest

from crdts import AWSet, LWWMap, ORMap, PNCounter, encode
from crdts.net import Region, RegionLimits
from crdts.store import SQLiteStore, StoreError

from .harness import Net


def run(coro):
    return asyncio.run(coro)


def test_three_regions_converge_on_many_objects(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us", "ap"])
        await net.start()
        for i in range(30):
            for n, r in net.regions.items():
                await r.write(f"cart:{i % 7}", AWSet, lambda s, n=n, i=i: s.add(f"{n}-{i}"))
        await net.rounds(4)
        for k in range(7):
            vals = net.values(f"cart:{k}")
            assert len({frozenset(v) for v in vals.values()}) == 1, vals
        assert sum(len(net.regions["eu"].get(f"cart:{k}").value) for k in range(7)) == 90
        await net.close()

    run(main())


def test_a_committed_write_survives_kill_and_restart(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        eu = net.regions["eu"]
        await eu.write("profile:1", LWWMap, lambda m: m.set("name", "ada"))
        await eu.write("c", ORMap, lambda m: m.update("n", PNCounter, lambda c: c.increment(3)))
        net.kill("eu")                                   # no close, no flush
        eu = await net.open("eu")
        assert eu.get("profile:1").value == {"name": "ada"} and eu.get("c").value == {"n": 3}
        lsn = await eu.write("profile:1", LWWMap, lambda m: m.set("name", "grace"))
        assert lsn == 3
        await net.rounds(3)
        assert net.values("profile:1") == {"eu": {"name": "grace"}, "us": {"name": "grace"}}
        await net.close()

    run(main())


def test_a_restart_never_reuses_a_dot_and_the_clock_never_goes_back(tmp_path):
    async def main():
        now = [10**18]
        net = Net(tmp_path, ["eu"])
        r = await net.open("eu", time_source=lambda: now[0])
        for i in range(5):
            await r.write("s", AWSet, lambda s, i=i: s.add(i))
        await r.write("m", LWWMap, lambda m: m.set("k", 1))
        ts = r.get("m").timestamp("k")
        net.kill("eu")
        now[0] -= 10**12                                  # the clock went back 1,000 s over the restart
        r = await net.open("eu", time_source=lambda: now[0])
        await r.write("s", AWSet, lambda s: s.add("new"))
        await r.write("m", LWWMap, lambda m: m.set("k", 2))
        assert r.get("s").context.vv == {"eu": 6}
        assert r.get("m").timestamp("k") > ts and r.get("m").value == {"k": 2}
        await net.close()

    run(main())


def test_a_failed_commit_is_refused_and_rolled_back(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu"])
        r = await net.open("eu")
        await r.write("s", AWSet, lambda s: s.add("kept"))
        r.store.close()
        r.store = SQLiteStore(net.path("eu"), replica="eu", max_bytes=1)   # the disk is full now
        with pytest.raises(StoreError, match="full"):
            await r.write("s", AWSet, lambda s: s.add("x" * 100_000))
        assert r.get("s").value == frozenset({"kept"}) and r.lsn == r.committed == 1
        await net.close()

    run(main())


def test_a_region_restored_from_an_old_store_continues_as_a_new_incarnation(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        await net.lose_an_acknowledged_write("eu")            # ('eu', 2) acknowledged, then the disk is lost
        eu = await net.open("eu")
        await net.rounds(4)
        assert eu.incarnation == 1 and eu.replica_id == "eu~1"
        await eu.write("s", AWSet, lambda s: s.add("c"))      # a new id: no dot of the lost write reused
        await net.rounds(4)
        assert net.values("s") == {"eu": frozenset("abc"), "us": frozenset("abc")}
        await net.close()

    run(main())


def test_a_partitioned_region_catches_up_from_the_log_and_past_it_with_what_changed(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"], limits=RegionLimits(max_log=50))
        await net.start()
        eu = net.regions["eu"]
        await net.fill("eu", 200, lambda i: i, key="obj:{}")
        await net.rounds(3)
        net.partition("eu", "us")
        for i in range(0, 200, 10):                       # 20 of 200 objects change while us is away
            await eu.write(f"obj:{i}", AWSet, lambda s, i=i: s.add(-i - 1))
        for _ in range(60):                               # more changes than the log keeps for an absent peer
            await eu.write("busy", PNCounter, lambda c: c.increment())
        await eu.compact()                                # past max_log: the entries us needs are gone
        assert eu.log_floor() > net.regions["us"].peers["eu"].received + 1
        before = eu.stats["catchup_bytes"]
        net.heal()
        await net.rounds(8)
        us = net.regions["us"]
        assert eu.stats["catchups"] == 1
        assert [e.reason for e in eu.events if e.kind == "catchup"] == ["changed"]
        for i in range(200):
            assert us.get(f"obj:{i}") == eu.get(f"obj:{i}"), i
        assert us.get("busy").value == 60
        assert eu.stats["catchup_bytes"] - before < 20_000
        await net.close()

    run(main())


def test_a_catch_up_whose_changed_states_are_too_large_for_one_answer_goes_through_the_merkle_exchange(tmp_path):
    # the states that changed while us was away are over 16 frames: sent at once they would be refused, and
    # the round that starts the catch-up must not fail (it runs in the region's sync loop)
    async def main():
        net = Net(tmp_path, ["eu", "us"], limits=RegionLimits(max_log=20, max_frame_bytes=4096))
        await net.start()
        eu = net.regions["eu"]
        await net.fill("eu", 80, lambda i: f"{i}:" + "x" * 900, key="obj:{}")
        await net.rounds(3)
        net.partition("eu", "us")
        await net.fill("eu", 80, lambda i: f"{-i}:" + "y" * 900, key="obj:{}")
        await eu.compact()
        assert eu.log_floor() > net.regions["us"].peers["eu"].received + 1
        net.heal()
        await net.rounds(12)
        us = net.regions["us"]
        assert [e.reason for e in eu.events if e.kind == "catchup"][:1] == ["merkle"]
        assert all(us.get(f"obj:{i}") == eu.get(f"obj:{i}") for i in range(80))
        await net.close()

    run(main())


def test_past_the_log_a_merkle_exchange_ships_only_what_differs(tmp_path):
    # us is cut off from eu but hears eu's writes through ap; eu's log no longer holds what us acknowledged.
    # Many objects changed since: the Merkle exchange finds that us already holds them, and ships almost nothing.
    async def main():
        net = Net(tmp_path, ["ap", "eu", "us"], limits=RegionLimits(max_log=100))
        await net.start()
        eu = net.regions["eu"]
        await net.fill("eu", 400, lambda i: i, key="obj:{}")
        await net.rounds(3)
        net.partition("eu", "us")
        await net.fill("eu", 300, lambda i: -i - 1, key="obj:{}")
        await net.rounds(4)                               # through ap
        us = net.regions["us"]
        assert all(us.get(f"obj:{i}") == eu.get(f"obj:{i}") for i in range(400))
        await eu.compact()
        assert eu.log_floor() > us.peers["eu"].received + 1
        before = eu.stats["catchup_bytes"]
        net.heal()
        await net.rounds(8)
        assert [e.reason for e in eu.events if e.kind == "catchup"] == ["merkle"]
        states = sum(len(encode(eu.get(f"obj:{i}"))) for i in range(300))
        assert eu.stats["catchup_bytes"] - before < states / 10
        await net.rounds(2)
        assert eu.peers["us"].sent == eu.committed            # and us acknowledged everything
        await net.close()

    run(main())


def test_frames_from_strangers_and_garbage_are_refused(tmp_path):
    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        eu = net.regions["eu"]
        assert await eu.receive("mallory", b"\x00") == []
        assert await eu.receive("us", b"\xff\xff") == []
        assert eu.stats["rejected"] == {"stranger": 1, "malformed": 1}
        await net.close()

    run(main())


def test_a_write_that_returns_its_delta_costs_the_change_and_a_broken_promise_changes_nothing(tmp_path):
    from crdts import AWSet, GCounter

    async def main():
        net = Net(tmp_path, ["eu", "us"])
        await net.start()
        eu = net.regions["eu"]
        await eu.write("cart", AWSet, lambda s: s.add("a"), returns_delta=True)
        eu.commit_delay = 1.0                       # the next write waits in the group commit...
        pending = asyncio.ensure_future(eu.write("cart", AWSet, lambda s: s.add("b"), returns_delta=True))
        await asyncio.sleep(0)
        with pytest.raises(TypeError, match="not the delta"):
            await eu.write("cart", AWSet, lambda s: (s.add("c"), s.add("d")), returns_delta=True)
        assert eu.get("cart").value == {"a", "b"}    # ...and survives the reload of the broken write
        with pytest.raises(TypeError, match="not the delta"):
            await eu.write("hits", GCounter, lambda c: None, returns_delta=True)
        assert eu.get("hits") is None
        eu.commit_delay = 0
        await pending
        await net.rounds()
        assert net.values("cart") == {"eu": {"a", "b"}, "us": {"a", "b"}}
        await net.close()

    asyncio.run(main())


class SlowStore(SQLiteStore):
    """A store whose commits take a while, and fail on demand (the disk is full)."""

    delay = 0.05
    fail = False

    def commit(self, c):
        import time

        time.sleep(self.delay)
        if self.fail:
            raise StoreError(self.path, "the disk (or the store quota) is full: injected")
        super().commit(c)


def test_what_changed_during_a_failed_commit_fails_with_it_and_no_lsn_is_reused(tmp_path):
    async def main():
        r = Region(SlowStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        await r.start()
        await r.write("s", AWSet, lambda s: s.add("kept"), returns_delta=True)
        r.store.fail = True
        first = asyncio.ensure_future(r.write("s", AWSet, lambda s: s.add("a"), returns_delta=True))
        await asyncio.sleep(0.01)                       # its commit is being written...
        second = asyncio.ensure_future(r.write("s", AWSet, lambda s: s.add("b"), returns_delta=True))
        third = asyncio.ensure_future(r.write("t", PNCounter, lambda c: c.increment(), returns_delta=True))
        for fut in (first, second, third):             # ...and what came meanwhile fails with it
            with pytest.raises(StoreError):
                await fut
        assert r.get("s").value == {"kept"} and r.get("t") is None
        assert r.lsn == r.committed == 1 and [e.lsn for e in r.log] == [1]
        r.store.fail = False
        assert await r.write("s", AWSet, lambda s: s.add("c"), returns_delta=True) == 2
        await r.close()
        again = Region(SQLiteStore(tmp_path / "eu.db", replica="eu"), peers=["us"])
        assert again.get("s").value == {"kept", "c"} and again.committed == 2
        again.store.close()

    run(main())


def test_compaction_goes_through_the_group_commit_while_writes_go_on(tmp_path):
    async def main():
        r = Region(SlowStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        r.store.delay = 0.005
        await r.start()
        for i in range(50):
            await r.write(f"o{i}", AWSet, lambda s, i=i: s.add(i), returns_delta=True)
        r.peers["us"].sent = r.committed                 # us has everything so far
        writes = [r.write(f"o{i}", AWSet, lambda s, i=i: s.add(-i), returns_delta=True) for i in range(50)]
        dropped, *_ = await asyncio.gather(r.compact(), *writes)
        assert dropped == 50 and r.log_floor() == 51
        await r.close()
        again = Region(SQLiteStore(tmp_path / "eu.db", replica="eu"), peers=["us"])
        assert all(again.get(f"o{i}").value == {i, -i} for i in range(50))
        again.store.close()

    run(main())


def test_a_batch_resent_while_its_first_copy_waits_for_the_commit_is_acked_only_after_it(tmp_path):
    async def main():
        from crdts.net.frames import decode_frame, encode_frame

        r = Region(SlowStore(tmp_path / "eu.db", replica="eu"), peers=["us"], commit_delay=0)
        r.store.delay = 0.2
        await r.start()
        r.connected("us")
        delta = AWSet("us").add("x")
        frame = encode_frame("batch", 0, 1, [["s", encode(delta)]])
        first = asyncio.ensure_future(r.receive("us", frame))
        await asyncio.sleep(0.05)
        r.disconnected("us")
        r.connected("us")                                 # a new connection: the peer sends it again
        again = await r.receive("us", frame)
        assert r.peers["us"].received_durable == 1         # answered only once it is durable
        assert [decode_frame(f, 1 << 20).kind for f in again] == ["ack"]
        assert [decode_frame(f, 1 << 20).kind for f in await first] == ["ack"]
        await r.close()

    run(main())
