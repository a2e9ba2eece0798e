"""Figure 1 (iterative Noisy N2N) and `all` under the smoke profile (the timing runs on Table 2's cache,
in test_table2_smoke)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

import bench.run
from bench.config.profiles import get_profile
from bench.experiments import ABLATIONS
from bench.run import main


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


def run(out: Path, name: str) -> Path:
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([name, "--profile", "smoke", "--out", str(out), "--quiet"]) == 0
    return out / name / "smoke"


def test_figure1_has_the_upper_bound_and_every_iteration_per_sigma0(out):
    folder = run(out, "fig1")
    for name in ("fig1.csv", "fig1.md", "fig1.png", "fig1.pdf", "manifest.json"):
        assert (folder / name).stat().st_size > 0, name
    frame = pd.read_csv(folder / "fig1.csv")
    sizes = get_profile("smoke").fig1
    assert list(frame.loc[frame["method"] == "N2N", "sigma0"]) == [0.0]
    noisy = frame[frame["method"] != "N2N"]
    assert sorted(noisy["sigma0"].unique()) == sorted(float(s) for s in sizes.sigma0)
    assert set(noisy["method"]) == {f"Noisy-N2N_{j}" for j in range(1, sizes.iterations + 1)}
    # the axis labels: a larger sigma_0 makes a worse initial estimate
    initial = noisy.groupby("sigma0")["initial_psnr"].first()
    assert initial.is_monotonic_decreasing and initial.iloc[0] < 30


def test_all_runs_every_experiment_with_the_same_options(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(bench.run, "run_experiment", lambda e, options: calls.append((e.name, options)) or 0)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        argv = ["all", "--profile", "smoke", "--out", str(tmp_path), "--force", "--methods", "bm3d"]
        assert main(argv) == 0
    names = [name for name, _ in calls]
    assert names == ["table2", "table3", "n2v-check", "theorem1", "fig1", "timing", *ABLATIONS]
    for _, options in calls:
        assert options.profile == "smoke" and options.force and options.out == tmp_path
        assert options.methods is None  # one experiment's option: every experiment runs its own methods


def test_all_reports_a_failed_experiment_in_its_status(monkeypatch, tmp_path):
    monkeypatch.setattr(bench.run, "run_experiment", lambda e, options: 2 if e.name == "fig1" else 0)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["all", "--profile", "smoke", "--out", str(tmp_path)]) != 0
