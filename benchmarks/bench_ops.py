#!/usr/bin/env python3
"""Benchmarks of the operation-based family (crdts.ops), beside the delta-state types and plain Python.

Run from the repository root (stdlib only; it benchmarks the ``crdts`` of this checkout)::

    python benchmarks/bench_ops.py                 # N = 20,000, best of 5
    python benchmarks/bench_ops.py --quick         # best of 3, N = 5,000: a smoke run
    python benchmarks/bench_ops.py --n 50000 --json /tmp/ops.json

Three parts, written to ``benchmarks/results/ops.json``:

* **wire**: bytes per operation on the wire, ``len(crdts.encode(message))``, against the one-op delta of
  the same mutation, ``len(crdts.encode(delta))``, for 3, 6 and 16 replicas. Each group first warms up
  (every replica makes operations that reach everyone, so a message's causal dependencies name every
  other replica), then 300 mutations rotate over the replicas and reach everyone; the figure is the mean.
  ``op_no_deps`` is the same message with its ``deps`` emptied: what the operation itself costs.
* **throughput**: operations per second. ``apply`` of N messages from another replica, delivered in
  causal order, and delivered in reverse order (all but one are buffered, then one arrival releases the
  chain); the source-side mutator (prepare, stamp, local effect); ``decode`` + ``apply`` of the bytes;
  the delta-state merge of the same N one-op deltas; and the plain-Python baseline doing the same
  logical work on the same pre-built elements (``set.add``, ``d[k] += n``). Best of ``--repeats``
  batches, cyclic GC paused while timing (``--gc`` keeps it).
* **metadata**: what a replica keeps before and after causal stability. Five replicas; four make the
  operations (adds of fresh elements, and removes), the fifth receives everything but says nothing, so
  nothing can be stable; then every replica acknowledges. Per-operation dots kept by the state
  (``tags``), messages kept in the broadcast's log, and the encoded size of the exported state, for
  1,000 and 10,000 operations, beside the delta-state AWSet that merged the same operations.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever is installed

import attrs  # noqa: E402

import crdts  # noqa: E402
from crdts import AWSet, LWWRegister, MVRegister, ORMap, PNCounter, decode, encode  # noqa: E402
from crdts.bench._common import machine, source_info  # noqa: E402
from crdts.ops import (  # noqa: E402
    OpAWSet,
    OpLWWRegister,
    OpMVRegister,
    OpORMap,
    OpPNCounter,
)

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "ops.json"


# ------------------------------------------------------------------------------------------ timing


def timed(work: Callable[[], Any], keep_gc: bool) -> float:
    gc.collect()
    was = gc.isenabled()
    if not keep_gc:
        gc.disable()
    try:
        t0 = perf_counter()
        work()
        return perf_counter() - t0
    finally:
        if was:
            gc.enable()


def best(repeats: int, one: Callable[[], float]) -> float:
    return min(one() for _ in range(repeats))


# ------------------------------------------------------------------------------------------ wire


def _clock(r: str) -> crdts.HLC:
    t = iter(range(1_700_000_000_000_000_000, 1_800_000_000_000_000_000, 1_000_000))
    return crdts.HLC(r, time_source=lambda: next(t))


#: name -> (make op replica, make delta replica, mutation(obj, i, family))
WIRE_CASES: dict[str, tuple[Callable[[str, list[str]], Any], Callable[[str], Any], Callable[[Any, int, str], Any]]] = {
    "PNCounter.increment": (
        lambda r, g: OpPNCounter(r, g), lambda r: PNCounter(r), lambda x, i, f: x.increment(1 + i % 5)),
    "AWSet.add": (
        lambda r, g: OpAWSet(r, g), lambda r: AWSet(r), lambda x, i, f: x.add(f"item-{i:05d}")),
    "AWSet.remove": (
        lambda r, g: OpAWSet(r, g), lambda r: AWSet(r), lambda x, i, f: x.remove(f"item-{i - 1:05d}")),
    "LWWRegister.assign": (
        lambda r, g: OpLWWRegister(r, g, clock=_clock(r)), lambda r: LWWRegister(r, clock=_clock(r)),
        lambda x, i, f: x.assign(f"value-{i}")),
    "MVRegister.assign": (
        lambda r, g: OpMVRegister(r, g), lambda r: MVRegister(r), lambda x, i, f: x.assign(f"value-{i}")),
    "ORMap.update(counter)": (
        lambda r, g: OpORMap(r, g), lambda r: ORMap(r),
        lambda x, i, f: x.update(f"key-{i % 50}", OpPNCounter if f == "op" else PNCounter,
                                 lambda c: c.increment(1))),
}


def wire_case(name: str, n: int, ops: int = 300) -> dict[str, Any]:
    make_op, make_delta, mutate = WIRE_CASES[name]
    group = [f"region-{i:02d}" for i in range(n)]
    op_reps = {r: make_op(r, group) for r in group}
    delta_reps = {r: make_delta(r) for r in group}
    op_bytes: list[int] = []
    bare_bytes: list[int] = []
    delta_bytes: list[int] = []
    warm = 2 * n
    for i in range(warm + ops):
        r = group[i % n]
        if name == "AWSet.remove" and i >= warm:
            # remove what this replica added one round ago (everyone has it): add first, then measure the remove
            for fam, reps in (("op", op_reps), ("delta", delta_reps)):
                x = reps[r]
                m = x.add(f"item-{i - 1:05d}")
                for q, y in reps.items():
                    if q != r:
                        (y.apply if fam == "op" else y.merge)(m)
        m = mutate(op_reps[r], i, "op")
        d = mutate(delta_reps[r], i, "delta")
        for q in group:
            if q != r:
                op_reps[q].apply(m)
                delta_reps[q].merge(d)
        if i >= warm:
            op_bytes.append(len(encode(m)))
            bare_bytes.append(len(encode(attrs.evolve(m, deps=()))))
            delta_bytes.append(len(encode(d)))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {"case": name, "replicas": n, "op_bytes": round(mean(op_bytes), 1),
            "op_no_deps": round(mean(bare_bytes), 1), "delta_bytes": round(mean(delta_bytes), 1),
            "op_over_delta": round(mean(op_bytes) / mean(delta_bytes), 2)}


# ------------------------------------------------------------------------------------------ throughput


def throughput(n: int, repeats: int, keep_gc: bool) -> list[dict[str, Any]]:
    group = ["a", "b", "c"]
    elems = [f"e{i:07d}" for i in range(n)]
    for e in elems:
        hash(e)
    src = OpAWSet("a", group)
    msgs = [src.add(e) for e in elems]
    wire = [encode(m) for m in msgs]
    dsrc = AWSet("a")
    deltas = [dsrc.add(e) for e in elems]
    csrc = OpPNCounter("a", group)
    cmsgs = [csrc.increment(1 + i % 3) for i in range(n)]
    amounts = [1 + i % 3 for i in range(n)]
    rows = []

    def run(name: str, setup: Callable[[], Any], work: Callable[[Any], Any], check: Callable[[Any], bool],
            baseline: str) -> dict[str, Any]:
        def one() -> float:
            obj = setup()
            t = timed(lambda: work(obj), keep_gc)
            assert check(obj), name
            return t
        s = best(repeats, one)
        return {"name": name, "ops": n, "us_per_op": round(s / n * 1e6, 3), "ops_per_s": round(n / s),
                "baseline": baseline}

    def apply_all(x: Any, ms: Any) -> None:
        f = x.apply
        for m in ms:
            f(m)

    def decode_apply(x: Any) -> None:
        f = x.apply
        for b in wire:
            f(decode(b))

    def merge_all(x: Any) -> None:
        f = x.merge
        for d in deltas:
            f(d)

    def add_all(x: Any) -> None:
        f = x.add
        for e in elems:
            f(e)

    def plain_add(s: set[str]) -> None:
        f = s.add
        for e in elems:
            f(e)

    def plain_count(d: dict[str, int]) -> None:
        for k in amounts:
            d["a"] += k

    full = frozenset(elems)
    plain = run("plain set.add", set, plain_add, lambda s: s == full, "-")
    rows.append(plain)
    rows.append(run("OpAWSet.apply (causal order)", lambda: OpAWSet("b", group), lambda x: apply_all(x, msgs),
                    lambda x: x.value == full, "plain set.add"))
    rows.append(run("OpAWSet.apply (reverse order: buffered, then released)", lambda: OpAWSet("b", group),
                    lambda x: apply_all(x, reversed(msgs)), lambda x: x.value == full, "plain set.add"))
    rows.append(run("decode + OpAWSet.apply", lambda: OpAWSet("b", group), decode_apply,
                    lambda x: x.value == full, "plain set.add"))
    rows.append(run("OpAWSet.add (source: prepare, stamp, effect)", lambda: OpAWSet("a", group), add_all,
                    lambda x: len(x.value) == n, "plain set.add"))
    rows.append(run("AWSet.merge of one-op deltas (delta-state)", lambda: AWSet("b"), merge_all,
                    lambda x: x.value == full, "plain set.add"))
    total = sum(amounts)
    pc = run("plain d[k] += n", lambda: {"a": 0}, plain_count, lambda d: d["a"] == total, "-")
    rows.append(pc)
    rows.append(run("OpPNCounter.apply (causal order)", lambda: OpPNCounter("b", group),
                    lambda x: apply_all(x, cmsgs), lambda x: x.value == total, "plain d[k] += n"))
    for r in rows:
        base = {"plain set.add": plain, "plain d[k] += n": pc}.get(r["baseline"])
        if base is not None:
            r["ratio_to_plain"] = round(r["us_per_op"] / base["us_per_op"], 1)
    return rows


# ------------------------------------------------------------------------------------------ metadata


def metadata(ops: int, n: int = 5) -> dict[str, Any]:
    group = [f"r{i}" for i in range(n)]
    reps = {r: OpAWSet(r, group) for r in group}
    mirror = AWSet("observer")
    makers = group[:-1]
    live = 0
    for i in range(ops):
        r = makers[i % len(makers)]
        x = reps[r]
        if i % 4 == 3:
            m = x.remove(f"e{i - 3}")
            live -= 1
        else:
            m = x.add(f"e{i}")
            live += 1
        for q, y in reps.items():
            if q != r:
                y.apply(m)
    # the delta-state replica that merged the same mutations (for the state-size comparison)
    d = AWSet("r0")
    for i in range(ops):
        d.merge(d.add(f"e{i}") if i % 4 != 3 else d.remove(f"e{i - 3}"))
    mirror.merge(d)
    r0 = reps["r0"]
    before = r0.metadata()
    before_bytes = len(encode(r0.to_state()))
    for r, x in reps.items():
        a = x.ack()
        for q, y in reps.items():
            if q != r:
                y.apply(a)
    after = r0.metadata()
    after_bytes = len(encode(r0.to_state()))
    assert r0.value == mirror.value and len(r0.value) == live
    return {"replicas": n, "ops": ops, "live_elements": live,
            "before": {"tags": before["tags"], "log": before["log"], "known": before["known"],
                       "state_bytes": before_bytes},
            "after": {"tags": after["tags"], "log": after["log"], "known": after["known"],
                      "state_bytes": after_bytes},
            "delta_state": {"dots": len(mirror._store.index), "state_bytes": len(encode(mirror))}}


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=None, help="operations per timed batch (default 20,000)")
    p.add_argument("--repeats", type=int, default=None, help="repetitions, best kept (default 5)")
    p.add_argument("--quick", action="store_true", help="N = 5,000, 3 repetitions")
    p.add_argument("--gc", action="store_true", help="keep the cyclic GC running while timing")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = p.parse_args(argv)
    n = args.n or (5_000 if args.quick else 20_000)
    repeats = args.repeats or (3 if args.quick else 5)

    print("== bytes per operation on the wire (mean; op message vs one-op delta) ==", file=sys.stderr)
    wire = []
    print(f"{'case':26} {'replicas':>8} {'op':>7} {'op, no deps':>11} {'delta':>7} {'op/delta':>8}")
    for reps in (3, 6, 16):
        for name in WIRE_CASES:
            r = wire_case(name, reps)
            wire.append(r)
            print(f"{name:26} {reps:>8} {r['op_bytes']:>7} {r['op_no_deps']:>11} {r['delta_bytes']:>7} "
                  f"{r['op_over_delta']:>8}")

    print(f"\n== throughput, N = {n:,}, best of {repeats} ==", file=sys.stderr)
    tp = throughput(n, repeats, args.gc)
    print(f"{'what':58} {'µs/op':>8} {'ops/s':>10} {'x plain':>8}")
    for r in tp:
        print(f"{r['name']:58} {r['us_per_op']:>8} {r['ops_per_s']:>10,} {r.get('ratio_to_plain', ''):>8}")

    print("\n== metadata before / after causal stability (AWSet, 5 replicas, r0's view) ==", file=sys.stderr)
    meta = [metadata(k) for k in (1_000, 10_000)]
    print(f"{'ops':>7} {'live':>6} {'tags before':>11} {'log before':>10} {'tags after':>10} {'log after':>9} "
          f"{'state B before':>14} {'state B after':>13} {'delta-state B':>13}")
    for m in meta:
        b, a = m["before"], m["after"]
        print(f"{m['ops']:>7} {m['live_elements']:>6} {b['tags']:>11} {b['log']:>10} {a['tags']:>10} "
              f"{a['log']:>9} {b['state_bytes']:>14} {a['state_bytes']:>13} {m['delta_state']['state_bytes']:>13}")

    result = {
        "benchmark": "bench_ops",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_ops.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "params": {"n": n, "repeats": repeats, "gc_paused": not args.gc},
        "machine": machine(),
        "source": source_info(),
        "wire": wire,
        "throughput": tp,
        "metadata": meta,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
