"""Every bad input of docs/research (reliability §4, cases 1-16) raises DecodeError, quickly, and nothing else."""

from __future__ import annotations

import time
from typing import Any

import cbor2
import pytest

from crdts import (
    AWSet,
    DecodeError,
    GCounter,
    Limits,
    PayloadTooLarge,
    UnknownType,
    UnsupportedVersion,
    decode,
    encode,
)
from crdts.codec import BUILTIN_TAGS, TUPLE_TAG
from crdts.errors import SchemaError

M, V = 0xCD, 1  # most messages below are written in version 1, which decode still reads (and checks)


def msg(code: int, table: list[str], *body: Any, version: int = V) -> bytes:
    return cbor2.dumps([M, version, code, table, *body])


def awset(table: list[str], vv: list[Any], cloud: list[Any], singles: list[Any], multi: list[Any]) -> bytes:
    """An AWSet in version 1: the store is ``[singles, multi]``."""
    return msg(7, table, vv, cloud, [singles, multi])


def awset2(table: list[str], vv: list[Any], cloud: list[Any], groups: list[Any]) -> bytes:
    """An AWSet in version 2: the store is every replica's run of live dots beside their elements."""
    return msg(7, table, vv, cloud, groups, version=2)


GOOD = awset(["a"], [0, 2], [], [0, b"\x01\x01", ["x", "y"]], [])
GOOD_COUNTER = cbor2.dumps([M, V, 1, ["a"], [0, 1]])


def rejects(data: Any, exc: type[Exception] = DecodeError, match: str | None = None,
            limits: Limits | None = None) -> DecodeError:
    with pytest.raises(exc, match=match) as info:
        decode(data, limits=limits)
    assert isinstance(info.value, DecodeError)
    return info.value  # type: ignore[return-value]


def test_the_good_message_is_good() -> None:
    assert decode(GOOD).value == {"x", "y"}


# 1 random bytes, empty input, a lone break, reserved additional info
@pytest.mark.parametrize("data", [b"", b"\xff", b"\x1c", b"\x1d", b"\x1e", b"\x3c", b"\x5f", b"\x9f", b"\xbf",
                                  b"\x7f", b"\xfc", b"\x00", b"\xf6", b"\x80", b"\xa0", b"\x9f\xff",
                                  b"\x85\x18\xcd\x01\x07\x80"], ids=lambda d: d.hex() or "empty")
def test_garbage(data: bytes) -> None:
    rejects(data)


def test_not_bytes() -> None:
    rejects("not bytes")
    rejects(None)
    assert decode(bytearray(GOOD)) == decode(memoryview(GOOD)) == decode(GOOD)


# 2 truncation at every offset
@pytest.mark.parametrize("name", ["GOOD", "big"])
def test_every_truncation(name: str) -> None:
    s = AWSet("a")
    for i in range(40):
        s.add(f"e{i}")
    data = GOOD if name == "GOOD" else encode(s)
    for i in range(len(data)):
        rejects(data[:i])


# 3 trailing bytes
def test_trailing_bytes() -> None:
    e = rejects(GOOD + b"\x00", match="trailing bytes")
    assert "ends at byte" in str(e)
    rejects(GOOD + GOOD, match="trailing bytes")


# 4 deep nesting
@pytest.mark.parametrize("unit", [b"\x81", b"\xa1\x61\x6b", b"\xd9\x03\xe7", b"\xd9\xcd\x01", b"\xc2"],
                         ids=["arrays", "maps", "tags", "tuple-tags", "bignum-tags"])
def test_100k_nesting_fails_fast(unit: bytes) -> None:
    data = unit * 100_000 + b"\x00"
    t = time.perf_counter()
    rejects(data)
    assert time.perf_counter() - t < 0.5


# 5 huge declared lengths
@pytest.mark.parametrize("head", ["5b", "7b", "9b", "bb", "5a", "9a"])
@pytest.mark.parametrize("n", [2**63, 2**64 - 1, 2**32 - 1])
def test_huge_declared_lengths(head: str, n: int) -> None:
    width = 8 if head[1] == "b" else 4
    if n >= 2 ** (8 * width):
        return
    data = bytes.fromhex(head) + n.to_bytes(width, "big") + b"\x00" * 4
    t = time.perf_counter()
    rejects(data)
    rejects(bytes.fromhex("8518cd0107") + data)
    assert time.perf_counter() - t < 0.5


