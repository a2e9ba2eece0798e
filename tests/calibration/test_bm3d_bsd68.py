"""Calibration: BM3D with the true sigma on all 68 BSD68 images against the paper (about 8 minutes).

Run with ``pytest -m calibration``; needs the BSD data (``$GAN2GAN_DATA`` or ../shared/data).
"""

from __future__ import annotations

import pandas as pd
import pytest

from bench.reporting.published import get_table
from bench.run import main

TOLERANCE_DB = 0.15


@pytest.mark.calibration
def test_bm3d_sigma25_matches_paper(shared_data, tmp_path):
    args = ["table2", "--profile", "cpu", "--methods", "bm3d", "--noise", "gaussian:25", "--quiet"]
    assert main([*args, "--data-root", str(shared_data), "--out", str(tmp_path)]) == 0
    ours = pd.read_csv(tmp_path / "table2" / "cpu" / "table2.csv").iloc[0]
    paper = get_table("table2").load_paper()
    published = paper[(paper["method"] == "BM3D") & (paper["level"] == 25)]["psnr"].item()
    assert ours["n_images"] == 68
    assert abs(ours["psnr"] - published) <= TOLERANCE_DB, (ours["psnr"], published)
