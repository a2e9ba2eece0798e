"""A run killed part-way resumes where it stopped and gives the same numbers as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage import io

from tests.conftest import find_report

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def six_images(tmp_path: Path) -> Path:
    folder = tmp_path / "six"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        image = rng.uniform(0.2, 0.8) + 0.1 * rng.standard_normal((128, 128))
        io.imsave(folder / f"im{i}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8), check_contrast=False)
    return folder


def bm3d_command(test_folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.run",
        "table2",
        "--profile",
        "smoke",
        "--methods",
        "bm3d",
        "--noise",
        "gaussian:25",
        "--test-data",
        f"folder:{test_folder}",
        "--out",
        str(out),
        # in this process: SIGKILL stops the work at once (a worker process would finish its cell)
        "--executor",
        "local",
        *extra,
    ]


def start_run(command: list[str]) -> subprocess.Popen:
    """Start ``command`` with its standard error piped.

    The child gets the default SIGINT disposition: a run launched in the background (``nohup``, ``&``)
    inherits SIGINT ignored, and Python would then never raise KeyboardInterrupt.
    """
    return subprocess.Popen(
        command,
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def start_and_wait(
    command: list[str], until: Callable[[], bool], *, what: str, timeout: float
) -> subprocess.Popen:
    """Start ``command`` (:func:`start_run`) and return its process once ``until()`` holds (it must
    still be running)."""
    process = start_run(command)
    deadline = time.monotonic() + timeout
    while not until():
        assert process.poll() is None, "the run finished before it could be stopped: " + process.stderr.read()
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{what} did not appear within {timeout:.0f} s")
        time.sleep(0.02)
    return process


def partial_lines(evals: Path) -> int:
    """Lines of the first partial evaluation under ``evals`` (0 if none yet)."""
    partials = list(evals.glob("*.partial.jsonl")) if evals.exists() else []
    return partials[0].read_text().count("\n") if partials else 0


def test_killed_evaluation_resumes(tmp_path: Path, six_images: Path):
    killed = tmp_path / "killed"
    partial_dir = killed / ".cache" / "evals"
    process = start_and_wait(
        bm3d_command(six_images, killed),
        lambda: partial_lines(partial_dir) >= 2,
        what="a partial evaluation",
        timeout=120,
    )
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not list(partial_dir.glob("*.json")), "the killed run must not have finished its cell"

    resumed = subprocess.run(bm3d_command(six_images, killed), cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after" in resumed.stderr

    fresh = subprocess.run(
        bm3d_command(six_images, tmp_path / "fresh"), cwd=REPO, capture_output=True, text=True
    )
    assert fresh.returncode == 0, fresh.stderr
    a = pd.read_csv(find_report(killed, "table2") / "table2.csv")
    b = pd.read_csv(find_report(tmp_path / "fresh", "table2") / "table2.csv")
    assert a["n_images"].tolist() == [4]
    np.testing.assert_array_equal(a[["psnr", "ssim"]].to_numpy(), b[["psnr", "ssim"]].to_numpy())


def test_killed_table_runs_only_unfinished_cells(tmp_path: Path, six_images: Path):
    """SIGKILL after the first of two cells: the rerun runs the other one and matches a fresh run."""
    killed = tmp_path / "killed"
    command = bm3d_command(six_images, killed, "--seeds", "2")
    evals = killed / ".cache" / "evals"
    process = start_and_wait(
        command,
        lambda: evals.exists() and bool(list(evals.glob("*.json"))),
        what="a finished cell",
        timeout=180,
    )
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list(evals.glob("*.json")))
    assert finished < 2, "the killed run must not have finished every cell"

    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"2 evaluation cells: {finished} cached, {2 - finished} to run" in resumed.stderr
    assert resumed.stderr.count("[done] eval") == 2 - finished

    fresh = subprocess.run(
        bm3d_command(six_images, tmp_path / "fresh", "--seeds", "2"), cwd=REPO, capture_output=True, text=True
    )
    assert fresh.returncode == 0, fresh.stderr
    a = pd.read_csv(find_report(killed, "table2") / "table2.csv")
    b = pd.read_csv(find_report(tmp_path / "fresh", "table2") / "table2.csv")
    assert a["seed"].tolist() == [0, 1]
    pd.testing.assert_frame_equal(a[["seed", "psnr", "ssim"]], b[["seed", "psnr", "ssim"]])


def interrupt_after_first_image(command: list[str], out: Path) -> tuple[int, str]:
    """Run ``command`` (writing to ``out``), press Ctrl-C once its first test image is recorded, and
    return its exit status and standard error."""
    partial_dir = out / ".cache" / "evals"
    process = start_and_wait(
        command, lambda: partial_lines(partial_dir) >= 1, what="a partial evaluation", timeout=120
    )
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def test_ctrl_c_keeps_the_cache_and_says_how_to_resume(tmp_path: Path, six_images: Path):
    out = tmp_path / "interrupted"
    command = bm3d_command(six_images, out, "--seeds", "2")
    returncode, err = interrupt_after_first_image(command, out)
    assert returncode == 130, err
    assert "interrupted:" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    assert not [p for p in (out / ".cache").rglob("*") if p.name.endswith(".tmp")]
    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after" in resumed.stderr


def test_ctrl_c_as_the_next_images_go_to_the_pool_prints_no_traceback(tmp_path: Path, six_images: Path):
    """Ctrl-C right after an image is recorded, with loky's manager thread slowed so that calls handed to
    the BM3D pool at that moment wait 0.3 s to be queued: joblib kills the pool, and nothing may fail
    on a call handed over but not queued (the manager thread did, with ``KeyError``, when each chunk of
    images was its own joblib call)."""
    out = tmp_path / "interrupted"
    command = bm3d_command(six_images, out, "--seeds", "2")
    command[1:3] = [str(Path(__file__).with_name("slow_pool_manager.py"))]
    returncode, err = interrupt_after_first_image(command, out)
    assert returncode == 130, err
    assert "Traceback" not in err


def list_children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize(
    "executor",
    [
        pytest.param(["--executor", "joblib", "--jobs", "2"], id="table-workers"),
        pytest.param(["--executor", "local", "--jobs", "2"], id="bm3d-image-pool"),
    ],
)
def test_killed_run_leaves_no_worker_behind(tmp_path: Path, six_images: Path, executor: list[str]):
    """SIGKILL the command while its workers denoise: they end within seconds instead of running on
    with their memory until loky's idle timeout (a day for the table workers)."""
    out = tmp_path / "killed"
    partial_dir = out / ".cache" / "evals"
    process = start_and_wait(
        bm3d_command(six_images, out, "--seeds", "2", *executor),
        lambda: partial_lines(partial_dir) >= 1,
        what="a worker's first image",
        timeout=120,
    )
    children = list_children(process.pid)
    assert children, "no worker process to watch"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in children if is_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"worker processes {alive} outlived the killed command"


def test_ctrl_c_as_a_wave_goes_to_the_table_workers_prints_no_traceback(tmp_path: Path, six_images: Path):
    """Ctrl-C just after the evaluation wave is handed to the table's worker pool, with loky's manager
    thread slowed so that the wave's calls are still waiting to be queued: loky's manager thread used to
    fail with ``KeyError`` on them as the pool was stopped."""
    out = tmp_path / "interrupted"
    command = bm3d_command(six_images, out, "--seeds", "2", "--executor", "joblib", "--jobs", "2")
    command[1:3] = [str(Path(__file__).with_name("slow_pool_manager.py"))]
    process = start_run(command)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if sum(seen.startswith("[queued] eval") for seen in lines) == 2:  # the whole wave
            time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            break
    err = "".join(lines) + process.stderr.read()
    assert process.wait(timeout=120) == 130, err
    assert "interrupted:" in err
    assert "Traceback" not in err
