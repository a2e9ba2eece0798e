"""Figure 1 of the paper: iterative Noisy N2N on BSD68 at sigma 25 (section 3).

For every sigma_0 of the profile, :class:`methods.noisy_n2n.NoisyN2N` trains Noisy-N2N_1..J from initial
estimates at extra noise sigma_0, the true noise simulated exactly; sigma_0 = 0 with one iteration is
ordinary N2N, the upper bound. The x-axis labels carry the initial estimates' PSNR, as in the paper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells.metrics import compute_psnr
from bench.cells.runner import CellRunner
from bench.cells.specs import Cell, ComputeSpec, make_compute_spec
from bench.experiments.base import Context, Experiment, Results, RunRecord
from bench.reporting.figures import plot_noisy_n2n
from bench.reporting.report import average_seeds, format_mean_std, pivot_mean_std
from methods.noisy_n2n import make_initial_estimates
from noise import parse_noise

NOISE = parse_noise("gaussian:25")


def measure_initial_estimates(runner: CellRunner, spec: ComputeSpec) -> dict[str, Any]:
    """The mean PSNR of the initial estimates (training images plus noise of std sigma_0) on the clean
    training images: the figure's axis labels."""
    train = runner.dataset(
        spec.param("train_data"), limit=spec.param("train_limit"), min_size=spec.param("min_size")
    )
    estimates = make_initial_estimates(train.images, sigma0=spec.param("sigma0"), seed=spec.seed)
    psnr = [compute_psnr(e, c) for e, c in zip(estimates, train.images, strict=True)]
    return {"initial_psnr": float(np.mean(psnr))}


class Figure1(Experiment):
    """Figure 1: Noisy-N2N_j per sigma_0 against N2N trained as long as the J iterations together."""

    name = "fig1"
    title = "Figure 1: iterative Noisy N2N"

    def _cells(self, ctx: Context, seed: int) -> dict[str, Cell]:
        sizes, base = ctx.profile.fig1, ctx.profile.params("noisy-n2n")
        j = sizes.iterations
        # N2N gets the training budget of all J iterations together, so it bounds them fairly.
        budget = {"steps": base["steps"] * j, "milestones": tuple(m * j for m in base.get("milestones", ()))}
        cells: dict[str, Cell] = {
            "N2N": ctx.eval_spec(
                "noisy-n2n", noise=NOISE, seed=seed, params={**base, **budget, "sigma0": 0.0, "iterations": 1}
            )
        }
        for sigma0 in sizes.sigma0:
            params = {**base, "sigma0": float(sigma0), "iterations": j}
            cells[f"{float(sigma0)}"] = ctx.eval_spec("noisy-n2n", noise=NOISE, seed=seed, params=params)
            cells[f"{float(sigma0)} initial"] = make_compute_spec(
                measure_initial_estimates,
                seed=seed,
                label=f"initial estimates sigma_0 {sigma0:g}",
                train_data=ctx.train_data,
                train_limit=ctx.profile.train_limit,
                min_size=base["patch_size"],
                sigma0=float(sigma0),
            )
        return cells

    def plan(self, ctx: Context) -> list[Cell]:
        return [cell for seed in ctx.seeds for cell in self._cells(ctx, seed).values()]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """One row per seed, sigma_0 and model: the test PSNR/SSIM and the initial estimates' PSNR."""
        rows = []
        for seed in ctx.seeds:
            cells = self._cells(ctx, seed)
            upper = results.evaluation(cells.pop("N2N"))
            if upper is not None:
                stage = upper.stages[-1]
                rows.append(
                    {"seed": seed, "sigma0": 0.0, "method": "N2N", "psnr": stage.psnr, "ssim": stage.ssim}
                )
            for sigma0 in ctx.profile.fig1.sigma0:
                result = results.evaluation(cells[f"{float(sigma0)}"])
                initial = results.computation(cells[f"{float(sigma0)} initial"])
                if result is None or initial is None:
                    continue
                rows += [
                    {
                        "seed": seed,
                        "sigma0": float(sigma0),
                        "initial_psnr": initial["initial_psnr"],
                        "method": stage.stage,
                        "psnr": stage.psnr,
                        "ssim": stage.ssim,
                    }
                    for stage in result.stages
                ]
        return pd.DataFrame(rows, columns=["seed", "sigma0", "initial_psnr", "method", "psnr", "ssim"])

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """The CSV (per seed), the Markdown table (PSNR per sigma_0 and iteration, mean ± std over seeds)
        and the figure (error bars: std over seeds)."""
        frame.to_csv(out_dir / "fig1.csv", index=False)
        summary = average_seeds(frame, by=["sigma0", "method"], values=["psnr", "ssim", "initial_psnr"])
        noisy = summary[summary["method"] != "N2N"]
        table = pivot_mean_std(
            noisy.assign(initial_psnr=noisy["initial_psnr"].round(2)),
            index=["sigma0", "initial_psnr"],
            columns="method",
            value="psnr",
        )
        upper = summary[summary["method"] == "N2N"]
        bound = format_mean_std(upper["psnr"].iloc[0], upper["psnr_std"].iloc[0]) if len(upper) else "-"
        text = [
            "# Figure 1: iterative Noisy N2N (BSD68, sigma 25, the noise simulated exactly)",
            "",
            f"Profile `{ctx.profile.name}`, seeds {', '.join(map(str, ctx.seeds))} (mean ± std over seeds). "
            "Initial estimates: the training images plus Gaussian noise of std sigma_0 (their PSNR on the "
            "training images in `initial_psnr`); Noisy-N2N_j trains on pairs of the previous estimate plus "
            "the true noise twice. N2N (pairs of the clean images, trained as long as the J iterations "
            f"together), the upper bound: {bound} dB.",
            "",
            table.to_markdown(index=False, floatfmt=".2f"),
            "",
            "Theorem 1 in images: each Noisy-N2N_1 should beat its initial estimate's PSNR, and the "
            "iterations "
            "should approach N2N.",
            "",
        ]
        (out_dir / "fig1.md").write_text("\n".join(text))
        figure = plot_noisy_n2n(
            out_dir / "fig1",
            frame=summary,
            title=f"Figure 1: iterative Noisy N2N ({ctx.profile.name} profile)",
        )
        return ["fig1.csv", "fig1.md", *(p.name for p in figure)]
