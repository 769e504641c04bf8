#!/usr/bin/env python3
"""Realistic workloads: two regions that have already synced, each figure beside plain Python in the same run.

Run from the repository root (it benchmarks the ``crdts`` of this checkout)::

    python benchmarks/bench_workloads.py              # N = 20,000 and 100,000, best of 5 x 3 trials
    python benchmarks/bench_workloads.py --quick      # best of 3 x 3 trials
    python benchmarks/bench_workloads.py --n 20000 --repeats 7 --json /tmp/workloads.json

Workloads (N = 20,000 and 100,000 unless ``--n``):

* ``set``, two-writer AWSet. Replica A (``eu-west``) adds N distinct strings ``a0000000``...; replica B
  (``us-east``) adds N strings, every 10th of which is also one of A's (the same value, its own str object),
  the rest its own. A then removes N/10 of its elements: N/20 that B also added concurrently (every 20th),
  N/20 that B never had. A merges B (timed, ``A<-B``); then B merges the merged A (timed, ``B<-A``): the
  merge between replicas that have talked, ~N shared dots, N/20 elements held by two dots, a store whose
  dots have N/10 gaps under the context. Floor, same direction: ``set |=`` on fresh sets of exactly the
  live elements of each side (A's |= B's, then B's |= the union). Then the merged A is encoded and
  decoded (default ``Limits``: every check kept, ``max_bytes`` raised if the state is over its 4 MiB);
  floors ``cbor2.dumps`` of the sorted list of its elements and ``set(cbor2.loads(...))`` of those bytes.
* ``map``, two-writer LWWMap. A and B each write N keys ``k0000000``... -> int through their own ``HLC``
  (default time source), every 10th of B's keys also one of A's; merges both ways as above; encode/decode.
  Floor: ``dict.update`` of the same entries, same direction; ``cbor2.dumps`` / ``cbor2.loads`` of the plain
  dict (``dict(m.value)``).
* ``delta``, one write: an LWWMap holding N entries does one more ``set``; the figure is
  ``len(crdts.encode(delta))``, the bytes that bring an up-to-date peer current (target judged at N = 20,000;
  the writer's replica id, ``eu-west``, is in those bytes: the same with the id ``A`` is shown beside it).
  For information, the one-write deltas of an AWSet (``add``) and of an ORMap of MVRegisters (``assign``),
  and, if pycrdt is installed, what its ``Doc`` ships: ``get_update(state_vector)`` after one write, plus
  the state vector the peer sent to ask for it.
* ``memory``: ``tracemalloc`` bytes per element of an AWSet and an LWWMap of 100,000 elements, built by one
  writer, and by three writers that then merged each other's full states (each element held by one dot,
  contexts of three replicas; the measured replica only, the other two freed), against a plain ``set`` /
  ``dict`` built by a loop of ``add`` / ``d[k] = v`` over the same, already existing, key and value objects.
  Only the container is counted: the elements exist before the first reading, ``gc.collect()`` before each.
  For information, the one-writer LWWMap and dict again with their int values made inside the measurement.
* ``o1``: merging 2,000 one-add deltas from another replica (fresh elements) into an AWSet of 100 and of
  100,000 elements (a fresh copy of a state built by one writer each time; the two sizes alternate, 4 x
  ``--repeats`` repetitions, as a batch takes only ~10 ms): the cost per delta at 100,000 over the cost at
  100 (plain ``s |= {e}`` beside it, information).

Method: wall clock (``time.perf_counter``), the cyclic garbage collector left ON during timed sections (it
is part of what a service pays; ``gc.collect()`` runs before each timed section, crdts and floor alike),
best of ``--repeats`` (5; 3 with ``--quick``) repetitions of 3 trials each. A repetition builds its own fresh
objects (untimed) by the operations above, then times the crdts figures and then their floors, so both see
the same machine state; each figure, crdts and floor alike, is timed 3 times per repetition (these take a
few ms, and their noise on a shared machine is large relative to their size: up to 2x between runs), each
time on fresh objects: replicas built anew by the operations above, new plain objects for a floor.
Every timed result is checked afterwards (values against the plain answer, the two merged replicas equal,
decoded == encoded), so no figure can time a no-op. Ratios are crdts / floor from this run.
The exit status is 1 when a target fails, 0 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever is installed

import cbor2  # noqa: E402

import crdts  # noqa: E402
from crdts import HLC, AWSet, Limits, LWWMap, MVRegister, ORMap, decode, encode  # noqa: E402
from crdts.bench._common import dist_version as _version  # noqa: E402
from crdts.bench._common import machine as _machine  # noqa: E402
from crdts.bench._common import source_info  # noqa: E402

try:  # optional comparison (the `bench` extra)
    import pycrdt
    from pycrdt import Doc, Map
except ImportError:  # pragma: no cover - optional
    pycrdt = None  # type: ignore[assignment]

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "workloads.json"
DEFAULT_NS = (20_000, 100_000)
DELTA_N = 20_000           # the one-write delta target is judged at this N
MEM_N = 100_000            # elements of the memory figures
O1_SIZES = (100, 100_000)  # states of the one-op delta merge figure
O1_K = 2_000               # one-add deltas merged per timed batch
TRIALS = 3                 # a two-writer figure and its floor are each timed 3 times a repetition (a few ms: noisy)
O1_ROUNDS = 4              # the one-op delta figure takes 4 x --repeats repetitions (its batches are short)
RA, RB, RC = "eu-west", "us-east", "ap-south"

# target -> (limit, what is compared). Ratios are crdts / plain floor of the same run.
TARGETS = {
    "set_merge_a_from_b_ratio": (3.0, "two-writer AWSet merge A<-B / set |= (same elements, same direction)"),
    "set_merge_b_from_a_ratio": (3.0, "two-writer AWSet merge B<-A, after talking / set |="),
    "set_encode_ratio": (4.0, "merged two-writer AWSet encode / cbor2.dumps(sorted elements)"),
    "set_decode_ratio": (4.0, "merged two-writer AWSet decode (all checks kept) / set(cbor2.loads(...))"),
    "map_merge_a_from_b_ratio": (3.0, "two-writer LWWMap merge A<-B / dict.update (same entries, same direction)"),
    "map_merge_b_from_a_ratio": (3.0, "two-writer LWWMap merge B<-A, after talking / dict.update"),
    "map_encode_ratio": (4.0, "merged two-writer LWWMap encode / cbor2.dumps(plain dict)"),
    "map_decode_ratio": (4.0, "merged two-writer LWWMap decode (all checks kept) / cbor2.loads(...)"),
    "map_delta_bytes": (28, f"bytes of a one-write LWWMap delta on a {DELTA_N:,}-key map"),
    "awset_memory_ratio": (4.0, f"tracemalloc bytes per element, {MEM_N:,}-element AWSet / set"),
    "lwwmap_memory_ratio": (2.5, f"tracemalloc bytes per element, {MEM_N:,}-key LWWMap / dict"),
    "delta_merge_o1_ratio": (1.5, f"one-add delta merge into {O1_SIZES[1]:,} elements / into {O1_SIZES[0]:,}"),
}


# --------------------------------------------------------------------------------------------- timing


def timed(fn: Callable[..., Any], *args: Any) -> float:
    """Wall-clock seconds of one call ``fn(*args)``; the cyclic GC stays on (collected once before)."""
    gc.collect()
    t0 = perf_counter()
    fn(*args)
    return perf_counter() - t0


def ior(s: set[Any], o: set[Any]) -> None:
    s |= o


def loop_merge(x: Any, deltas: list[Any]) -> None:
    m = x.merge
    for d in deltas:
        m(d)


def loop_ior(s: set[Any], deltas: list[set[Any]]) -> None:
    for d in deltas:
        s |= d


def strs(prefix: str, idx: range | list[int]) -> list[str]:
    """Distinct str objects ``<prefix><i:07d>`` (each its own object, hashed before any timing)."""
    out = [f"{prefix}{i:07d}" for i in idx]
    for e in out:
        hash(e)
    return out


def limits_for(data: bytes) -> tuple[Limits, str | None]:
    """Default Limits, with max_bytes raised to fit ``data`` if it is over the default (said in the output)."""
    default = Limits()
    if len(data) <= default.max_bytes:
        return default, None
    mib = -(-len(data) // (1 << 20))
    return Limits(max_bytes=mib << 20), f"{len(data):,} B > the default max_bytes: Limits(max_bytes={mib} MiB)"


# --------------------------------------------------------------------------------------------- data


class SetWorkload:
    """The elements of the two-writer set (built once; the replicas are rebuilt for every repetition)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.a_elems = strs("a", range(n))
        # B: every 10th element one of A's values (a distinct str object), the others its own
        self.b_elems = [f"a{j:07d}" if j % 10 == 0 else f"b{j:07d}" for j in range(n)]
        for e in self.b_elems:
            hash(e)
        # A removes N/10 of its own: every 20th (B added them concurrently) and every 20th + 5 (B never had)
        self.a_removed = [self.a_elems[i] for i in range(n) if i % 20 in (0, 5)]
        gone = set(self.a_removed)
        self.a_live = [e for e in self.a_elems if e not in gone]
        self.expected = frozenset(self.a_live) | frozenset(self.b_elems)
        self.sorted_union = sorted(self.expected)
        self.double_dotted = sum(1 for i in range(0, n, 10) if i % 20 == 10)

    def replicas(self) -> tuple[AWSet, AWSet]:
        a, b = AWSet(RA), AWSet(RB)
        add = a.add
        for e in self.a_elems:
            add(e)
        add = b.add
        for e in self.b_elems:
            add(e)
        rm = a.remove
        for e in self.a_removed:
            rm(e)
        return a, b


