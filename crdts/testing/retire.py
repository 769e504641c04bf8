"""The retirement law (``LAWS["retire"]``): retiring a replica never changes a replica's value, and every
replica converges, whatever order the retirement, the writes and the late messages of the retired replica
arrive in.

A run has three live replicas ``a``, ``b``, ``c`` and a replica ``r`` that retires. ``r`` writes and the
replicas exchange deltas and full states (any order, duplicates, omissions); then a live replica decides that
``r`` retires (sometimes a second one proposes another heir). Two flavours: **graceful**, where ``r`` is a
member of the retirement, keeps exchanging until it is performed and stops writing once it hears of it; and
**dead**, where ``r`` never hears anything again but keeps writing, so its deltas in flight, old and new, are
the late messages. Every replica's :class:`~crdts.retention.Retirements` travels in the same pool of messages
(encoded, as the sync layer sends them) and each replica runs :meth:`~crdts.retention.Retirements.step` at
random moments. Finally everything is delivered and exchanged until the retirement is performed everywhere.

Checked:

* a registry merge followed by a step never changes the replica's value (unless the replica held a write of
  ``r`` that reached it only after the retirement was performed: that write is dropped, and the final check
  says it had to be);
* a refused merge (:class:`~crdts.errors.UnknownRetirement`, :class:`~crdts.errors.RetiredReplica`) changes
  nothing; ``_check()`` passes after every step;
* at the end the live replicas are equal (and encode to the same bytes), no state names ``r`` or its archive,
  and the value is that of the join of every write's delta but ``r``'s writes beyond the history the
  retirement recorded (in the graceful flavour, none of ``r``'s writes is left out).
"""

from __future__ import annotations

from typing import Any

import hypothesis
from hypothesis import strategies as st

import crdts
from crdts.errors import RetiredReplica, UnknownRetirement
from crdts.retention import Retirements, _le, archive_of

from . import LawError, TypeSpec, _describe, _note, _run, _same

__all__ = ["law_retire"]

LIVE = ("a", "b", "c")
GONE = "r"


def _enc(x: Any) -> bytes:
    return crdts.encode(x)


