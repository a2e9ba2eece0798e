"""Bad input: one clear line naming the problem, exit status 2, and earlier cached results kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from skimage import io

import bench.experiments.driver as driver
from bench.run import main
from tests.conftest import find_report

SMOKE_BM3D = ["table2", "--profile", "smoke", "--methods", "bm3d", "--noise", "gaussian:25", "--quiet"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["table9"], "unknown command 'table9'"),
        (["table2", "--profile", "smoke", "--methods", "bm3d,n2x"], "unknown method 'n2x'"),
        (["table2", "--profile", "smoke", "--noise", "gausian:25"], "unknown noise spec 'gausian:25'"),
        (["table2", "--profile", "gpu"], "unknown profile 'gpu'"),
        (["table2", "--profile", "smoke", "--seeds", "one"], "--seeds takes integers"),
        (["table2", "--profile", "smoke", "--seeds", "0"], "--seeds 0 asks for 0 seeds"),
        (["table2", "--profile", "smoke", "--threads", "0"], "threads must be at least 1"),
        (["table2", "--profile", "smoke", "--slurm-param", "account"], "--slurm-param must read KEY=VALUE"),
        (["table2", "--profile", "smoke", "--device", "tpu"], "tpu"),
    ],
)
def test_bad_names_exit_2_with_one_line(args, needle, capsys, tmp_path):
    code, err = run_cli([*args, "--out", str(tmp_path)], capsys)
    assert code == 2
    assert len(error_lines(err)) == 1
    assert needle in error_lines(err)[0]
    assert "Traceback" not in err


def test_cuda_request_without_cuda_is_a_usage_error(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = run_cli(["table2", "--profile", "smoke", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "CUDA was requested" in error_lines(err)[0]


def paper_run(folder: Path, out: Path, *options: str) -> list[str]:
    """Table 2 at the paper profile on ``folder``'s images (no BSD data needed), one noise level."""
    data = ["--train-data", f"folder:{folder}", "--test-data", f"folder:{folder}", "--out", str(out)]
    return ["table2", "--profile", "paper", "--noise", "gaussian:25", "--quiet", *data, *options]


@pytest.mark.parametrize("device", [["--device", "cpu"], ["--device", "auto"]])
def test_paper_profile_refuses_to_train_on_the_cpu_without_allow_cpu(
    device, capsys, tmp_path, monkeypatch, image_folder
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = run_cli(paper_run(image_folder, tmp_path, "--methods", "bm3d,dncnn-b", *device), capsys)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith("error: the paper profile trains DnCNN-B for hours on a GPU")
    assert "--allow-cpu" in line
    assert not (tmp_path / "table2").exists()


def test_paper_profile_trains_on_the_cpu_when_allowed_and_bm3d_needs_no_gpu(
    capsys, tmp_path, monkeypatch, image_folder
):
    class StartedError(Exception):
        """The run got past the check and would run its cells."""

    def start(*args: object, **kwargs: object) -> None:
        raise StartedError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(driver, "execute", start)
    with pytest.raises(StartedError):
        main(paper_run(image_folder, tmp_path, "--methods", "dncnn-b", "--allow-cpu"))
    with pytest.raises(StartedError):  # BM3D trains nothing: no flag needed
        main(paper_run(image_folder, tmp_path, "--methods", "bm3d"))


def test_missing_data_root_says_where_it_looked(capsys, tmp_path):
    nowhere = tmp_path / "nowhere"
    args = ["table2", "--profile", "cpu", "--methods", "bm3d", "--noise", "gaussian:25", "--quiet"]
    code, err = run_cli([*args, "--data-root", str(nowhere), "--out", str(tmp_path)], capsys)
    assert code == 2
    [line] = error_lines(err)
    assert "bsd68" in line and str(nowhere) in line and "fetch" in line


def test_corrupt_image_in_folder_is_named_and_cache_survives(capsys, tmp_path, image_folder):
    out = ["--out", str(tmp_path / "reports")]
    good = [*SMOKE_BM3D, "--test-data", f"folder:{image_folder}", *out]
    assert run_cli(good, capsys)[0] == 0
    cached = sorted((tmp_path / "reports" / ".cache" / "evals").glob("*.json"))
    assert len(cached) == 1

    broken = tmp_path / "broken"
    broken.mkdir()
    for png in image_folder.glob("*.png"):
        (broken / png.name).write_bytes(png.read_bytes())
    (broken / "bad.png").write_bytes(b"this is not a png")
    code, err = run_cli([*SMOKE_BM3D, "--test-data", f"folder:{broken}", *out], capsys)
    assert code == 2
    [line] = error_lines(err)
    assert "bad.png" in line

    assert sorted((tmp_path / "reports" / ".cache" / "evals").glob("*.json")) == cached
    code, err = run_cli(good, capsys)
    assert code == 0
    assert "0 computed, 1 from cache" in err


def test_image_smaller_than_patch_size_is_named(capsys, tmp_path, image_folder):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    io.imsave(tiny / "small.png", np.full((20, 30), 128, np.uint8), check_contrast=False)
    args = [
        "table2",
        "--profile",
        "smoke",
        "--methods",
        "n2c-oracle",
        "--noise",
        "gaussian:25",
        "--quiet",
    ]
    code, err = run_cli(
        [
            *args,
            "--train-data",
            f"folder:{tiny}",
            "--test-data",
            f"folder:{image_folder}",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2
    [line] = error_lines(err)
    assert "small.png" in line and "20x30" in line and "32" in line


def test_command_line_error_has_no_traceback(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "table9", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown command 'table9'; valid: "
        "table1, table2, table3, blind, n2v-check, theorem1, fig1, fig4, timing, perf, all"
    ]


def test_failed_cell_is_marked_in_the_report_and_the_exit_status(capsys, tmp_path, monkeypatch):
    from methods.bm3d import BlindBM3D

    def broken(self, noisy):
        raise RuntimeError("estimator exploded")

    monkeypatch.setattr(BlindBM3D, "noise_argument", broken)
    args = ["table2", "--profile", "smoke", "--methods", "bm3d,bm3d-blind", "--noise", "gaussian:25"]
    args += ["--jobs", "1"]  # BM3D in this process, where the patch is (--jobs spreads its images)
    code, err = run_cli([*args, "--out", str(tmp_path)], capsys)
    assert code == 1
    assert "[failed] eval BM3D(blind) gaussian:25 seed 0: RuntimeError: estimator exploded" in err
    folder = find_report(tmp_path, "table2")
    assert pd.read_csv(folder / "table2.csv")["method"].tolist() == ["BM3D"]  # the other cell finished
    report = (folder / "table2.md").read_text()
    assert "## Cells that failed or have not finished" in report
    assert "RuntimeError: estimator exploded" in report
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(c["status"] for c in manifest["cells"]) == ["done", "failed"]
