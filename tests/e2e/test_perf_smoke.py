"""``python -m bench.run perf --profile smoke``: every measure lands in perf.csv and perf.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.run import main


def test_perf_smoke_writes_every_measure(tmp_path: Path) -> None:
    code = main(["perf", "--profile", "smoke", "--out", str(tmp_path), "--quiet"])
    assert code == 0  # the smoke profile reports its ratios without enforcing the bounds
    frame = pd.read_csv(tmp_path / "perf" / "smoke" / "perf.csv")
    assert list(frame.columns[:7]) == ["seed", "measure", "ours", "reference", "ratio", "bound", "ok"]
    measures = " | ".join(frame["measure"])
    for name in ("training step", "DnCNN-B", "N2N", "N2V", "G2G_j", "N2C(oracle)", "generator iteration"):
        assert name in measures
    for name in (
        "pair generation",
        "GAN batch sampling",
        "batch sampling: N2V",
        "training images on",
        "checkpoint",
    ):
        assert name in measures
    for name in ("BM3D evaluation", "extraction", "table2 end to end"):
        assert name in measures
    measured = frame[frame["ours"].notna()]
    assert (measured["ours"] > 0).all()
    assert (measured["reference"].dropna() > 0).all()  # the decoding row has no reference
    assert "identical" in frame.loc[frame["measure"].str.startswith("BM3D"), "note"].item()
    text = (tmp_path / "perf" / "smoke" / "perf.md").read_text()
    assert "Profile `smoke`" in text and "torch thread" in text
    assert (tmp_path / "perf" / "smoke" / "manifest.json").exists()