# 6 size and count limits
def test_message_above_max_bytes_is_refused_before_parsing() -> None:
    e = rejects(b"\xff" * 101, PayloadTooLarge, limits=Limits(max_bytes=100))
    assert (e.size, e.limit) == (101, 100)


def test_too_many_entries() -> None:
    s = AWSet("a")
    for i in range(100):
        s.add(i)
    rejects(encode(s), PayloadTooLarge, match="entries", limits=Limits(max_entries=50))
    assert decode(encode(s), limits=Limits(max_entries=500)) == s


def test_too_many_replicas() -> None:
    g = GCounter()
    g._p = {f"r{i:03d}": 1 for i in range(300)}
    rejects(encode(g), PayloadTooLarge, match="replica table", limits=Limits(max_replicas=100))
    assert decode(encode(g)) == g


def test_a_million_dots_in_a_small_message() -> None:
    data = awset(["a"], [0, 1_000_001], [], [0, b"\x01" * 1_000_001, ["x"] * 1_000_001], [])
    rejects(data, PayloadTooLarge)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        Limits(max_bytes=0)
    with pytest.raises(TypeError):
        decode(GOOD, limits={"max_bytes": 10})  # type: ignore[arg-type]


# 7, 8, 9 tags: shared and string references, every built-in semantic tag, unknown tags
@pytest.mark.parametrize("tag", sorted(set(BUILTIN_TAGS) - {2, 3}))
def test_builtin_tags_are_refused(tag: int) -> None:
    payloads = {0: "2013-03-21T20:04:00Z", 1: 1363896240, 4: [-2, 27315], 5: [-1, 3], 25: 0, 28: [1],
                29: 0, 30: [1, 3], 35: "(a+)+$", 36: "Content-Type: text/plain\n\nhi", 37: b"\x00" * 16,
                52: b"\x7f\x00\x00\x01", 54: b"\x00" * 16, 100: 0, 256: ["a", cbor2.CBORTag(25, 0)],
                258: [1, 2], 260: b"\x7f\x00\x00\x01", 261: {b"\x7f\x00\x00\x00": 8}, 1004: "2020-01-01",
                43000: [1.0, 2.0], 55799: 0}
    inner = cbor2.CBORTag(tag, payloads[tag])
    for data in (cbor2.dumps(inner), msg(3, [], [inner]), msg(5, ["a"], 1, 0, 0, inner)):
        rejects(data, match="not allowed|malformed")


def test_shared_reference_bomb_is_never_expanded() -> None:
    # depth-22 DAG of shared values (tags 28/29): a naive walk would visit 4M leaves
    data = bytes.fromhex("d81c82" * 22)[:-1] + b"\x82" + b"\xd8\x1d\x00" * 2
    t = time.perf_counter()
    rejects(data)
    rejects(bytes.fromhex("d81c81d81d00"))  # a list containing itself
    assert time.perf_counter() - t < 0.5


@pytest.mark.parametrize("tag", [6, 24, 27, 32, 1000, 52480, 52482, 2**32, 2**64 - 1])
def test_unknown_cbor_tags(tag: int) -> None:
    rejects(cbor2.dumps(cbor2.CBORTag(tag, None)))
    rejects(msg(5, ["a"], 1, 0, 0, [cbor2.CBORTag(tag, None)]))


def test_tuple_tag_only_with_null_and_only_first_in_a_value_array() -> None:
    mark = cbor2.CBORTag(TUPLE_TAG, None)
    ok = decode(msg(5, ["a"], 1, 0, 0, [mark, 1]))
    assert ok.value == (1,)
    rejects(msg(5, ["a"], 1, 0, 0, cbor2.CBORTag(TUPLE_TAG, [1])))       # content not null
    rejects(msg(5, ["a"], 1, 0, 0, [1, mark]))                         # not first
    rejects(msg(5, ["a"], 1, 0, 0, mark))                              # bare
    rejects(msg(5, ["a"], 1, 0, 0, {"k": mark}))
    rejects(msg(3, [], [[mark, 1]]))                                   # elements carry no mark
    rejects(awset(["a"], [0, 1], [], [0, b"\x01", [mark]], []))


