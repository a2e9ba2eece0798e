"""The blind benchmark (issue 24) under the smoke profile: every blind method and the informed references
at the four noises, with the 8-bit PSNR, the protocol table and the ranking figure; at the cpu profile its
own test crops and its equal training budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cells.runner import EvalResult, StageResult
from bench.cells.specs import EvalSpec, make_fit_spec
from bench.config.options import parse_options
from bench.config.profiles import get_profile
from bench.datasets.base import DatasetSpec
from bench.experiments import EXPERIMENTS
from bench.experiments.base import Context
from bench.experiments.driver import make_runner
from bench.experiments.tables import NOISY_INPUT, format_training_budget
from bench.reporting.published import BLIND_METHODS, INFORMED_METHODS
from bench.reporting.report import RESULT_COLUMNS
from bench.run import build_parser
from methods.registry import METHODS
from noise import parse_noise
from tests.conftest import find_report


@pytest.fixture(scope="module")
def blind_run(tmp_path_factory: pytest.TempPathFactory, run_bench) -> Path:
    out = tmp_path_factory.mktemp("reports")
    run_bench("blind", "--profile", "smoke", "--out", str(out))
    return find_report(out, "blind")


def test_writes_tables_and_both_figures(blind_run: Path) -> None:
    for name in ("blind.csv", "blind_summary.csv", "blind.md", "blind.tex", "blind.png", "blind_ranking.png"):
        assert (blind_run / name).stat().st_size > 0, name
    for noise in ("gaussian25", "gaussian50", "correlated25", "mixture-B30"):  # the visual comparison
        assert (blind_run / f"blind_visual_{noise}.png").stat().st_size > 0, noise


def test_every_method_at_every_noise_with_the_8_bit_psnr(blind_run: Path) -> None:
    frame = pd.read_csv(blind_run / "blind.csv")
    assert tuple(frame.columns) == RESULT_COLUMNS
    names = {METHODS[key].name for key in BLIND_METHODS + INFORMED_METHODS} - {"GAN2GAN"}
    assert names | {"g_theta2", "G2G_1", "G2G_2", "G2G_3", NOISY_INPUT} == set(frame["method"])
    assert set(zip(frame["noise"], frame["level"], strict=True)) == {
        ("gaussian", 25),
        ("gaussian", 50),
        ("correlated", 25),
        ("mixture-B", 30),
    }
    # rounding to 8 bits moves a PSNR by at most a few hundredths of a dB at these levels
    assert (frame["psnr_8bit"] - frame["psnr"]).abs().max() < 0.1


def test_the_noisy_input_is_scored_as_the_floor(blind_run: Path) -> None:
    frame = pd.read_csv(blind_run / "blind.csv")
    floor = frame[frame["method"] == NOISY_INPUT].set_index(["noise", "level"])["psnr"]
    assert len(floor) == 4  # one noise draw per noise (one seed)
    # 10 log10(255^2 / sigma^2) before clipping; clipping to [0, 1] can only bring the noisy image closer
    for level in (25, 50):
        assert 20 * np.log10(255 / level) - 0.1 < floor["gaussian", level] < 20 * np.log10(255 / level) + 2
    text = (blind_run / "blind.md").read_text().split("## PSNR (dB)")[1]
    header = next(line for line in text.splitlines() if line.startswith("| noise"))
    assert header.split("|")[2].strip() == NOISY_INPUT  # the first column, before every method


def test_report_says_what_each_method_was_given(blind_run: Path) -> None:
    text = (blind_run / "blind.md").read_text()
    assert "## PSNR (dB) of the outputs quantised to 8 bits" in text
    protocol = text.split("## Protocol: what each method was given")[1]
    assert "| ZS-N2N      | zs-n2n     | yes     | nothing" in protocol and "on each test image" in protocol
    assert "| R2R         | r2r        | no      | noisy training images, the noise model" in protocol


def plan_cpu(table: str, out: Path) -> list[EvalSpec]:
    """The evaluation cells of ``table`` at the cpu profile, one noise, one seed."""
    argv = [table, "--profile", "cpu", "--noise", "gaussian:25", "--out", str(out), "--quiet"]
    options = parse_options(build_parser().parse_args(argv), command=table)
    ctx = Context(options=options, profile=get_profile("cpu"), runner=make_runner(options))
    return [cell for cell in EXPERIMENTS[table].plan(ctx) if isinstance(cell, EvalSpec)]


@pytest.mark.parametrize(("table", "crop"), [("blind", 128), ("table2", None)])
def test_the_blind_table_tests_on_its_own_crops_at_the_cpu_profile(tmp_path, table: str, crop) -> None:
    cells = plan_cpu(table, tmp_path)
    assert cells and {cell.test_crop for cell in cells} == {crop}


def test_the_blind_table_trains_every_method_to_its_own_budget_at_the_cpu_profile(tmp_path) -> None:
    profile = get_profile("cpu")
    budget = profile.blind.methods
    fits = {cell.fit.method: dict(cell.fit.params) for cell in plan_cpu("blind", tmp_path)}
    trained = {key for key in fits if METHODS[key].trains_network or METHODS[key].trains_on_test_image}
    assert profile.blind.train_minutes and trained == set(budget)
    for key in trained:
        assert fits[key] == {**profile.params(key), **budget[key]}, key
        assert fits[key] != profile.params(key), f"{key} keeps the table's budget"
    table2 = {cell.fit.method: dict(cell.fit.params) for cell in plan_cpu("table2", tmp_path)}
    assert table2["n2v"] == profile.params("n2v")  # the paper's tables keep the profile's presets


def evaluation(method: str, *, fit_seconds: float, denoise_seconds: float) -> EvalResult:
    spec = plan_eval(method)
    stage = StageResult(
        stage=METHODS[method].name,
        psnr=25.0,
        ssim=0.7,
        ssim_authors=0.7,
        n_images=68,
        denoise_seconds=denoise_seconds,
        psnr_8bit=25.0,
    )
    return EvalResult(spec=spec, stages=[stage], fit_seconds=fit_seconds, from_cache=False)


def plan_eval(method: str) -> EvalSpec:
    noise = parse_noise("gaussian:25")
    fit = make_fit_spec(
        method, params={}, train_data=DatasetSpec("bsd400"), train_limit=None, noise=noise, seed=0
    )
    return EvalSpec(
        fit=fit, test_data=DatasetSpec("bsd68"), test_limit=None, test_crop=128, noise=noise, seed=0
    )


def test_training_budget_counts_fits_and_the_test_time_training_of_zs_n2n() -> None:
    results = [
        evaluation("n2v", fit_seconds=350.0, denoise_seconds=0.1),
        evaluation("n2v", fit_seconds=370.0, denoise_seconds=0.1),
        evaluation("zs-n2n", fit_seconds=0.0, denoise_seconds=5.0),
        evaluation("bm3d-blind", fit_seconds=0.0, denoise_seconds=0.5),
    ]
    text = "\n".join(format_training_budget(results, minutes=6))
    assert "6 minutes of one CPU core per cell" in text
    rows = {
        cells[0]: cells[1:]
        for line in text.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert rows["N2V"] == ["360", "350-370", "2"]
    assert rows["ZS-N2N"] == ["340", "340-340", "1"]  # 5 s on each of 68 images
    assert "BM3D(blind)" not in rows  # trains nothing
    assert format_training_budget(results, minutes=None) == []
