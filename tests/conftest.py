"""Shared fixtures: where the BSD data lives, a tiny folder dataset, the command line in a subprocess, and
Python's own Ctrl-C handler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from skimage import io

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, pin each worker process to its own share of the cores.

    A run's default is one process per usable core (``--jobs``), so a test's run then stays in its
    worker's share (on 2 cores: in process, the local executor) instead of starting worker processes
    that compete with the other test worker; a test about executors asks for ``--jobs`` itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    count, index = int(os.environ["PYTEST_XDIST_WORKER_COUNT"]), int(worker.removeprefix("gw"))
    os.sched_setaffinity(0, cores[index::count] or [cores[index % len(cores)]])


def find_shared_data() -> Path | None:
    """$GAN2GAN_DATA, else ../shared/data beside the checkout (as in CI)."""
    for candidate in (os.environ.get("GAN2GAN_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "BSD68").is_dir():
            return Path(candidate)
    return None


def find_report(out: Path, experiment: str) -> Path:
    """The one report folder a run wrote under ``out/experiment`` (its name is keyed by what it holds)."""
    folders = [p for p in (out / experiment).iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler during the test, whatever pytest inherited: a non-interactive shell
    starts background jobs (``pytest ... &``) with SIGINT ignored, and a simulated Ctrl-C does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def shared_data() -> Path:
    root = find_shared_data()
    if root is None:
        pytest.skip("BSD data not found: set GAN2GAN_DATA or put shared/data beside the checkout")
    return root


@pytest.fixture(scope="session")
def run_bench() -> Callable[..., str]:
    """Run ``python -m bench.run ARGS`` as a user does, in a subprocess whose stderr also gets the log
    lines of its worker processes (the default executor's); return that stderr, failing on status != 0."""

    def run(*args: str) -> str:
        command = [sys.executable, "-m", "bench.run", *args]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr

    return run


def write_image_folder(folder: Path, names: tuple[str, ...] = ("img0", "img1", "img2")) -> Path:
    """8-bit gray PNGs of 128x128 (the smoke profile's test crop) with some structure, one per name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128]
    for i, name in enumerate(names):
        image = 0.5 + 0.3 * np.sin(xx / (3 + i)) * np.cos(yy / 5) + 0.05 * rng.standard_normal((128, 128))
        io.imsave(folder / f"{name}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8), check_contrast=False)
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three 8-bit gray PNGs of 128x128 (:func:`write_image_folder`)."""
    return write_image_folder(tmp_path / "images")