def test_bignums_only_where_data_ints_are_and_only_when_needed() -> None:
    big = cbor2.CBORTag(2, (2**64).to_bytes(9, "big"))
    assert decode(msg(3, [], [big])).value == {2**64}
    rejects(msg(3, [], [cbor2.CBORTag(2, b"\x01")]), match="bignum")          # fits a plain int
    rejects(msg(3, [], [cbor2.CBORTag(2, b"\x00" + b"\x01" * 9)]))             # leading zero
    rejects(msg(3, [], [cbor2.CBORTag(2, b"\x01" * 129)]))                     # beyond 1024 bits
    rejects(msg(3, [], [cbor2.CBORTag(2, "text")]))
    rejects(msg(1, ["a"], [0, big]))                                          # a count
    rejects(awset(["a"], [0, big], [], [], []))                               # a vv entry
    rejects(msg(22, ["a"], big, 0, 0))                                        # a timestamp part
    rejects(msg(big, ["a"], [0, 1]), UnknownType)                             # a type code


# 10 unknown type code; 11 wrong magic and versions
@pytest.mark.parametrize("code", [0, 16, 19, 23, 99, 2**64 - 1, -1, "7", 7.0, None, True])
def test_unknown_type_code(code: Any) -> None:
    e = rejects(cbor2.dumps([M, V, code, ["a"], [0, 1]]), UnknownType)
    assert e.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", [0, 3, 255, -1, "1", "2", 1.0, 2.0, True, None])
def test_unsupported_versions(version: Any) -> None:
    e = rejects(cbor2.dumps([M, version, 1, ["a"], [0, 1]]), UnsupportedVersion)
    assert e.found == version and e.supported == (1, 2)  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", [1, 2])
def test_both_versions_are_read(version: int) -> None:
    assert decode(cbor2.dumps([M, version, 1, ["a"], [0, 1]])) == decode(encode(decode(GOOD_COUNTER)))


def test_encode_writes_only_versions_it_reads() -> None:
    for version in (0, 3, True, 1.0, "1"):
        with pytest.raises(ValueError, match="version"):
            encode(GCounter("a"), version=version)


@pytest.mark.parametrize("magic", [0, 0xCE, "crdt", b"\xcd", 205.0, None])
def test_wrong_magic(magic: Any) -> None:
    rejects(cbor2.dumps([magic, V, 1, ["a"], [0, 1]]), match="not a crdts message")


def test_not_an_envelope() -> None:
    rejects(cbor2.dumps({"magic": M}), match="not a crdts message")
    rejects(cbor2.dumps([M, V, 1]), match="not a crdts message")
    rejects(cbor2.dumps([M, V, 1, ["a"]]), SchemaError, match="body items")
    rejects(cbor2.dumps([M, V, 1, ["a"], [0, 1], []]), SchemaError, match="body items")


# 12 duplicate keys, non-str keys, indefinite lengths; non-shortest forms (only in canonical mode)
def test_duplicate_map_keys() -> None:
    good = msg(5, ["a"], 1, 0, 0, {"k": 1})
    dup = good[:-4] + bytes.fromhex("a2616b01616b02")
    assert good.endswith(bytes.fromhex("a1616b01"))
    rejects(dup, match="duplicate|malformed")


@pytest.mark.parametrize("value", [{1: 2}, {b"k": 1}, {(1,): 2}, {None: 1}])
def test_non_str_map_keys(value: Any) -> None:
    rejects(msg(5, ["a"], 1, 0, 0, value))


def test_indefinite_lengths() -> None:
    rejects(bytes.fromhex("9f18cd0103809fff"))                         # indefinite message array
    rejects(bytes.fromhex("8518cd0103809f6178ff"))                    # indefinite element array
    rejects(bytes.fromhex("8818cd0105816161010000bf616b01ff"))          # indefinite map in a value
    rejects(bytes.fromhex("8518cd0103817f6161ff"))                     # indefinite text


def test_non_shortest_forms_pass_leniently_but_not_canonically() -> None:
    s = decode(GOOD)
    variants = [
        bytes.fromhex("8718cd011807") + GOOD[5:],                    # type code written as 18 07
        GOOD.replace(bytes.fromhex("820002"), bytes.fromhex("82001802"), 1),  # vv count as 18 02
        GOOD.replace(bytes.fromhex("8718cd"), bytes.fromhex("871900cd"), 1),  # magic as 19 00cd
    ]
    for v in variants:
        assert decode(v) == s
        rejects(v, SchemaError, match="canonical", limits=Limits(require_canonical=True))
    unsorted = msg(3, [], ["b", "a"])
    assert decode(unsorted).value == {"a", "b"}
    rejects(unsorted, SchemaError, match="canonical", limits=Limits(require_canonical=True))


