"""Meta-test: every CRDT type crdts exports has a spec in the law registry."""

from __future__ import annotations

import crdts

from .registry import SPECS

#: Classes with ``merge`` that are not replicated types, and why they are not in the registry.
EXEMPT = {
    "VersionVector": "causality metadata: a join-semilattice used inside the types, not a replicated type",
    "CausalContext": "causality metadata used inside the causal types",
    "CRDT": "the base class of the state-based types (for your own types), not a type itself",
}


def crdt_classes() -> dict[str, type]:
    out = {}
    for name in crdts.__all__:
        obj = getattr(crdts, name)
        if isinstance(obj, type) and callable(getattr(obj, "merge", None)) and name not in EXEMPT:
            out[name] = obj
    return out


def test_every_exported_type_is_registered() -> None:
    registered = {spec.cls for spec in SPECS}
    missing = sorted(name for name, cls in crdt_classes().items() if cls not in registered)
    assert not missing, f"exported CRDT types without a spec in crdts/testing/builtin.py (SPECS): {missing}"


def test_the_registry_only_holds_exported_types() -> None:
    exported = set(crdt_classes().values())
    strays = sorted(spec.name for spec in SPECS if spec.cls not in exported)
    assert not strays, f"specs for classes crdts does not export: {strays}"


def test_ormap_nests_every_nestable_type() -> None:
    """The ORMap specs nest AWSet, RWSet, MVRegister, EWFlag, DWFlag, the counter and ORMap itself."""
    from crdts.testing.builtin import ORMAP_AWSET, ORMAP_COUNTER, ORMAP_EWFLAG, ORMAP_MIXED, ORMAP_MVREGISTER

    assert {ORMAP_AWSET, ORMAP_COUNTER, ORMAP_EWFLAG, ORMAP_MIXED, ORMAP_MVREGISTER} <= set(SPECS)
