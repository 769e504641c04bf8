"""Truthiness by value, over every spec of the registry: ``bool(x) is bool(x.value)`` after every operation,
for each type (ORMaps of every nesting included), on a replica and on the delta each operation returns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdts.testing import TypeSpec

from .registry import SPECS


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_bool_is_bool_of_the_value_after_every_operation(spec: TypeSpec) -> None:
    @given(st.lists(spec.ops(["a"]), max_size=12))
    def run(ops: list) -> None:
        x = spec.make("a")
        assert bool(x) is bool(x.value) is False
        for op in ops:
            d = spec.apply(x, op)
            assert bool(x) is bool(x.value), (op, x)
            if d is not None:
                assert bool(d) is bool(d.value), (op, d)

    run()