# 13 invalid UTF-8
def test_invalid_utf8() -> None:
    rejects(bytes.fromhex("8518cd0103808162c328"))
    rejects(bytes.fromhex("8518cd01038081") + b"\x62\xed\xa0")  # truncated surrogate


# 14 wrong shapes
@pytest.mark.parametrize("counts", [[0, 0], [0, -1], [0, True], [0, 1.0], [0, "1"], [0, None], [1, 1],
                                    [-1, 1], [0], [0, 1, 0, 2], [True, 1], [0.0, 1]])
def test_bad_counts(counts: list[Any]) -> None:
    rejects(msg(1, ["a"], counts), SchemaError)


def test_counter_at_2_64_cannot_be_written() -> None:
    rejects(bytes.fromhex("8518cd0101816161") + bytes.fromhex("8200") + bytes.fromhex("c249010000000000000000"))


@pytest.mark.parametrize("run", [b"", b"\x00", b"\x01\x00", b"\x80", b"\x81\x00", b"\x80\x01\x01" + b"\x00",
                                 b"\xff" * 10 + b"\x01", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                                 "\x01", [1], None], ids=repr)
def test_bad_runs(run: Any) -> None:
    rejects(awset(["a"], [0, 1], [], [0, run, ["x"]], []), SchemaError)


def test_run_gaps_are_leb128() -> None:
    # counters 1 and 200 (gap 199 = c7 01)
    ok = awset(["a"], [0, 200], [], [0, b"\x01\xc7\x01", ["x", "y"]], [])
    assert {d for d in decode(ok)._store.index} == {("a", 1), ("a", 200)}
    rejects(awset(["a"], [0, 200], [], [0, b"\x01\xc7\x81\x00", ["x", "y"]], []), SchemaError)  # over-long
    top = awset(["a"], [0, 2**64 - 1], [], [0, b"\xff" * 9 + b"\x01", ["x"]], [])
    assert decode(top)._store.index == {("a", 2**64 - 1): "x"}
    rejects(awset(["a"], [0, 2**64 - 1], [], [0, b"\x80" * 9 + b"\x02", ["x"]], []), SchemaError)  # 2**64


@pytest.mark.parametrize("elem", [True, False, 1.0, -0.0, 2.0**70, float("nan"), [True], [1.0], {"k": 1},
                                  cbor2.undefined, cbor2.CBORSimpleValue(16)], ids=repr)
def test_non_canonical_or_invalid_elements(elem: Any) -> None:
    rejects(msg(3, [], [elem]), SchemaError if elem is not cbor2.CBORSimpleValue(16) else DecodeError)
    rejects(awset(["a"], [0, 1], [], [0, b"\x01", [elem]], []))


@pytest.mark.parametrize("value", [float("nan"), [float("nan")], {"k": float("nan")}, cbor2.undefined,
                                   cbor2.CBORSimpleValue(99)], ids=repr)
def test_invalid_register_values(value: Any) -> None:
    rejects(msg(5, ["a"], 1, 0, 0, value))
    rejects(msg(9, ["a"], [0, 1], [], [0, b"\x01", [value]]))


def test_register_values_nest_at_most_64_levels() -> None:
    v: Any = 1
    for _ in range(66):
        v = [v]
    rejects(msg(5, ["a"], 1, 0, 0, v), SchemaError, match="64 levels")


def test_wrong_shapes_per_type() -> None:
    bad = [
        msg(2, ["a"], [0, 1]),                                  # PNCounter needs two counts
        msg(3, [], "x"),                                         # GSet elements not an array
        msg(3, [], ["x", "x"]),                                  # element twice
        msg(4, [], ["x"], ["y", "y"]),
        msg(5, ["a"], 1, 0),                                     # LWWRegister: 0 or 4 items
        msg(5, ["a"], -1, 0, 0, "v"),                            # negative wall
        msg(5, ["a"], 1, -1, 0, "v"),
        msg(5, ["a"], 1, 0, 1, "v"),                             # replica index out of range
        msg(22, ["a"], 1, 0, "a"),
        msg(20, ["a"], [0]),
        msg(21, ["a"], [0, 1], [0]),
        msg(9, ["a"], [0, 1], [], [0, b"\x01", ["v", "w"]]),     # 2 values, 1 dot
        msg(11, ["a"], [0, 1], [], [0, b"\x01", [1]]),           # DWFlag token not a bool
        msg(12, ["a"], [0, 1], [], [0, b"\x01", [True]]),        # CCounter total not an int
        msg(12, ["a"], [0, 1], [], [0, b"\x01", [1.5]]),
        msg(10, ["a"], [0, 1], [], [0, b"\x01", 0]),             # dotset stride
        msg(8, ["a"], [0, 1], [], [[0, b"\x01", ["x"]], []]),     # RWSet singles need flags
        msg(8, ["a"], [0, 1], [], [[0, b"\x01", ["x"], [1]], []]),
        msg(7, ["a"], [0, 1], [], [[0, b"\x01", ["x"]]]),         # store needs [singles, multi]
        msg(7, ["a"], [0, 1], [], [[0, b"\x01", ["x", "y"]], []]),  # 2 elements, 1 dot
    ]
    for data in bad:
        rejects(data, SchemaError)


