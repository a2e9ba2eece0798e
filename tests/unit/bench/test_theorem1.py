"""Theorem 1: the closed form, its threshold, the Monte Carlo check and the command's report."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from bench.experiments.theorem1 import (
    compute_noisy_n2n_mse,
    estimate_threshold,
    find_threshold,
    simulate_noisy_n2n,
)
from bench.run import main
from tests.conftest import find_report


def test_at_y_zero_noisy_n2n_is_the_wiener_filter():
    var_x, var_n = 2.0, 0.5
    assert compute_noisy_n2n_mse(0.0, var_x=var_x, var_n=var_n) == pytest.approx(
        var_x * var_n / (var_x + var_n)
    )


@pytest.mark.parametrize("ratio", [0.1, 0.25, 1.0, 4.0, 10.0])
def test_threshold_is_where_the_mse_crosses_sigma0_squared(ratio):
    var_x = 3.0
    y0 = find_threshold(var_x=var_x, var_n=ratio * var_x)
    assert 0 < y0 < 1
    assert compute_noisy_n2n_mse(y0, var_x=var_x, var_n=ratio * var_x) == pytest.approx(y0 * var_x, rel=1e-9)
    above = np.linspace(y0 + 1e-6, 1 - 1e-6, 200)
    below = np.linspace(1e-6, y0 - 1e-6, 200)
    assert (compute_noisy_n2n_mse(above, var_x=var_x, var_n=ratio * var_x) < above * var_x).all()
    assert (compute_noisy_n2n_mse(below, var_x=var_x, var_n=ratio * var_x) > below * var_x).all()


def test_monte_carlo_agrees_with_the_closed_form_within_two_percent():
    y = np.linspace(0.05, 0.95, 10)
    result = simulate_noisy_n2n(y, var_x=1.0, var_n=1.0, samples=300_000, rng=np.random.default_rng(0))
    np.testing.assert_allclose(result.mse, compute_noisy_n2n_mse(y, var_x=1.0, var_n=1.0), rtol=0.02)
    assert estimate_threshold(result, var_x=1.0) == pytest.approx(
        find_threshold(var_x=1.0, var_n=1.0), abs=0.02
    )


def test_monte_carlo_would_see_a_wrong_closed_form():
    """The check can fail: the MSE of the clean-pair N2N regressor (y = 0) is not the Noisy N2N one."""
    y = np.array([0.9])
    result = simulate_noisy_n2n(y, var_x=1.0, var_n=1.0, samples=300_000, rng=np.random.default_rng(0))
    wrong = compute_noisy_n2n_mse(0.0, var_x=1.0, var_n=1.0)
    assert abs(result.mse[0] / wrong - 1) > 0.02


def test_command_writes_the_report_and_the_theorem_holds(tmp_path):
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["theorem1", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    folder = find_report(tmp_path, "theorem1")
    for name in ("theorem1.csv", "theorem1_summary.csv", "theorem1.md", "theorem1.png", "theorem1.pdf"):
        assert (folder / name).stat().st_size > 0, name
    summary = pd.read_csv(folder / "theorem1_summary.csv")
    assert summary["below_sigma0^2_exactly_above_y0"].all()
    assert (summary["max_relative_error"] < 0.02).all()
    report = (folder / "theorem1.md").read_text()
    assert "every curve: yes" in report and "at every y and seed: yes" in report
