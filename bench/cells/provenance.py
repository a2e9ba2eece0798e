"""Provenance of reports and cache keys: the digest of the code that can change a number, and what every
report's manifest starts with. Versions, git state and devices: :mod:`methods.provenance`."""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from functools import cache
from pathlib import Path

from methods.provenance import describe_git, describe_versions

_ROOT = Path(__file__).resolve().parents[2]
#: The sources that can change a number (cache keys hash them): packages ``noise`` and ``methods`` and
#: the modules of ``bench`` that load data, run cells and measure.
CODE_FILES: tuple[str, ...] = (
    "noise",
    "methods",
    "bench/datasets",
    "bench/cells/crops.py",
    "bench/cells/metrics.py",
    "bench/cells/specs.py",
    "bench/cells/runner.py",
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