def test_lwwmap_shapes() -> None:
    w = 10**18

    def lm(*groups: Any) -> bytes:
        return msg(6, ["a", "b"] if len(groups) > 6 else ["a"], list(groups))

    good = lm(0, [w, 1], [0, 0], ["k", "j"], [1, None], [1])
    m = decode(good)
    assert m.value == {"k": 1} and len(m) == 1
    rejects(lm(0, [w, 1], [0, 0], ["k", "j"], [1, 2], [1]), SchemaError, match="carries a value")
    rejects(lm(0, [w, 1], [0, 0], ["k", "k"], [1, 2], []), SchemaError, match="twice")
    rejects(lm(0, [w, 0], [1, 0], ["k", "j"], [1, 2], []), SchemaError, match="sorted")
    rejects(lm(0, [w, 0], [0, 0], ["k", "j"], [1, 2], []), SchemaError, match="sorted")  # key bytes
    rejects(lm(0, [w, -1], [0, 0], ["k", "j"], [1, 2], []), SchemaError)
    rejects(lm(0, [w, 1], [0, 0], ["k", "j"], [1, 2], [1, 1]), SchemaError)
    rejects(lm(0, [w, 1], [0, 0], ["k", "j"], [1, 2], [2]), SchemaError)
    rejects(lm(0, [], [], [], [], []), SchemaError)
    rejects(lm(1, [w], [0], ["k"], [1], [], 0, [w], [0], ["j"], [1], []), SchemaError, match="ascending")
    rejects(lm(0, [w], [0], ["k"], [1], [], 1, [w], [0], ["k"], [1], []), SchemaError, match="twice")
    rejects(lm(0, [2**64 - 1, 1], [0, 0], ["k", "j"], [1, 2], []), SchemaError)
    rejects(lm(0, [w], [0], ["k"], [1]), SchemaError)


def test_lwwmap_v2_logicals() -> None:
    """Version 2 writes an all-zero logicals column as ``[]``: the k zeros are refused there, ``[]`` in version 1."""
    w = 10**18

    def lm2(*group: Any, version: int = 2) -> bytes:
        return msg(6, ["a"], list(group), version=version)

    m = decode(lm2(0, [w, 1], [], ["k", "j"], [1, None], [1]), limits=Limits(require_canonical=True))
    assert m.value == {"k": 1} and m.timestamp("j") == (w + 1, 0, "a")
    assert decode(lm2(0, [w, 1], [0, 3], ["k", "j"], [1, 2], [])).timestamp("j") == (w + 1, 3, "a")
    rejects(lm2(0, [w, 1], [0, 0], ["k", "j"], [1, 2], []), SchemaError, match="writes \\[\\]")
    rejects(lm2(0, [w, 1], [], ["k", "j"], [1, 2], [], version=1), SchemaError)
    rejects(lm2(0, [w, 1], [0], ["k", "j"], [1, 2], []), SchemaError)             # 1 logical, 2 entries
    rejects(lm2(0, [w, 1], [0, -1], ["k", "j"], [1, 2], []), SchemaError)
    rejects(lm2(0, [w, 1], [0, 2**64], ["k", "j"], [1, 2], []), SchemaError)
    rejects(lm2(0, [w, 1], [0, True], ["k", "j"], [1, 2], []), SchemaError)
    rejects(lm2(0, [w, 0], [], ["k", "j"], [1, 2], []), SchemaError, match="sorted")  # equal timestamps, key bytes
    assert decode(lm2(0, [w, 0], [], ["j", "k"], [1, 2], [])).value == {"j": 1, "k": 2}
    rejects(lm2(0, [w, 0], [1, 0], ["j", "k"], [1, 2], []), SchemaError, match="sorted")


