"""The ablations under the smoke profile, sharing one cache as a user's runs would."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from bench.ablation import main
from bench.experiments import ABLATIONS
from bench.experiments.ablation_extraction import FIG2_SIGMAS, FIG5_NOISES
from bench.experiments.ablation_generator import GENERATOR_VARIANTS
from bench.experiments.ablation_init import INIT_NOISES, INIT_VARIANTS
from bench.experiments.convergence import CONVERGENCE_NOISES, CONVERGENCE_VARIANTS, PROFILE_VARIANT


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


def run(out: Path, name: str) -> Path:
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([name, "--profile", "smoke", "--out", str(out), "--quiet"]) == 0
    return out / ABLATIONS[name].report_folder / "smoke"


def test_extraction_rule_4_is_narrower_around_the_true_sigma(out):
    folder = run(out, "extraction")
    for name in ("fig2.csv", "fig2.png", "fig2.pdf", "fig5.csv", "fig5.png", "ablation-extraction.md"):
        assert (folder / name).stat().st_size > 0, name
    fig2 = pd.read_csv(folder / "fig2.csv").set_index(["rule", "sigma"])
    for sigma in FIG2_SIGMAS:
        rule3, rule4 = fig2.loc[("rule (3) GCBD", sigma)], fig2.loc[("rule (4) wavelet", sigma)]
        assert rule3["patches"] > 0 and rule4["patches"] > 0
        assert rule4["share above 1.05 sigma"] < rule3["share above 1.05 sigma"], sigma  # fewer textured
        assert rule4["p5-p95 width"] < rule3["p5-p95 width"], sigma
    fig5 = pd.read_csv(folder / "fig5.csv")
    assert set(fig5["noise"]) == {noise.spec for noise in FIG5_NOISES}
    assert set(fig5["method"]) == {"N2C(Eq.3)", "N2C(Eq.4)", "best G2G"}
    assert fig5["stage"].str.startswith("G2G_").sum() == len(FIG5_NOISES)


def test_generator_ablation_fits_each_variant(out):
    folder = run(out, "generator")
    frame = pd.read_csv(folder / "fig6a.csv")
    assert list(frame["method"]) == list(GENERATOR_VARIANTS)
    assert frame["psnr"].notna().all() and frame["psnr"].nunique() == len(GENERATOR_VARIANTS)
    assert (folder / "fig6a.png").stat().st_size > 0


def test_init_ablation_has_every_iteration_of_both_starts(out):
    folder = run(out, "init")
    frame = pd.read_csv(folder / "fig6b.csv")
    assert set(frame["noise"]) == {noise.spec for noise in INIT_NOISES}
    assert set(frame["method"]) == set(INIT_VARIANTS)
    counts = frame.groupby(["noise", "method"])["iteration"].apply(sorted)
    assert all(list(c) == list(range(1, len(c) + 1)) and len(c) == 5 for c in counts)
    assert "from Z" in (folder / "ablation-init.md").read_text()


def test_convergence_study_traces_every_variant_at_both_levels(out):
    folder = run(out, "convergence")
    assert folder.parent.name == "gan2gan-convergence"
    for name in ("convergence.csv", "convergence_summary.csv", "convergence.png", "convergence.pdf"):
        assert (folder / name).stat().st_size > 0, name
    curves = pd.read_csv(folder / "convergence.csv")
    assert set(curves["noise"]) == {noise.spec for noise in CONVERGENCE_NOISES}
    assert set(curves["variant"]) == set(CONVERGENCE_VARIANTS)
    random = curves[curves["quantity"] == "g1_random_std"]
    steps = random.groupby(["noise", "variant"])["step"].apply(list)
    assert all(s == [0, 4, 8, 12] for s in steps)  # the smoke profile: 12 iterations, a diagnosis every 4
    assert {"w1", "w2", "g1_pattern_std", "g2_residual_std"} <= set(curves["quantity"])
    summary = pd.read_csv(folder / "convergence_summary.csv")
    assert len(summary) == len(CONVERGENCE_NOISES) * len(CONVERGENCE_VARIANTS)
    assert summary["psnr"].notna().all() and (summary["g1 random std"] > 0).all()
    # G2G only for the profile's variant: 3 iterations of 40 steps, a snapshot every 10 steps
    g2g = pd.read_csv(folder / "convergence_g2g.csv")
    assert set(g2g["variant"]) == {PROFILE_VARIANT}
    assert g2g.groupby("noise")["step"].apply(list).map(lambda s: s == [10, 20, 30, 40] * 3).all()
    psnr = curves[curves["quantity"] == "g2g_psnr"].groupby("noise")["step"].apply(list)
    assert all(s == list(range(10, 130, 10)) for s in psnr)
    ratio = curves[curves["quantity"] == "g2g_loss_ratio"]
    assert set(ratio["variant"]) == {PROFILE_VARIANT} and ratio["step"].max() == 120
    text = (folder / "convergence.md").read_text()
    assert "extracted std" in text and "step 10" in text and "loss / identity loss at the end" in text


def test_unknown_ablation_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pruning"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'pruning'" in capsys.readouterr().err
