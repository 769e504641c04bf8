"""A user's own type, written only against the public API (maxregister.py beside this file, the example of
docs/extending.md), is first-class: every law of crdts.testing (lattice, delta, codec, decomposition,
model, convergence through every sync protocol in the simulator), the codec, ``crdts inspect``."""

from __future__ import annotations

import json

import cbor2
import pytest
from hypothesis import strategies as st

import crdts
from crdts import contract, decode, encode
from crdts.testing import LAWS, Op, TypeSpec, check_laws

from .maxregister import CODE, MaxRegister


def maxregister_model(events, view=None):
    seen = [e for e in events if view is None or e.id in view]
    return max((e.op.args[0] for e in seen), default=None)


SPEC = TypeSpec(cls=MaxRegister, ops=lambda replicas: st.integers(-5, 5).map(lambda n: Op("write", (n,))),
                model=maxregister_model, local_model=True)


@pytest.mark.parametrize("law", sorted(LAWS))
def test_a_user_type_passes_every_law(law):
    check_laws(SPEC, [law])


def test_a_user_type_meets_the_contract():
    assert contract.missing(MaxRegister) == []
    assert isinstance(MaxRegister("a"), contract.DeltaCRDT)

    class Half(crdts.CRDT):
        __slots__ = ()

        def merge(self, other):
            pass

    assert contract.missing(Half) == ["_check", "copy", "decompose", "delta_for", "is_bottom", "units", "value"]
    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_a_user_type_round_trips_and_is_refused_when_malformed():
    x = MaxRegister("a")
    x.write(7)
    data = encode(x)
    assert cbor2.loads(data)[:3] == [0xCD, 2, CODE]                        # the envelope names the user's code
    assert decode(data) == x and decode(data, replica="b").replica == "b"
    old = encode(x, version=1)                                             # a user body is the same in both
    assert cbor2.loads(old)[:3] == [0xCD, 1, CODE] and cbor2.loads(old)[3:] == cbor2.loads(data)[3:]
    assert decode(old) == x
    bad = encode(MaxRegister._of(1))[:-1] + b"\x3a\xff\xff\xff\xff"        # 1 -> -2**32 (still an int: valid)
    assert decode(bad).value == -(2**32)
    with pytest.raises(crdts.DecodeError):
        decode(encode(MaxRegister._of(1))[:-1] + b"\x61x")                  # "x": not an int


def test_a_user_type_shows_in_crdts_inspect(tmp_path, capsys):
    from crdts.cli import main

    x = MaxRegister("a")
    x.write(41)
    path = tmp_path / "x.bin"
    path.write_bytes(encode(x))
    assert main(["inspect", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "MaxRegister" in json.dumps(out) and "41" in json.dumps(out)


def test_user_codes_are_separate_from_the_librarys():
    with pytest.raises(ValueError, match="reserved for crdts"):
        crdts.codec.register_type(type("X", (), {}), 99, encode=lambda x: ([], []), decode=lambda d, b: None)
