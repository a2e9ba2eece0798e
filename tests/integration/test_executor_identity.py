"""The same cells give bit-identical numbers whichever executor runs them (and the same seed on the
same machine gives bit-identical numbers), worker processes mapping the datasets their command decoded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.run import main
from tests.conftest import find_report

NUMBERS = ["noise", "level", "method", "seed", "psnr", "ssim", "ssim_authors"]


def run_table(out: Path, *options: str) -> pd.DataFrame:
    assert main(["table2", "--profile", "smoke", "--seeds", "2", "--out", str(out), "--quiet", *options]) == 0
    return pd.read_csv(find_report(out, "table2") / "table2.csv")[NUMBERS]


def check_executors_agree(tmp_path: Path, *options: str, executors: tuple[str, ...]) -> None:
    local = run_table(tmp_path / "local", *options, "--executor", "local")
    assert sorted(local["seed"].unique()) == [0, 1]
    assert (local.groupby(["noise", "level", "method"])["psnr"].nunique() == 2).all(), "seeds must differ"
    for executor in executors:
        other = run_table(tmp_path / executor, *options, "--executor", executor, "--jobs", "2")
        pd.testing.assert_frame_equal(local, other, check_exact=True)
        # the workers mapped the datasets the command's process decoded (bench.datasets.shared)
        assert len(list((tmp_path / executor / ".cache" / "datasets").glob("*.npy"))) == 2
    assert not (tmp_path / "local" / ".cache" / "datasets").exists()


def test_executors_give_identical_numbers(tmp_path: Path):
    """A trained method (N2N, its noisy pairs drawn by the runner) and BM3D, two seeds: local and joblib
    agree bit for bit (submitit-local in the computation test below and in the slow whole-table test)."""
    check_executors_agree(tmp_path, "--methods", "n2n,bm3d", "--noise", "gaussian:25", executors=("joblib",))


@pytest.mark.slow
def test_whole_smoke_table_identical_across_executors(tmp_path: Path):
    """The acceptance check: all of Table 2 at smoke size with two seeds (about 15 minutes)."""
    check_executors_agree(tmp_path, executors=("joblib", "submitit-local"))


def test_a_computation_cell_is_identical_across_executors(tmp_path: Path):
    """Theorem 1's Monte Carlo check (numpy, whose BLAS a joblib worker caps at fewer threads than this
    process has): bit-identical in this process, in a joblib worker and in a submitit job, two seeds."""
    frames = []
    for executor in ("local", "joblib", "submitit-local"):
        out = tmp_path / executor
        argv = ["theorem1", "--profile", "smoke", "--seeds", "2", "--out", str(out), "--quiet"]
        assert main([*argv, "--executor", executor, "--jobs", "2"]) == 0
        frames.append(pd.read_csv(find_report(out, "theorem1") / "theorem1.csv"))
    assert sorted(frames[0]["seed"].unique()) == [0, 1]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_exact=True)
