"""The README's main job: Table 2 under the smoke profile, end to end, then again from the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.report import RESULT_COLUMNS
from bench.run import main
from bench.tables import PAPER_METHODS


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, run_bench) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports")
    return out, run_bench("table2", "--profile", "smoke", "--out", str(out))


def test_writes_the_report_files(smoke_run):
    out, _ = smoke_run
    folder = out / "table2" / "smoke"
    files = ("table2.csv", "table2.md", "table2.tex", "table2.png", "table2.pdf", "manifest.json")
    for name in (*files, "gan2gan_noise_std.png", "gan2gan_noise_std.pdf"):
        assert (folder / name).stat().st_size > 0, name


def test_csv_is_tidy_with_paper_method_names(smoke_run):
    out, _ = smoke_run
    frame = pd.read_csv(out / "table2" / "smoke" / "table2.csv")
    assert tuple(frame.columns) == RESULT_COLUMNS
    assert sorted(frame["level"].unique()) == [15, 25, 30, 50]
    assert set(frame["method"]) == {*PAPER_METHODS, "N2C(oracle)"}  # every column of the paper, and ours
    assert len(frame) == 40 and frame[["noise", "level", "method", "seed"]].duplicated().sum() == 0
    assert frame["psnr"].between(5, 50).all() and frame["ssim"].between(0, 1).all()
    # the supervised denoisers must beat the noisy input (20 log10(255/sigma) dB) at every level;
    # the smoke profile's GAN2GAN is too small to promise that
    learned = frame[frame["method"].isin(["DnCNN-B", "N2N", "N2C(oracle)"])]
    noisy_psnr = 20 * np.log10(255 / learned["level"].to_numpy())
    assert (learned["psnr"].to_numpy() > noisy_psnr).all()


def test_markdown_has_paper_layout_and_empty_columns(smoke_run):
    out, _ = smoke_run
    text = (out / "table2" / "smoke" / "table2.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| noise"))
    for method in PAPER_METHODS:
        assert method in header
    assert "- / 26.97 / -" not in text  # N2V is filled like every other column
    assert "/ 28.56 / " in text  # BM3D at sigma 25 beside ours
    assert "32.51*" in text  # the flagged typo
    assert "## GAN2GAN fits" in text and "gaussian:50" in text.split("## GAN2GAN fits")[1]
    for row in (line for line in text.splitlines() if line.startswith("| gaussian 25")):
        for published in ("28.74", "26.97", "24.16", "28.23", "28.82", "28.96", "29.11"):  # N2N ... N2C(Eq.4)
            assert f"/ {published} / " in row and f"- / {published}" not in row  # filled, not blank
        break


def test_manifest_records_provenance(smoke_run):
    out, _ = smoke_run
    manifest = json.loads((out / "table2" / "smoke" / "manifest.json").read_text())
    assert manifest["profile"]["name"] == "smoke"
    assert manifest["seeds"] == [0]
    assert manifest["device"]["name"] == "cpu"
    assert {"numpy", "torch", "bm3d", "scikit-image"} <= set(manifest["versions"])
    assert manifest["git_revision"] and manifest["git_dirty"] in (True, False)
    assert manifest["device"]["cpu_count"] >= 1 and manifest["threads_per_cell"] == 1
    assert manifest["device"]["cpu_capability"], "the instruction set torch dispatched to is recorded"
    assert manifest["started"] <= manifest["finished"]
    assert {c["status"] for c in manifest["cells"]} == {"done"}
    test_set = manifest["datasets"]["skimage-test"]
    assert len(test_set["sha256"]) >= 4 and all(len(h) == 64 for h in test_set["sha256"].values())


def test_dncnn_b_is_trained_once_for_the_whole_table(smoke_run):
    _, log = smoke_run
    assert log.count("[fit] DnCNN-B: fitting") == 1
    assert log.count("[fit] N2N: fitting") == 1
    assert log.count("[fit] N2C(oracle): fitting") == 4
    # N2C(Eq.4) reuses each noise level's GAN2GAN fit instead of training another generator
    assert log.count("[fit] GAN2GAN: fitting") == 4


def test_second_run_recomputes_nothing(smoke_run, capsys):
    out, _ = smoke_run
    before = pd.read_csv(out / "table2" / "smoke" / "table2.csv")
    assert main(["table2", "--profile", "smoke", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "28 cells: 0 computed, 28 from cache, 0 failed or not finished" in err
    assert "fitting" not in err
    assert "[cells] 28 evaluation cells: 28 cached, 0 to run" not in err  # --quiet: no status lines
    after = pd.read_csv(out / "table2" / "smoke" / "table2.csv")
    pd.testing.assert_frame_equal(before, after)
