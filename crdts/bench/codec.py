#!/usr/bin/env python3
"""The wire format (``crdts.encode`` / ``crdts.decode``) beside plain ``cbor2.dumps`` / ``cbor2.loads`` of the
same data as plain lists and dicts, in the same run.

Run it with ``crdts bench --only codec``, ``python -m crdts.bench.codec`` or, in a source checkout (it then
benchmarks the ``crdts`` of the checkout and writes ``benchmarks/results/codec.json`` by default)::

    python benchmarks/bench_codec.py              # N = 20,000, best of 7 (about 10 s)
    python benchmarks/bench_codec.py --quick      # best of 3
    python benchmarks/bench_codec.py --n 50000 --repeats 11 --json /tmp/codec.json

Scenarios (the plain baseline is the same logical data, as cbor2 would write it without a schema):

* ``awset``: an AWSet of N short strings (``item-00000``...) added by one replica; baseline: the list of its
  elements, and its version vector (a dict).
* ``awset_gappy``: N adds spread over three replicas, then every 7th element removed, so the dot counters
  have gaps and the runs are not contiguous; same baseline.
* ``lwwmap``: an LWWMap of N keys (``key-00000`` -> ``value-00000``) written through an HLC whose wall clock
  advances by a seeded random 0.2 to 5 µs per write; baselines: the plain dict key -> value, and the plain
  dict key -> ``[wall, logical, replica, value]`` (the same information as the CRDT).
* ``delta``: the one-op AWSet delta ``AWSet("eu-west").add("apple")``; baseline ``["apple", "eu-west", 1]``.
  Timed per call over batches of 10,000 calls.

Method: every figure is the best of ``--repeats`` timed batches, timed with ``time.process_time`` (CPU time
of this process, so other load on a shared machine does not count; ``--clock wall`` uses ``perf_counter``),
the cyclic GC paused during a batch as ``timeit`` does (``--gc`` keeps it running). ``decode`` is timed with the default
``Limits`` (which runs the decoded object's ``_check()``) and with ``check_invariants=False`` (the codec's
own checks only). Ratios are crdts / plain from this run. Each batch's result is checked (decoded == original).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gc
import json
import platform
import random
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import cbor2

from crdts import HLC, AWSet, Limits, LWWMap, decode, encode
from crdts.bench._common import dist_version, machine, source_info

FAST = Limits(check_invariants=False)
DELTA_BATCH = 10_000

TARGETS = {
    "awset_bytes_ratio": (1.4, "20k-element AWSet bytes / (plain CBOR elements list + version vector)"),
    "delta_bytes": (64, "bytes of a one-op AWSet delta with a short string"),
    "awset_encode_ratio": (3.0, "20k-element AWSet encode time / cbor2.dumps of the plain data"),
    "awset_decode_ratio": (3.0, "20k-element AWSet decode time (default Limits) / cbor2.loads of the plain data"),
}


CLOCK: Callable[[], float] = process_time


def best_of(fn: Callable[[], Any], repeats: int, keep_gc: bool) -> tuple[float, Any]:
    best = float("inf")
    out = None
    clock = CLOCK
    for _ in range(repeats):
        gc.collect()
        if not keep_gc:
            gc.disable()
        try:
            t = clock()
            out = fn()
            dt = clock() - t
        finally:
            gc.enable()
        best = min(best, dt)
    return best, out


def batch(fn: Callable[[], Any], n: int) -> Callable[[], Any]:
    def run() -> Any:
        out = None
        for _ in range(n):
            out = fn()
        return out
    return run


# ------------------------------------------------------------------------------------------- scenarios


def awset_contiguous(n: int) -> AWSet:
    s = AWSet("eu-west")
    for i in range(n):
        s.add(f"item-{i:05d}")
    return s


def awset_gappy(n: int) -> AWSet:
    reps = [AWSet(r) for r in ("eu-west", "us-east", "ap-south")]
    for i in range(n):
        reps[i % 3].add(f"item-{i:05d}")
    for r in reps[1:]:
        reps[0].merge(r)
    for i in range(0, n, 7):
        reps[0].remove(f"item-{i:05d}")
    return reps[0].copy(replica=None)


def lwwmap(n: int, seed: int) -> LWWMap:
    rnd = random.Random(seed)
    wall = [1_700_000_000_000_000_000]

    def tick() -> int:
        wall[0] += rnd.randint(200, 5000)
        return wall[0]

    m = LWWMap("eu-west", clock=HLC("eu-west", time_source=tick))
    for i in range(n):
        m.set(f"key-{i:05d}", f"value-{i:05d}")
    return m.copy(replica=None)


def plain_awset(s: AWSet) -> Any:
    return [sorted(s.value), dict(s._ctx.vv)]


def measure(name: str, obj: Any, plain: Any, repeats: int, keep_gc: bool, per_call: int = 1,
            extra_plain: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = encode(obj)
    praw = cbor2.dumps(plain)
    assert decode(raw) == obj and cbor2.loads(praw) == plain

    def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
        t, out = best_of(batch(fn, per_call) if per_call > 1 else fn, repeats, keep_gc)
        return t / per_call, out

    enc, out = timed(lambda: encode(obj))
    assert out == raw
    dec, out = timed(lambda: decode(raw))
    assert out == obj
    dec_fast, out = timed(lambda: decode(raw, limits=FAST))
    assert out == obj
    penc, _ = timed(lambda: cbor2.dumps(plain))
    pdec, out = timed(lambda: cbor2.loads(praw))
    assert out == plain
    r: dict[str, Any] = {
        "name": name,
        "bytes": len(raw),
        "plain_bytes": len(praw),
        "bytes_ratio": len(raw) / len(praw),
        "encode_ms": enc * 1e3,
        "decode_ms": dec * 1e3,
        "decode_no_check_ms": dec_fast * 1e3,
        "plain_dumps_ms": penc * 1e3,
        "plain_loads_ms": pdec * 1e3,
        "encode_ratio": enc / penc,
        "decode_ratio": dec / pdec,
        "decode_no_check_ratio": dec_fast / pdec,
    }
    for label, data in (extra_plain or {}).items():
        b = cbor2.dumps(data)
        pe, _ = timed(functools.partial(cbor2.dumps, data))
        pd, _ = timed(functools.partial(cbor2.loads, b))
        r[f"vs_{label}"] = {"plain_bytes": len(b), "bytes_ratio": len(raw) / len(b),
                            "plain_dumps_ms": pe * 1e3, "plain_loads_ms": pd * 1e3,
                            "encode_ratio": enc / pe, "decode_ratio": dec / pd,
                            "decode_no_check_ratio": dec_fast / pd}
    return r


# ------------------------------------------------------------------------------------------- report


def main(argv: list[str] | None = None, *, prog: str = "python -m crdts.bench.codec",
         default_json: Path | None = None) -> int:
    """Run the benchmark; ``default_json`` is where results go without ``--json`` (None: nowhere)."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20_000, help="elements / keys (default 20,000)")
    ap.add_argument("--repeats", type=int, default=None, help="repetitions, the best is kept (default 7)")
    ap.add_argument("--quick", action="store_true", help="3 repetitions")
    ap.add_argument("--gc", action="store_true", help="keep the cyclic GC running while timing")
    ap.add_argument("--seed", type=int, default=1, help="seed of the LWWMap clock")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: time.process_time (default); wall: time.perf_counter")
    ap.add_argument("--json", type=Path, default=default_json,
                    help=f"where to write the results (default {default_json or 'none: printed only'})")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    global CLOCK
    CLOCK = process_time if args.clock == "cpu" else perf_counter
    n = args.n
    started = perf_counter()

    results = []
    s = awset_contiguous(n)
    results.append(measure("awset", s, plain_awset(s), repeats, args.gc))
    g = awset_gappy(n)
    results.append(measure("awset_gappy", g, plain_awset(g), repeats, args.gc))
    m = lwwmap(n, args.seed)
    with_ts = {k: [e[0][0], e[0][1], e[0][2], e[2]] for k, e in m._entries.items()}
    results.append(measure("lwwmap", m, m.value, repeats, args.gc, extra_plain={"plain_with_timestamps": with_ts}))
    d = AWSet("eu-west").add("apple")
    results.append(measure("delta", d, ["apple", "eu-west", 1], repeats, args.gc, per_call=DELTA_BATCH))

    by = {r["name"]: r for r in results}
    measured = {
        "awset_bytes_ratio": by["awset"]["bytes_ratio"],
        "delta_bytes": by["delta"]["bytes"],
        "awset_encode_ratio": by["awset"]["encode_ratio"],
        "awset_decode_ratio": by["awset"]["decode_ratio"],
    }
    targets = [{"target": k, "what": TARGETS[k][1], "measured": v, "limit": TARGETS[k][0],
                "pass": v <= TARGETS[k][0]} for k, v in measured.items()]

    print(f"crdts codec vs plain cbor2 (N={n:,}, best of {repeats}, {args.clock} time, "
          f"gc {'on' if args.gc else 'paused'}; "
          f"python {platform.python_version()}, cbor2 {dist_version('cbor2')})")
    hdr = (f"{'scenario':<12} {'bytes':>9} {'plain':>9} {'ratio':>6} | {'enc ms':>8} {'dumps':>7} {'ratio':>6} | "
           f"{'dec ms':>8} {'no-chk':>8} {'loads':>7} {'ratio':>6} {'no-chk':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        scale = 1e3 if r["name"] == "delta" else 1.0
        print(f"{r['name']:<12} {r['bytes']:>9,} {r['plain_bytes']:>9,} {r['bytes_ratio']:>6.2f} | "
              f"{r['encode_ms'] * scale:>8.3f} {r['plain_dumps_ms'] * scale:>7.3f} {r['encode_ratio']:>5.1f}x | "
              f"{r['decode_ms'] * scale:>8.3f} {r['decode_no_check_ms'] * scale:>8.3f} "
              f"{r['plain_loads_ms'] * scale:>7.3f} {r['decode_ratio']:>5.1f}x {r['decode_no_check_ratio']:>5.1f}x")
        for label, v in r.items():
            if label.startswith("vs_"):
                print(f"{'  ' + label[3:]:<12} {'':>9} {v['plain_bytes']:>9,} {v['bytes_ratio']:>6.2f} | "
                      f"{'':>8} {v['plain_dumps_ms']:>7.3f} {v['encode_ratio']:>5.1f}x | {'':>8} {'':>8} "
                      f"{v['plain_loads_ms']:>7.3f} {v['decode_ratio']:>5.1f}x {v['decode_no_check_ratio']:>5.1f}x")
    print("(times in ms; the delta row in µs per call; no-chk = decode with Limits(check_invariants=False))")
    print()
    for t in targets:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']:<20} {t['measured']:>8.2f} <= {t['limit']:<5}  "
              f"{t['what']}")

    out = {
        "benchmark": "codec",
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([prog, *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "source": source_info(),
        "params": {"n": n, "repeats": repeats, "gc_paused": not args.gc, "seed": args.seed, "clock": args.clock,
                   "delta_batch": DELTA_BATCH},
        "method": __doc__.split("Method: ", 1)[1].strip() if __doc__ else "",
        "results": results,
        "targets": targets,
        "elapsed_s": perf_counter() - started,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
