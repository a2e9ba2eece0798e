"""Theorem 1 of the paper (section 3): Noisy N2N in the single-letter Gaussian setting, in closed form.

Clean ``X ~ N(0, var_x)``, noise ``N ~ N(0, var_n)``, observation ``Z = X + N``. A noisy estimate
``X' = X + N0`` with ``N0 ~ N(0, var_0)`` and ``y = var_0 / var_x`` is corrupted twice,
``Z'_i = X' + N_i``; the Noisy N2N regression of ``Z'_2`` on ``Z'_1`` is linear (Eq. 2)::

    f(z) = a(y) z,   a(y) = var_x (1 + y) / (var_x (1 + y) + var_n)

and applied to the real observation ``Z`` it has the mean squared error::

    mse(y) = E(X - a(y) Z)^2 = (1 - a)^2 var_x + a^2 var_n

Theorem 1: there is a ``y_0`` with ``mse(y) < var_0 = y var_x`` for every ``y`` in ``(y_0, 1)``, i.e. the
denoiser learned from pairs of a *noisy* estimate beats that estimate. With ``s = var_n / var_x`` the
condition reads ``g(y) = y (1 + y + s)^2 - s ((1 + y)^2 + s) > 0``; ``g(0) < 0 < g(1) = 4``, so ``y_0`` is
the largest root of this cubic in (0, 1). :func:`simulate_noisy_n2n` checks both by Monte Carlo, fitting the
regression on samples instead of using ``a(y)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells.runner import CellRunner
from bench.cells.specs import Cell, ComputeSpec, make_compute_spec
from bench.experiments.base import Context, Experiment, Results, RunRecord
from bench.reporting.figures import plot_theorem1
from bench.reporting.report import average_seeds, format_mean_std
from noise import derive_rng

#: Noise-to-signal ratios ``var_n / var_x`` of the report: weak, equal and strong noise.
RATIOS: tuple[float, ...] = (0.25, 1.0, 4.0)


def compute_noisy_n2n_gain(y: np.ndarray | float, *, var_x: float, var_n: float) -> np.ndarray:
    """The slope ``a(y)`` of the Noisy N2N regression (Eq. 2)."""
    y = np.asarray(y, dtype=np.float64)
    return var_x * (1 + y) / (var_x * (1 + y) + var_n)


def compute_noisy_n2n_mse(y: np.ndarray | float, *, var_x: float, var_n: float) -> np.ndarray:
    """Closed-form ``E(X - f_NoisyN2N(Z, y))^2`` (Theorem 1's left-hand side)."""
    a = compute_noisy_n2n_gain(y, var_x=var_x, var_n=var_n)
    return (1 - a) ** 2 * var_x + a**2 * var_n


def find_threshold(*, var_x: float, var_n: float) -> float:
    """``y_0``: the largest root in (0, 1) of ``g(y)``, above which ``mse(y) < var_0``.

    Examples
    --------
    >>> round(find_threshold(var_x=1.0, var_n=1.0), 4)
    0.5214
    """
    s = var_n / var_x
    # g(y) = y (1 + s + y)^2 - s (1 + y)^2 - s^2, expanded in powers of y
    c = 1 + s
    coefficients = [1.0, 2 * c - s, c**2 - 2 * s, -s - s**2]
    roots = np.roots(coefficients)
    real = roots[np.abs(roots.imag) < 1e-9].real
    inside = real[(real > 0) & (real < 1)]
    if inside.size == 0:  # cannot happen: g(0) < 0 < g(1)
        raise ArithmeticError(f"no root of g in (0, 1) for var_x={var_x}, var_n={var_n}")
    return float(inside.max())


@dataclass(frozen=True)
class MonteCarloResult:
    """Monte Carlo estimates on a grid of ``y``: the fitted slopes and the MSE on the real observation."""

    y: np.ndarray
    gain: np.ndarray
    mse: np.ndarray
    samples: int


def simulate_noisy_n2n(
    y: np.ndarray, *, var_x: float, var_n: float, samples: int, rng: np.random.Generator
) -> MonteCarloResult:
    """Draw ``X, N, N0, N1, N2``, fit ``Z'_2 ~ a Z'_1`` by least squares, measure ``E(X - a Z)^2``.

    Each ``y`` uses fresh draws of ``samples`` letters; nothing of the closed form is used.
    """
    gains, mses = [], []
    for value in np.asarray(y, dtype=np.float64):
        x = rng.normal(0.0, np.sqrt(var_x), samples)
        z = x + rng.normal(0.0, np.sqrt(var_n), samples)
        estimate = x + rng.normal(0.0, np.sqrt(value * var_x), samples)
        z1 = estimate + rng.normal(0.0, np.sqrt(var_n), samples)
        z2 = estimate + rng.normal(0.0, np.sqrt(var_n), samples)
        gain = float(z1 @ z2 / (z1 @ z1))
        gains.append(gain)
        mses.append(float(np.mean((x - gain * z) ** 2)))
    return MonteCarloResult(
        y=np.asarray(y, dtype=np.float64), gain=np.array(gains), mse=np.array(mses), samples=samples
    )


def estimate_threshold(result: MonteCarloResult, *, var_x: float) -> float:
    """The Monte Carlo ``y_0``: the last sign change of ``mse - y var_x`` on the grid, interpolated."""
    margin = result.mse - result.y * var_x
    above = np.nonzero(margin >= 0)[0]
    if above.size == 0:
        return float(result.y[0])
    i = int(above.max())
    if i == len(margin) - 1:
        raise ArithmeticError("the Monte Carlo MSE never falls below var_0 on the grid")
    y0, y1, m0, m1 = result.y[i], result.y[i + 1], margin[i], margin[i + 1]
    return float(y0 + (y1 - y0) * m0 / (m0 - m1))


def tabulate_theorem1(
    *, ratios: Sequence[float] = RATIOS, points: int, samples: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The closed form and the Monte Carlo check on ``points`` values of y in (0, 1), with ``var_x = 1``.

    Returns the curves (one row per ratio and y) and one row per ratio with ``y_0`` both ways, the largest
    relative Monte Carlo error, and whether ``mse < var_0`` holds exactly for the grid points above ``y_0``.
    """
    grid = np.linspace(0, 1, points + 2)[1:-1]
    curves, summary = [], []
    for ratio in ratios:
        closed = compute_noisy_n2n_mse(grid, var_x=1.0, var_n=ratio)
        mc = simulate_noisy_n2n(grid, var_x=1.0, var_n=ratio, samples=samples, rng=rng)
        y0 = find_threshold(var_x=1.0, var_n=ratio)
        error = np.abs(mc.mse / closed - 1)
        curves.append(
            pd.DataFrame(
                {
                    "var_n/var_x": ratio,
                    "y": grid,
                    "sigma0^2": grid,
                    "mse_closed_form": closed,
                    "mse_monte_carlo": mc.mse,
                    "relative_error": error,
                    "gain_closed_form": compute_noisy_n2n_gain(grid, var_x=1.0, var_n=ratio),
                    "gain_monte_carlo": mc.gain,
                }
            )
        )
        summary.append(
            {
                "var_n/var_x": ratio,
                "y0_closed_form": y0,
                "y0_monte_carlo": estimate_threshold(mc, var_x=1.0),
                "max_relative_error": float(error.max()),
                "below_sigma0^2_exactly_above_y0": bool(np.array_equal(closed < grid, grid > y0)),
                "samples_per_point": samples,
            }
        )
    return pd.concat(curves, ignore_index=True), pd.DataFrame(summary)


def format_theorem1(summary: pd.DataFrame) -> str:
    """The Markdown report: the statement, then per ratio y_0 both ways and the largest Monte Carlo
    error, mean ± std over the seeds of ``summary`` (one row per ratio and seed)."""
    holds = bool(summary["below_sigma0^2_exactly_above_y0"].all())
    close = bool((summary["max_relative_error"] < 0.02).all())
    values = ["y0_closed_form", "y0_monte_carlo", "max_relative_error"]
    averaged = average_seeds(summary, by=["var_n/var_x", "samples_per_point"], values=values)
    table = pd.DataFrame(
        {
            "var_n/var_x": averaged["var_n/var_x"],
            "y_0 (closed form)": averaged["y0_closed_form"].map(lambda v: f"{v:.4f}"),
            "y_0 (Monte Carlo)": [
                format_mean_std(m, s, digits=4)
                for m, s in zip(averaged["y0_monte_carlo"], averaged["y0_monte_carlo_std"], strict=True)
            ],
            "max relative MC error": [
                format_mean_std(m, s, digits=4)
                for m, s in zip(
                    averaged["max_relative_error"], averaged["max_relative_error_std"], strict=True
                )
            ],
            "samples per y": averaged["samples_per_point"],
            "seeds": averaged["seeds"],
        }
    )
    return "\n".join(
        [
            "# Theorem 1: Noisy N2N in the single-letter Gaussian setting",
            "",
            "X ~ N(0, sigma_X^2), Z = X + N with N ~ N(0, sigma_N^2). The Noisy N2N regressor "
            "f(z) = a(y) z of Eq. (2) is learned from pairs of X' = X + N0, N0 ~ N(0, sigma_0^2), "
            "y = sigma_0^2 / sigma_X^2, and applied to Z. Closed form: MSE(y) = (1 - a)^2 sigma_X^2 + "
            "a^2 sigma_N^2, a = sigma_X^2 (1 + y) / (sigma_X^2 (1 + y) + sigma_N^2); y_0 is the largest "
            "root in (0, 1) of MSE(y) = y sigma_X^2. Monte Carlo: the slope fitted by least squares on "
            "simulated pairs and its MSE on simulated (X, Z), with sigma_X^2 = 1; mean ± std over seeds.",
            "",
            table.to_markdown(index=False, floatfmt=".4f"),
            "",
            f"- MSE < sigma_0^2 exactly for y in (y_0, 1) on every curve: {'yes' if holds else 'NO'}",
            f"- Monte Carlo MSE within 2% of the closed form at every y and seed: {'yes' if close else 'NO'}",
            "",
        ]
    )


def simulate_theorem1(runner: CellRunner, spec: ComputeSpec) -> dict[str, Any]:
    """One seed of :func:`tabulate_theorem1` (a computation cell): the curves and the summary as records."""
    curves, summary = tabulate_theorem1(
        points=spec.param("points"), samples=spec.param("samples"), rng=derive_rng(spec.seed, "theorem1")
    )
    return {"curves": curves.to_dict("records"), "summary": summary.to_dict("records")}


class Theorem1(Experiment):
    """Theorem 1 in closed form with its Monte Carlo check, one computation cell per seed."""

    name = "theorem1"
    title = "Theorem 1 in closed form with its Monte Carlo check"

    def plan(self, ctx: Context) -> list[Cell]:
        sizes = ctx.profile.theorem1
        return [
            make_compute_spec(
                simulate_theorem1,
                seed=seed,
                label="Theorem 1",
                points=sizes.points,
                samples=sizes.samples,
            )
            for seed in ctx.seeds
        ]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """The curves of every seed (column ``seed``); the summaries travel in ``frame.attrs``."""
        curves, summaries = [], []
        for cell in self.plan(ctx):
            result = results.computation(cell)
            if result is not None:
                curves.append(pd.DataFrame(result["curves"]).assign(seed=cell.seed))
                summaries.append(pd.DataFrame(result["summary"]).assign(seed=cell.seed))
        frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
        frame.attrs["summary"] = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
        return frame

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """The curves and summaries of every seed (CSV), the report (mean ± std over seeds) and the figure
        (Monte Carlo dots: mean over seeds, error bars: std)."""
        summary = frame.attrs["summary"]
        frame.to_csv(out_dir / "theorem1.csv", index=False)
        summary.to_csv(out_dir / "theorem1_summary.csv", index=False)
        (out_dir / "theorem1.md").write_text(format_theorem1(summary))
        curves = average_seeds(frame, by=["var_n/var_x", "y", "mse_closed_form"], values=["mse_monte_carlo"])
        first = summary[summary["seed"] == summary["seed"].min()]
        figure = plot_theorem1(out_dir / "theorem1", curves=curves, summary=first)
        return ["theorem1.csv", "theorem1_summary.csv", "theorem1.md", *(p.name for p in figure)]
