#!/usr/bin/env python3
"""The wire format beside plain cbor2: the runner :mod:`crdts.bench.codec`, on the ``crdts`` of this
checkout, writing ``benchmarks/results/codec.json`` by default.

Run from the repository root::

    python benchmarks/bench_codec.py              # N = 20,000, best of 7 (about 10 s)
    python benchmarks/bench_codec.py --quick      # best of 3
    python benchmarks/bench_codec.py --n 50000 --repeats 11 --json /tmp/codec.json

Scenarios and method: the docstring of ``crdts/bench/codec.py`` and ``benchmarks/README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever is installed

from crdts.bench.codec import *  # noqa: E402, F403
from crdts.bench.codec import main as _main  # noqa: E402

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "codec.json"


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python benchmarks/bench_codec.py", default_json=DEFAULT_JSON)


if __name__ == "__main__":
    sys.exit(main())
