"""Signed deltas: a relaying peer can neither forge, alter nor misattribute a write.

Three nodes on a line a - b - c: b relays a's writes to c. b is made hostile by rewriting what it relays;
with signatures on, nothing b forges or alters changes c, while everything b relays faithfully does.
"""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("cryptography")

from crdts import AWSet, GSet, decode, encode
from crdts.causal import CausalContext
from crdts.kernel import DotSetMap
from crdts.sync import LocalTransport, Node, decode_message, encode_message
from crdts.sync.messages import vv_to_wire
from crdts.sync.signing import BadSignature, KeyRegistry, Signer
from crdts.sync.trust import Authorizer, Grant

# Fixed keys (from the replica ids): the same bytes on every run.
SIGNERS = {r: Signer(r, hashlib.sha256(r.encode()).digest()) for r in ("a", "b", "c", "m")}
KEYS = KeyRegistry({r: s.public_key for r, s in SIGNERS.items()})
LINE = {"a": ["b"], "b": ["a", "c"], "c": ["b"]}


class Tamper(LocalTransport):
    """Delivers everything, but lets a test rewrite what b sends to c."""

    def __init__(self) -> None:
        super().__init__()
        self.rewrite = None

    def send(self, src, dst, data, info):
        if src == "b" and dst == "c" and self.rewrite is not None:
            data = self.rewrite(data)
            if data is None:
                return
        super().send(src, dst, data, info)


def line(protocol, cls=AWSet, **kw):
    net = Tamper()
    nodes = {r: Node(r, cls, protocol=protocol, neighbours=LINE[r], transport=net, signer=SIGNERS[r], keys=KEYS, **kw)
             for r in LINE}
    return net, nodes


def rounds(net, nodes, n=5):
    for _ in range(n):
        for node in nodes.values():
            node.tick()
        net.deliver_all()


def entries_kind(protocol):
    return "slog" if protocol == "digest" else "sops"


def rewrite_entries(protocol, fn):
    """A rewrite of b's relayed entries: ``fn(entry) -> entry`` for each (and other messages unchanged)."""
    kind = entries_kind(protocol)

    def rewrite(data):
        msg = decode_message(data)
        if msg.kind != kind:
            return data
        out = []
        for e in msg.meta[0]:
            e = list(e)
            if protocol == "op":
                e[2] = vv_to_wire(e[2])
            out.append(fn(e))
        return encode_message(kind, out)
    return rewrite