# 16 internally inconsistent states
def test_impossible_causal_states() -> None:
    bad = [
        awset(["a"], [0, 1], [], [0, b"\x02", ["x"]], []),                     # dot not in the context
        awset(["a"], [0, 1], [0, b"\x02"], [], []),                             # cloud dot not compact
        awset(["a"], [], [0, b"\x01"], [], []),                                 # same, from empty vv
        awset(["a"], [0, 0], [], [], []),                                       # vv entry 0
        awset(["a"], [0, 2], [], [0, b"\x01", ["x"]], ["x", [0, b"\x02"]]),      # multi with one dot
        awset(["a"], [0, 3], [], [0, b"\x01", ["x"]], ["x", [0, b"\x02\x01"]]),  # element twice
        awset(["a"], [0, 3], [], [0, b"\x01", ["x"]], ["y", [0, b"\x01\x01"]]),  # dot twice
        awset(["a"], [0, 4], [], [], ["y", [0, b"\x03\x01"], "x", [0, b"\x01\x01"]]),  # multi unsorted
        awset(["a", "b"], [0, 1], [], [0, b"\x01", ["x"]], []),                 # unused replica
        awset(["b", "a"], [0, 1, 1, 1], [], [], []),                            # table unsorted
        awset(["a", "a"], [0, 1, 1, 1], [], [], []),                            # table not unique
        awset([""], [0, 1], [], [], []),                                       # empty replica id
        awset([1], [0, 1], [], [], []),                                        # replica id not text
        awset(["a", "b"], [1, 1, 0, 1], [], [], []),                            # vv not ascending
        awset(["a", "b"], [0, 2, 1, 1], [], [1, b"\x01", ["x"], 0, b"\x01", ["y"]], []),  # groups unsorted
        awset(["a"], [0, 2], [], [0, b"\x01", ["x"], 0, b"\x02", ["y"]], []),   # replica twice
        msg(13, ["a"], [0, 1], [], ["k", 12, []]),                             # empty nested store
        msg(13, ["a"], [0, 1], [], ["k", 1, [0, 1]]),                           # not a nestable code
        msg(13, ["a"], [0, 1], [], ["k", 12, [0, b"\x01", [3]], "k", 12, [0, b"\x01", [3]]]),
        msg(13, ["a"], [0, 2], [], ["k", 12, [0, b"\x02", [3]], "j", 12, [0, b"\x01", [3]]]),  # unsorted
        msg(13, ["a"], [0, 2], [], ["k", 12, [0, b"\x01", [3]], "k", 10, [0, b"\x01"]]),  # dot twice
        msg(13, ["a"], [0, 1], [], ["k", 12, [0, b"\x02", [3]]]),               # nested dot not in ctx
        msg(13, ["a"], [0, 1], [], [[1.0], 12, [0, b"\x01", [3]]]),            # key not canonical
    ]
    for data in bad:
        rejects(data, SchemaError)


def test_cloud_dots_are_accepted_in_stores() -> None:
    data = awset(["a", "b"], [0, 1], [0, b"\x05", 1, b"\x03"], [0, b"\x01\x04", ["x", "y"], 1, b"\x03", ["z"]], [])
    s = decode(data)
    assert s.value == {"x", "y", "z"} and s._ctx.cloud == {("a", 5), ("b", 3)}
    assert encode(s, version=1) == data
    data2 = awset2(["a", "b"], [0, 1], [0, b"\x05", 1, b"\x03"], [0, b"\x01\x04", ["x", "y"], 1, b"\x03", ["z"]])
    assert decode(data2) == s and encode(s) == data2


# version 2 AWSet stores: every replica's live dots beside their elements
def test_awset_v2_elements_held_by_several_dots() -> None:
    two_replicas = awset2(["a", "b"], [0, 2, 1, 1], [], [0, b"\x01\x01", ["x", "y"], 1, b"\x01", ["x"]])
    s = decode(two_replicas, limits=Limits(require_canonical=True))
    assert s.value == {"x", "y"} and s._store["x"] == {("a", 1), ("b", 1)}
    assert decode(encode(s, version=1)) == s
    one_replica = awset2(["a"], [0, 3], [], [0, b"\x01\x02", ["x", "x"]])  # an add and an undelivered re-add
    t = decode(one_replica, limits=Limits(require_canonical=True))
    assert t.value == {"x"} and t._store["x"] == {("a", 1), ("a", 3)}
    assert t._store.rev == {"a": {"x": (1, 3)}}
    assert decode(encode(t, version=1)) == t
    t._check()


