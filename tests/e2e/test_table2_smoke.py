"""The README's main job: Table 2 under the smoke profile, end to end, then again from the cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.reporting.published import PAPER_METHODS
from bench.reporting.report import RESULT_COLUMNS
from bench.run import main
from tests.conftest import find_report


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, run_bench) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports")
    return out, run_bench("table2", "--profile", "smoke", "--out", str(out))


def test_writes_the_report_files(smoke_run):
    out, _ = smoke_run
    folder = find_report(out, "table2")
    files = ("table2.csv", "table2.md", "table2.tex", "table2.png", "table2.pdf", "manifest.json")
    for name in (*files, "gan2gan_noise_std.png", "gan2gan_noise_std.pdf"):
        assert (folder / name).stat().st_size > 0, name


def test_csv_is_tidy_with_paper_method_names(smoke_run):
    out, _ = smoke_run
    frame = pd.read_csv(find_report(out, "table2") / "table2.csv")
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


def test_markdown_has_paper_layout_and_names_its_test_set(smoke_run):
    out, _ = smoke_run
    text = (find_report(out, "table2") / "table2.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| noise"))
    for method in PAPER_METHODS:
        assert method in header
    # the smoke profile tests on 128x128 crops of scikit-image's pictures: the paper's BSD68 numbers
    # have no place beside them
    assert text.startswith(
        "# Table 2 layout, on `skimage-test`, its first 4 images at most, 128x128 centre crops"
    )
    assert "The paper's numbers are for full BSD68" in text
    assert "/ 28.56 / " not in text and "32.51*" not in text
    assert "## GAN2GAN fits" in text and "gaussian:50" in text.split("## GAN2GAN fits")[1]
    fits = text.split("## GAN2GAN fits")[1]
    assert re.search(r"\| \d+\.\d\d / \d+\.\d\d / \d+\.\d\d +\|", fits), "each G2G iteration's loss ratio"
    row = next(line for line in text.splitlines() if line.startswith("| gaussian 25"))
    assert row.count("|") == len(PAPER_METHODS) + 3 and " - " not in row  # every column filled


def test_manifest_records_provenance(smoke_run):
    out, _ = smoke_run
    manifest = json.loads((find_report(out, "table2") / "manifest.json").read_text())
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
    before = pd.read_csv(find_report(out, "table2") / "table2.csv")
    assert main(["table2", "--profile", "smoke", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "28 cells: 0 computed, 28 from cache, 0 failed or not finished" in err
    assert "fitting" not in err
    assert "[cells] 28 evaluation cells: 28 cached, 0 to run" not in err  # --quiet: no status lines
    after = pd.read_csv(find_report(out, "table2") / "table2.csv")
    pd.testing.assert_frame_equal(before, after)
    # the visual comparison is drawn from the crops the cached evaluations kept
    assert (find_report(out, "table2") / "table2_visual_gaussian25.png").stat().st_size > 0


def test_timing_reuses_the_tables_fits_and_times_every_method(smoke_run, capsys):
    """``timing`` reuses the table's fits (the same cells) and times each method's ``denoise``."""
    out, _ = smoke_run
    # in process (--jobs 1), so that its log reaches capsys whatever the core count (pytest -n 0 included)
    assert main(["timing", "--profile", "smoke", "--out", str(out), "--jobs", "1"]) == 0
    # BM3D(blind), which Table 2 lacks, is the one method fitted here (a fit that trains nothing)
    fitted = [line for line in capsys.readouterr().err.splitlines() if ": fitting" in line]
    assert fitted == ["[fit] BM3D(blind): fitting (skimage-train, noise-independent, seed 0)"]
    frame = pd.read_csv(out / "timing" / "smoke" / "timing.csv")
    assert set(frame["method"]) >= {"BM3D", "BM3D(blind)", "GAN2GAN", "DnCNN-B", "N2V"}
    assert (frame["seconds_per_image"] > 0).all() and set(frame["device"]) >= {"cpu"}
    bm3d = frame.set_index("method").loc["BM3D", "seconds_per_image"]
    assert bm3d > frame.set_index("method").loc["N2C(oracle)", "seconds_per_image"]  # 5-layer net vs BM3D
    assert frame.loc[frame["method"] == "BM3D(blind)", "paper_seconds"].item() == "4.5-5.0"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_a_subset_run_writes_beside_the_full_report(smoke_run, capsys):
    out, _ = smoke_run
    full = out / "table2" / "smoke"
    before = snapshot(full)
    args = [
        "table2",
        "--profile",
        "smoke",
        "--methods",
        "bm3d",
        "--noise",
        "gaussian:25",
        "--seeds",
        "0",
        "1",
    ]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert snapshot(full) == before
    subset = pd.read_csv(out / "table2" / "smoke_methods-bm3d_noise-gaussian25_seeds-0+1" / "table2.csv")
    assert set(subset["method"]) == {"BM3D"} and sorted(subset["seed"]) == [0, 1]
    assert (
        "report: " + str(out / "table2" / "smoke_methods-bm3d_noise-gaussian25_seeds-0+1")
        in capsys.readouterr().err
    )


def test_a_failing_run_leaves_the_earlier_report_intact(smoke_run, monkeypatch, capsys):
    from methods.bm3d import BM3D

    def broken(self, noisy):
        raise RuntimeError("exploded")

    out, _ = smoke_run
    full = out / "table2" / "smoke"
    before = snapshot(full)
    monkeypatch.setattr(BM3D, "denoise", broken)
    args = ["table2", "--profile", "smoke", "--force-method", "bm3d", "--jobs", "1", "--quiet"]
    assert main([*args, "--out", str(out)]) == 1
    assert snapshot(full) == before
    assert "the earlier report in" in capsys.readouterr().err
    incomplete = pd.read_csv(out / "table2" / "smoke_incomplete" / "table2.csv")
    assert "BM3D" not in set(incomplete["method"]) and len(incomplete) > 0
    assert [p.name for p in (out / "table2").iterdir() if p.name.startswith(".")] == []  # no temporary left