PAYLOAD = {"digest": 2, "op": 3}


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_a_faithful_relay_delivers_signed_writes(protocol):
    net, n = line(protocol)
    n["a"].update(lambda s: s.add("x"))
    n["c"].update(lambda s: s.add("y"))
    rounds(net, n)
    assert sorted(n["a"].state.value) == sorted(n["c"].state.value) == ["x", "y"]
    assert all(node.stats.rejected == 0 for node in n.values())


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_an_altered_payload_changes_nothing(protocol):
    net, n = line(protocol)
    forged = encode(AWSet("a").add("forged by b"))
    net.rewrite = rewrite_entries(protocol, lambda e: [*e[:PAYLOAD[protocol]], forged, *e[PAYLOAD[protocol] + 1:]])
    n["a"].update(lambda s: s.add("x"))
    rounds(net, n)
    assert n["c"].state.value == frozenset() and n["c"].stats.rejected_by.get("signature", 0) >= 1


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_a_forged_context_from_a_relay_changes_nothing(protocol):
    net, n = line(protocol)
    n["c"].update(lambda s: s.add("keep"))            # ('c', 1)
    rounds(net, n)
    remove = AWSet._delta(DotSetMap(), CausalContext({"c": 1}))   # "a removed c's element" (it did not)
    i = PAYLOAD[protocol]
    net.rewrite = rewrite_entries(protocol, lambda e: [*e[:i], encode(remove), *e[i + 1:]])
    n["a"].update(lambda s: s.add("x"))
    rounds(net, n)
    assert "keep" in n["c"].state and "x" not in n["c"].state
    assert n["c"].stats.rejected_by.get("signature", 0) >= 1


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_a_write_attributed_to_another_origin_changes_nothing(protocol):
    net, n = line(protocol)

    def misattribute(e):
        e[0] = "c"          # claim a's write is c's (keeping a's signature)
        return e

    net.rewrite = rewrite_entries(protocol, misattribute)
    n["a"].update(lambda s: s.add("x"))
    rounds(net, n)
    assert n["c"].state.value == frozenset()
    assert set(n["c"].stats.rejected_by) <= {"signature", "clash"} and n["c"].stats.rejected >= 1


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_a_signed_remove_of_what_its_origin_never_saw_waits_and_never_applies(protocol):
    """m signs, with its own key, a delta whose context claims c's dots up to 1000: a "remote delete" of
    c's future writes. It is m's genuine signature, but it names events nobody has seen: it is held (within
    max_pending), never merged, and c's later writes arrive everywhere."""
    net = LocalTransport()
    a = Node("a", AWSet, protocol=protocol, neighbours=["m", "c"], transport=net, signer=SIGNERS["a"], keys=KEYS)
    c = Node("c", AWSet, protocol=protocol, neighbours=["a"], transport=net, signer=SIGNERS["c"], keys=KEYS)
    c.update(lambda s: s.add("c1"))
    nodes = {"a": a, "c": c}
    rounds(net, nodes)
    forged = AWSet._delta(DotSetMap(), CausalContext({"c": 1000, "m": 1}))
    data = encode(forged)
    if protocol == "digest":
        a.receive("m", encode_message("slog", [["m", 1, data, SIGNERS["m"].sign("m", 1, data)]]))
    else:
        a.receive("m", encode_message("sops", [["m", 1, [], data, SIGNERS["m"].sign("m", 1, data, [])]]))
    for i in range(3):
        c.update(lambda s, i=i: s.add(f"c{i + 2}"))
    rounds(net, nodes)
    assert sorted(a.state.value) == sorted(c.state.value) == ["c1", "c2", "c3", "c4"]
    assert a.state.context.vv.get("c") == 4


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_unsigned_messages_and_unknown_keys_are_refused(protocol):
    _net, n = line(protocol)
    a = n["a"]
    plain = encode(AWSet("b").add("unsigned"))
    kind = "log" if protocol == "digest" else "ops"
    entry = ["b", 1, plain] if protocol == "digest" else ["b", 1, [], plain]
    a.receive("b", encode_message(kind, [entry]))
    stranger = Signer("z", hashlib.sha256(b"z").digest())
    zdata = encode(AWSet("z").add("z"))
    zentry = (["z", 1, zdata, stranger.sign("z", 1, zdata)] if protocol == "digest"
              else ["z", 1, [], zdata, stranger.sign("z", 1, zdata, [])])
    a.receive("b", encode_message(entries_kind(protocol), [zentry]))
    assert a.stats.rejected_by == {"kind": 1, "signature": 1} and a.state.value == frozenset()


@pytest.mark.parametrize("protocol", ["digest", "op"])
def test_snapshots_need_a_trusted_peer_when_signed(protocol):
    s = AWSet("z")
    s.add("from a snapshot")
    meta = vv_to_wire({"z": 1})
    net, n = line(protocol)
    n["a"].receive("b", encode_message("snapshot", meta, payload=encode(s)))
    assert n["a"].stats.rejected_by == {"unauthorized": 1} and n["a"].state.value == frozenset()
    trusted = Node("t", AWSet, protocol=protocol, neighbours=["b"], transport=net,
                   signer=Signer("t", hashlib.sha256(b"t").digest()),
                   keys=KEYS, authorizer=Authorizer({"b": Grant({"b"}, snapshots=True)}))
    trusted.receive("b", encode_message("snapshot", meta, payload=encode(s)))
    assert trusted.stats.rejected == 0 and "from a snapshot" in trusted.state


def test_signing_needs_a_protocol_that_relays_writes_as_signed():
    with pytest.raises(ValueError, match="digest or op"):
        Node("a", GSet, protocol="bprr", neighbours=["b"], signer=SIGNERS["a"], keys=KEYS)
    with pytest.raises(ValueError, match="signer of its own replica"):
        Node("a", GSet, protocol="digest", neighbours=["b"], signer=SIGNERS["b"], keys=KEYS)


def test_a_signature_covers_every_field():
    sig = SIGNERS["a"].sign("a~2", 3, b"p", ["b", 1])
    KEYS.verify("a~2", 3, b"p", sig, ["b", 1])
    for args in (("a~2", 4, b"p", sig, ["b", 1]), ("a~2", 3, b"q", sig, ["b", 1]), ("a~2", 3, b"p", sig, ["b", 2]),
                 ("c", 3, b"p", sig, ["b", 1]), ("a~2", 3, b"p", sig[:-1] + bytes([sig[-1] ^ 1]), ["b", 1])):
        with pytest.raises(BadSignature):
            KEYS.verify(*args)
    with pytest.raises(ValueError, match="signs for 'a'"):
        SIGNERS["a"].sign("b", 1, b"p")
    assert decode(encode(AWSet("a").add("x"))) is not None
