#!/usr/bin/env python3
"""What each class of hostile message costs the node that receives it, beside an honest one-op delta.

Run from the repository root (it benchmarks the ``crdts`` of this checkout)::

    python benchmarks/bench_hostile.py             # N = 20,000, best of 5 (about 1-2 min on 2 cores)
    python benchmarks/bench_hostile.py --quick     # a smoke run (a few seconds)
    python benchmarks/bench_hostile.py --protocols bprr,op --json /tmp/hostile.json
    python benchmarks/bench_hostile.py --from-json benchmarks/results/hostile.json   # the docs tables, no run

The requirement it checks: a node's cost (CPU time and memory) of receiving a hostile message is at most
10x the cost of receiving an honest one-op delta, and does not depend on the numbers the message claims.

Receivers. A :class:`~crdts.sync.Node` named ``a`` with neighbours ``b`` and ``c``, an authorizer granting
``b`` and ``c`` (relaying allowed) and the default ``SyncLimits``, holding a state written by ``a``, ``b``
and ``c`` that have synced: an ``AWSet`` of N elements (``awset``), a ``GSet`` of N elements (``gset``) or
an ``LWWMap`` of N keys (``lwwmap``). Its protocol is in the state of a node whose neighbours have
acknowledged everything: ``causal``/``bprr`` with every interval acknowledged, ``digest`` with its log
collected, ``op`` with every operation stable. The transport drops what the node sends (replies are
encoded, not delivered).

Honest baseline. One-op deltas of a fourth writer ``x`` (``AWSet("x").add(e)``, ``GSet.add``, ``LWWMap.set``,
each message a new element and the next dot), carried in the protocol's own message: ``seq`` (causal,
bprr), ``log`` entry (digest), ``ops`` entry (op), ``delta`` or ``state``. For the classes whose cost comes
with their size (a planted dot cloud), the yardstick is an honest delta of about the same size in bytes
(``bulk``, timed in alternation with the row, one message each per repetition), and the ratios are per
byte.

Method: for every (class, receiver, protocol, claim), each of ``--repeats`` repetitions builds a fresh
receiver (untimed), pre-encodes its K messages (untimed), then times ``node.receive`` of the K messages
with ``time.process_time_ns`` (``--clock wall``: ``perf_counter_ns``), the cyclic GC paused as ``timeit``
does; the figure is the best repetition divided by K. K is as many messages as take about 20 ms (found by
a first batch of 10), at least 5 and at most ``--k``; the classes whose messages are large (``cloud``,
``cloud_over``, ``bulk``, ``*_behind``) take one message per repetition and two more repetitions. Memory
is a separate pass on a fresh receiver under ``tracemalloc``: for each message, the peak of traced memory
during ``receive`` minus the traced memory just before it (the message's bytes exist before and are not
counted); the figure is the median over the messages (``mem_max_kib`` keeps the largest; ``kept_kib`` is
what is still allocated after the receive, before any cyclic collection). After each timed batch the
node's ``stats.rejected_by`` must be exactly K of the reason the class is refused for (or nothing, for a
class the node accepts), so a row cannot time another path than it names. Claims are ``+10^3`` (10**3
beyond what the receiver holds for that replica) and ``2^63`` (for ``clock``: 100 years ahead of now, and
a wall clock of 2**63 ns); a class's independence ratio is the slower of the two over the faster. The
``behind`` rows (a digest or opsync claiming less than the receiver holds, which a lagging peer sends and
which is answered with a snapshot of the state) are reported for information: that cost is the catch-up
path, proportional to the state, not to any number in the message. After an accepted cloud, the next 100
and 1000 local writes (``Node.update``) and honest receives are timed beside the same without the cloud.

The exit code is 1 when a target fails (the verdicts are computed from this run's numbers).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import platform
import random
import statistics
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from time import perf_counter, perf_counter_ns, process_time_ns
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever is installed

from crdts import HLC, AWSet, GSet, LWWMap, encode  # noqa: E402
from crdts.bench._common import machine, source_info  # noqa: E402
from crdts.causal import CausalContext  # noqa: E402
from crdts.kernel import DotSetMap  # noqa: E402
from crdts.ops.broadcast import Ack  # noqa: E402
from crdts.sync import Node, encode_message  # noqa: E402
from crdts.sync.messages import vv_to_wire  # noqa: E402
from crdts.sync.trust import Authorizer  # noqa: E402

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "hostile.json"
ALL_PROTOCOLS = ("state", "delta", "causal", "bprr", "digest", "op")
CLAIMS = ("+10^3", "2^63")
CENTURY_NS = 100 * 365 * 86400 * 10**9
AFTER_OPS = (100, 1000)   # later writes / honest receives timed beside a planted cloud

TARGETS = {
    "cpu_ratio": (10.0, "receive CPU of a hostile message / of an honest one-op delta (worst class)"),
    "mem_ratio": (10.0, "receive peak memory of a hostile message / of an honest one-op delta (worst class)"),
    "claim_cpu_ratio": (1.5, "receive CPU at one claimed number / at the other, +10^3 vs 2^63 (worst class)"),
    "claim_mem_ratio": (1.5, "receive peak memory at one claimed number / at the other (worst class)"),
    "cloud_after_ratio": (1.5, "the next 100 (1000) writes or honest receives beside a planted cloud / without it"),
}

CLOCK: Callable[[], int] = process_time_ns
BATCH_NS = 20_000_000   # a timed batch holds about this much work (fewer messages for the costly classes)


class Sink:
    """A transport that drops everything: replies are built and encoded, not delivered."""

    def send(self, src: str, dst: str, data: bytes, info: Any) -> None:
        pass


SINK = Sink()
AUTH = Authorizer({"b": ["b"], "c": ["c"]})


# ------------------------------------------------------------------------------------------- the world


def forged_aw(store: dict[Any, set[tuple[str, int]]], vv: dict[str, int] | None = None,
              cloud: Any = ()) -> AWSet:
    """An AWSet delta with exactly this store ({element: {dots}}) and context, as a peer could send."""
    s = DotSetMap.of(store)
    ctx = CausalContext(vv or {}, cloud)
    for dots in store.values():
        for d in dots:
            ctx.add(d)
    return AWSet._delta(s, ctx)


@attrs.define
class World:
    """The receivers' states (built once; each receiver gets a copy) and what every case needs."""

    n: int
    states: dict[str, Any]
    counts: dict[str, int]          # events per writer a, b, c (the same for every type)
    aw_dots: list[tuple[str, int]]  # dots of b the AWSet receiver holds (for clashes)
    lww_entries: list[tuple[Any, Any]]  # (key, timestamp) the LWWMap receiver holds
    cloud: int
    cloud_over: int
    bulk_elements: int = 0          # elements of the honest delta of about the cloud message's size


