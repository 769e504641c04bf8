#!/usr/bin/env python3
"""Micro-benchmarks of the crdts types beside plain Python: the runner :mod:`crdts.bench.types`, on the
``crdts`` of this checkout, writing ``benchmarks/results/types.json`` by default.

Run from the repository root::

    python benchmarks/bench_types.py                  # full run, N = 20,000 (about 6 s on 2 cores)
    python benchmarks/bench_types.py --quick          # fewer repeats, a smoke run
    python benchmarks/bench_types.py --n 50000 --json /tmp/types.json

What is timed and how: the docstring of ``crdts/bench/types.py`` and ``benchmarks/README.md``. Its helpers
(``Bench``, ``elements``, ``row``, ``machine``, ...) are importable from here, as ``bench_pycrdt.py`` and
``icde19.py`` do.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever is installed

from crdts.bench.types import *  # noqa: E402, F403
from crdts.bench.types import main as _main  # noqa: E402

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "types.json"


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python benchmarks/bench_types.py", default_json=DEFAULT_JSON)


if __name__ == "__main__":
    sys.exit(main())