class MapWorkload:
    """Keys and values of the two-writer LWWMap (the maps are rebuilt for every repetition)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.a_pairs = list(zip(strs("k", range(n)), [i + 1_000_000 for i in range(n)], strict=True))
        b_idx = [j if j % 10 == 0 else n + j for j in range(n)]  # every 10th key also one of A's
        self.b_pairs = list(zip(strs("k", b_idx), [j + 2_000_000 for j in range(n)], strict=True))
        self.keys = frozenset(k for k, _ in self.a_pairs) | frozenset(k for k, _ in self.b_pairs)

    def replicas(self) -> tuple[LWWMap, LWWMap]:
        a = LWWMap(RA, clock=HLC(RA))
        b = LWWMap(RB, clock=HLC(RB))
        for m, pairs in ((a, self.a_pairs), (b, self.b_pairs)):
            s = m.set
            for k, v in pairs:
                s(k, v)
        return a, b


# --------------------------------------------------------------------------------------------- workloads


def time_two_writer(repeats: int, replicas: Callable[[], tuple[Any, Any]], merged_ok: Callable[[Any], bool],
                    plain_pair: Callable[[], tuple[Any, Any]], plain_merge: Callable[[Any, Any], None],
                    plain_merged_ok: Callable[[Any], bool], plain_of: Callable[[Any], Any],
                    plain_load: Callable[[bytes], Any], loaded_ok: Callable[[Any, Any], bool],
                    stats: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """The timed part of a two-writer workload, best of ``repeats`` repetitions of TRIALS trials. A repetition
    builds, TRIALS times, a pair of fresh replicas (``replicas()``, untimed) and on it times the
    merges A<-B (checked by ``merged_ok(A)``) and B<-A, then the encode and the decodes of the merged A; then,
    TRIALS times, the floors: ``plain_merge`` both ways on fresh plain objects (``plain_pair()``; A's checked
    by ``plain_merged_ok``), ``cbor2.dumps(plain_of(A))`` and ``plain_load`` of those bytes (checked by
    ``loaded_ok(loaded, plain)``). Returns the best times by name (seconds), the last encoding (``bytes``,
    ``plain_bytes``), the limits note and ``stats(A)``."""
    best: dict[str, float] = {}

    def keep(name: str, t: float) -> None:
        best[name] = min(best.get(name, float("inf")), t)

    note = None
    data = plain_bytes = b""
    info: dict[str, Any] = {}
    for _ in range(repeats):
        plain = None
        for _ in range(TRIALS):  # each trial on replicas built just before it, as each floor's plain objects are
            a, b = replicas()
            assert a != b, "the replicas are equal before they merge: the merges would time no work"
            keep("merge_a_from_b", timed(a.merge, b))
            assert merged_ok(a), "A<-B gave a wrong value"
            assert b != a, "B already holds the merged state: B<-A would time no work"
            keep("merge_b_from_a", timed(b.merge, a))
            assert b == a, "B<-A: the replicas differ after talking"
            plain = plain_of(a)
            gc.collect()
            t0 = perf_counter()
            data = encode(a)
            keep("encode", perf_counter() - t0)
            lim, note = limits_for(data)
            gc.collect()
            t0 = perf_counter()
            out = decode(data, limits=lim)
            keep("decode", perf_counter() - t0)
            assert out == a, "decode(encode(A)) != A"
            del out
            gc.collect()
            t0 = perf_counter()
            out = decode(data, limits=Limits(max_bytes=lim.max_bytes, check_invariants=False))
            keep("decode_no_check", perf_counter() - t0)
            assert out == a
            info = stats(a)
            del out, a, b
        for _ in range(TRIALS):  # the floors, on fresh plain objects of the same content, same direction
            pa, pb = plain_pair()
            keep("plain_merge_a_from_b", timed(plain_merge, pa, pb))
            assert plain_merged_ok(pa)
            keep("plain_merge_b_from_a", timed(plain_merge, pb, pa))
            assert pb == pa
            del pa, pb
            gc.collect()
            t0 = perf_counter()
            plain_bytes = cbor2.dumps(plain)
            keep("plain_encode", perf_counter() - t0)
            gc.collect()
            t0 = perf_counter()
            loaded = plain_load(plain_bytes)
            keep("plain_decode", perf_counter() - t0)
            assert loaded_ok(loaded, plain)
            del loaded
        del plain
    return {"best": best, "bytes": data, "plain_bytes": plain_bytes, "note": note, "stats": info}


def two_writer_row(name: str, n: int, t: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The result row of a :func:`time_two_writer` run: ms and ratios to the floors of the same run."""
    best, data, plain_bytes = t["best"], t["bytes"], t["plain_bytes"]
    r: dict[str, Any] = {"name": name, "state_n": n, **t["stats"], **extra, "bytes": len(data),
                         "plain_bytes": len(plain_bytes), "bytes_ratio": len(data) / len(plain_bytes),
                         "decode_limits_note": t["note"]}
    for what in ("merge_a_from_b", "merge_b_from_a", "encode", "decode"):
        r[f"{what}_ms"] = best[what] * 1e3
        r[f"plain_{what}_ms"] = best[f"plain_{what}"] * 1e3
        r[f"{what}_ratio"] = best[what] / best[f"plain_{what}"]
    r["decode_no_check_ms"] = best["decode_no_check"] * 1e3
    r["decode_no_check_ratio"] = best["decode_no_check"] / best["plain_decode"]
    return r