def build_world(n: int, cloud: int) -> World:
    writers = ("a", "b", "c")
    aw = [AWSet(r) for r in writers]
    gs = [GSet(r) for r in writers]
    lw = [LWWMap(r) for r in writers]
    for i in range(n):
        k = i % 3
        aw[k].add(f"item-{i:05d}")
        gs[k].add(f"item-{i:05d}")
        lw[k].set(f"key-{i:05d}", f"value-{i:05d}")
    for objs in (aw, gs, lw):
        for o in objs[1:]:
            objs[0].merge(o)
    counts = {r: (n + 2 - k) // 3 for k, r in enumerate(writers)}
    assert aw[0].context.vv == counts and len(aw[0]) == len(gs[0]) == len(lw[0]) == n
    b_dots = sorted(d for d in aw[1]._store.index if d[0] == "b")
    entries = [(k, e[0]) for k, e in lw[0]._entries.items()]
    return World(n=n, states={"awset": aw[0], "gset": gs[0], "lwwmap": lw[0]}, counts=counts, aw_dots=b_dots,
                 lww_entries=entries, cloud=cloud, cloud_over=CausalContext.max_cloud + 1)


def receiver(w: World, typ: str, protocol: str) -> Node:
    """A fresh receiving node: a copy of the state, its protocol as after a completed sync with b and c."""
    counts = w.counts
    opts = {"members": ["a", "b", "c", "x"]} if protocol == "op" else None
    node = Node("a", w.states[typ].copy(), protocol=protocol, neighbours=["b", "c"], transport=SINK,
                authorizer=AUTH, options=opts)
    p: Any = node.protocol
    if protocol in ("causal", "bprr"):
        p.c = sum(counts.values())
        p.acks = {"b": p.c, "c": p.c}
    elif protocol == "digest":
        p.seq = counts["a"]
        p.known = dict(counts)
        p.floor = {o: k + 1 for o, k in counts.items()}
        p.peer_known = {"b": dict(counts), "c": dict(counts)}
    elif protocol == "op":
        p._new_broadcast(dict(counts))
        for r in ("b", "c"):
            p.bc.receive_ack(Ack(r, tuple(sorted(counts.items()))))
    return node


def carrier(protocol: str, payload: bytes, i: int, origin: str = "x") -> bytes:
    """Message i (0-based) of a writer, in the kind each protocol carries a delta in. (A refused message is
    sent as message 0 every time: nothing of it was delivered, so the next one is still the writer's first.)"""
    if protocol in ("causal", "bprr"):
        return encode_message("seq", i + 1, payload=payload)
    if protocol == "digest":
        return encode_message("log", [[origin, i + 1, payload]])
    if protocol == "op":
        return encode_message("ops", [[origin, i + 1, [], payload]])
    return encode_message("delta" if protocol == "delta" else "state", payload=payload)


def honest_payloads(typ: str, k: int) -> list[bytes]:
    """k one-op deltas of the writer x: a new element (key) each, the next dot each."""
    if typ == "awset":
        aw = AWSet("x")
        return [encode(aw.add(f"e{i}")) for i in range(k)]
    if typ == "gset":
        gs = GSet("x")
        return [encode(gs.add(f"e{i}")) for i in range(k)]
    lw = LWWMap("x")
    return [encode(lw.set(f"hk{i}", i)) for i in range(k)]


def claim_value(claim: str, base: int) -> int:
    return base + 10**3 if claim == "+10^3" else 2**63


Msg = tuple[str, bytes, str | None]   # (src, data, identity)


def from_b(datas: list[bytes]) -> list[Msg]:
    return [("b", d, None) for d in datas]


# ------------------------------------------------------------------------------------------- the cases


@attrs.define
class Case:
    key: str
    what: str
    types: tuple[str, ...]
    protocols: tuple[str, ...]
    reason: str | None                      # counted in rejected_by; None: accepted
    build: Callable[[World, str, str, int, str | None], list[Msg]]   # (world, type, protocol, k, claim)
    claims: tuple[str, ...] = ()
    prepare: Callable[[Node, World, str, str, int], None] | None = None
    heavy: bool = False                     # one message per repetition
    per_byte: bool = False                  # compared per byte with an honest delta of about the same size
    info: bool = False                      # reported, not a target


def b_honest(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return from_b([carrier(proto, p, i) for i, p in enumerate(honest_payloads(typ, k))])


def b_bulk(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    aw = AWSet("x")
    for i in range(w.bulk_elements):
        aw.add(f"bulk-{i:06d}")
    return from_b([carrier(proto, encode(aw), 0)] * k)


def b_garbage(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    rnd = random.Random(7)
    return from_b([rnd.randbytes(1024) for _ in range(k)])


def b_truncated(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return from_b([m[: len(m) // 2] for _, m, _ in b_honest(w, typ, proto, k, None)])


def b_too_large(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    big = b"\x00" * (8 << 20)
    return from_b([big] * k)


def b_stranger(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return [("mallory", m, None) for _, m, _ in b_honest(w, typ, proto, k, None)]


def b_unauthorized(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return [("b", m, "mallory") for _, m, _ in b_honest(w, typ, proto, k, None)]


def b_kind(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    if proto == "state":
        m = encode_message("delta", payload=honest_payloads(typ, 1)[0])
    elif proto in ("causal", "bprr"):
        m = encode_message("opsync", "b", vv_to_wire(w.counts))
    else:
        m = encode_message("ack", 1)
    return from_b([m] * k)


def b_forged_ctx(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", 0)
    return from_b([carrier(proto, encode(forged_aw({}, {"z": v + i})), i) for i in range(k)])


def b_clash(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    dots = w.aw_dots
    return from_b([carrier(proto, encode(forged_aw({f"evil-{i}": {dots[i % len(dots)]}})), 0) for i in range(k)])


def b_own_ctx(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", w.counts["a"])
    return from_b([carrier(proto, encode(forged_aw({}, {"a": v + i})), 0) for i in range(k)])


def b_own_entry(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", w.counts["a"])
    pays = honest_payloads(typ, k)
    return from_b([carrier(proto, p, v + i - 1, origin="a") for i, p in enumerate(pays)])


def _cloud(n: int) -> list[tuple[str, int]]:
    return [("q", 2 * i + 3) for i in range(n)]


def b_cloud(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return from_b([carrier(proto, encode(forged_aw({}, cloud=_cloud(w.cloud))), 0)] * k)


def b_cloud_over(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return from_b([carrier(proto, encode(forged_aw({}, cloud=_cloud(w.cloud_over))), 0)] * k)


def b_ack(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", sum(w.counts.values()))
    return from_b([encode_message("ack", v + i) for i in range(k)])


def _vv_with(w: World, origin: str, value: int) -> list[Any]:
    vv = dict(w.counts)
    vv[origin] = value
    return vv_to_wire(vv)


def b_digest(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", w.counts["b"])
    return from_b([encode_message("digest", _vv_with(w, "b", v + i)) for i in range(k)])


def b_digest_behind(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return from_b([encode_message("digest", [])] * k)


def b_opsync(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", w.counts["b"])
    return from_b([encode_message("opsync", "b", _vv_with(w, "b", v + i)) for i in range(k)])


def b_opsync_behind(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return from_b([encode_message("opsync", "b", [])] * k)


def _empty(typ: str) -> bytes:
    return encode({"awset": AWSet, "gset": GSet, "lwwmap": LWWMap}[typ]())


def b_snapshot(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", w.counts["b"])
    return from_b([encode_message("snapshot", ["b", v + i], payload=_empty(typ)) for i in range(k)])


def b_snapshot_own(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    v = claim_value(claim or "", w.counts["a"])
    return from_b([encode_message("snapshot", ["a", v + i], payload=_empty(typ)) for i in range(k)])


def b_clock(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    if claim == "+100y":
        src = HLC("x", time_source=lambda: _now_ns() + CENTURY_NS, max_drift=None)
    else:
        src = HLC("x", time_source=lambda: 2**63, max_drift=None)
    lw = LWWMap("x", clock=src)
    return from_b([carrier(proto, encode(lw.set(f"fk{i}", i)), 0) for i in range(k)])


def b_lww_clash(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    ents = w.lww_entries
    out = []
    for i in range(k):
        key, ts = ents[i % len(ents)]
        out.append(carrier(proto, encode(LWWMap()._of({key: (ts, True, f"evil-{i}")})), 0))
    return from_b(out)


def _now_ns() -> int:
    import time

    return time.time_ns()


def prep_replay(node: Node, w: World, typ: str, proto: str, k: int) -> None:
    for src, data, ident in b_honest(w, typ, proto, k, None):
        node.receive(src, data, ident)
    assert node.stats.rejected == 0
    node.stats.rejected_by.clear()


def b_replay(w: World, typ: str, proto: str, k: int, claim: str | None) -> list[Msg]:
    return b_honest(w, typ, proto, k, None)


P = ALL_PROTOCOLS
CASES: list[Case] = [
    Case("honest", "honest one-op delta (the baseline)", ("awset", "gset", "lwwmap"), P, None, b_honest),
    Case("garbage", "1 KiB of random bytes", ("awset", "gset"), P, "malformed", b_garbage),
    Case("truncated", "an honest message cut in half", ("awset",), P, "malformed", b_truncated),
    Case("too_large", "8 MiB of bytes (limit 4 MiB): refused unparsed", ("awset",), P, "too_large", b_too_large),
    Case("stranger", "an honest message from a peer that is not a neighbour", ("awset",), P, "stranger",
         b_stranger),
    Case("unauthorized", "an honest message under an identity with no grant", ("awset",), P, "unauthorized",
         b_unauthorized),
    Case("kind", "a kind the protocol does not speak", ("awset", "gset"), P, "kind", b_kind),
    Case("forged_ctx", "AWSet delta, empty store, context {z: CLAIM}", ("awset",), P, None, b_forged_ctx,
         claims=CLAIMS),
    Case("clash", "a dot the receiver holds, carried with another element", ("awset",), P, "clash", b_clash),
    Case("own_ctx", "a context naming the receiver's replica beyond its counter", ("awset",), P, "clash",
         b_own_ctx, claims=CLAIMS),
    Case("own_entry", "a log/ops entry of the receiver's replica beyond its counter", ("awset",),
         ("digest", "op"), "clash", b_own_entry, claims=CLAIMS),
    Case("cloud", "a planted dot cloud under CausalContext.max_cloud (accepted)", ("awset",), P, None, b_cloud,
         heavy=True, per_byte=True),
    Case("cloud_over", "a dot cloud of max_cloud + 1 scattered dots", ("awset",), P, "limit", b_cloud_over,
         heavy=True, per_byte=True),
    Case("ack", "ack of a counter never sent", ("awset", "gset"), ("causal", "bprr"), "invalid", b_ack,
         claims=CLAIMS),
    Case("digest", "digest claiming CLAIM for the sender's origin", ("awset", "gset"), ("digest",), None,
         b_digest, claims=CLAIMS),
    Case("snapshot", "snapshot (empty state) claiming CLAIM for the sender's origin", ("awset", "gset"),
         ("digest", "op"), None, b_snapshot, claims=CLAIMS),
    Case("snapshot_own", "op snapshot claiming the receiver's replica beyond its counter", ("awset", "gset"),
         ("op",), "clash", b_snapshot_own, claims=CLAIMS),
    Case("opsync", "opsync claiming CLAIM delivered of the sender's origin", ("awset", "gset"), ("op",), None,
         b_opsync, claims=CLAIMS),
    Case("clock", "LWWMap delta with a far-future timestamp", ("lwwmap",), P, "clock", b_clock,
         claims=("+100y", "2^63")),
    Case("lww_clash", "a timestamp the receiver holds, carried with another value", ("lwwmap",), P, "clash",
         b_lww_clash),
    Case("replay", "an honest message received again", ("awset", "gset", "lwwmap"), P, None, b_replay,
         prepare=prep_replay),
    Case("digest_behind", "an empty digest (a lagging peer): answered with a snapshot", ("awset",),
         ("digest",), None, b_digest_behind, heavy=True, info=True),
    Case("opsync_behind", "an empty opsync (a lagging peer): answered with a snapshot", ("awset",), ("op",),
         None, b_opsync_behind, heavy=True, info=True),
]


# ------------------------------------------------------------------------------------------- measuring


def check_counted(node: Node, reason: str | None, k: int, label: str) -> dict[str, int]:
    got = dict(node.stats.rejected_by)
    want = {reason: k} if reason else {}
    if got != want:
        raise AssertionError(f"{label}: expected rejected_by {want}, got {got}; last events "
                             f"{[e.detail[:120] for e in list(node.events)[-2:]]}")
    return got


def time_case(w: World, case: Case, typ: str, proto: str, claim: str | None, k: int, repeats: int,
              keep_gc: bool, label: str, calibrate: bool = True) -> tuple[float, int, int]:
    """Best per-message time in µs over the repetitions, the message size, and the messages per batch."""
    if calibrate and k > 1:   # as many messages as fill about BATCH_NS (at least 5, at most k)
        t, _, _ = time_case(w, case, typ, proto, claim, min(k, 10), 1, keep_gc, label, calibrate=False)
        k = max(5, min(k, round(BATCH_NS / 1e3 / t)))
    best = None
    size = 0
    for _ in range(repeats):
        node = receiver(w, typ, proto)
        if case.prepare is not None:
            case.prepare(node, w, typ, proto, k)
        msgs = case.build(w, typ, proto, k, claim)
        size = len(msgs[0][1])
        recv = node.receive
        gc.collect()
        if not keep_gc:
            gc.disable()
        try:
            t = CLOCK()
            for src, data, ident in msgs:
                recv(src, data, ident)
            dt = CLOCK() - t
        finally:
            gc.enable()
        check_counted(node, case.reason, len(msgs), label)
        best = dt if best is None else min(best, dt)
    assert best is not None
    return best / k / 1e3, size, k


def memory_case(w: World, case: Case, typ: str, proto: str, claim: str | None, m: int,
                label: str) -> dict[str, float]:
    """Per message: tracemalloc peak during receive minus traced memory before; and what stays allocated."""
    node = receiver(w, typ, proto)
    if case.prepare is not None:
        case.prepare(node, w, typ, proto, m)
    msgs = case.build(w, typ, proto, m, claim)
    peaks, kept = [], []
    gc.collect()
    tracemalloc.start()
    try:
        for src, data, ident in msgs:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            node.receive(src, data, ident)
            cur, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - before)
            kept.append(cur - before)
    finally:
        tracemalloc.stop()
    check_counted(node, case.reason, len(msgs), label)
    return {"mem_kib": statistics.median(peaks) / 1024, "mem_max_kib": max(peaks) / 1024,
            "kept_kib": statistics.median(kept) / 1024}


def cloud_after(w: World, proto: str, repeats: int, keep_gc: bool, ops: int) -> list[dict[str, Any]]:
    """The next ``ops`` local writes (Node.update) and honest receives, with the accepted cloud planted vs not."""
    out = []
    cloud_msg = b_cloud(w, "awset", proto, 1, None)[0]
    for what in ("writes", "receives"):
        res = {}
        for planted in (False, True):
            best = None
            for _ in range(repeats):
                node = receiver(w, "awset", proto)
                if planted:
                    node.receive(*cloud_msg)
                    assert node.stats.rejected == 0 and node.state.context.cloud_size() >= w.cloud
                if what == "receives":
                    msgs = b_honest(w, "awset", proto, ops, None)
                fns = [lambda s, i=i: s.add(f"w{i}") for i in range(ops)]
                gc.collect()
                if not keep_gc:
                    gc.disable()
                try:
                    t = CLOCK()
                    if what == "writes":
                        for fn in fns:
                            node.update(fn)
                    else:
                        for src, data, ident in msgs:
                            node.receive(src, data, ident)
                    dt = CLOCK() - t
                finally:
                    gc.enable()
                assert node.stats.rejected == 0
                best = dt if best is None else min(best, dt)
            assert best is not None
            res[planted] = best / ops / 1e3
        out.append({"name": f"cloud_after {ops} {what} {proto}", "protocol": proto, "what": what, "ops": ops,
                    "without_us": res[False], "with_us": res[True], "after_ratio": res[True] / res[False]})
    return out


# ------------------------------------------------------------------------------------------- report




def markdown(doc: dict[str, Any]) -> str:
    """The tables of docs/benchmarks.md, from a run's JSON: ratios per class and protocol, the independence of
    the claimed numbers, the cost beside a planted cloud, the targets."""
    protos = [p for p in ALL_PROTOCOLS if p in doc["params"]["protocols"]]
    rows = doc["results"]

    def cell(r: dict[str, Any] | None) -> str:
        if r is None:
            return ""
        if r["case"] in ("honest", "bulk"):
            return f"{r['us']:,.1f} µs, {r['mem_kib']:,.1f} KiB"
        star = "*" if "cpu_per_byte_ratio" in r else ""
        c, m = r.get("cpu_per_byte_ratio", r["cpu_ratio"]), r.get("mem_per_byte_ratio", r["mem_ratio"])
        txt = f"{c:.2f}{star} / {m:.2f}{star}" if max(c, m) < 100 else f"{c:.0f}{star} / {m:.0f}{star}"
        return f"**{txt}**" if r.get("pass") is False else txt

    groups: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["case"], r["type"], r["claim"] or ""), {})[r["protocol"]] = r
    out = ["| class | receiver | claim | counted as | " + " | ".join(protos) + " |",
           "| --- | --- | --- | --- | " + " | ".join("---:" for _ in protos) + " |"]
    for (case, typ, claim), by in groups.items():
        first = next(iter(by.values()))
        label = f"{case} (info)" if first.get("info") else case
        out.append(f"| {label} | {typ} | {claim} | {first['reason']} | "
                   + " | ".join(cell(by.get(p)) for p in protos) + " |")
    out += ["", "| class | receiver | " + " | ".join(protos) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in protos) + " |"]
    cl: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for c in doc["claims"]:
        case, typ, proto = c["name"].split()
        cl.setdefault((case, typ), {})[proto] = c
    for (case, typ), by in cl.items():
        cells = []
        for p in protos:
            c = by.get(p)
            if c is None:
                cells.append("")
                continue
            txt = f"{c['claim_cpu_ratio']:.2f} / {c['claim_mem_ratio']:.2f}"
            cells.append(txt if c["pass"] else f"**{txt}**")
        out.append(f"| {case} | {typ} | " + " | ".join(cells) + " |")
    after = doc["cloud_after"]
    if after:
        kinds = sorted({(a["ops"], a["what"]) for a in after})
        out += ["", "| protocol | " + " | ".join(f"next {n} {w}" for n, w in kinds) + " |",
                "| --- | " + " | ".join("---:" for _ in kinds) + " |"]
        for p in protos:
            by2 = {(a["ops"], a["what"]): a for a in after if a["protocol"] == p}
            out.append(f"| {p} | " + " | ".join(
                f"{by2[kw]['with_us']:.1f} vs {by2[kw]['without_us']:.1f} µs ({by2[kw]['after_ratio']:.2f}x)"
                for kw in kinds) + " |")
    out += ["", "| target | measured | limit | worst | |", "| --- | ---: | ---: | --- | --- |"]
    for t in doc["targets"]:
        out.append(f"| {t['what']} | {t['measured']:.2f} | {t['limit']} | {t['worst']} | "
                   f"{'PASS' if t['pass'] else 'FAIL'} |")
    return "\n".join(out) + "\n"


def fmt_ratio(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}x" if v < 100 else f"{v:.0f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20_000, help="elements / keys of the receiver's state (default 20,000)")
    ap.add_argument("--repeats", type=int, default=None, help="repetitions, the best is kept (default 5; 2 quick)")
    ap.add_argument("--k", type=int, default=None, help="messages per timed batch (default 200; 20 quick)")
    ap.add_argument("--mem-msgs", type=int, default=None, help="messages measured under tracemalloc (default 15)")
    ap.add_argument("--cloud", type=int, default=None,
                    help="scattered dots of the accepted cloud (default 50,000; 5,000 quick)")
    ap.add_argument("--protocols", default=",".join(ALL_PROTOCOLS), help="which protocols (default all six)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: N = 5,000, 2 repetitions, 20 messages, CausalContext.max_cloud lowered to "
                    "10,000 for the run (the over-limit cloud is then 10,001 dots)")
    ap.add_argument("--gc", action="store_true", help="keep the cyclic GC running while timing")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: time.process_time_ns (default); wall: time.perf_counter_ns")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the tables of docs/benchmarks.md here")
    ap.add_argument("--from-json", type=Path, default=None, metavar="PATH",
                    help="no run: render --markdown (or print) the tables of an earlier run's JSON")
    args = ap.parse_args(argv)
    if args.from_json is not None:
        md = markdown(json.loads(args.from_json.read_text(encoding="utf-8")))
        if args.markdown is not None:
            args.markdown.write_text(md, encoding="utf-8")
        else:
            print(md, end="")
        return 0
    protocols = [p for p in args.protocols.split(",") if p]
    bad = [p for p in protocols if p not in ALL_PROTOCOLS]
    if bad:
        ap.error(f"unknown protocols {bad}")
    global CLOCK, BATCH_NS
    saved = CLOCK, BATCH_NS, CausalContext.max_cloud
    CLOCK = process_time_ns if args.clock == "cpu" else perf_counter_ns
    if args.quick:
        BATCH_NS = 5_000_000
        CausalContext.max_cloud = 10_000
    try:
        cloud = args.cloud or (5_000 if args.quick else 50_000)
        if not 0 < cloud < CausalContext.max_cloud:
            ap.error(f"--cloud must be between 1 and CausalContext.max_cloud - 1 ({CausalContext.max_cloud - 1})")
        return run(args, protocols, cloud, argv)
    finally:
        CLOCK, BATCH_NS, CausalContext.max_cloud = saved
        gc.unfreeze()


def run(args: argparse.Namespace, protocols: list[str], cloud: int, argv: list[str] | None) -> int:
    repeats = args.repeats or (2 if args.quick else 5)
    k = args.k or (20 if args.quick else 200)
    mem_msgs = args.mem_msgs or (5 if args.quick else 15)
    n = 5_000 if args.quick and args.n == 20_000 else args.n
    started = perf_counter()

    w = build_world(n, cloud)
    # The honest yardstick of the per-byte classes: an AWSet delta of about the cloud message's size.
    per_elem = len(encode(forged_aw({f"bulk-{i:06d}": {("x", i + 1)} for i in range(1000)}))) / 1000
    w.bulk_elements = max(1, round(len(encode(forged_aw({}, cloud=_cloud(w.cloud)))) / per_elem))
    gc.collect()
    gc.freeze()   # the world is permanent: collections during the run only walk what the run allocates

    rows: list[dict[str, Any]] = []
    honest: dict[tuple[str, str], dict[str, Any]] = {}
    bulk = Case("bulk", "honest AWSet delta of about the cloud's size in bytes", ("awset",), P, None, b_bulk,
                heavy=True)
    for case in [CASES[0], bulk, *CASES[1:]]:
        print(f"  {case.key} ({perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        for typ in case.types:
            for proto in protocols:
                if proto not in case.protocols:
                    continue
                for claim in case.claims or (None,):
                    label = f"{case.key} {typ} {proto}" + (f" {claim}" if claim else "")
                    kk = 1 if case.heavy else k
                    reps = repeats + 2 if case.heavy else repeats
                    if case.per_byte:
                        # Large single messages move with the heap's state: time them alternately with the
                        # honest delta of the same size, and compare the two from the same stretch of the run.
                        us = bulk_us = float("inf")
                        for _ in range(reps):
                            bu, bsize, _ = time_case(w, bulk, typ, proto, None, 1, 1, args.gc, f"bulk {proto}")
                            u, size, _ = time_case(w, case, typ, proto, claim, 1, 1, args.gc, label)
                            us, bulk_us = min(us, u), min(bulk_us, bu)
                    else:
                        us, size, kk = time_case(w, case, typ, proto, claim, kk, reps, args.gc, label)
                    mem = memory_case(w, case, typ, proto, claim, 1 if case.heavy else mem_msgs, label)
                    row: dict[str, Any] = {"name": label, "case": case.key, "what": case.what, "type": typ,
                                           "protocol": proto, "claim": claim, "reason": case.reason or "accepted",
                                           "msgs_per_batch": kk, "bytes": size, "us": us, **mem, "info": case.info}
                    if case.key == "honest":
                        honest[(typ, proto)] = row
                    elif case.key == "bulk":
                        honest[("bulk", proto)] = row
                    else:
                        h = honest[(typ, proto)]
                        row["cpu_ratio"] = us / h["us"]
                        row["mem_ratio"] = mem["mem_kib"] / h["mem_kib"]
                        if case.per_byte:
                            b = honest[("bulk", proto)]
                            row["bulk_us"] = bulk_us    # timed alongside this row
                            row["cpu_per_byte_ratio"] = (us / size) / (bulk_us / bsize)
                            row["mem_per_byte_ratio"] = (mem["mem_kib"] / size) / (b["mem_kib"] / b["bytes"])
                    rows.append(row)

    after: list[dict[str, Any]] = []
    for proto in protocols:
        for ops in AFTER_OPS:
            after += cloud_after(w, proto, repeats, args.gc, ops)

    # independence of the claimed numbers
    claims: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str, str], dict[str | None, dict[str, Any]]] = {}
    for r in rows:
        if r["claim"] is not None:
            by_key.setdefault((r["case"], r["type"], r["protocol"]), {})[r["claim"]] = r
    for (case_key, typ, proto), pair in by_key.items():
        (c1, r1), (c2, r2) = sorted(pair.items())
        claims.append({"name": f"{case_key} {typ} {proto}", "claims": [c1, c2], "us": [r1["us"], r2["us"]],
                       "mem_kib": [r1["mem_kib"], r2["mem_kib"]],
                       "claim_cpu_ratio": max(r1["us"], r2["us"]) / min(r1["us"], r2["us"]),
                       "claim_mem_ratio": max(r1["mem_kib"], r2["mem_kib"]) / min(r1["mem_kib"], r2["mem_kib"])})

    # targets: the worst row of each kind, every row's verdict kept in the row
    def worst(items: list[dict[str, Any]], key: str) -> tuple[float, str]:
        it = max(items, key=lambda r: r[key])
        return it[key], it["name"]

    hostile = [r for r in rows if r["case"] not in ("honest", "bulk") and not r["info"]]
    for r in hostile:
        cpu = r.get("cpu_per_byte_ratio", r["cpu_ratio"])
        mem = r.get("mem_per_byte_ratio", r["mem_ratio"])
        r["checked_cpu"], r["checked_mem"] = cpu, mem
        r["pass"] = cpu <= TARGETS["cpu_ratio"][0] and mem <= TARGETS["mem_ratio"][0]
    for c in claims:
        c["pass"] = (c["claim_cpu_ratio"] <= TARGETS["claim_cpu_ratio"][0]
                     and c["claim_mem_ratio"] <= TARGETS["claim_mem_ratio"][0])
    for a in after:
        a["pass"] = a["after_ratio"] <= TARGETS["cloud_after_ratio"][0]
    measured = {
        "cpu_ratio": worst(hostile, "checked_cpu"),
        "mem_ratio": worst(hostile, "checked_mem"),
        "claim_cpu_ratio": worst(claims, "claim_cpu_ratio") if claims else None,
        "claim_mem_ratio": worst(claims, "claim_mem_ratio") if claims else None,
        "cloud_after_ratio": worst(after, "after_ratio") if after else None,
    }
    targets = [{"target": t, "what": TARGETS[t][1], "measured": m[0], "worst": m[1], "limit": TARGETS[t][0],
                "pass": m[0] <= TARGETS[t][0]} for t, m in measured.items() if m is not None]

    # ---- print
    print(f"crdts: receiver cost of hostile messages (N={n:,}, best of {repeats}, {k} messages per batch, "
          f"{args.clock} time, gc {'on' if args.gc else 'paused'}; python {platform.python_version()})")
    print("ratios: to the honest one-op delta of the same receiver and protocol; "
          "* = per byte, to an honest delta of about the same size")
    hdr = (f"{'class':<14} {'type':<6} {'protocol':<7} {'claim':<6} {'counted as':<12} {'bytes':>9} "
           f"{'us/msg':>10} {'ratio':>8} {'peak KiB':>9} {'ratio':>8} {'kept KiB':>9}  check")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if r["case"] in ("honest", "bulk"):
            cr = mr = "-"
            chk = "base"
        elif "cpu_per_byte_ratio" in r:
            cr = fmt_ratio(r["cpu_per_byte_ratio"]) + "*"
            mr = fmt_ratio(r["mem_per_byte_ratio"]) + "*"
            chk = "PASS" if r["pass"] else "FAIL"
        else:
            cr, mr = fmt_ratio(r["cpu_ratio"]), fmt_ratio(r["mem_ratio"])
            chk = "info" if r["info"] else ("PASS" if r["pass"] else "FAIL")
        print(f"{r['case']:<14} {r['type']:<6} {r['protocol']:<7} {r['claim'] or '':<6} {r['reason']:<12} "
              f"{r['bytes']:>9,} {r['us']:>10.2f} {cr:>8} {r['mem_kib']:>9.2f} {mr:>8} {r['kept_kib']:>9.2f}  {chk}")
    per_byte_raw = [r for r in rows if "cpu_per_byte_ratio" in r]
    if per_byte_raw:
        print("\nper-byte classes, raw ratios to the one-op delta: " + ", ".join(
            f"{r['case']} {r['protocol']} cpu {fmt_ratio(r['cpu_ratio'])} mem {fmt_ratio(r['mem_ratio'])} "
            f"(kept {r['kept_kib']:,.0f} KiB)" for r in per_byte_raw))
    if claims:
        print("\nindependence of the claimed number (slower / faster of the two claims):")
        for c in claims:
            print(f"  {'PASS' if c['pass'] else 'FAIL'}  {c['name']:<28} {c['claims'][0]:>6} {c['us'][0]:>8.2f} us  "
                  f"{c['claims'][1]:>6} {c['us'][1]:>8.2f} us  cpu {c['claim_cpu_ratio']:.2f}x  "
                  f"mem {c['claim_mem_ratio']:.2f}x")
    if after:
        print(f"\nafter an accepted cloud of {w.cloud:,} dots, per write / honest receive (us):")
        for a in after:
            print(f"  {'PASS' if a['pass'] else 'FAIL'}  {a['name']:<34} without {a['without_us']:>8.2f}  "
                  f"with {a['with_us']:>8.2f}  {a['after_ratio']:.2f}x")
    print()
    for t in targets:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']:<18} {t['measured']:>8.2f} <= {t['limit']:<5} "
              f"{t['what']}; worst: {t['worst']}")

    out = {
        "benchmark": "hostile",
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_hostile.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
        "machine": machine(),
        "source": source_info(),
        "params": {"n": n, "repeats": repeats, "msgs_per_batch": k, "mem_msgs": mem_msgs, "clock": args.clock,
                   "gc_paused": not args.gc, "protocols": protocols, "cloud": w.cloud, "cloud_over": w.cloud_over,
                   "bulk_elements": w.bulk_elements, "claims": list(CLAIMS),
                   "max_cloud": CausalContext.max_cloud},
        "method": __doc__.split("Method: ", 1)[1].strip() if __doc__ else "",
        "results": [{k2: v for k2, v in r.items() if k2 not in ("checked_cpu", "checked_mem")} for r in rows],
        "claims": claims,
        "cloud_after": after,
        "targets": targets,
        "elapsed_s": perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(markdown(out), encoding="utf-8")
    print(f"\nwrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json} "
          f"({out['elapsed_s']:.0f} s)")
    return 0 if all(t["pass"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
