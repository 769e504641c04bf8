#!/usr/bin/env python3
"""Micro-benchmarks of the crdts types, each beside plain Python doing the same logical work in the same run.

Run it with ``crdts bench --only types``, ``python -m crdts.bench.types`` or, in a source checkout (it then
benchmarks the ``crdts`` of the checkout and writes ``benchmarks/results/types.json`` by default)::

    python benchmarks/bench_types.py                  # full run, N = 20,000 (about 6 s on 2 cores)
    python benchmarks/bench_types.py --quick          # fewer repeats, a smoke run
    python benchmarks/bench_types.py --n 50000 --json /tmp/types.json

Method. Every measurement is the best of ``--repeats`` repetitions. A repetition builds its own fresh
objects (untimed), then times one batch of operations with ``time.perf_counter``; the reported figure
is the best batch time divided by the number of operations, in microseconds. The plain-Python baseline
does the same logical work on the same pre-built elements with the same loop shape, in the same
process, so the ratio ``crdts / plain`` is what the machine's noise cancels out of. As in ``timeit``,
the cyclic garbage collector is paused during a timed batch (``--gc`` keeps it running).

Mutator timings include the full cost of the mutator, the delta it returns included. What is timed:

* ``GCounter.increment()`` vs ``d[k] += 1`` (a per-replica count in a dict);
* ``AWSet.add(e)`` vs ``set.add(e)``, N distinct str elements into an empty set;
* ``AWSet.remove(e)`` vs ``set.discard(e)``, every element of an N-element set;
* ``LWWMap.set(k, v)`` vs ``d[k] = v``, N distinct keys (the HLC reads ``time.time_ns``: part of the cost);
* ``ORMap.update(k, AWSet, lambda s: s.add(e))`` vs ``dd[k].add(e)`` on a ``defaultdict(set)``
  (N/20 keys, 20 elements each; making the lambda is part of the user's cost and is timed);
* merging two N-element AWSets vs ``set |= set`` on the same elements (see :func:`two_replicas`);
* merging one-op deltas (an add from another replica, a remove from a replica that saw the element)
  into an N-element state vs ``s |= {e}`` / ``s -= {e}``;
* the O(1) check: a stream of one-op deltas (add then remove of fresh elements, so the state size stays
  put) merged into states of 100 and 100,000 elements;
* the metadata check: an AWSet after 2,000 add/remove pairs of distinct elements, and a replica that
  received those 4,000 deltas in a shuffled order.

The speed targets are checked against the numbers just measured, never hard-coded.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import random
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from time import perf_counter
from typing import Any

import crdts
from crdts import AWSet, GCounter, LWWMap, ORMap
from crdts.bench._common import machine, source_info

AGG = 16  # ops per aggregated delta in the informational part of the O(1) check

# The speed targets: name -> (limit, what is compared).
TARGETS = {
    "AWSet.add": (50.0, "AWSet.add / set.add"),
    "AWSet.remove": (50.0, "AWSet.remove / set.add"),
    "merge 2 replicas": (20.0, "AWSet merge of two N-element replicas / set union of the same elements"),
    "LWWMap.set": (40.0, "LWWMap.set / dict assignment"),
    "delta merge O(1)": (3.0, "one-op delta merge at N=100,000 / at N=100"),
}


# --------------------------------------------------------------------------------------------- timing


class Bench:
    """Best-of-repeats timing of batches; setup runs outside the timed section."""

    def __init__(self, repeats: int, keep_gc: bool) -> None:
        self.repeats = repeats
        self.keep_gc = keep_gc

    def time_batch(self, work: Callable[..., Any], *args: Any) -> float:
        """Seconds taken by one call ``work(*args)``, with the cyclic GC paused unless ``--gc``."""
        gc.collect()
        was_enabled = gc.isenabled()
        if not self.keep_gc:
            gc.disable()
        try:
            t0 = perf_counter()
            work(*args)
            return perf_counter() - t0
        finally:
            if was_enabled:
                gc.enable()

    def best(self, one_repetition: Callable[[], float]) -> float:
        """Best (smallest) of ``repeats`` calls of ``one_repetition``, which builds its objects and returns
        the seconds of its timed batch."""
        return min(one_repetition() for _ in range(self.repeats))


# Loop bodies shared by the CRDT and the baseline, so both pay the same loop overhead.


def loop_call0(f: Callable[[], Any], n: int) -> None:
    for _ in range(n):
        f()


def loop_call1(f: Callable[[Any], Any], items: Iterable[Any]) -> None:
    for x in items:
        f(x)


def loop_call2(f: Callable[[Any, Any], Any], pairs: Iterable[tuple[Any, Any]]) -> None:
    for k, v in pairs:
        f(k, v)


def loop_dict_incr(d: dict[str, int], keys: Iterable[str]) -> None:
    for k in keys:
        d[k] += 1


def loop_setitem(d: dict[Any, Any], pairs: Iterable[tuple[Any, Any]]) -> None:
    for k, v in pairs:
        d[k] = v


def loop_ormap_update(update: Callable[..., Any], pairs: Iterable[tuple[Any, Any]]) -> None:
    for k, e in pairs:
        update(k, AWSet, lambda s, e=e: s.add(e))


def loop_dict_of_sets(dd: defaultdict[Any, set[Any]], pairs: Iterable[tuple[Any, Any]]) -> None:
    for k, e in pairs:
        dd[k].add(e)


def loop_set_ior(s: set[Any], deltas: Iterable[set[Any]]) -> None:
    for d in deltas:
        s |= d


def loop_set_isub(s: set[Any], deltas: Iterable[set[Any]]) -> None:
    for d in deltas:
        s -= d


def union(a: set[Any], b: set[Any]) -> None:
    a |= b


def merge(x: Any, y: Any) -> None:
    x.merge(y)


# --------------------------------------------------------------------------------------------- data


def elements(n: int, prefix: str = "e") -> list[str]:
    """``n`` distinct str elements, built (and hashed) before any timing."""
    out = [f"{prefix}{i:07d}" for i in range(n)]
    for e in out:
        hash(e)
    return out


def awset_of(elems: Iterable[Any], replica: str) -> AWSet:
    s = AWSet(replica)
    for e in elems:
        s.add(e)
    return s


def row(name: str, crdt_s: float, plain_s: float, ops: int, baseline: str, **extra: Any) -> dict[str, Any]:
    r = {
        "name": name,
        "baseline": baseline,
        "ops": ops,
        "crdts_us": crdt_s / ops * 1e6,
        "plain_us": plain_s / ops * 1e6,
        "ratio": crdt_s / plain_s if plain_s > 0 else float("inf"),
    }
    r.update(extra)
    return r


# --------------------------------------------------------------------------------------------- mutators


def bench_gcounter(b: Bench, n: int) -> dict[str, Any]:
    def crdt() -> float:
        c = GCounter("r1")
        t = b.time_batch(loop_call0, c.increment, n)
        assert c.value == n
        return t

    def plain() -> float:
        d = {"r1": 0}
        t = b.time_batch(loop_dict_incr, d, ["r1"] * n)
        assert d["r1"] == n
        return t

    return row("GCounter.increment", b.best(crdt), b.best(plain), n, "d[k] += 1")


def bench_awset_add(b: Bench, elems: list[str]) -> dict[str, Any]:
    def crdt() -> float:
        s = AWSet("r1")
        t = b.time_batch(loop_call1, s.add, elems)
        assert len(s) == len(elems)
        return t

    def plain() -> float:
        s: set[str] = set()
        return b.time_batch(loop_call1, s.add, elems)

    return row("AWSet.add", b.best(crdt), b.best(plain), len(elems), "set.add")


def bench_awset_remove(b: Bench, elems: list[str], state: AWSet) -> dict[str, Any]:
    def crdt() -> float:
        s = state.copy()
        t = b.time_batch(loop_call1, s.remove, elems)
        assert len(s) == 0
        return t

    def plain() -> float:
        s = set(elems)
        t = b.time_batch(loop_call1, s.discard, elems)
        assert not s
        return t

    return row("AWSet.remove", b.best(crdt), b.best(plain), len(elems), "set.discard")


def bench_lwwmap_set(b: Bench, elems: list[str]) -> dict[str, Any]:
    pairs = [(k, i) for i, k in enumerate(elems)]

    def crdt() -> float:
        m = LWWMap("r1")
        t = b.time_batch(loop_call2, m.set, pairs)
        assert len(m) == len(pairs)
        return t

    def plain() -> float:
        d: dict[str, int] = {}
        return b.time_batch(loop_setitem, d, pairs)

    return row("LWWMap.set", b.best(crdt), b.best(plain), len(pairs), "d[k] = v")


def bench_ormap_update(b: Bench, elems: list[str]) -> dict[str, Any]:
    n_keys = max(1, len(elems) // 20)
    keys = elements(n_keys, "k")
    pairs = [(keys[i % n_keys], e) for i, e in enumerate(elems)]

    def crdt() -> float:
        m = ORMap("r1")
        t = b.time_batch(loop_ormap_update, m.update, pairs)
        assert len(m) == n_keys
        return t

    def plain() -> float:
        dd: defaultdict[str, set[str]] = defaultdict(set)
        return b.time_batch(loop_dict_of_sets, dd, pairs)

    return row(
        "ORMap.update(k, AWSet, add)",
        b.best(crdt),
        b.best(plain),
        len(pairs),
        "defaultdict(set)[k].add(e)",
        keys=n_keys,
    )


# --------------------------------------------------------------------------------------------- merges


def two_replicas(n: int) -> tuple[AWSet, AWSet, set[str], set[str], set[str]]:
    """Two replicas holding ``n`` elements each, 10% of them in common, after 2k removals on one side.

    ``a`` adds ``n`` elements. ``b`` receives the deltas of a's first 20% adds, removes half of those
    (``n/10`` removals, 2,000 at N = 20,000: a merge into ``a`` must drop them), then adds ``0.9 n``
    elements of its own. Both hold ``n`` elements; ``n/10`` (10%) are common. Returns
    ``(a, b, a's elements, b's elements, expected value after merging)``.
    """
    common, removed = n // 10, n // 10
    ea = elements(n, "a")
    a = AWSet("a")
    deltas = [a.add(e) for e in ea]
    b = AWSet("b")
    for d in deltas[: common + removed]:
        b.merge(d)
    gone = ea[common : common + removed]
    for e in gone:
        b.remove(e)
    eb = elements(n - common, "b")
    for e in eb:
        b.add(e)
    va, vb = set(ea), set(eb) | set(ea[:common])
    assert len(a) == len(b) == n and len(va & vb) == common
    return a, b, va, vb, (va - set(gone)) | vb


def bench_merge_replicas(b: Bench, n: int) -> list[dict[str, Any]]:
    a, bb, va, vb, expected = two_replicas(n)
    out = []
    for name, x, y in (("merge 2 replicas: a <- b", a, bb), ("merge 2 replicas: b <- a", bb, a)):

        def crdt(x: AWSet = x, y: AWSet = y) -> float:
            z = x.copy()
            t = b.time_batch(merge, z, y)
            assert z.value == expected, "merge gave a wrong value"
            return t

        def plain(x: AWSet = x) -> float:
            s, o = (set(va), vb) if x is a else (set(vb), va)
            t = b.time_batch(union, s, o)
            assert s == va | vb
            return t

        out.append(
            row(
                name,
                b.best(crdt),
                b.best(plain),
                1,
                "set |= set (same elements)",
                elements_each=n,
                common=n // 10,
                removals=n // 10,
            )
        )
        out[-1]["crdts_us_per_element"] = out[-1]["crdts_us"] / (2 * n)
    return out


def delta_streams(state_n: int, k: int) -> dict[str, Any]:
    """An ``state_n``-element state of replica ``a`` and three streams of ``k`` one-op deltas into it."""
    ea = elements(state_n, "a")
    a = AWSet("a")
    for e in ea:
        a.add(e)
    # add: another replica adds fresh elements (the state grows by k).
    nb = elements(k, "n")
    b = AWSet("b")
    add_deltas = [b.add(e) for e in nb]
    # remove: a replica that saw a's adds removes k of a's elements.
    c = a.copy(replica="c")
    rm_elems = ea[:k]
    rm_deltas = [c.remove(e) for e in rm_elems]
    # churn: add then remove k/2 fresh elements from another replica (the state size stays put).
    d = AWSet("d")
    churn: list[AWSet] = []
    for e in elements(k // 2, "c"):
        churn.append(d.add(e))
        churn.append(d.remove(e))
    # aggregated churn: the same, AGG ops per delta (what a delta-interval sync ships).
    g = AWSet("g")
    agg_churn: list[AWSet] = []
    ge = elements(k // 2, "g")
    for i in range(0, len(ge) - AGG + 1, AGG):
        adds, removes = AWSet(), AWSet()
        for e in ge[i : i + AGG]:
            adds.merge(g.add(e))
        for e in ge[i : i + AGG]:
            removes.merge(g.remove(e))
        agg_churn += [adds, removes]
    return {
        "state": a,
        "elems": ea,
        "add": (add_deltas, nb),
        "remove": (rm_deltas, rm_elems),
        "churn": churn,
        "agg_churn": agg_churn,
    }


def loop_merge(x: Any, deltas: Iterable[Any]) -> None:
    m = x.merge
    for d in deltas:
        m(d)


def bench_delta_merges(b: Bench, n: int, k: int) -> list[dict[str, Any]]:
    ds = delta_streams(n, k)
    state, ea = ds["state"], ds["elems"]
    add_deltas, nb = ds["add"]
    rm_deltas, rm_elems = ds["remove"]
    plain_add = [{e} for e in nb]
    plain_rm = [{e} for e in rm_elems]

    def crdt_add() -> float:
        z = state.copy()
        t = b.time_batch(loop_merge, z, add_deltas)
        assert len(z) == n + k
        return t

    def plain_add_() -> float:
        s = set(ea)
        return b.time_batch(loop_set_ior, s, plain_add)

    def crdt_rm() -> float:
        z = state.copy()
        t = b.time_batch(loop_merge, z, rm_deltas)
        assert len(z) == n - k
        return t

    def plain_rm_() -> float:
        s = set(ea)
        return b.time_batch(loop_set_isub, s, plain_rm)

    return [
        row(
            "merge 1-op add delta into N-state",
            b.best(crdt_add),
            b.best(plain_add_),
            k,
            "s |= {e}",
            state_n=n,
        ),
        row(
            "merge 1-op remove delta into N-state",
            b.best(crdt_rm),
            b.best(plain_rm_),
            k,
            "s -= {e}",
            state_n=n,
        ),
    ]


def bench_o1(b: Bench, sizes: list[int], k: int) -> dict[str, Any]:
    """One-op delta merge cost (churn stream: adds and removes of fresh elements) at several state sizes.

    Also, for information (no target), the cost per delta of merging AGG-op aggregated deltas.
    """
    per_size = []
    agg_rows = []
    for n in sizes:
        ds = delta_streams(n, k)
        state, ea, churn, agg_churn = ds["state"], ds["elems"], ds["churn"], ds["agg_churn"]
        plain_churn = [{f"c{i // 2:07d}"} for i in range(len(churn))]

        def crdt(state: AWSet = state, churn: list[AWSet] = churn, n: int = n) -> float:
            z = state.copy()
            t = b.time_batch(loop_merge, z, churn)
            assert len(z) == n
            return t

        def plain(ea: list[str] = ea, plain_churn: list[set[str]] = plain_churn) -> float:
            s = set(ea)
            # the plain analogue of an add then a remove: union then difference with one-element sets
            t = b.time_batch(loop_set_ior, s, plain_churn[0::2])
            t += b.time_batch(loop_set_isub, s, plain_churn[1::2])
            return t

        per_size.append(
            row(
                "merge 1-op delta (add/remove churn)",
                b.best(crdt),
                b.best(plain),
                len(churn),
                "s |= {e} / s -= {e}",
                state_n=n,
            )
        )

        plain_agg = [set(d) for d in agg_churn]  # the elements each aggregated delta adds or removes
        plain_agg = [plain_agg[i] if i % 2 == 0 else plain_agg[i - 1] for i in range(len(plain_agg))]

        def crdt_agg(state: AWSet = state, agg_churn: list[AWSet] = agg_churn, n: int = n) -> float:
            z = state.copy()
            t = b.time_batch(loop_merge, z, agg_churn)
            assert len(z) == n
            return t

        def plain_agg_(ea: list[str] = ea, plain_agg: list[set[str]] = plain_agg) -> float:
            s = set(ea)
            t = b.time_batch(loop_set_ior, s, plain_agg[0::2])
            t += b.time_batch(loop_set_isub, s, plain_agg[1::2])
            return t

        agg_rows.append(
            row(
                f"merge {AGG}-op aggregated delta (churn)",
                b.best(crdt_agg),
                b.best(plain_agg_),
                len(agg_churn),
                f"s |= / s -= a {AGG}-element set",
                state_n=n,
            )
        )
        del ds, state, ea, churn, agg_churn
    lo, hi = per_size[0], per_size[-1]
    return {
        "sizes": sizes,
        "deltas_per_batch": k,
        "rows": per_size,
        "ratio_crdts": hi["crdts_us"] / lo["crdts_us"],
        "ratio_plain": hi["plain_us"] / lo["plain_us"],
        "aggregated": {
            "ops_per_delta": AGG,
            "rows": agg_rows,
            "ratio_crdts": agg_rows[-1]["crdts_us"] / agg_rows[0]["crdts_us"],
            "ratio_plain": agg_rows[-1]["plain_us"] / agg_rows[0]["plain_us"],
            "note": "information only, no target: a delta-interval sync ships aggregated deltas",
        },
    }


# --------------------------------------------------------------------------------------------- metadata


def bench_metadata(pairs: int, seed: int) -> dict[str, Any]:
    """An AWSet after ``pairs`` add/remove pairs of distinct elements.

    Also a second replica that received those deltas in a shuffled order, and the size of one add delta.
    """
    x = AWSet("r1")
    deltas = []
    for e in elements(pairs, "m"):
        deltas.append(x.add(e))
        deltas.append(x.remove(e))
    y = AWSet("r2")
    shuffled = list(deltas)
    random.Random(seed).shuffle(shuffled)
    for d in shuffled:
        y.merge(d)

    def sizes(s: AWSet) -> dict[str, Any]:
        ctx = s.context
        store = getattr(s, "_store", None)
        return {
            "elements": len(s),
            "store_entries": len(store) if store is not None else None,
            "store_dots": len(getattr(store, "index", ())) if store is not None else None,
            "cloud_dots": ctx.cloud_size(),
            "vv_entries": len(ctx.vv),
            "vv": dict(ctx.vv),
        }

    out: dict[str, Any] = {
        "pairs": pairs,
        "mutated_replica": sizes(x),
        "receiving_replica_shuffled": sizes(y),
    }
    ok = all(
        v["elements"] == 0
        and v["store_entries"] in (0, None)
        and v["store_dots"] in (0, None)
        and v["cloud_dots"] == 0
        and v["vv_entries"] == 1
        for v in (out["mutated_replica"], out["receiving_replica_shuffled"])
    )
    out["only_a_version_vector"] = ok

    # The delta of one add, whatever the state size: its structure, and its bytes if a codec exists.
    deltas_by_size = {}
    encode = getattr(crdts, "encode", None)
    for n in (100, 20_000):
        s = awset_of(elements(n, "s"), "r1")
        d = s.add("one-more-element")
        dctx = d.context
        info: dict[str, Any] = {
            "elements": len(d),
            "dots": len(getattr(getattr(d, "_store", None), "index", ())),
            "context_dots": dctx.size(),
        }
        if encode is not None:
            try:
                info["encoded_bytes"] = len(encode(d))
                info["state_encoded_bytes"] = len(encode(s))
            except Exception as exc:  # a codec in progress: report, do not fail the run
                info["encode_error"] = f"{type(exc).__name__}: {exc}"
        deltas_by_size[str(n)] = info
    out["one_add_delta_by_state_size"] = deltas_by_size
    out["codec"] = encode is not None
    if encode is not None:
        for key, s in (("mutated_replica", x), ("receiving_replica_shuffled", y)):
            try:
                out[key]["encoded_bytes"] = len(encode(s))
            except Exception as exc:
                out[key]["encode_error"] = f"{type(exc).__name__}: {exc}"
    return out


# --------------------------------------------------------------------------------------------- report


def check(name: str, measured: float) -> dict[str, Any]:
    limit, what = TARGETS[name]
    return {"target": name, "what": what, "measured": measured, "limit": limit, "pass": measured <= limit}


def fmt_row(r: dict[str, Any], unit: str | None = None) -> str:
    name = r["name"] + (f" (N={r['state_n']:,})" if "state_n" in r else "")
    unit = unit or ("µs/merge" if r["ops"] == 1 else "µs/op")
    return (
        f"{name:<52} {r['crdts_us']:>12.3f} {r['plain_us']:>10.3f} {r['ratio']:>8.1f}x   "
        f"{unit:<9} vs {r['baseline']}"
    )


def main(argv: list[str] | None = None, *, prog: str = "python -m crdts.bench.types",
         default_json: Path | None = None) -> int:
    """Run the benchmark; ``default_json`` is where results go without ``--json`` (None: nowhere)."""
    p = argparse.ArgumentParser(
        prog=prog, description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, default=20_000, help="elements/operations per batch (default 20000)")
    p.add_argument(
        "--repeats", type=int, default=None, help="repetitions, best kept (default 7, 3 with --quick)"
    )
    p.add_argument(
        "--quick", action="store_true", help="3 repeats instead of 7: a smoke run (about half the time)"
    )
    p.add_argument("--gc", action="store_true", help="keep the cyclic garbage collector running while timing")
    p.add_argument(
        "--json", type=Path, default=default_json,
        help=f"where to write results (default {default_json or 'none: printed only'})",
    )
    p.add_argument("--seed", type=int, default=2, help="seed of the shuffled delivery in the metadata check")
    args = p.parse_args(argv)

    n = args.n
    repeats = args.repeats or (3 if args.quick else 7)
    if n < 100 or repeats < 1:
        p.error("--n must be >= 100 and --repeats >= 1")
    k = max(10, min(2_000, n // 10))  # one-op deltas per batch (10% of the state at most)
    o1_sizes = [100, 100_000]
    o1_k = 2_000
    b = Bench(repeats, args.gc)
    started = _dt.datetime.now(_dt.timezone.utc)
    t_start = perf_counter()

    elems = elements(n)
    state = awset_of(elems, "r1")
    print(
        f"crdts types benchmark: N={n:,}, best of {repeats}, gc {'on' if args.gc else 'paused'} when timing, "
        f"python {platform.python_version()}, {os.cpu_count()} cpus",
        file=sys.stderr,
    )

    rows: list[dict[str, Any]] = []
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("GCounter.increment", lambda: rows.append(bench_gcounter(b, n))),
        ("AWSet.add", lambda: rows.append(bench_awset_add(b, elems))),
        ("AWSet.remove", lambda: rows.append(bench_awset_remove(b, elems, state))),
        ("LWWMap.set", lambda: rows.append(bench_lwwmap_set(b, elems))),
        ("ORMap.update", lambda: rows.append(bench_ormap_update(b, elems))),
        ("merge of two replicas", lambda: rows.extend(bench_merge_replicas(b, n))),
        ("one-op delta merges", lambda: rows.extend(bench_delta_merges(b, n, k))),
    ]
    for label, step in steps:
        print(f"  {label} ...", file=sys.stderr, flush=True)
        step()
    # also a plain set.add over the same elements, the denominator of the remove target
    by_name = {r["name"]: r for r in rows}
    set_add_us = by_name["AWSet.add"]["plain_us"]
    by_name["AWSet.remove"]["ratio_to_set_add"] = by_name["AWSet.remove"]["crdts_us"] / set_add_us

    print(f"  O(1) check at N={o1_sizes} ...", file=sys.stderr, flush=True)
    o1 = bench_o1(b, o1_sizes, o1_k)
    print("  metadata ...", file=sys.stderr, flush=True)
    meta = bench_metadata(2_000, args.seed)
    elapsed = perf_counter() - t_start

    merges = [r for r in rows if r["name"].startswith("merge 2 replicas")]
    targets = [
        check("AWSet.add", by_name["AWSet.add"]["ratio"]),
        check("AWSet.remove", by_name["AWSet.remove"]["ratio_to_set_add"]),
        check("merge 2 replicas", max(r["ratio"] for r in merges)),
        check("LWWMap.set", by_name["LWWMap.set"]["ratio"]),
        check("delta merge O(1)", o1["ratio_crdts"]),
    ]

    print()
    print(f"{'benchmark':<52} {'crdts':>12} {'plain':>10} {'ratio':>9}")
    for r in rows:
        print(fmt_row(r))
    print(
        f"{'  (AWSet.remove against set.add, as the target reads)':<52} "
        f"{by_name['AWSet.remove']['crdts_us']:>12.3f} {set_add_us:>10.3f} "
        f"{by_name['AWSet.remove']['ratio_to_set_add']:>8.1f}x"
    )
    print()
    print("O(1) check, one-op delta merges (adds and removes of fresh elements from another replica):")
    for r in o1["rows"]:
        print(fmt_row(r))
    print(
        f"  cost at N={o1_sizes[-1]:,} / at N={o1_sizes[0]:,}: crdts {o1['ratio_crdts']:.2f}x, "
        f"plain {o1['ratio_plain']:.2f}x"
    )
    agg = o1["aggregated"]
    for r in agg["rows"]:
        print(fmt_row(r, "µs/delta"))
    flag = (
        ""
        if agg["ratio_crdts"] <= TARGETS["delta merge O(1)"][0]
        else "   <- not O(1) (information, no target)"
    )
    print(
        f"  cost at N={o1_sizes[-1]:,} / at N={o1_sizes[0]:,}: crdts {agg['ratio_crdts']:.2f}x, "
        f"plain {agg['ratio_plain']:.2f}x{flag}"
    )
    print()
    mr, rr = meta["mutated_replica"], meta["receiving_replica_shuffled"]
    print(f"Metadata after {meta['pairs']:,} add/remove pairs of distinct elements:")
    for label, v in (("mutated replica", mr), ("replica that got the deltas shuffled", rr)):
        enc = f", encoded {v['encoded_bytes']} B" if "encoded_bytes" in v else ""
        print(
            f"  {label:<38} elements {v['elements']}, store entries {v['store_entries']}, "
            f"store dots {v['store_dots']}, cloud {v['cloud_dots']}, "
            f"vv entries {v['vv_entries']} {v['vv']}{enc}"
        )
    for size, info in meta["one_add_delta_by_state_size"].items():
        enc = (
            f", encoded {info['encoded_bytes']} B"
            if "encoded_bytes" in info
            else f", {info['encode_error']}"
            if "encode_error" in info
            else ", no crdts.encode yet"
        )
        print(
            f"  one add delta on a {int(size):,}-element state: {info['elements']} element, "
            f"{info['dots']} dot, "
            f"context of {info['context_dots']} dot(s){enc}"
        )
    print(f"  only a version vector left: {'PASS' if meta['only_a_version_vector'] else 'FAIL'}")
    print()
    print("Targets (measured in this run):")
    for t in targets:
        print(
            f"  {'PASS' if t['pass'] else 'FAIL'}  {t['what']}: {t['measured']:.2f}x (limit {t['limit']:g}x)"
        )
    print(f"\n{elapsed:.1f} s", file=sys.stderr)

    result = {
        "benchmark": "types",
        "timestamp": started.isoformat(timespec="seconds"),
        "command": " ".join([prog, *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "source": source_info(),
        "params": {
            "n": n,
            "repeats": repeats,
            "quick": args.quick,
            "gc_during_timing": args.gc,
            "deltas_per_batch": k,
            "seed": args.seed,
            "element_type": "str",
        },
        "method": "best of `repeats` batches, fresh objects per repetition, setup untimed, perf_counter; "
        "crdts_us/plain_us are microseconds per operation (per merge for the replica merges); "
        "ratio = crdts / plain, both from this run",
        "results": rows,
        "o1_check": o1,
        "metadata": meta,
        "targets": targets,
        "elapsed_s": elapsed,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
