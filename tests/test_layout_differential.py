"""The AWSet and LWWMap layouts against a frozen reference of the previous layouts' behaviour.

The previous AWSet store was a dict element -> frozenset of dots (with a dot -> element index), joined per
element by the delta-CRDT formula; the previous LWWMap merge took, key by key, the entry with the higher
timestamp. The references below are those behaviours written out plainly (with a wire-format-1 encoder of
the old store, frozen here), and random histories of adds, removes, deltas and full-state merges (both
directions, groups of deltas, re-adds that leave an element with several dots) must give equal values,
equal states and byte-identical version-1 encodings.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from crdts import AWSet, Limits, LWWMap, decode, encode
from crdts.causal import HLC, CausalContext
from crdts.codec._wire import _run, enc_context, enc_dotset, enc_values

# ----------------------------------------------------------------------------------- reference AWSet


class RefAWSet:
    """The previous layout's semantics: element -> set of dots, one causal context, the textbook join."""

    def __init__(self, replica: str | None = None) -> None:
        self.replica = replica
        self.store: dict[Any, set[tuple[str, int]]] = {}
        self.ctx = CausalContext()

    def add(self, e: Any) -> RefAWSet:
        n = self.ctx.vv.get(self.replica, 0) + 1  # type: ignore[arg-type]
        dot = (self.replica, n)
        seen = set(self.store.get(e, ())) | {dot}
        self.store[e] = {dot}  # type: ignore[arg-type]
        self.ctx.add(dot)  # type: ignore[arg-type]
        d = RefAWSet()
        d.store = {e: {dot}}  # type: ignore[dict-item]
        d.ctx = CausalContext._of_dots(seen)  # type: ignore[arg-type]
        return d

    def remove(self, e: Any) -> RefAWSet:
        old = self.store.pop(e, set())
        d = RefAWSet()
        d.ctx = CausalContext._of_dots(set(old))
        return d

    def merge(self, other: RefAWSet) -> None:
        c1, c2 = self.ctx, other.ctx
        out = {}
        for k in set(self.store) | set(other.store):
            x, y = self.store.get(k, set()), other.store.get(k, set())
            r = (x & y) | {d for d in x if not c2.contains(d)} | {d for d in y if not c1.contains(d)}
            if r:
                out[k] = r
        self.store = out
        self.ctx.join(other.ctx)

    def encode_v1(self) -> bytes:
        """Wire format 1 of the old store: ``[singles by dot, multi by smallest dot]``."""
        tb, body = enc_context(self.ctx)  # a store's dots all lie in the context: its table names them all
        single = sorted((d, e) for e, ds in self.store.items() if len(ds) == 1 for d in ds)
        singles: list[Any] = []
        for r in sorted({d[0] for d, _ in single}):
            part = [(d, e) for d, e in single if d[0] == r]
            singles += [tb.ix[r], _run([d[1] for d, _ in part]), [e for _, e in part]]
        multi: list[Any] = []
        for e, ds in sorted(((e, ds) for e, ds in self.store.items() if len(ds) > 1), key=lambda kv: min(kv[1])):
            multi += [e, enc_dotset(ds, tb)]
        body.append([singles, multi])
        return cbor2.dumps([0xCD, 1, 7, tb.ids, *body], canonical=True)


def same_as_ref(x: AWSet, ref: RefAWSet) -> None:
    x._check()
    assert x.value == frozenset(ref.store)
    assert {e: set(ds) for e, ds in x._store.items()} == ref.store
    assert x._ctx == ref.ctx
    data = encode(x, version=1)
    assert data == ref.encode_v1(), "v1 bytes differ from the previous layout's"
    assert decode(data) == x
    assert decode(encode(x)) == x


aw_ops = st.lists(
    st.tuples(
        st.integers(0, 2),                                        # replica
        st.sampled_from(["add", "add", "add", "remove", "merge_delta", "merge_group", "merge_state"]),
        st.integers(0, 30),                                       # element / other replica
        st.lists(st.integers(0, 10_000), max_size=12),           # picks for delta groups
    ),
    min_size=20,
    max_size=150,
)


