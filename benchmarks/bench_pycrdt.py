#!/usr/bin/env python3
"""Optional: crdts beside pycrdt (PyO3 bindings to the Rust Yrs), and plain Python, in one run.

Not part of the default benchmarks and not a dependency: it needs ``pip install pycrdt``. pycrdt has
no sets or counters, so the comparison is its ``Map`` against our :class:`crdts.LWWMap` (both resolve
concurrent writes to a key by picking one), on the same keys and values::

    pip install pycrdt
    python benchmarks/bench_pycrdt.py                 # writes benchmarks/results/pycrdt.json

What is timed (best of ``--repeats``, fresh objects per repetition, setup untimed; see bench_types.py):

* a write that yields a delta: ``LWWMap.set`` (returns the delta object) vs a pycrdt ``m[k] = v`` in
  its own transaction with the update bytes captured by ``doc.observe`` (pycrdt's delta), vs ``d[k] = v``;
  also pycrdt's writes batched in one transaction (no per-write delta);
* merging one-write deltas into maps of 100 and 100,000 keys: ``LWWMap.merge`` vs ``Doc.apply_update``;
* merging two 20,000-key maps (10% common keys): ``LWWMap.merge`` vs ``Doc.apply_update`` vs ``dict.update``.

Not like for like, and said so in the output: pycrdt's deltas are bytes, so its merges include
decoding and its writes include encoding; ours are in-memory objects (crdts has no codec on this
path yet). Compare again with ``decode`` + ``merge`` once the codec lands.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

import bench_types as bt

from crdts import LWWMap

try:
    import pycrdt
    from pycrdt import Doc, Map
except ImportError:  # pragma: no cover - optional
    pycrdt = None

DEFAULT_JSON = bt.ROOT / "benchmarks" / "results" / "pycrdt.json"


def loop_map_set(m: Any, pairs: list[tuple[str, int]]) -> None:
    for k, v in pairs:
        m[k] = v


def loop_apply(doc: Any, updates: list[bytes]) -> None:
    a = doc.apply_update
    for u in updates:
        a(u)


def py_map(pairs: list[tuple[str, int]]) -> tuple[Any, Any]:
    doc = Doc()
    m = doc.get("m", type=Map)
    with doc.transaction():
        loop_map_set(m, pairs)
    return doc, m


def py_copy(update: bytes) -> Any:
    doc = Doc()
    doc.get("m", type=Map)
    doc.apply_update(update)
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = p.parse_args(argv)
    if pycrdt is None:
        print("pycrdt is not installed: pip install pycrdt", file=sys.stderr)
        return 2
    n, b = args.n, bt.Bench(args.repeats, False)
    started = _dt.datetime.now(_dt.timezone.utc)
    keys = bt.elements(n, "k")
    pairs = [(k, i) for i, k in enumerate(keys)]
    rows: list[dict[str, Any]] = []

    # 1. writes
    def plain_set() -> float:
        return b.time_batch(bt.loop_setitem, {}, pairs)

    def ours_set() -> float:
        m = LWWMap("r1")
        return b.time_batch(bt.loop_call2, m.set, pairs)

    def py_set_each() -> float:
        doc = Doc()
        m = doc.get("m", type=Map)
        updates: list[bytes] = []
        doc.observe(lambda ev: updates.append(ev.update))
        t = b.time_batch(loop_map_set, m, pairs)
        assert len(updates) == n
        return t

    def py_set_batched() -> float:
        doc = Doc()
        m = doc.get("m", type=Map)

        def work() -> None:
            with doc.transaction():
                loop_map_set(m, pairs)

        return b.time_batch(work)

    plain = b.best(plain_set)
    for name, fn in (
        ("crdts LWWMap.set (delta object returned)", ours_set),
        ("pycrdt m[k] = v, one transaction each, update captured", py_set_each),
        ("pycrdt m[k] = v, all in one transaction (no per-write delta)", py_set_batched),
    ):
        rows.append(bt.row(name, b.best(fn), plain, n, "d[k] = v"))

    # 2. one-write deltas into maps of 100 and 100,000 keys
    k = 2_000
    for size in (100, 100_000):
        base = [(f"a{i:07d}", i) for i in range(size)]
        ours = LWWMap("a")
        for kk, v in base:
            ours.set(kk, v)
        other = LWWMap("b")
        deltas = [other.set(f"x{i:07d}", i) for i in range(k)]
        src, _ = py_map(base)
        base_update = src.get_update()
        odoc = Doc()
        om = odoc.get("m", type=Map)
        updates: list[bytes] = []
        odoc.observe(lambda ev, updates=updates: updates.append(ev.update))
        loop_map_set(om, [(f"x{i:07d}", i) for i in range(k)])
        plain_deltas = [{f"x{i:07d}": i} for i in range(k)]
        base_dict = dict(base)

        def ours_merge(ours: LWWMap = ours, deltas: list[LWWMap] = deltas) -> float:
            return b.time_batch(bt.loop_merge, ours.copy(), deltas)

        def py_apply(base_update: bytes = base_update, updates: list[bytes] = updates) -> float:
            return b.time_batch(loop_apply, py_copy(base_update), updates)

        def plain_merge(
            base_dict: dict[str, int] = base_dict, plain_deltas: list[dict[str, int]] = plain_deltas
        ) -> float:
            d = dict(base_dict)
            return b.time_batch(bt.loop_call1, d.update, plain_deltas)

        pl = b.best(plain_merge)
        rows.append(
            bt.row(
                "crdts LWWMap.merge(one-write delta)",
                b.best(ours_merge),
                pl,
                k,
                "d.update({k: v})",
                state_n=size,
            )
        )
        rows.append(
            bt.row(
                "pycrdt Doc.apply_update(one-write update)",
                b.best(py_apply),
                pl,
                k,
                "d.update({k: v})",
                state_n=size,
            )
        )

    # 3. two n-key maps, 10% common keys
    common = n // 10
    ka = [(f"a{i:07d}", i) for i in range(n)]
    kb = ka[:common] + [(f"b{i:07d}", i) for i in range(n - common)]
    oa, ob = LWWMap("a"), LWWMap("b")
    for kk, v in ka:
        oa.set(kk, v)
    for kk, v in kb:
        ob.set(kk, v)
    da, _ = py_map(ka)
    db, _ = py_map(kb)
    ua, ub = da.get_update(), db.get_update()
    pa, pb = dict(ka), dict(kb)

    def ours_full() -> float:
        return b.time_batch(bt.merge, oa.copy(), ob)

    def py_full() -> float:
        return b.time_batch(py_copy(ua).apply_update, ub)

    def plain_full() -> float:
        return b.time_batch(dict(pa).update, pb)

    pl = b.best(plain_full)
    rows.append(bt.row(f"crdts LWWMap.merge of two {n:,}-key maps", b.best(ours_full), pl, 1, "dict.update"))
    rows.append(bt.row(f"pycrdt apply_update of two {n:,}-key maps", b.best(py_full), pl, 1, "dict.update"))

    print(
        f"\ncrdts vs pycrdt {pycrdt.__version__ if hasattr(pycrdt, '__version__') else ''}, N={n:,}, "
        f"best of {args.repeats}"
    )
    print(f"{'benchmark':<68} {'µs':>10} {'plain µs':>9} {'ratio':>8}")
    for r in rows:
        name = r["name"] + (f" (N={r['state_n']:,})" if "state_n" in r else "")
        print(f"{name:<68} {r['crdts_us']:>10.3f} {r['plain_us']:>9.3f} {r['ratio']:>7.1f}x")
    print(
        "\nNot like for like: pycrdt's writes encode and its merges decode bytes; crdts' deltas are objects."
    )

    result = {
        "benchmark": "pycrdt-comparison",
        "timestamp": started.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python", "benchmarks/bench_pycrdt.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": bt.machine(),
        "source": {**bt.source_info(), "pycrdt_version": getattr(pycrdt, "__version__", None)},
        "params": {"n": n, "repeats": args.repeats},
        "note": "crdts_us holds the measured library's time (crdts or pycrdt, see name); plain_us the "
        "plain-Python baseline of the same run. pycrdt deltas are bytes (encode/decode included); "
        "crdts deltas are objects.",
        "results": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
