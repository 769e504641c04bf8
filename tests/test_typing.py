"""The types check in users' code: ``mypy --strict`` on a small program, with every inferred type revealed
and none of them Any. The program finds ``crdts`` as a user's would: through the installed distribution
when it is an editable install of this checkout (which is what CI makes; ``py.typed`` must then be found
through it), else through this checkout's directory."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

import crdts

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(crdts.__file__).resolve().parent.parent

PROGRAM = '''
from __future__ import annotations

from crdts import (AWSet, CCounter, ConflictMap, DeltaBuffer, EWFlag, LWWMap, LWWRegister, MVRegister, ORMap,
                   PNCounter, decode, encode)

tags: AWSet[str] = AWSet("a")
d = tags.add("x")
reveal_type(d)                                  # R: crdts.sets.AWSet[builtins.str]
reveal_type(tags.value)                         # R: builtins.frozenset[builtins.str]
for t in tags:
    reveal_type(t)                              # R: builtins.str
reveal_type(bool(tags))                         # R: builtins.bool

prices: LWWMap[str, int] = LWWMap("a")
reveal_type(prices.set("apple", 3))             # R: crdts.maps.LWWMap[builtins.str, builtins.int]
reveal_type(prices.get("apple"))                # R: builtins.int | None
reveal_type(prices.get("apple", 0))             # R: builtins.int
reveal_type(prices["apple"])                    # R: builtins.int
reveal_type(prices.value)                       # R: builtins.dict[builtins.str, builtins.int]
reveal_type(dict(prices.items()))               # R: builtins.dict[builtins.str, builtins.int]
reveal_type(list(prices.keys()))                # R: builtins.list[builtins.str]

profile: ORMap[str] = ORMap("a")
reveal_type(profile.update("dark-mode", EWFlag, lambda f: f.enable()))   # R: crdts.maps.ORMap[builtins.str]
reveal_type(profile.update("cart", PNCounter, lambda c: c.increment(2))) # R: crdts.maps.ORMap[builtins.str]
reveal_type(profile.value_of("dark-mode", EWFlag))                       # R: crdts.flags.EWFlag
reveal_type(profile.value_of("cart", PNCounter))                         # R: crdts.counters.CCounter
reveal_type(profile.value_of("tags", AWSet[str]).value)                  # R: builtins.frozenset[builtins.str]
reveal_type(profile.value)                      # R: builtins.dict[builtins.str, builtins.object]
reveal_type(list(profile))                      # R: builtins.list[builtins.str]
reveal_type(profile["dark-mode"].value)         # R: builtins.object
reveal_type(profile.get("dark-mode"))           # R: crdts._base.Causal | None
reveal_type(dict(profile.items()))              # R: builtins.dict[builtins.str, crdts._base.Causal]

reg: MVRegister[int] = MVRegister("a")
reveal_type(reg.assign(1).values)               # R: builtins.tuple[builtins.int, ...]
last: LWWRegister[str] = LWWRegister("a")
reveal_type(last.value)                         # R: builtins.str | None
cities: ConflictMap[str, str] = ConflictMap("a", policy="highest")
reveal_type(cities.get("k", "none"))            # R: builtins.str
reveal_type(cities.bind("b", policy="lww").value)   # R: builtins.dict[builtins.str, builtins.str]

buf: DeltaBuffer[AWSet[str]] = DeltaBuffer()
reveal_type(buf.add(tags.add("y")))             # R: crdts.sets.AWSet[builtins.str]
reveal_type(buf.take())                         # R: crdts.sets.AWSet[builtins.str] | None
with tags.batch() as b:
    tags.remove("x")
reveal_type(b.delta)                            # R: crdts.sets.AWSet[builtins.str] | None

back = decode(encode(tags), AWSet[str])         # told the class, decode checks it and types the result
reveal_type(back)                               # R: crdts.sets.AWSet[builtins.str]
reveal_type(back.bind("b"))                     # R: crdts.sets.AWSet[builtins.str]
totals = decode(encode(prices), LWWMap[str, int], replica="b")
reveal_type(totals)                             # R: crdts.maps.LWWMap[builtins.str, builtins.int]
reveal_type(CCounter("a").increment(1))         # R: crdts.counters.CCounter
'''


def _installed_from_this_checkout() -> bool:
    """Whether an editable install of this checkout is on the path (a build leaves a ``crdts.egg-info`` in the
    checkout too, without ``direct_url.json``: every distribution named crdts is looked at)."""
    for dist in metadata.distributions(name="crdts"):
        raw = dist.read_text("direct_url.json")
        if not raw:
            continue
        info = json.loads(raw)
        url = info.get("url", "")
        if info.get("dir_info", {}).get("editable") and url.startswith("file://") and \
                Path(url[len("file://"):]).resolve() == ROOT:
            return True
    return False


def test_a_user_program_type_checks_strictly_with_no_any(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prog = tmp_path / "user_program.py"
    prog.write_text(PROGRAM)
    monkeypatch.chdir(tmp_path)  # mypy searches the current directory: not the checkout
    args = [str(prog), "--strict", "--cache-dir", str(tmp_path / ".mypy_cache"), "--no-error-summary",
            "--hide-error-context", "--show-error-codes"]
    if _installed_from_this_checkout():
        monkeypatch.delenv("MYPYPATH", raising=False)       # found as a user finds it: the editable install
    else:
        monkeypatch.setenv("MYPYPATH", str(ROOT))           # another install (or none): check this checkout
        args += ["--follow-imports", "silent"]
    out, err, status = mypy_api.run(args)
    lines = out.splitlines()
    errors = [line for line in lines if ": error:" in line]
    assert not errors and status == 0, out + err
    revealed = {int(m.group(1)): m.group(2).replace("builtins.", "") for m in
                (re.match(r".*user_program\.py:(\d+): note: Revealed type is \"(.*)\"", line) for line in lines) if m}
    expected = {i: line.split("# R: ")[1].strip().replace("builtins.", "")
                for i, line in enumerate(PROGRAM.splitlines(), 1) if "# R: " in line}
    assert revealed == expected
    assert not [t for t in revealed.values() if "Any" in t]
