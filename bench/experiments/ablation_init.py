"""Figure 6(b) of the paper: PSNR of G2G_j per iteration, the iterations started from g_theta2 or from
the noisy images Z (section 5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cells.specs import Cell, EvalSpec
from bench.experiments.base import Context, Experiment, Results, RunRecord, describe_stage
from bench.reporting.figures import plot_init_curves
from bench.reporting.report import average_seeds, pivot_mean_std
from noise import NoiseModel, parse_noise

#: Where the G2G iterations start.
INIT_VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "from g_theta2": {},
    "from Z": {"g2g_init": "noisy"},
}
#: Figure 6(b)'s synthetic noises.
INIT_NOISES: tuple[NoiseModel, ...] = (parse_noise("gaussian:25"), parse_noise("correlated:25"))
#: Extra G2G iterations beyond the profile's (the paper: "a couple more").
INIT_EXTRA_ITERATIONS = 2


class InitAblation(Experiment):
    """Figure 6(b): one GAN2GAN fit per noise, start and seed, with two more iterations than the profile's."""

    name = "init"
    title = "Figure 6(b): G2G_j started from g_theta2 or from Z"
    folder = "ablation-init"
    prog = "python -m bench.ablation"

    def iterations(self, ctx: Context) -> int:
        """The profile's G2G iterations and :data:`INIT_EXTRA_ITERATIONS` more."""
        return ctx.profile.params("gan2gan").get("iterations", 3) + INIT_EXTRA_ITERATIONS

    def _cells(self, ctx: Context, seed: int) -> dict[tuple[str, str], EvalSpec]:
        base = {**ctx.profile.params("gan2gan"), "iterations": self.iterations(ctx)}
        return {
            (noise, variant): ctx.eval_spec("gan2gan", noise=noise, seed=seed, params={**base, **overrides})
            for noise in INIT_NOISES
            for variant, overrides in INIT_VARIANTS.items()
        }

    def plan(self, ctx: Context) -> list[Cell]:
        return [cell for seed in ctx.seeds for cell in self._cells(ctx, seed).values()]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        rows = []
        for seed in ctx.seeds:
            for (noise, variant), cell in self._cells(ctx, seed).items():
                result = results.evaluation(cell)
                for stage in result.stages if result is not None else ():
                    if stage.stage.startswith("G2G_"):
                        row = describe_stage(noise, variant, stage, result)
                        rows.append({**row, "iteration": int(stage.stage.split("_")[1])})
        return pd.DataFrame(rows)

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        frame.to_csv(out_dir / "fig6b.csv", index=False)
        summary = average_seeds(frame, by=["noise", "method", "iteration"], values=["psnr", "ssim"])
        figure = plot_init_curves(
            out_dir / "fig6b",
            frame=summary,
            title=f"Figure 6(b): where G2G starts ({ctx.profile.name} profile)",
        )
        table = pivot_mean_std(
            summary.assign(iteration=[f"G2G_{j}" for j in summary["iteration"]]),
            index=["noise", "method"],
            columns="iteration",
            value="psnr",
        ).rename(columns={"method": "start"})
        iterations = self.iterations(ctx)
        text = [
            "# Ablation: G2G iterations started from g_theta2 or from the noisy images Z (Figure 6(b))",
            "",
            f"Profile `{ctx.profile.name}`; {iterations} iterations (the profile's "
            f"{iterations - INIT_EXTRA_ITERATIONS} and {INIT_EXTRA_ITERATIONS} more); PSNR (dB) of G2G_j on "
            f"the test set, seeds {', '.join(map(str, ctx.seeds))} (mean ± std over seeds). Figure 6(c) "
            "(real microscopy noise, WF Avg=1) needs the FMD data of the real-noise experiments.",
            "",
            table.to_markdown(index=False),
            "",
        ]
        (out_dir / "ablation-init.md").write_text("\n".join(text))
        return ["fig6b.csv", *(p.name for p in figure), "ablation-init.md"]