def bench_set(n: int, repeats: int) -> dict[str, Any]:
    w = SetWorkload(n)

    def replicas() -> tuple[AWSet, AWSet]:
        a, b = w.replicas()
        assert len(a) == n - n // 10 and len(b) == n
        return a, b

    t = time_two_writer(repeats, replicas, lambda a: a.value == w.expected,
                        lambda: (set(w.a_live), set(w.b_elems)), ior, lambda pa: pa == w.expected,
                        lambda a: w.sorted_union, lambda data: set(cbor2.loads(data)),
                        lambda loaded, plain: loaded == w.expected,
                        lambda a: {"elements": len(a), "dots": len(a._store.index)})
    return two_writer_row("two-writer AWSet", n, t, {"double_dot_elements": w.double_dotted,
                                                     "removed_by_a": len(w.a_removed)})


def bench_map(n: int, repeats: int, with_pycrdt: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    w = MapWorkload(n)
    t = time_two_writer(repeats, w.replicas, lambda a: set(a.keys()) == w.keys,
                        lambda: (dict(w.a_pairs), dict(w.b_pairs)), dict.update, lambda pa: pa.keys() == w.keys,
                        lambda a: dict(a.value), cbor2.loads, lambda loaded, plain: loaded == plain,
                        lambda a: {"keys": len(a)})
    r = two_writer_row("two-writer LWWMap", n, t, {"common_keys": n // 10})
    py = bench_map_pycrdt(w, repeats, t["best"]) if with_pycrdt else None
    return r, py


# --------------------------------------------------------------------------------------------- pycrdt


def py_doc(pairs: list[tuple[str, int]]) -> Any:
    doc: Any = Doc()
    m = doc.get("m", type=Map)
    with doc.transaction():
        for k, v in pairs:
            m[k] = v
    return doc


def py_fresh() -> Any:
    doc: Any = Doc()
    doc.get("m", type=Map)
    return doc


def bench_map_pycrdt(w: MapWorkload, repeats: int, floors: dict[str, float]) -> dict[str, Any]:
    """The same two-writer map on pycrdt (information): merges by ``apply_update`` of the other's full
    update (bytes made untimed), encode = ``get_update()``, decode = ``apply_update`` into a fresh doc.
    The floors are the plain figures of the crdts run just before."""
    best: dict[str, float] = {}

    def keep(name: str, t: float) -> None:
        best[name] = min(best.get(name, float("inf")), t)

    data = b""
    for _ in range(repeats):
        a, b = py_doc(w.a_pairs), py_doc(w.b_pairs)
        ub = b.get_update()
        keep("merge_a_from_b", timed(a.apply_update, ub))
        ua = a.get_update()
        keep("merge_b_from_a", timed(b.apply_update, ua))
        ma, mb = a.get("m", type=Map), b.get("m", type=Map)
        assert set(ma.keys()) == w.keys and dict(ma) == dict(mb)
        gc.collect()
        t0 = perf_counter()
        data = a.get_update()
        keep("encode", perf_counter() - t0)
        c = py_fresh()
        keep("decode", timed(c.apply_update, data))
        assert dict(c.get("m", type=Map)) == dict(ma)
        del a, b, c, ma, mb
    r: dict[str, Any] = {"name": f"pycrdt {getattr(pycrdt, '__version__', '')} Map, same workload".strip(),
                         "state_n": w.n, "bytes": len(data),
                         "note": "decode = apply_update into a fresh Doc (the values are not read out)"}
    for what in ("merge_a_from_b", "merge_b_from_a", "encode", "decode"):
        r[f"{what}_ms"] = best[what] * 1e3
        r[f"plain_{what}_ms"] = floors[f"plain_{what}"] * 1e3
        r[f"{what}_ratio"] = best[what] / floors[f"plain_{what}"]
    return r


# --------------------------------------------------------------------------------------------- one write


def assign(v: int) -> Callable[[MVRegister], MVRegister]:
    return lambda reg: reg.assign(v)


def bench_delta(n: int, with_pycrdt: bool) -> dict[str, Any]:
    keys = strs("k", range(n))
    new_key, new_value = f"k{n:07d}", n
    m = LWWMap(RA, clock=HLC(RA))
    for i, k in enumerate(keys):
        m.set(k, i)
    d = m.set(new_key, new_value)
    peer = m.copy(replica=RB)
    peer.merge(d)
    assert peer == m
    r: dict[str, Any] = {"name": "one-write delta", "state_n": n, "lwwmap_bytes": len(encode(d))}
    short = LWWMap("A", clock=HLC("A"))  # the same with a one-character replica id (information)
    for i, k in enumerate(keys):
        short.set(k, i)
    r["lwwmap_bytes_1char_replica"] = len(encode(short.set(new_key, new_value)))
    s = AWSet(RA)
    for k in keys:
        s.add(k)
    r["awset_bytes"] = len(encode(s.add(new_key)))
    om = ORMap(RA)
    for i, k in enumerate(keys):
        om.update(k, MVRegister, assign(i))
    r["ormap_mvregister_bytes"] = len(encode(om.update(new_key, MVRegister, assign(new_value))))
    if with_pycrdt:
        doc = py_doc(list(zip(keys, range(n), strict=True)))
        sv = doc.get_state()  # the up-to-date peer's state vector (it asks with it)
        pm = doc.get("m", type=Map)
        with doc.transaction():
            pm[new_key] = new_value
        upd = doc.get_update(sv)
        other = py_doc([])
        other.apply_update(doc.get_update())
        r.update({"pycrdt_update_bytes": len(upd), "pycrdt_state_vector_bytes": len(sv),
                  "pycrdt_bytes": len(upd) + len(sv)})
    return r


# --------------------------------------------------------------------------------------------- memory


def traced(build: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated (tracemalloc) by what ``build`` returns; garbage collected before both readings."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        obj = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, obj


def bench_memory(n: int) -> list[dict[str, Any]]:
    elems = strs("e", range(n))
    values = [i + 1_000_000 for i in range(n)]
    pairs = list(zip(elems, values, strict=True))

    def plain_set() -> set[str]:
        s: set[str] = set()
        for e in elems:
            s.add(e)
        return s

    def plain_dict() -> dict[str, int]:
        d: dict[str, int] = {}
        for k, v in pairs:
            d[k] = v
        return d

    def awset(writers: int) -> Callable[[], AWSet]:
        def build() -> AWSet:
            reps = [AWSet(r) for r in (RA, RB, RC)[:writers]]
            for i, e in enumerate(elems):
                reps[i % writers].add(e)
            for r in reps[1:]:
                reps[0].merge(r)
            for r in reps[1:]:
                r.merge(reps[0])
            return reps[0]
        return build

    def lwwmap(writers: int) -> Callable[[], LWWMap]:
        def build() -> LWWMap:
            reps = [LWWMap(r, clock=HLC(r)) for r in (RA, RB, RC)[:writers]]
            for i, (k, v) in enumerate(pairs):
                reps[i % writers].set(k, v)
            for r in reps[1:]:
                reps[0].merge(r)
            for r in reps[1:]:
                r.merge(reps[0])
            return reps[0]
        return build

    plain_s, s = traced(plain_set)
    assert len(s) == n
    del s
    plain_d, d = traced(plain_dict)
    assert len(d) == n
    del d
    rows = []
    for kind, build, plain, base in (("AWSet", awset, plain_s, "set"), ("LWWMap", lwwmap, plain_d, "dict")):
        for writers in (1, 3):
            size, obj = traced(build(writers))
            assert len(obj) == n
            extra = {"context_replicas": len(obj._ctx.vv), "dots": len(obj._store.index)} if kind == "AWSet" else {}
            del obj
            rows.append({"name": f"memory {kind}, {writers} writer{'s' if writers > 1 else ''}", "type": kind,
                         "writers": writers, "elements": n, "baseline": base,
                         "bytes_per_element": size / n, "plain_bytes_per_element": plain / n,
                         "memory_ratio": size / plain, **extra})
    # information: the int values made inside the measurement (as a decoder or a network receive makes them)
    def plain_dict_made() -> dict[str, int]:
        d: dict[str, int] = {}
        for i, k in enumerate(elems):
            d[k] = i + 1_000_000
        return d

    def lwwmap_made() -> LWWMap:
        m = LWWMap(RA, clock=HLC(RA))
        for i, k in enumerate(elems):
            m.set(k, i + 1_000_000)
        return m

    plain_m, d = traced(plain_dict_made)
    del d
    size, obj = traced(lwwmap_made)
    assert len(obj) == n
    del obj
    rows.append({"name": "memory LWWMap, 1 writer, int values made inside", "type": "LWWMap", "writers": 1,
                 "elements": n, "baseline": "dict, int values made inside", "information": True,
                 "bytes_per_element": size / n, "plain_bytes_per_element": plain_m / n, "memory_ratio": size / plain_m})
    return rows


# --------------------------------------------------------------------------------------------- O(1)


def bench_o1(repeats: int) -> list[dict[str, Any]]:
    """Batches of O1_K one-add deltas; each batch is short (~10 ms), so the sizes alternate within a
    repetition and there are O1_ROUNDS times ``repeats`` repetitions, each on a fresh copy of the state."""
    fresh = strs("x", range(O1_K))
    src = AWSet("x-replica")
    deltas = [src.add(e) for e in fresh]
    plain_deltas = [{e} for e in fresh]
    bases, elems = {}, {}
    for size in O1_SIZES:
        elems[size] = strs("s", range(size))
        base = AWSet(RA)
        add = base.add
        for e in elems[size]:
            add(e)
        bases[size] = base
    best_c = dict.fromkeys(O1_SIZES, float("inf"))
    best_p = dict.fromkeys(O1_SIZES, float("inf"))
    for _ in range(O1_ROUNDS * repeats):
        for size in O1_SIZES:
            state = bases[size].copy()
            best_c[size] = min(best_c[size], timed(loop_merge, state, deltas))
            assert len(state) == size + O1_K
            del state
            s = set(elems[size])
            best_p[size] = min(best_p[size], timed(loop_ior, s, plain_deltas))
            assert len(s) == size + O1_K
            del s
    return [{"name": "merge one-add delta into an AWSet", "state_n": size, "ops": O1_K, "baseline": "s |= {e}",
             "crdts_us": best_c[size] / O1_K * 1e6, "plain_us": best_p[size] / O1_K * 1e6,
             "ratio": best_c[size] / best_p[size]} for size in O1_SIZES]


# --------------------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """The shared machine record, with pycrdt's version (the comparison library) beside cbor2's."""
    info = _machine()
    info["pycrdt"] = _version("pycrdt") if pycrdt is not None else None
    return info


def figure(label: str, n: int | None, crdts_v: float, floor_v: float | None, unit: str,
           target: str | None = None, measured: float | None = None, suffix: str = "") -> dict[str, Any]:
    """One line of the table; with ``target``, judged against its limit (``measured`` defaults to the ratio)."""
    ratio = crdts_v / floor_v if floor_v else None
    f: dict[str, Any] = {"figure": label, "n": n, "crdts": crdts_v, "floor": floor_v, "unit": unit, "ratio": ratio}
    if target is not None:
        limit, what = TARGETS[target]
        m = ratio if measured is None else measured
        f.update({"target": target, "limit": limit, "measured": m, "pass": m is not None and m <= limit,
                  "what": what + suffix})
    return f


def fmt_num(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "B":
        return f"{v:,.0f}"
    if unit == "B/elem":
        return f"{v:,.1f}"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


def print_table(figs: list[dict[str, Any]]) -> None:
    hdr = f"{'figure':<50} {'N':>8} {'crdts':>11} {'floor':>11} {'unit':<8} {'ratio':>7} {'limit':>6}  verdict"
    print(hdr)
    print("-" * len(hdr))
    for f in figs:
        n = f"{f['n']:,}" if f["n"] is not None else ""
        ratio = f"{f['ratio']:.2f}x" if f["ratio"] is not None else "-"
        if "limit" in f:
            lim = f"{f['limit']:g}" + ("x" if f["target"].endswith("_ratio") else " B")
            verdict = "PASS" if f["pass"] else "FAIL"
            if not f["target"].endswith("_ratio"):
                verdict += f" ({f['measured']:.0f} B)"
        else:
            lim, verdict = "", "info"
        print(f"{f['figure']:<50} {n:>8} {fmt_num(f['crdts'], f['unit']):>11} {fmt_num(f['floor'], f['unit']):>11} "
              f"{f['unit']:<8} {ratio:>7} {lim:>6}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", default=None,
                    help="N of the two-writer workloads; repeat for several (default 20,000 and 100,000)")
    ap.add_argument("--repeats", type=int, default=None, help="repetitions, the best is kept (default 5)")
    ap.add_argument("--quick", action="store_true", help="3 repetitions: a smoke run")
    ap.add_argument("--no-pycrdt", action="store_true", help="skip the pycrdt comparison even if installed")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    args = ap.parse_args(argv)
    ns = sorted(set(args.n)) if args.n else list(DEFAULT_NS)
    repeats = args.repeats or (3 if args.quick else 5)
    if min(ns) < 100 or repeats < 1:
        ap.error("--n must be >= 100 and --repeats >= 1")
    with_py = pycrdt is not None and not args.no_pycrdt
    started = _dt.datetime.now(_dt.timezone.utc)
    t_start = perf_counter()
    assert Path(crdts.__file__).resolve().is_relative_to(ROOT), f"benchmarking {crdts.__file__}, not {ROOT}"

    def step(label: str) -> None:
        print(f"  {label} ... ({perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)

    print(f"crdts workloads: N={', '.join(f'{n:,}' for n in ns)}, best of {repeats}, wall clock, gc on; "
          f"python {platform.python_version()}, cbor2 {_version('cbor2')}, {os.cpu_count()} cpus, "
          f"pycrdt {_version('pycrdt') if with_py else 'not used'}", file=sys.stderr, flush=True)
    results: list[dict[str, Any]] = []
    py_rows: list[dict[str, Any]] = []
    figs: list[dict[str, Any]] = []
    notes: list[str] = []
    for n in ns:
        step(f"two-writer AWSet, N={n:,}")
        s = bench_set(n, repeats)
        results.append(s)
        step(f"two-writer LWWMap, N={n:,}")
        m, py = bench_map(n, repeats, with_py)
        results.append(m)
        if py is not None:
            py_rows.append(py)
        for row, prefix, typ in ((s, "set", "AWSet"), (m, "map", "LWWMap")):
            if row["decode_limits_note"]:
                notes.append(f"{typ} N={n:,}: decoded with max_bytes raised ({row['decode_limits_note']})")
            for what, label in (("merge_a_from_b", "merge A<-B"), ("merge_b_from_a", "merge B<-A (after talking)"),
                                ("encode", "encode merged A"), ("decode", "decode merged A (all checks)")):
                figs.append(figure(f"two-writer {typ} {label}", n, row[f"{what}_ms"], row[f"plain_{what}_ms"],
                                   "ms", f"{prefix}_{what}_ratio", suffix=f" (N={n:,})"))
            figs.append(figure(f"two-writer {typ} decode, check_invariants=False", n, row["decode_no_check_ms"],
                               row["plain_decode_ms"], "ms"))
            figs.append(figure(f"two-writer {typ} encoded size", n, row["bytes"], row["plain_bytes"], "B"))

    step("one-write deltas")
    delta_ns = sorted(set(ns) | {DELTA_N})
    deltas = [bench_delta(n, with_py) for n in delta_ns]
    results.extend(deltas)
    for d in deltas:
        ref = d.get("pycrdt_bytes")
        judged = d["state_n"] == DELTA_N
        figs.append(figure("one-write LWWMap delta (floor: pycrdt update + sv)", d["state_n"], d["lwwmap_bytes"],
                           ref, "B", "map_delta_bytes" if judged else None,
                           measured=d["lwwmap_bytes"] if judged else None))
        figs.append(figure("  the same, replica id 'A' instead of 'eu-west'", d["state_n"],
                           d["lwwmap_bytes_1char_replica"], ref, "B"))
        figs.append(figure("one-write AWSet delta (add)", d["state_n"], d["awset_bytes"], ref, "B"))
        figs.append(figure("one-write ORMap[MVRegister] delta (assign)", d["state_n"], d["ormap_mvregister_bytes"],
                           ref, "B"))

    step(f"memory at {MEM_N:,} elements (tracemalloc)")
    mem = bench_memory(MEM_N)
    results.extend(mem)
    for r in mem:
        if r.get("information"):
            figs.append(figure(r["name"], MEM_N, r["bytes_per_element"], r["plain_bytes_per_element"], "B/elem"))
            continue
        figs.append(figure(r["name"], MEM_N, r["bytes_per_element"], r["plain_bytes_per_element"], "B/elem",
                           "awset_memory_ratio" if r["type"] == "AWSet" else "lwwmap_memory_ratio",
                           suffix=f", {r['writers']} writer{'s' if r['writers'] > 1 else ''}"))

    step(f"one-add delta merges at {O1_SIZES}")
    o1 = bench_o1(repeats)
    results.extend(o1)
    for r in o1:
        figs.append(figure(f"{r['name']} (per delta)", r["state_n"], r["crdts_us"], r["plain_us"], "us"))
    figs.append(figure(f"one-add delta merge, {O1_SIZES[1]:,} vs {O1_SIZES[0]:,} (floor: at {O1_SIZES[0]:,})",
                       None, o1[-1]["crdts_us"], o1[0]["crdts_us"], "us", "delta_merge_o1_ratio"))
    plain_o1 = o1[-1]["plain_us"] / o1[0]["plain_us"]
    elapsed = perf_counter() - t_start

    print()
    print(f"crdts workloads (N = {', '.join(f'{n:,}' for n in ns)}; best of {repeats}; wall clock; gc on; "
          f"python {platform.python_version()}, cbor2 {_version('cbor2')})")
    print_table(figs)
    print(f"(plain set |= {{e}} at {O1_SIZES[1]:,} / at {O1_SIZES[0]:,}: {plain_o1:.2f}x; floors: set |= / dict.update "
          f"same direction, cbor2 of the plain data, a plain set / dict built by a loop)")
    for note in notes:
        print(f"note: {note}")
    if py_rows:
        print()
        print(f"pycrdt {_version('pycrdt')} on the same two-writer map (information, not judged; floors as above; "
              "its merges and decode read bytes, ours objects):")
        for r in py_rows:
            for what, label in (("merge_a_from_b", "apply_update A<-B"), ("merge_b_from_a", "apply_update B<-A"),
                                ("encode", "get_update() of merged A"), ("decode", "apply_update into a fresh Doc")):
                print(f"  {label:<34} N={r['state_n']:>7,} {r[f'{what}_ms']:>10.3f} ms  vs "
                      f"{r[f'plain_{what}_ms']:>8.3f} ms  {r[f'{what}_ratio']:>6.2f}x")
            print(f"  {'update bytes':<34} N={r['state_n']:>7,} {r['bytes']:>10,}")
        for d in deltas:
            if "pycrdt_bytes" in d:
                print(f"  one write on N={d['state_n']:,}: update {d['pycrdt_update_bytes']} B + state vector "
                      f"{d['pycrdt_state_vector_bytes']} B = {d['pycrdt_bytes']} B (crdts LWWMap delta "
                      f"{d['lwwmap_bytes']} B)")
    elif pycrdt is None:
        print("\npycrdt not installed (pip install pycrdt): no Rust-backed reference in this run")

    targets = [{k: f[k] for k in ("target", "what", "n", "measured", "limit", "pass", "crdts", "floor", "unit")}
               for f in figs if "limit" in f]
    print()
    print("Targets (ratios to the plain floor of this run):")
    for t in targets:
        meas = f"{t['measured']:.2f}x" if t["target"].endswith("_ratio") else f"{t['measured']:.0f} B"
        lim = f"{t['limit']:g}x" if t["target"].endswith("_ratio") else f"{t['limit']} B"
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['what']}: {meas} (limit {lim})")
    failed = sum(not t["pass"] for t in targets)
    print(f"\n{len(targets) - failed} of {len(targets)} targets pass; {elapsed:.0f} s")

    out = {
        "benchmark": "workloads",
        "timestamp": started.isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/bench_workloads.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "source": source_info(),
        "params": {"ns": ns, "repeats": repeats, "quick": args.quick, "gc": "on", "clock": "wall (perf_counter)",
                   "delta_n": DELTA_N, "memory_n": MEM_N, "o1_sizes": list(O1_SIZES), "o1_deltas_per_batch": O1_K,
                   "replicas": [RA, RB, RC], "pycrdt": with_py},
        "method": __doc__.split("Method: ", 1)[1].strip() if __doc__ else "",
        "notes": notes,
        "results": results,
        "pycrdt": py_rows or None,
        "figures": figs,
        "o1_plain_ratio": plain_o1,
        "targets": targets,
        "elapsed_s": elapsed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