@settings(max_examples=80, deadline=None)
@given(aw_ops)
def test_awset_layout_matches_previous_layout(history):
    names = ["eu-west", "us-east", "ap-south"]
    xs = [AWSet(n) for n in names]
    refs = [RefAWSet(n) for n in names]
    deltas: list[tuple[AWSet, RefAWSet]] = []
    for r, op, e, picks in history:
        x, ref = xs[r], refs[r]
        elem: Any = e if e % 3 else f"e{e}"  # ints and strs
        if op == "add":
            deltas.append((x.add(elem), ref.add(elem)))
        elif op == "remove":
            deltas.append((x.remove(elem), ref.remove(elem)))
        elif op == "merge_delta" and deltas:
            d, rd = deltas[picks[0] % len(deltas)] if picks else deltas[-1]
            x.merge(d)
            ref.merge(rd)
        elif op == "merge_group" and deltas:
            g, rg = AWSet(), RefAWSet()
            for p in picks:
                d, rd = deltas[p % len(deltas)]
                g.merge(d)
                rg.merge(rd)
            same_as_ref(g, rg)
            x.merge(g)
            ref.merge(rg)
        elif op == "merge_state":
            o = e % 3
            if o != r:
                x.merge(xs[o])
                ref.merge(refs[o])
        same_as_ref(x, ref)
    for a, ra in zip(xs, refs, strict=True):
        for b, rb in zip(xs, refs, strict=True):
            got, rgot = a.copy(), RefAWSet(a.replica)
            rgot.store = {k: set(v) for k, v in ra.store.items()}
            rgot.ctx = ra.ctx.copy()
            got.merge(b)
            rgot.merge(rb)
            same_as_ref(got, rgot)


# ----------------------------------------------------------------------------------- reference LWWMap


def ref_lww_merge(mine: dict[Any, Any], theirs: dict[Any, Any]) -> dict[Any, Any]:
    """The previous layout's merge: ``{key: ((wall, logical, replica), present, value)}``, key by key, the
    higher timestamp wins."""
    out = dict(mine)
    for k, e in theirs.items():
        m = out.get(k)
        if m is None or e[0] > m[0]:
            out[k] = e
    return out


def ref_lww_encode_v1(entries: dict[Any, Any]) -> bytes:
    """Wire format 1 of the previous layout's entries, written plainly (frozen here): per replica in code
    point order, its entries by (wall, logical), ties by key bytes; wall deltas, logicals, keys, values, the
    indexes of tombstones."""
    ids = sorted({e[0][2] for e in entries.values()})
    groups: list[Any] = []
    for i, r in enumerate(ids):
        mine = sorted(((e[0][0], e[0][1], cbor2.dumps(k, canonical=True)), k, e) for k, e in entries.items()
                      if e[0][2] == r)
        walls = [w for (w, _, _), _, _ in mine]
        groups += [i, [walls[0]] + [b - a for a, b in pairwise(walls)], [lg for (_, lg, _), _, _ in mine],
                   [k for _, k, _ in mine], enc_values([e[2] for _, _, e in mine]),
                   [j for j, (_, _, e) in enumerate(mine) if not e[1]]]
    return cbor2.dumps([0xCD, 1, 6, ids, groups], canonical=True)


def lww_same_as_ref(x: LWWMap, ref: dict[Any, Any]) -> None:
    x._check()
    assert x._entries == ref
    assert len(x) == sum(1 for e in ref.values() if e[1])
    assert x.value == {k: e[2] for k, e in ref.items() if e[1]}
    data = encode(x, version=1)
    assert data == ref_lww_encode_v1(ref), "v1 bytes differ from the previous layout's"
    assert decode(data) == x
    back = decode(encode(x), limits=Limits(require_canonical=True))
    assert back == x and back._entries == ref
    compact = LWWMap._of(ref)  # the same entries in one slot per key, in another slot order
    assert encode(compact) == encode(x) and encode(compact, version=1) == data


lww_ops = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["set", "set", "set", "remove", "merge", "merge_delta",
                                                  "merge_group"]),
              st.integers(0, 80), st.integers(-3, 3)),
    min_size=20,
    max_size=160,
)


