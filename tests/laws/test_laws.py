"""The laws of crdts.testing, parametrized over the registry: one test per (type, law).

The settings come from the hypothesis profile (tests/conftest.py); model agreement, the law that
catches the subtle bugs, runs twice as many examples.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from crdts.testing import LAWS, TypeSpec

from .registry import SPECS

#: Laws that get more examples than the profile's, and how many times more.
WEIGHT = {"model": 2}


@pytest.mark.parametrize("law", list(LAWS))
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_law(spec: TypeSpec, law: str) -> None:
    weight = WEIGHT.get(law, 1)
    LAWS[law](spec, settings=settings(max_examples=settings().max_examples * weight) if weight > 1 else None)
