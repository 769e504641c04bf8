"""Fuzzing decode: random bytes and mutations of valid messages give DecodeError or a valid object, never
anything else; exhaustive bit flips and truncations of the golden vectors. The hypothesis twin of the
atheris target tests/fuzz/fuzz_decode.py, and it shares that target's property (``check_one``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdts import encode

from . import gen

_spec = importlib.util.spec_from_file_location(
    "crdts_fuzz_decode", Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_decode.py")
assert _spec is not None and _spec.loader is not None
fuzz_decode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz_decode)
check_one = fuzz_decode.check_one
SEEDS: list[bytes] = fuzz_decode.seeds()


def test_there_is_a_seed_per_vector() -> None:
    assert len(SEEDS) >= 16
    for s in SEEDS:
        assert check_one(s) is not None


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    check_one(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_behind_a_valid_envelope(tail: bytes) -> None:
    for code in (1, 5, 6, 7, 8, 9, 13, 21):
        check_one(bytes([0x85, 0x18, 0xCD, 0x01, code]) + tail)
        check_one(bytes([0x87, 0x18, 0xCD, 0x01, code, 0x81, 0x61, 0x61]) + tail)


def _mutate(data: bytes, draw: Any) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup", "splice"]))
        i = draw(st.integers(0, max(len(b) - 1, 0)))
        if kind == "flip" and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and b:
            b[i] = draw(st.sampled_from([0x00, 0x01, 0x17, 0x18, 0x1B, 0x20, 0x40, 0x5B, 0x60, 0x7F, 0x80, 0x9B,
                                         0x9F, 0xA0, 0xC2, 0xD9, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFB, 0xFF,
                                         draw(st.integers(0, 255))]))
        elif kind == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and b:
            del b[i:i + draw(st.integers(1, 4))]
        elif kind == "truncate":
            del b[i:]
        elif kind == "dup" and b:
            j = draw(st.integers(i, len(b)))
            b[j:j] = b[i:j]
        elif kind == "splice":
            other = draw(st.sampled_from(SEEDS))
            j = draw(st.integers(0, len(other)))
            b[i:] = other[j:]
    return bytes(b)


@settings(max_examples=400)
@given(st.data())
def test_mutated_vectors(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS))
    check_one(_mutate(seed, data.draw))


@pytest.mark.parametrize("cls", gen.ALL_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=25)
@given(data=st.data())
def test_mutated_random_states(cls: type, data: st.DataObject) -> None:
    raw = encode(data.draw(gen.objects(cls)))
    check_one(_mutate(raw, data.draw))


def test_every_bit_flip_truncation_and_deletion_of_every_vector() -> None:
    accepted = 0
    for seed in SEEDS:
        for i in range(len(seed)):
            check_one(seed[:i])
            check_one(seed[:i] + seed[i + 1:])
            for bit in range(8):
                b = bytearray(seed)
                b[i] ^= 1 << bit
                accepted += check_one(bytes(b)) is not None
    assert accepted  # some flips land on a still-valid message (e.g. another element); they must be sound
