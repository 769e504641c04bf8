"""A short, bounded coverage-guided pass of tests/fuzz/fuzz_decode.py (skipped without atheris)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).with_name("fuzz_decode.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")
def test_bounded_coverage_guided_pass(tmp_path: Path) -> None:
    runs = os.environ.get("CRDTS_FUZZ_RUNS", "3000")
    proc = subprocess.run(
        [sys.executable, str(TARGET), f"-runs={runs}", "-max_total_time=20", "-seed=1", "-max_len=512",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
