"""The one registry of type specs lives in the library (:mod:`crdts.testing.builtin`), so users' tests can
reuse the built-in specs; this module names it for the project's tests."""

from __future__ import annotations

from crdts.testing.builtin import *  # noqa: F403
from crdts.testing.builtin import REGISTRY, SPECS, spec_for

__all__ = ["REGISTRY", "SPECS", "spec_for"]
