"""The AWSet and LWWMap layouts against a frozen reference of the previous layouts' behaviour.

The previous AWSet store was a dict element -> frozenset of dots (with a dot -> element index), joined per
element by the delta-CRDT formula; the previous LWWMap merge took, key by key, the entry with the higher
timestamp. The references below are those behaviours written out plainly (with a wire-format-1 encoder of
the old store, frozen here), and random histories of adds, removes, deltas and full-state merges (both
directions, groups of deltas, re-adds that leave an element with several dots) must give equal values,
equal states and byte-identical version-1 encodings.
"""

from __future__ import annotations

from typing import Any

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from crdts import AWSet, LWWMap, decode, encode
from crdts.causal import HLC, CausalContext
from crdts.codec._wire import _run, enc_context, enc_dotset

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
    out = dict(mine)
    for k, e in theirs.items():
        m = out.get(k)
        if m is None or e[0] > m[0]:
            out[k] = e
    return out


lww_ops = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["set", "set", "remove", "merge", "merge_delta"]),
              st.integers(0, 25), st.integers(-3, 3)),
    min_size=20,
    max_size=120,
)


@settings(max_examples=80, deadline=None)
@given(lww_ops)
def test_lwwmap_merge_matches_previous_merge(history):
    t = iter(range(1, 10_000))
    names = ["eu-west", "us-east", "ap-south"]
    xs = [LWWMap(n, clock=HLC(n, time_source=lambda: next(t))) for n in names]
    refs: list[dict[Any, Any]] = [{}, {}, {}]
    deltas: list[LWWMap] = []
    for r, op, k, v in history:
        x = xs[r]
        if op == "set":
            deltas.append(x.set(k, v))
            refs[r] = ref_lww_merge(refs[r], deltas[-1]._entries)
        elif op == "remove":
            deltas.append(x.remove(k))
            refs[r] = ref_lww_merge(refs[r], deltas[-1]._entries)
        elif op == "merge_delta" and deltas:
            d = deltas[(k * 7 + v) % len(deltas)]
            x.merge(d)
            refs[r] = ref_lww_merge(refs[r], d._entries)
        elif op == "merge":
            o = k % 3
            if o != r:
                refs[r] = ref_lww_merge(refs[r], xs[o]._entries)
                x.merge(xs[o])
        x._check()
        assert x._entries == refs[r]
        assert len(x) == sum(1 for e in refs[r].values() if e[1])
    for a in xs:
        for b in xs:
            got = a.copy()
            got.merge(b)
            got._check()
            assert got._entries == ref_lww_merge(a._entries, b._entries)
            assert encode(got) == encode(decode(encode(got)))


def test_reference_encoder_matches_the_golden_bytes():
    """The frozen v1 encoder above writes the version-1 bytes docs/wire-format.md shows (a check of the test
    itself)."""
    ref = RefAWSet("eu-west")
    ref.add("apple")
    x = AWSet("eu-west")
    x.add("apple")
    golden = "8718cd0107816765752d7765737482000180828300410181656170706c6580"
    assert ref.encode_v1() == encode(x, version=1) == bytes.fromhex(golden)
