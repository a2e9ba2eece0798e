"""The blind benchmark (issue 24) under the smoke profile: every blind method and the informed references
at the four noises, with the 8-bit PSNR, the protocol table and the ranking figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.reporting.published import BLIND_METHODS, INFORMED_METHODS
from bench.reporting.report import RESULT_COLUMNS
from methods.registry import METHODS
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
    assert names | {"g_theta2", "G2G_1", "G2G_2", "G2G_3"} == set(frame["method"])
    assert set(zip(frame["noise"], frame["level"], strict=True)) == {
        ("gaussian", 25),
        ("gaussian", 50),
        ("correlated", 25),
        ("mixture-B", 30),
    }
    # rounding to 8 bits moves a PSNR by at most a few hundredths of a dB at these levels
    assert (frame["psnr_8bit"] - frame["psnr"]).abs().max() < 0.1


def test_report_says_what_each_method_was_given(blind_run: Path) -> None:
    text = (blind_run / "blind.md").read_text()
    assert "## PSNR (dB) of the outputs quantised to 8 bits" in text
    protocol = text.split("## Protocol: what each method was given")[1]
    assert "| ZS-N2N      | zs-n2n     | yes     | nothing" in protocol and "on each test image" in protocol
    assert "| R2R         | r2r        | no      | noisy training images, the noise model" in protocol


@pytest.mark.parametrize(("table", "crop"), [("blind", 128), ("table2", None)])
def test_the_blind_table_tests_on_its_own_crops_at_the_cpu_profile(tmp_path, table: str, crop) -> None:
    from bench.config.options import parse_options
    from bench.config.profiles import get_profile
    from bench.experiments import EXPERIMENTS
    from bench.experiments.base import Context
    from bench.experiments.driver import make_runner
    from bench.run import build_parser

    argv = [table, "--profile", "cpu", "--noise", "gaussian:25", "--out", str(tmp_path), "--quiet"]
    options = parse_options(build_parser().parse_args(argv), command=table)
    ctx = Context(options=options, profile=get_profile("cpu"), runner=make_runner(options))
    cells = EXPERIMENTS[table].plan(ctx)
    assert cells and {cell.test_crop for cell in cells} == {crop}
