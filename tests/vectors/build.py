"""Golden wire vectors: fixed inputs, one per type (plus a few deltas), and their committed bytes.

Every input has two files: ``<name>.hex`` in the format version the library writes by default (2), and
``v1/<name>.hex`` in version 1 (``encode(obj, version=1)``), which the library still reads and writes.
``python tests/vectors/build.py`` checks the committed files against the current encoder;
``python tests/vectors/build.py --write`` regenerates them (do that only together with a new
FORMAT_VERSION, or for a new type: a changed vector is a changed wire format).
tests/codec/test_vectors.py fails whenever the bytes change.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(HERE.parents[1]))

from crdts import (  # noqa: E402
    HLC,
    AWSet,
    CausalContext,
    CCounter,
    DWFlag,
    EWFlag,
    GCounter,
    GSet,
    LWWMap,
    LWWRegister,
    MVRegister,
    ORMap,
    PNCounter,
    RWSet,
    Timestamp,
    TwoPSet,
    VersionVector,
    encode,
)


def _clock(replica: str, start: int) -> HLC:
    ticks = itertools.count(start, 1000)
    return HLC(replica, time_source=lambda: next(ticks))


def gcounter() -> Any:
    a, b = GCounter("eu-west"), GCounter("us-east")
    a.increment(3)
    b.increment(300)
    a.merge(b)
    return a


def pncounter() -> Any:
    a, b = PNCounter("eu-west"), PNCounter("us-east")
    a.increment(10)
    b.decrement(4)
    a.merge(b)
    return a


def gset() -> Any:
    s = GSet("eu-west")
    for e in ("pear", "apple", 7, -1, 2.5, None, b"\x00", ("t", 1), "ä", 2**70):
        s.add(e)
    return s


def twopset() -> Any:
    s = TwoPSet("eu-west")
    s.add("apple")
    s.add("pear")
    s.remove("pear")
    return s


def lwwregister() -> Any:
    r = LWWRegister("eu-west", clock=_clock("eu-west", 1_700_000_000_000_000_000))
    r.assign({"name": "Ada", "tags": ["x", ("y", 2)], "score": 1.5, "ok": True, "raw": b"\x01"})
    return r


def lwwmap() -> Any:
    a = LWWMap("eu-west", clock=_clock("eu-west", 1_700_000_000_000_000_000))
    b = LWWMap("us-east", clock=_clock("us-east", 1_700_000_000_000_000_500))
    a.set("color", "red")
    a.set("size", 3)
    b.set("color", "blue")
    b.set("shape", None)
    b.remove("size")
    a.set("weight", 2.5)
    a.merge(b)
    return a


def awset() -> Any:
    a, b = AWSet("eu-west"), AWSet("us-east")
    for e in ("apple", "pear", "fig", "plum"):
        a.add(e)
    a.remove("pear")
    b.merge(a)
    b.add("kiwi")
    b.add("fig")          # fig now has a second, concurrent dot
    a.add("fig")
    a.merge(b)
    return a


def awset_delta() -> Any:
    return AWSet("eu-west").add("apple")


def rwset() -> Any:
    a, b = RWSet("eu-west"), RWSet("us-east")
    a.add("apple")
    a.add("pear")
    b.merge(a)
    b.remove("pear")
    a.add("pear")
    a.merge(b)
    return a


def mvregister() -> Any:
    a, b = MVRegister("eu-west"), MVRegister("us-east")
    a.assign("red")
    b.assign(("rgb", 0, 0, 255))
    a.merge(b)
    return a


def ewflag() -> Any:
    a, b = EWFlag("eu-west"), EWFlag("us-east")
    a.enable()
    b.merge(a)
    b.disable()
    a.enable()
    a.merge(b)
    return a


def dwflag() -> Any:
    a, b = DWFlag("eu-west"), DWFlag("us-east")
    a.enable()
    b.disable()
    a.merge(b)
    return a


def ccounter() -> Any:
    a, b = CCounter("eu-west"), CCounter("us-east")
    a.increment(5)
    b.decrement(2)
    a.merge(b)
    return a


def ormap() -> Any:
    a, b = ORMap("eu-west"), ORMap("us-east")
    a.update("apples", PNCounter, lambda c: c.increment(3))
    a.update("tags", AWSet, lambda s: s.add("fresh"))
    b.merge(a)
    b.update("apples", PNCounter, lambda c: c.increment(2))
    a.remove("tags")
    a.update("note", MVRegister, lambda r: r.assign("ripe"))
    a.update(("bin", 2), ORMap, lambda m: m.update("on", EWFlag, lambda f: f.enable()))
    a.merge(b)
    return a


def ormap_delta() -> Any:
    return ORMap("eu-west").update("apples", PNCounter, lambda c: c.increment(3))


def versionvector() -> Any:
    return VersionVector({"eu-west": 3, "us-east": 70000})


def causalcontext() -> Any:
    return CausalContext({"eu-west": 3}, [("eu-west", 5), ("eu-west", 200), ("us-east", 2)])


def timestamp() -> Any:
    return Timestamp(1_700_000_000_000_000_000, 2, "eu-west")


VECTORS: dict[str, Callable[[], Any]] = {
    f.__name__: f
    for f in (gcounter, pncounter, gset, twopset, lwwregister, lwwmap, awset, awset_delta, rwset,
              mvregister, ewflag, dwflag, ccounter, ormap, ormap_delta, versionvector, causalcontext,
              timestamp)
}


# -- operation-based messages (crdts.ops; docs/wire-format.md section 10) ------------------------


def op_add() -> Any:
    """An add-wins set's add from eu-west, after 2 of us-east's operations."""
    from crdts.ops import OpAWSet

    a, b = OpAWSet("eu-west", ["eu-west", "us-east"]), OpAWSet("us-east", ["eu-west", "us-east"])
    for m in (b.add("fig"), b.remove("fig")):
        a.apply(m)
    return a.add("apple")


def op_assign() -> Any:
    """A last-writer-wins write (value and hybrid-logical-clock timestamp)."""
    from crdts.ops import OpLWWRegister

    r = OpLWWRegister("eu-west", ["eu-west"], clock=_clock("eu-west", 1_700_000_000_000_000_000))
    return r.assign({"name": "Ada", "tags": ("x", 2)})


def op_update() -> Any:
    """A nested update: the causal counter at key ("bin", 2) inside key "cart" of an OR-map."""
    from crdts.ops import OpORMap, OpPNCounter

    m = OpORMap("eu-west", ["eu-west"])
    m.remove("old")
    return m.update("cart", OpORMap, lambda c: c.update(("bin", 2), OpPNCounter, lambda n: n.decrement(3)))


def op_ack() -> Any:
    """An acknowledgement of what us-east has delivered."""
    from crdts.ops import Ack

    return Ack("us-east", (("eu-west", 12), ("us-east", 7)))


VECTORS.update({f.__name__: f for f in (op_add, op_assign, op_update, op_ack)})


# -- conflict types (crdts.conflicts; docs/wire-format.md, conflict types) ----------------------


def conflictregister() -> Any:
    """Two concurrent writes with actors: both siblings kept."""
    from crdts import ConflictRegister

    a = ConflictRegister("eu-west", clock=_clock("eu-west", 1_700_000_000_000_000_000))
    b = ConflictRegister("us-east", clock=_clock("us-east", 1_700_000_000_000_500_000))
    d = b.assign(["Boston", ("MA", 2)], actor="agent-7")
    a.assign("Dublin", actor="ada")
    a.merge(d)
    return a


def conflictmap() -> Any:
    """A profile with one conflicted field and one resolved field."""
    from crdts import ConflictMap

    a = ConflictMap("eu-west", clock=_clock("eu-west", 1_700_000_000_000_000_000))
    b = ConflictMap("us-east", clock=_clock("us-east", 1_700_000_000_000_500_000))
    a.merge(b.set("city", "Boston", actor="agent-7"))
    b.set("lang", "en")
    a.set("lang", "ga", actor="ada")
    a.merge(b)
    a.set("city", "Dublin")
    return a


VECTORS.update({f.__name__: f for f in (conflictregister, conflictmap)})


def retirements() -> Any:
    """Retirement records: eu-old performed into eu-west's archive, ap-gone proposed and voted on."""
    from crdts.retention import Block, Performed, Record, Retirements, Vote

    reg = Retirements("eu-west")
    reg.records["eu-old"] = Record("eu-old", performed=Performed(
        "eu-west", (Block("eu-old", (0,), (7,)), Block("eu-old~*", (7,), (0,))), 1700000000.5))
    reg.records["ap-gone"] = Record("ap-gone", proposals={"eu-west": frozenset({"eu-west", "us-east"})},
                                    votes={"us-east": Vote(2, "eu-west", (("ap-gone", (3,)), ("ap-gone~*", (0,))))})
    reg.archives["eu-west~*"] = (7,)
    return reg


VECTORS.update({f.__name__: f for f in (retirements,)})


#: The format versions with committed vectors: version -> folder of its ``*.hex`` files.
VERSIONS = {2: HERE, 1: HERE / "v1"}


def path(name: str, version: int = 2) -> Path:
    return VERSIONS[version] / f"{name}.hex"


def main(argv: list[str]) -> int:
    write = "--write" in argv
    changed = 0
    for version in VERSIONS:
        for name, build in VECTORS.items():
            hexed = encode(build(), version=version).hex()
            p = path(name, version)
            old = p.read_text().strip() if p.exists() else None
            if old != hexed:
                changed += 1
                print(f"{'wrote' if write else 'DIFFERS'}: {p.relative_to(HERE)}")
                if write:
                    p.write_text(hexed + "\n")
    if not changed:
        print(f"all {len(VECTORS)} vectors match, in versions {sorted(VERSIONS)}")
    return 1 if changed and not write else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