@settings(max_examples=80, deadline=None)
@given(lww_ops, st.booleans(), st.integers(1, 80))
def test_lwwmap_merge_matches_previous_merge(history, stall, nkeys):
    # ``stall``: the time source repeats readings, so timestamps carry logical counters; ``nkeys`` few keys
    # (many overwrites: dead slots and compactions) or many (merges of mostly new keys)
    t = iter(range(1, 10_000))
    src = (lambda: next(t) // 3) if stall else (lambda: next(t))
    names = ["eu-west", "us-east", "ap-south"]
    xs = [LWWMap(n, clock=HLC(n, time_source=src)) for n in names]
    refs: list[dict[Any, Any]] = [{}, {}, {}]
    deltas: list[LWWMap] = []
    for r, op, k, v in history:
        x = xs[r]
        key: Any = k % nkeys if k % 4 else f"k{k % nkeys}"  # ints and strs
        val: Any = v if v % 2 else (None if v == 0 else [v, {"v": str(v)}])
        if op == "set":
            deltas.append(x.set(key, val))
            refs[r] = ref_lww_merge(refs[r], deltas[-1]._entries)
        elif op == "remove":
            deltas.append(x.remove(key))
            refs[r] = ref_lww_merge(refs[r], deltas[-1]._entries)
        elif op == "merge_delta" and deltas:
            d = deltas[(k * 7 + v) % len(deltas)]
            x.merge(d)
            refs[r] = ref_lww_merge(refs[r], d._entries)
        elif op == "merge_group" and deltas:
            g, rg = LWWMap(), {}
            for j in range(k % 9):
                d = deltas[(k * 5 + j * 3 + v) % len(deltas)]
                g.merge(d)
                rg = ref_lww_merge(rg, d._entries)
            lww_same_as_ref(g, rg)
            x.merge(g)
            refs[r] = ref_lww_merge(refs[r], rg)
        elif op == "merge":
            o = k % 3
            if o != r:
                refs[r] = ref_lww_merge(refs[r], xs[o]._entries)
                x.merge(xs[o])
        x._check()
        assert x._entries == refs[r]
    for a, ra in zip(xs, refs, strict=True):
        lww_same_as_ref(a, ra)
        for b, rb in zip(xs, refs, strict=True):
            got = a.copy()
            got.merge(b)
            lww_same_as_ref(got, ref_lww_merge(ra, rb))
            other = b.copy()
            other.merge(a)
            assert other == got and encode(other) == encode(got)


def test_lwwmap_bulk_merges_match_previous_merge():
    """Merges of maps of hundreds of keys (the block appends, the take-only-the-winners path, compactions)."""
    t = iter(range(1, 1_000_000))
    names = ["eu-west", "us-east", "ap-south"]
    xs = [LWWMap(n, clock=HLC(n, time_source=lambda: next(t))) for n in names]
    refs: list[dict[Any, Any]] = [{}, {}, {}]
    snaps: list[tuple[LWWMap, dict[Any, Any]]] = []
    for step in range(12):
        for r, x in enumerate(xs):
            lo = (step * 37 + r * 101) % 400
            for k in range(lo, lo + 150 + 20 * r):
                if (k + step) % 11 == 0:
                    refs[r] = ref_lww_merge(refs[r], x.remove(k)._entries)
                else:
                    refs[r] = ref_lww_merge(refs[r], x.set(k, (k, step) if k % 3 else k * step)._entries)
        r, o = step % 3, (step + 1 + step // 3) % 3
        if r != o:
            xs[r].merge(xs[o])
            refs[r] = ref_lww_merge(refs[r], refs[o])
        if len(snaps) > 2:  # a stale state of another replica: most of its entries lose
            old, rold = snaps[-3]
            xs[step % 3].merge(old)
            refs[step % 3] = ref_lww_merge(refs[step % 3], rold)
        snaps.append((xs[o].copy(), dict(refs[o])))
        for x, ref in zip(xs, refs, strict=True):
            lww_same_as_ref(x, ref)
    # a stale copy that has written a few keys of its own since: most of its entries lose
    a, ra = xs[0], refs[0]
    b, rb = LWWMap("sa-east", clock=HLC("sa-east", time_source=lambda: next(t))), dict(ra)
    b.merge(a)
    for k in list(ra)[:300]:
        ra = ref_lww_merge(ra, a.set(k, "newer")._entries)
    for k in range(1000, 1010):
        rb = ref_lww_merge(rb, b.set(k, "b")._entries)
    a.merge(b)
    lww_same_as_ref(a, ref_lww_merge(ra, rb))


def test_lwwmap_reference_encoder_matches_the_golden_bytes():
    """The frozen v1 LWWMap encoder above writes the committed version-1 vector (a check of the test itself)."""
    import importlib.util
    from pathlib import Path

    folder = Path(__file__).parent / "vectors"
    spec = importlib.util.spec_from_file_location("crdts_vectors_build_lww", folder / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    x = build.lwwmap()
    golden = (folder / "v1" / "lwwmap.hex").read_text().strip()
    assert ref_lww_encode_v1(x._entries).hex() == encode(x, version=1).hex() == golden


def test_reference_encoder_matches_the_golden_bytes():
    """The frozen v1 encoder above writes the version-1 bytes docs/wire-format.md shows (a check of the test
    itself)."""
    ref = RefAWSet("eu-west")
    ref.add("apple")
    x = AWSet("eu-west")
    x.add("apple")
    golden = "8718cd0107816765752d7765737482000180828300410181656170706c6580"
    assert ref.encode_v1() == encode(x, version=1) == bytes.fromhex(golden)