class _Run:
    """One run of the retirement law: replicas, their registries, the messages in flight, the writes."""

    def __init__(self, spec: TypeSpec, graceful: bool) -> None:
        self.spec = spec
        self.graceful = graceful
        self.names = (*LIVE, GONE)
        self.objs = {n: spec.make(n) for n in self.names}
        self.now = [0.0]
        self.regs = {n: Retirements(n, clock=lambda: self.now[0]) for n in self.names}
        self.pool: list[tuple[str, str, bytes]] = []          # (destination, kind, bytes)
        self.writes: list[tuple[str, bytes, Any]] = []        # (origin, delta bytes, r's mark after it)
        #: what r sent: delta bytes -> its write's index; state bytes -> how many writes r had made
        self.from_r: dict[bytes, tuple[str, int]] = {}
        #: r's writes a live replica merged before it knew the retirement was performed (kept, see check)
        self.slipped: set[int] = set()
        self.held: list[tuple[str, str, bytes]] = []          # r's messages held back until it is retired
        self.late_ops: list[Any] = []
        self.late_to: list[str] = []
        self.released = False
        self.decided = False

    # -- who may do what -------------------------------------------------------------------------------------

    def r_listens(self) -> bool:
        """Whether r still takes part (graceful, until its retirement is performed where it can see it)."""
        return self.graceful and GONE not in self.regs[GONE].tombstones()

    def writers(self) -> list[str]:
        out = list(LIVE)
        if not self.decided or not self.graceful or not self.regs[GONE].is_retired(GONE):
            out.append(GONE)   # r writes until it hears of its retirement (dead: it never does)
        return out

    # -- steps -----------------------------------------------------------------------------------------------

    def op(self, r: str, op: Any) -> None:
        x = self.objs[r]
        delta = self.spec.apply(x, op)
        x._check()
        _note(f"{r}: {op!r}")
        data = _enc(delta)
        mark = x._rt_top(GONE) if r == GONE else None
        if r == GONE:
            self.from_r[data] = ("delta", len(self.writes))
        self.writes.append((r, data, mark))
        for dst in self.names:
            if dst != r:
                self.pool.append((dst, "delta", data))

    def send(self, src: str, dst: str, kind: str) -> None:
        if src == dst:
            return
        payload = _enc(self.regs[src]) if kind == "registry" else _enc(self.objs[src].copy(replica=None))
        if src == GONE and kind == "state":
            self.from_r.setdefault(payload, ("state", len(self.writes)))
        self.pool.append((dst, kind, payload))

    def drain(self) -> None:
        """Deliver every message in flight; those refused until a registry arrives stay in flight."""
        while self.pool:
            n = len(self.pool)
            deferred = 0
            for _ in range(n):
                if not self.deliver(0):
                    deferred += 1
            if deferred == n:
                return

    def deliver(self, i: int) -> bool:
        """Deliver message ``i`` (modulo the pool); False if it was put back (refused until a registry comes)."""
        if not self.pool:
            return True
        dst, kind, data = self.pool.pop(i % len(self.pool))
        if dst == GONE and not self.r_listens():
            return True                                       # r is gone (or not listening any more)
        x, reg = self.objs[dst], self.regs[dst]
        if kind == "registry":
            _note(f"{dst} learns a registry")
            self.learn(dst, crdts.decode(data))
            return True
        y = crdts.decode(data)
        before = _enc(x)
        # a merge of r's write after its retirement was performed (somewhere), where it is not known yet
        unaware = GONE not in reg.tombstones() and self.performed_somewhere()
        try:
            reg.receive(x, y)
            _note(f"{dst} merges a {kind}")
            src = self.from_r.get(data)
            if src is not None and unaware and dst != GONE:
                how, i = src
                self.slipped |= {i} if how == "delta" else {j for j in range(i) if self.writes[j][0] == GONE}
        except UnknownRetirement:
            if _enc(x) != before:
                raise LawError(f"{self.spec.name}: a merge refused as UnknownRetirement changed {dst}") from None
            self.pool.append((dst, kind, data))                # merged again once the registry is here
            _note(f"{dst} refuses a {kind} (unknown retirement) for now")
            x._check()
            return False
        except RetiredReplica:
            if _enc(x) != before:
                raise LawError(f"{self.spec.name}: a merge refused as RetiredReplica changed {dst}") from None
            _note(f"{dst} refuses a late write of {GONE}")
        x._check()
        return True

    def learn(self, n: str, other: Any) -> None:
        reg = self.regs[n]
        reg.merge(other)
        self.step(n)

    def step(self, n: str) -> None:
        x, reg = self.objs[n], self.regs[n]
        late = reg.late(x)
        before = self.spec.read(x)
        reg.step(x)
        x._check()
        after = self.spec.read(x)
        if not late and not _same(before, after):
            raise LawError(f"{self.spec.name}: a retirement step at {n} changed its value from {before!r} to "
                           f"{after!r}")

    # -- the end -----------------------------------------------------------------------------------------------

    def hold_r(self) -> None:
        """Hold back the messages ``r`` sent that are still in flight: they arrive after the retirement."""
        mine = {data for origin, data, _ in self.writes if origin == GONE}
        self.held += [m for m in self.pool if m[1] == "delta" and m[2] in mine]
        self.pool = [m for m in self.pool if not (m[1] == "delta" and m[2] in mine)]

    def release(self) -> None:
        """The dead ``r`` keeps writing (``self.late_ops``), and sends its full state (to ``self.late_to``); its
        held deltas are let go. Once: later calls do nothing."""
        if self.released:
            return
        self.released = True
        _note(f"{GONE}'s late messages go out")
        for op in self.late_ops:
            self.op(GONE, op)
        for dst in self.late_to:
            self.send(GONE, dst, "state")
        self.pool += self.held
        self.held = []

    def heal(self, release_at: int) -> None:
        """Deliver and exchange until the retirement is performed everywhere and the replicas agree. In the dead
        flavour ``r``'s late messages go out in the first round where the retirement is performed somewhere:
        before the registries are exchanged (``release_at`` 0: they reach replicas that do not know yet), after
        (1), or once the heal is done (2); then everything is exchanged again."""
        for _ in range(16):
            self.drain()
            participants = [*LIVE] + ([GONE] if self.r_listens() else [])
            for n in participants:
                self.step(n)
            performed = self.performed_somewhere()
            if performed and release_at == 0:
                self.release()
            for src in participants:
                for dst in participants:
                    self.send(src, dst, "registry")
            if performed and release_at == 1:
                self.release()
            self.drain()
            for src in participants:
                for dst in participants:
                    self.send(src, dst, "state")
            self.drain()
            if self.done() and (self.released or self.graceful):
                return
            if self.done():
                self.release()
        raise LawError(f"{self.spec.name}: the retirement of {GONE} did not complete after the heal: "
                       f"{[self.regs[n] for n in LIVE]}, {len(self.pool)} messages refused")

    def performed_somewhere(self) -> bool:
        return any(GONE in reg.tombstones() for reg in self.regs.values())

    def done(self) -> bool:
        if self.pool or not all(GONE in self.regs[n].tombstones() for n in LIVE):
            return False
        first = self.objs[LIVE[0]]
        return all(self.objs[n] == first for n in LIVE) and not any(
            {GONE, archive_of(GONE)} & self.objs[n]._rt_ids() for n in LIVE)

    def check(self) -> None:
        spec = self.spec
        first = self.objs[LIVE[0]]
        for n in LIVE[1:]:
            if self.objs[n] != first or _enc(self.objs[n]) != _enc(first):
                raise LawError(f"{spec.name}: after the heal {n} differs from {LIVE[0]}:\n  "
                               f"{_describe(self.objs[n])}\n  {_describe(first)}")
            if not _same(spec.read(self.objs[n]), spec.read(first)):
                raise LawError(f"{spec.name}: after the heal {n} reads {spec.read(self.objs[n])!r}")
        for n in LIVE:
            left = {GONE, archive_of(GONE)} & self.objs[n]._rt_ids()
            if left:
                raise LawError(f"{spec.name}: {n}'s state still names {sorted(left)} after the retirement")
        rec = self.regs[LIVE[0]].records[GONE]
        assert rec.performed is not None
        final = rec.performed.blocks[0].final
        expected = spec.make(None)
        left_out = 0
        for i, (origin, data, mark) in enumerate(self.writes):
            if origin == GONE and not _le(mark, final) and i not in self.slipped:
                left_out += 1
                continue
            expected.merge(crdts.decode(data))
        if self.graceful and left_out:
            raise LawError(f"{spec.name}: a graceful retirement recorded {GONE}'s history up to {final}, leaving "
                           f"{left_out} of its writes out")
        reg = self.regs[LIVE[0]].copy()
        reg.normalize(expected)
        want, got = spec.read(expected), spec.read(first)
        if not _same(want, got):
            raise LawError(f"{spec.name}: after the retirement the replicas read {got!r}, but the join of the writes "
                           f"(without {GONE}'s beyond {final}) reads {want!r}")




