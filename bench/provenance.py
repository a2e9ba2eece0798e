"""Provenance: what every manifest and every cached result records about where a number came from."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from functools import cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
#: Generated outputs, left out of the dirty check: a run that writes its report into the checkout
#: must not call its own code modified.
_OUTPUTS = "reports"
#: Packages whose versions every manifest and cached result records.
PACKAGES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "torch",
    "scikit-image",
    "bm3d",
    "PyWavelets",
    "pandas",
    "matplotlib",
)


#: The sources that can change a number (cache keys hash them): packages ``noise`` and ``methods`` and
#: the modules of ``bench`` that load data, run cells and measure.
CODE_FILES: tuple[str, ...] = (
    "noise",
    "methods",
    "bench/data.py",
    "bench/metrics.py",
    "bench/cells.py",
    "bench/realnoise.py",
    "bench/shared_data.py",
)
#: Libraries whose versions cache keys hash.
VERSIONED: tuple[str, ...] = ("numpy", "torch", "bm3d", "scikit-image")


@cache
def compute_code_digest() -> str:
    """SHA-256 over the sources that can change a number, plus key library versions."""
    h = hashlib.sha256()
    for entry in CODE_FILES:
        path = _ROOT / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            h.update(file.relative_to(_ROOT).as_posix().encode())
            h.update(file.read_bytes())
    for package in VERSIONED:
        h.update(f"{package}=={importlib.metadata.version(package)}".encode())
    return h.hexdigest()


def describe_versions() -> dict[str, str]:
    """Versions of python and of :data:`PACKAGES`."""
    return {"python": platform.python_version(), **{p: importlib.metadata.version(p) for p in PACKAGES}}


@cache
def describe_git() -> dict[str, str | bool | None]:
    """The git revision of this checkout and whether tracked files other than the generated reports
    (``reports/``) differ from it."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True, check=True
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){_OUTPUTS}"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return {"revision": None, "dirty": None}
    return {"revision": rev.stdout.strip(), "dirty": bool(status.stdout.strip())}


def describe_device(device: str) -> dict[str, str | int]:
    """The device a number was computed on: its name, torch's thread count, the CPU, the instruction set
    torch's CPU kernels use (their sums run in a different order on AVX2 and AVX512, so trained weights
    differ in the last bits from one to the other) and the host."""
    import torch

    info: dict[str, str | int] = {
        "name": device,
        "torch_threads": torch.get_num_threads(),
        "cpu": describe_cpu(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count() or 0,
        "host": socket.gethostname(),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


@cache
def describe_cpu() -> str:
    """The CPU model (Linux: ``model name`` of /proc/cpuinfo), else the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine() or "unknown"


def describe_provenance(*, prog: str, experiment: str) -> dict:
    """What every report's ``manifest.json`` starts with: the command, versions, git state, code digest."""
    git = describe_git()
    return {
        "command": " ".join([prog, *sys.argv[1:]]),
        "experiment": experiment,
        "versions": describe_versions(),
        "git_revision": git["revision"],
        "git_dirty": git["dirty"],
        "code_digest": compute_code_digest(),
    }


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
