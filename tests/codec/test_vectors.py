"""Golden vectors: the committed bytes of fixed inputs. A failure here means the wire format changed:
that needs a new FORMAT_VERSION (docs/wire-format.md §8), then ``python tests/vectors/build.py --write``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from crdts import Limits, decode, encode
from crdts.codec import TYPE_CODES, USER_CODES

_spec = importlib.util.spec_from_file_location(
    "crdts_vectors_build", Path(__file__).resolve().parents[1] / "vectors" / "build.py")
assert _spec is not None and _spec.loader is not None
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.mark.parametrize("version", sorted(build.VERSIONS))
@pytest.mark.parametrize("name", sorted(build.VECTORS))
def test_vector_bytes_are_unchanged(name: str, version: int) -> None:
    obj = build.VECTORS[name]()
    committed = bytes.fromhex(build.path(name, version).read_text().strip())
    assert committed[3] == version  # the version byte (after the array header and the magic 18 cd)
    assert encode(obj, version=version).hex() == committed.hex(), f"wire bytes of {name} (version {version}) changed"
    back = decode(committed, limits=Limits(require_canonical=True))
    assert type(back) is type(obj) and back == obj


def test_the_default_version_is_the_newest() -> None:
    from crdts.codec import FORMAT_VERSION, SUPPORTED_VERSIONS

    assert FORMAT_VERSION == max(SUPPORTED_VERSIONS) == max(build.VERSIONS)
    assert set(build.VERSIONS) == set(SUPPORTED_VERSIONS)
    for name, make in build.VECTORS.items():
        assert encode(make()) == encode(make(), version=FORMAT_VERSION), name


def test_every_type_code_has_a_vector() -> None:
    """Every type of crdts' own (codes below USER_CODES; tests may register user types above) has one."""
    covered = {type(f()) for f in build.VECTORS.values()}
    assert covered == {cls for cls, code in TYPE_CODES.items() if code < USER_CODES.start}


def test_no_stray_vector_files() -> None:
    for folder in build.VERSIONS.values():
        assert {p.stem for p in folder.glob("*.hex")} == set(build.VECTORS)
