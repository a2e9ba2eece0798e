"""Provenance: what every model file, cached result and manifest records about where a number came from
(versions, git state, device, time)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import socket
import subprocess
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
    if device.startswith("cuda") and torch.cuda.is_available():  # a Slurm login node plans CUDA cells
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


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
