"""Tests of the GAN2GAN fits section of the table reports (bench.reporting.report)."""

from __future__ import annotations

from bench.reporting.report import format_gan2gan_fits
from noise import parse_noise


def fit_report(*, g2g: dict[str, dict[str, float]]) -> dict:
    return {
        "seconds": {"gan": 10.0},
        "gan": {
            "diagnostics": {"g2_residual_std": [0.2, 0.1]},
            "extracted_noise_255": {"random_std": 15.9},
        },
        "g2g": g2g,
    }


def row_of(lines: list[str], noise: str) -> dict[str, str]:
    header, _, *rows = (line for line in "\n".join(lines).splitlines() if line.startswith("|"))
    names = [cell.strip() for cell in header.strip("|").split("|")]
    row = next(row for row in rows if noise in row)
    return dict(zip(names, (cell.strip() for cell in row.strip("|").split("|")), strict=True))


def test_fits_show_g_theta2_residual_and_the_g2g_identity_ratio() -> None:
    g2g = {"G2G_1": {"loss": 510.0, "identity_loss": 510.0}, "G2G_2": {"loss": 255.0, "identity_loss": 510.0}}
    lines = format_gan2gan_fits([(parse_noise("gaussian:15"), 0, fit_report(g2g=g2g))])
    row = row_of(lines, "gaussian:15")
    assert row["g_theta2 residual std (ours / extracted)"] == "25.5 / 15.9"  # the last diagnosis
    assert row["G2G loss / identity loss"] == "1.00 / 0.50"
    assert any("identity" in line and "over-smooths" in line for line in lines)


def test_fits_of_a_model_saved_before_the_losses_were_recorded() -> None:
    report = fit_report(g2g={})
    del report["g2g"]
    row = row_of(format_gan2gan_fits([(parse_noise("gaussian:15"), 0, report)]), "gaussian:15")
    assert row["G2G loss / identity loss"] == "-"


def test_fits_of_several_seeds_are_told_apart() -> None:
    fits = [(parse_noise("gaussian:25"), seed, fit_report(g2g={})) for seed in (0, 1, 2)]
    rows = "\n".join(format_gan2gan_fits(fits)).splitlines()
    seeds = [row.strip("|").split("|")[1].strip() for row in rows if row.startswith("| gaussian:25")]
    assert seeds == ["0", "1", "2"]
