"""Micro-benchmarks shipped with the package, so ``crdts bench`` runs them from an installed ``crdts``.

Each runner (:mod:`crdts.bench.types`, :mod:`crdts.bench.codec`) times the toolkit beside plain Python
doing the same logical work in the same run, prints a table and the targets it checks, and writes JSON
with ``--json PATH``; ``main(argv)`` returns 0. ``python -m crdts.bench.types --quick`` runs one alone;
``benchmarks/bench_types.py`` and ``benchmarks/bench_codec.py`` in a source checkout run the same code
and write to ``benchmarks/results/`` by default.
"""
