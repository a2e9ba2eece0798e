"""Figure 4 (real noise) under the smoke profile, on the synthetic FMD and CT fixtures."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from bench.datasets.demo import write_ct_fixture, write_fmd_fixture
from bench.datasets.realnoise import CT_LEVELS, FMD_LEVELS
from bench.experiments.fig4 import FIG4_COLUMNS
from bench.run import main
from tests.conftest import find_report


@pytest.fixture(scope="module")
def fmd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fmd_fixture(tmp_path_factory.mktemp("data") / "Real_FM_images")


def run(argv: list[str]) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(argv)
    return status, stderr.getvalue()


def check_fig4_fmd(
    out: Path, fmd: Path, *, methods: tuple[str, ...] = (), columns: tuple[str, ...] = FIG4_COLUMNS
) -> dict:
    """Run fig4 on the FMD fixture (every method, or the registry keys ``methods`` whose report columns
    are ``columns``), check its report, run it again from the cache; return the manifest."""
    argv = ["fig4", "--dataset", "fmd", "--profile", "smoke", "--data-root", str(fmd.parent)]
    argv += ["--out", str(out)]
    if methods:
        argv += ["--methods", ",".join(methods)]
    status, log = run(argv)
    assert status == 0, log
    folder = find_report(out, "fig4")
    for name in ("fig4_fmd.csv", "fig4_fmd.md", "fig4_fmd.png", "fig4_fmd.pdf", "manifest.json"):
        assert (folder / name).stat().st_size > 0, name
    frame = pd.read_csv(folder / "fig4_fmd.csv")
    assert set(frame["method"]) == {*columns, "noisy input"}
    for method in (*columns, "noisy input"):
        assert sorted(frame.loc[frame["method"] == method, "level"]) == sorted(FMD_LEVELS), method
    assert frame["psnr"].notna().all() and (frame["n_images"] == 4).all()
    noisy = frame[frame["method"] == "noisy input"].set_index("level")["psnr"]
    assert noisy["avg16"] > noisy["avg1"] + 6  # 16 captures averaged: about 12 dB less noise
    text = (folder / "fig4_fmd.md").read_text()
    assert "average over 5 levels" in text and "32.73" in text  # the authors' README: G2G at avg1
    assert all(f"| {column}" in text or f"{column} |" in text for column in columns)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["experiment"] == "fig4" and manifest["fmd"]["dataset"] == "fmd"
    kinds = [cell["kind"] for cell in manifest["fmd"]["cells"]]
    assert kinds.count("eval") == 5 * len(columns) and kinds.count("compute") == 5  # each level's input
    status, log = run(argv)  # a second run is read from the cache
    assert status == 0 and "fitting" not in log and "[eval]" not in log
    return manifest


def test_fig4_fmd_writes_every_level(tmp_path, fmd):
    """DnCNN-B alone (trained once, on the profile's images): every FMD level, the noisy input, the
    report and the cache. The whole figure is behind ``-m slow``; N2V trains on real noise in the CT
    test below."""
    check_fig4_fmd(tmp_path, fmd, methods=("dncnn-b",), columns=("DnCNN-B",))


@pytest.mark.slow
def test_fig4_fmd_writes_every_method_and_level(tmp_path, fmd):
    """Every method of the figure, the blind ones trained on each level (about a minute on 2 cores)."""
    datasets = check_fig4_fmd(tmp_path, fmd)["fmd"]["datasets"]
    train = [name for name in datasets if name.endswith(":avg1:train")]
    assert len(train) == 1 and datasets[train[0]]["n_images"] == 16
    assert not any("/19/" in path for path in datasets[train[0]]["noisy_sha256"])  # the held-out FoV


def test_fig4_ct_runs_through_the_same_cells(tmp_path):
    out = tmp_path / "out"
    root = write_ct_fixture(tmp_path / "ct", slices=2)
    argv = ["fig4", "--dataset", "ct", "--profile", "smoke", "--data-root", str(root), "--out", str(out)]
    status, log = run([*argv, "--methods", "n2v", "--quiet"])
    assert status == 0, log
    folder = out / "fig4" / "smoke_methods-n2v"  # a subset of the methods: its own report
    frame = pd.read_csv(folder / "fig4_ct.csv")
    assert set(frame["method"]) == {"N2V", "noisy input"}  # N2V trained on each dose's noisy slices
    assert sorted(set(frame["level"])) == sorted(CT_LEVELS)
    assert (frame["n_images"] == 4).all()  # 2 test patients x 2 slices
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"ct", "experiment"} <= set(manifest)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "fmd", "--data-root", "{empty}"], "no FMD wide-field data in"),
        (["--dataset", "ct", "--data-root", "{empty}"], "no CT data in"),
        (["--data-root", "{empty}"], "fig4 needs --dataset"),
        (["--dataset", "fmd", "--data-root", "{empty}", "--methods", "bm3d"], "cannot run on real noise"),
    ],
)
def test_fig4_bad_input_is_one_line_and_status_2(tmp_path, argv, message, monkeypatch):
    monkeypatch.delenv("GAN2GAN_DATA", raising=False)
    argv = [a.replace("{empty}", str(tmp_path)) for a in argv]
    status, log = run(["fig4", "--profile", "smoke", "--out", str(tmp_path / "out"), *argv])
    assert status == 2 and message in log
    assert len(log.strip().splitlines()) == 1 and log.startswith("error: ")
    assert not (tmp_path / "out" / "fig4").exists()
