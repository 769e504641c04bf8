"""In-process regions wired by a loopback 'network': frames are delivered by the test, in order, with faults."""

from __future__ import annotations

import asyncio
import shutil
from collections import deque
from pathlib import Path

from crdts import AWSet
from crdts.net import Region, RegionLimits
from crdts.store import SQLiteStore


def put_back(backup: str | Path, db: str | Path) -> None:
    """A store file restored from ``backup`` over ``db`` (its write-ahead log and shared memory gone with the
    disk that held them)."""
    shutil.copy(backup, db)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


class Net:
    """Regions by name, a FIFO per link, cut links, and a pump that runs rounds and delivers."""

    def __init__(self, tmp_path, names, *, limits: RegionLimits | None = None, mesh: bool = True) -> None:
        self.tmp = tmp_path
        self.names = list(names)
        self.limits = limits
        self.regions: dict[str, Region] = {}
        self.queue: deque[tuple[str, str, bytes]] = deque()
        self.cut: set[frozenset[str]] = set()
        self.links = {n: [m for m in names if m != n] for n in names} if mesh else {n: [] for n in names}

    def path(self, name: str) -> str:
        return str(self.tmp / f"{name}.db")

    async def open(self, name: str, **kw) -> Region:
        r = Region(SQLiteStore(self.path(name), replica=name), peers=self.links[name], limits=self.limits,
                   commit_delay=0, **kw)
        await r.start()
        self.regions[name] = r
        for m in self.links[name]:
            if m in self.regions and frozenset((name, m)) not in self.cut:
                self._connect(name, m)
        return r

    def _connect(self, a: str, b: str) -> None:
        for f in self.regions[a].connected(b):
            self.queue.append((a, b, f))
        for f in self.regions[b].connected(a):
            self.queue.append((b, a, f))

    async def start(self) -> None:
        for n in self.names:
            await self.open(n)

    async def fill(self, name: str, n: int, elem, key: str = "o{}") -> None:
        """At region ``name``, ``n`` AWSet objects named ``key.format(i)``, each given element ``elem(i)``."""
        r = self.regions[name]
        for i in range(n):
            await r.write(key.format(i), AWSet, lambda s, i=i: s.add(elem(i)))

    def kill(self, name: str) -> None:
        """kill -9: the process is gone (no close, no flush); links drop."""
        r = self.regions.pop(name)
        for t in r._tasks:
            t.cancel()
        r.store.close()
        for m in self.links[name]:
            if m in self.regions:
                self.regions[m].disconnected(name)
        self.queue = deque(x for x in self.queue if name not in (x[0], x[1]))

    def backup_path(self, name: str) -> str:
        return str(self.tmp / f"{name}-backup.db")

    def back_up(self, name: str) -> None:
        """Stop ``name`` (kill -9 after the caller's flush) and copy its store aside."""
        self.kill(name)
        shutil.copy(self.path(name), self.backup_path(name))

    def restore(self, name: str) -> None:
        """``name``'s disk is lost: stop it (kill -9) and put its backup back (the caller reopens it)."""
        self.kill(name)
        put_back(self.backup_path(name), self.path(name))

    async def lose_an_acknowledged_write(self, name: str) -> None:
        """``name`` writes "a" to the AWSet "s", syncs it and is backed up; then writes "b" (``(name, 2)``),
        acknowledged and synced; then its disk is lost and the backup put back, not reopened yet."""
        r = self.regions[name]
        await r.write("s", AWSet, lambda s: s.add("a"))
        await self.rounds(2)
        await r.flush()
        self.back_up(name)
        r = await self.open(name)
        await r.write("s", AWSet, lambda s: s.add("b"))
        await self.rounds(2)
        self.restore(name)

    def partition(self, a: str, b: str) -> None:
        self.cut.add(frozenset((a, b)))
        for x, y in ((a, b), (b, a)):
            if x in self.regions:
                self.regions[x].disconnected(y)
        self.queue = deque(q for q in self.queue if frozenset((q[0], q[1])) != frozenset((a, b)))

    def heal(self) -> None:
        cut, self.cut = self.cut, set()
        for pair in cut:
            a, b = sorted(pair)
            if a in self.regions and b in self.regions:
                self._connect(a, b)

    async def deliver(self, limit: int = 100_000) -> int:
        n = 0
        while self.queue and n < limit:
            src, dst, data = self.queue.popleft()
            if dst not in self.regions or frozenset((src, dst)) in self.cut:
                continue
            for reply in await self.regions[dst].receive(src, data):
                self.queue.append((dst, src, reply))
            n += 1
        return n

    async def rounds(self, k: int = 5) -> None:
        for _ in range(k):
            for name, r in list(self.regions.items()):
                await r.flush()
                for peer in self.links[name]:
                    if peer in self.regions and frozenset((name, peer)) not in self.cut:
                        for f in await r.round(peer):
                            self.queue.append((name, peer, f))
            await self.deliver()
            await asyncio.sleep(0)

    def values(self, key: str) -> dict[str, object]:
        return {n: (r.get(key).value if r.get(key) is not None else None) for n, r in self.regions.items()}

    async def close(self) -> None:
        for r in list(self.regions.values()):
            await r.close()
        self.regions.clear()