def law_retire(spec: TypeSpec, settings: hypothesis.settings | None = None) -> None:
    """Retiring a replica never changes any replica's value, and all replicas converge, under every delivery
    order of the retirement and of late messages from the retired replica (see :mod:`crdts.testing.retire`)."""

    def test(data: st.DataObject) -> None:
        graceful = data.draw(st.booleans(), label="graceful (r is a member and stops writing)")
        run = _Run(spec, graceful)
        every = list(run.names)

        def random_step(label: str) -> None:
            kind = data.draw(st.sampled_from(["op", "op", "op", "deliver", "deliver", "deliver", "state",
                                              "registry", "step"]), label=label)
            if kind == "op":
                r = data.draw(st.sampled_from(run.writers()), label="writer")
                run.op(r, data.draw(spec.ops(every), label="op"))
            elif kind == "deliver":
                run.deliver(data.draw(st.integers(0, 63), label="which message"))
            elif kind in ("state", "registry"):
                src = data.draw(st.sampled_from(every), label="from")
                if src == GONE and not run.r_listens():
                    return
                run.send(src, data.draw(st.sampled_from(every), label="to"), kind)
            else:
                n = data.draw(st.sampled_from(every), label="who steps")
                if n != GONE or run.r_listens():
                    run.step(n)

        for i in range(data.draw(st.integers(0, 10), label="steps before the decision")):
            random_step(f"step {i}")
        decider = data.draw(st.sampled_from(LIVE), label="decider")
        members = list(LIVE) + ([GONE] if graceful else [])
        heir = data.draw(st.none() | st.sampled_from(LIVE), label="heir")
        run.regs[decider].decide(GONE, members=members, heir=heir)
        run.decided = True
        _note(f"{decider} decides that {GONE} retires (heir {heir}, members {members})")
        if data.draw(st.booleans(), label="a second proposal"):
            other = data.draw(st.sampled_from(LIVE), label="second decider")
            run.regs[other].decide(GONE, members=members, heir=data.draw(st.sampled_from(LIVE), label="its heir"))
        for i in range(data.draw(st.integers(0, 24), label="steps after the decision")):
            random_step(f"step {i} after")
        if not graceful and data.draw(st.booleans(), label="r's messages in flight arrive after the retirement"):
            run.hold_r()
        release_at = 2
        if not graceful:
            run.late_ops = data.draw(st.lists(spec.ops(every), max_size=3), label="r's writes after its retirement")
            run.late_to = data.draw(st.lists(st.sampled_from(LIVE), max_size=2), label="r's state goes to")
            release_at = data.draw(st.integers(0, 2), label="r's late messages go out")
        run.heal(release_at)
        run.check()

    _run("retire", spec, test, settings, st.data())
