"""What every benchmark records beside its numbers: the machine, and which ``crdts`` it measured."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import crdts

__all__ = ["checkout", "dist_version", "machine", "source_info"]


def dist_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (None when it is not installed)."""
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def machine() -> dict[str, Any]:
    """Platform, Python, cbor2, CPU count and model, load average at start."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "cbor2": dist_version("cbor2"),
    }
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(AttributeError, OSError):
        info["loadavg_at_start"] = os.getloadavg()
    return info


def checkout() -> Path | None:
    """The source checkout the imported ``crdts`` comes from, or None for an installed package."""
    root = Path(crdts.__file__).resolve().parent.parent
    return root if (root / ".git").exists() and (root / "pyproject.toml").is_file() else None


def source_info() -> dict[str, Any]:
    """The ``crdts`` measured: version, path, and (in a git checkout) its commit and whether ``crdts/`` has
    uncommitted changes."""
    info: dict[str, Any] = {"crdts_version": getattr(crdts, "__version__", None), "crdts_path": crdts.__file__}
    root = checkout()
    if root is None:
        return info
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "crdts"], capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            info["git_commit"] = head.stdout.strip()
            info["crdts_dirty"] = bool(dirty.stdout.strip())
    return info
