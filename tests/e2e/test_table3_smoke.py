"""Table 3 under the smoke profile, end to end: mixture and correlated noise, the three BM3D rows.

The default run covers the correlated row with every column (GAN2GAN on mixture noise runs in the
extraction ablation's test) and BM3D on a mixture row; the whole table is behind ``-m slow`` (its six
rows cost about four times as long through the same code)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from bench.reporting.published import PAPER_METHODS, TABLES
from bench.run import main
from tests.conftest import find_report

ALL_NOISES = [noise.spec for noise in TABLES["table3"].noises]  # the paper's six rows, in order
NOISES = ["correlated:25"]


def read_row_labels(markdown: str) -> list[str]:
    """The first cell of each noise row of the Markdown table, in order."""
    return [
        line.split("|")[1].strip()
        for line in markdown.splitlines()
        if line.startswith("| mixture") or line.startswith("| correlated ")
    ]


def check_every_noise_row_has_every_column(out: Path, noises: list[str]) -> None:
    frame = pd.read_csv(find_report(out, "table3") / "table3.csv")
    specs = {f"{noise}:{level:g}" for noise, level in zip(frame["noise"], frame["level"], strict=True)}
    assert specs == set(noises)
    expected = {*PAPER_METHODS, "BM3D(PSD)", "BM3D(blind)", "N2C(oracle)"}
    assert set(frame["method"]) == expected
    assert len(frame) == len(noises) * len(expected)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, run_bench) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports")
    return out, run_bench("table3", "--profile", "smoke", "--noise", ",".join(NOISES), "--out", str(out))


def test_writes_the_report_files(smoke_run):
    out, _ = smoke_run
    for name in ("table3.csv", "table3.md", "table3.tex", "table3.png", "table3.pdf", "manifest.json"):
        assert (find_report(out, "table3") / name).stat().st_size > 0, name


def test_every_noise_row_has_every_column(smoke_run):
    check_every_noise_row_has_every_column(smoke_run[0], NOISES)


@pytest.mark.slow
def test_whole_table_has_every_row_in_the_papers_order(tmp_path: Path, run_bench):
    """All six rows (about 3 minutes on 2 cores)."""
    run_bench("table3", "--profile", "smoke", "--out", str(tmp_path))
    check_every_noise_row_has_every_column(tmp_path, ALL_NOISES)
    text = (find_report(tmp_path, "table3") / "table3.md").read_text()
    assert read_row_labels(text)[:6] == [spec.replace(":", " ") for spec in ALL_NOISES]


def test_bm3d_told_the_psd_beats_bm3d_told_sigma_on_correlated_noise(smoke_run):
    out, _ = smoke_run
    frame = pd.read_csv(find_report(out, "table3") / "table3.csv").set_index(["noise", "level", "method"])
    assert frame.loc[("correlated", 25, "BM3D(PSD)"), "psnr"] > frame.loc[("correlated", 25, "BM3D"), "psnr"]


def test_bm3d_told_the_flat_psd_of_white_mixture_noise_is_bm3d(tmp_path):
    argv = ["table3", "--profile", "smoke", "--out", str(tmp_path), "--quiet", "--methods", "bm3d,bm3d-psd"]
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([*argv, "--noise", "mixture-A:15"]) == 0
    frame = pd.read_csv(find_report(tmp_path, "table3") / "table3.csv").set_index("method")
    assert frame.loc["BM3D(PSD)", "psnr"] == frame.loc["BM3D", "psnr"]


def test_dncnn_b_and_n2n_are_trained_once_on_white_gaussian_noise(smoke_run):
    _, log = smoke_run
    for name in ("DnCNN-B", "N2N"):
        fits = [line for line in log.splitlines() if line.startswith(f"[fit] {name}: fitting")]
        assert fits == [f"[fit] {name}: fitting (skimage-train, noise-independent, seed 0)"], fits
    assert log.count("[fit] GAN2GAN: fitting") == len(NOISES)  # the blind methods learn each noise


def test_markdown_states_the_realised_std_and_the_paper_rows(smoke_run):
    out, _ = smoke_run
    text = (find_report(out, "table3") / "table3.md").read_text()
    assert "| correlated:25 |      25 |                  19.47 |" in text  # authors' code: 0.779 sigma
    assert read_row_labels(text)[:1] == ["correlated 25"]
    assert "30.20" not in text  # the paper's BSD68 numbers stay out of a report on scikit-image crops


def test_paper_formula_switch_runs_the_papers_correlated_rows(tmp_path):
    argv = ["table3", "--profile", "smoke", "--out", str(tmp_path), "--quiet", "--methods", "bm3d"]
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([*argv, "--noise", "correlated:25", "--correlated", "paper"]) == 0
    folder = find_report(tmp_path, "table3")
    assert folder.name == "smoke_methods-bm3d_noise-correlated-paper25"
    assert set(pd.read_csv(folder / "table3.csv")["noise"]) == {"correlated-paper"}
    text = (folder / "table3.md").read_text()
    assert next(line for line in text.splitlines() if line.startswith("| correlated-paper 25"))
    assert "| correlated-paper:25 |" in text