def test_awset_v2_bad_stores() -> None:
    bad = [
        awset2(["a"], [0, 1], [], [0, b"\x02", ["x"]]),                       # dot not in the context
        awset2(["a"], [0, 2], [], [0, b"\x01\x01", ["x"]]),                   # 1 element, 2 dots
        awset2(["a"], [0, 2], [], [0, b"\x01", ["x", "y"]]),                   # 2 elements, 1 dot
        awset2(["a"], [0, 2], [], [0, b"\x01\x00", ["x", "y"]]),              # gap 0 (a counter twice)
        awset2(["a"], [0, 2], [], [0, b"", []]),                               # empty run
        awset2(["a"], [0, 2], [], [0, b"\x01", ["x"], 0, b"\x02", ["y"]]),     # replica twice
        awset2(["a", "b"], [0, 1, 1, 1], [], [1, b"\x01", ["x"], 0, b"\x01", ["y"]]),  # groups unsorted
        awset2(["a"], [0, 1], [], [0, b"\x01", [True]]),                      # bool element
        awset2(["a"], [0, 1], [], [0, b"\x01", [1.0]]),                       # integral float element
        awset2(["a"], [0, 1], [], [0, b"\x01"]),                              # stride
        awset2(["a"], [0, 1], [], [[0, b"\x01", ["x"]], []]),                  # the version 1 shape
        awset2(["a", "b"], [0, 1], [], [0, b"\x01", ["x"]]),                   # unused replica
        awset2(["a"], [0, 1], [], [5, b"\x01", ["x"]]),                        # replica index out of range
    ]
    for data in bad:
        rejects(data, SchemaError)
    # a version 2 store is not read as version 1, and the other way round
    rejects(msg(7, ["a"], [0, 1], [], [0, b"\x01", ["x"]]), SchemaError)
    rejects(msg(7, ["a"], [0, 1], [], [[0, b"\x01", ["x"]], []], version=2), SchemaError)


# a failed decode changes nothing
def test_a_failed_decode_changes_nothing() -> None:
    receiver = AWSet("r")
    receiver.add("kept")
    before = encode(receiver)
    for data in (GOOD[:-1], GOOD + b"\x00", awset(["a"], [0, 1], [], [0, b"\x02", ["x"]], [])):
        with pytest.raises(DecodeError):
            receiver.merge(decode(data))
    assert encode(receiver) == before
    receiver._check()


def test_bad_counts_in_long_version_vectors() -> None:
    table = [f"r{i}" for i in range(10)]
    good = [x for i in range(10) for x in (i, i + 1)]
    assert decode(msg(20, table, good)).to_dict() == {f"r{i}": i + 1 for i in range(10)}
    for i, bad in ((1, 0), (1, -3), (1, True), (1, 2.0), (0, 1), (2, 3), (18, 10), (18, -1), (0, False)):
        counts = list(good)
        counts[i] = bad
        rejects(msg(20, table, counts), SchemaError)
    rejects(msg(20, table, good[:-1]), SchemaError)


def test_runs_are_counted_before_they_are_expanded() -> None:
    big = b"\x01" * 2_000_000
    for run in (big, b"\x81\x01" * 1_100_000):
        t = time.perf_counter()
        rejects(awset(["a"], [0, 1], [0, run], [], []), PayloadTooLarge, limits=Limits(max_bytes=1 << 23))
        assert time.perf_counter() - t < 0.5


def test_ormap_nesting_is_bounded() -> None:
    from crdts import ORMap

    def nested(depth: int) -> ORMap:
        def fn(m: ORMap, level: int) -> ORMap:
            if level == 0:
                return m.update("leaf", ORMap, lambda x: x.update("f", __import__("crdts").EWFlag,
                                                                    lambda f: f.enable()))
            return m.update("k", ORMap, lambda x: fn(x, level - 1))
        root = ORMap("a")
        fn(root, depth)
        return root

    ok = nested(5)
    assert decode(encode(ok)) == ok
    deep = encode(nested(20))
    rejects(deep, PayloadTooLarge, match="ORMap nesting")
    assert decode(deep, limits=Limits(max_map_nesting=40)) == nested(20)
