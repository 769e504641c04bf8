"""Coverage-guided fuzz target for ``crdts.decode`` (atheris / libFuzzer).

Run it (``pip install atheris``; seeds come from tests/vectors/*.hex)::

    python tests/fuzz/fuzz_decode.py -max_total_time=300            # five minutes
    python tests/fuzz/fuzz_decode.py -runs=20000 corpus_dir/         # bounded, keeping a corpus

The property, checked on every input by :func:`check_one` (also used by the hypothesis fuzz tests that
run in CI, tests/codec/test_fuzz.py): ``decode`` either raises ``DecodeError`` or returns a complete
object that passes its own ``_check()`` even when the decoder's ``_check()`` pass is skipped (so the
codec's checks alone are complete), decodes the same with and without that pass, and re-encodes to bytes
that decode to an equal object. Anything else is a crash. tests/fuzz/test_fuzz_target.py runs a short
bounded pass when atheris is installed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # pragma: no cover - the hypothesis tests cover CI
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports():
        import crdts
        from crdts import codec  # noqa: F401
else:
    import crdts

FAST = crdts.Limits(check_invariants=False)


def check_one(data: bytes) -> Any:
    """Decode ``data``; assert the decoder's contract. Returns the object, or None if it was refused."""
    try:
        obj = crdts.decode(data, limits=FAST)
    except crdts.DecodeError:
        try:
            crdts.decode(data)
        except crdts.DecodeError:
            return None
        raise AssertionError("decode refused without _check() but accepted with it") from None
    check = getattr(obj, "_check", None)
    if check is not None:
        check()  # the codec's own checks must already guarantee every invariant
    again = crdts.decode(data)
    assert type(again) is type(obj) and again == obj, "decode is not deterministic"
    raw = crdts.encode(obj)
    back = crdts.decode(raw, limits=crdts.Limits(require_canonical=True))
    assert type(back) is type(obj) and back == obj, "re-encoding does not round-trip"
    return obj


def seeds() -> list[bytes]:
    return [bytes.fromhex(p.read_text().strip()) for p in sorted((ROOT / "tests" / "vectors").glob("*.hex"))]


def _test_one_input(data: bytes) -> None:
    check_one(data)


def main(argv: list[str]) -> None:  # pragma: no cover - needs atheris
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (or run tests/codec/test_fuzz.py)")
    args = list(argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="crdts-fuzz-"))
        for i, s in enumerate(seeds()):
            (corpus / f"seed{i:02d}").write_bytes(s)
        args.append(str(corpus))
    atheris.Setup(args, _test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
