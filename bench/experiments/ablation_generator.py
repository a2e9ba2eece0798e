"""Figure 6(a) of the paper: g_theta2 at sigma 25 for the full generative model and with one loss or
layer removed at a time (section 5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cells.specs import Cell, EvalSpec
from bench.experiments.base import Context, Experiment, Results, RunRecord, describe_stage
from bench.reporting.figures import plot_ablation_bars
from bench.reporting.report import average_seeds, format_mean_std
from noise import parse_noise

#: The full generative model and one loss or layer removed at a time.
GENERATOR_VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "full model": {},
    "no L_Z": {"beta": 0.0},
    "no L_cyc": {"cycle_weight": 0.0},
    "no sigmoid": {"g2_output": "linear"},
}
NOISE = parse_noise("gaussian:25")


class GeneratorAblation(Experiment):
    """Figure 6(a): each variant is a separate Algorithm-1 fit without G2G iterations."""

    name = "generator"
    title = "Figure 6(a): g_theta2 without L_Z, L_cyc or its sigmoid"
    folder = "ablation-generator"
    prog = "python -m bench.ablation"

    def _cells(self, ctx: Context, seed: int) -> dict[str, EvalSpec]:
        base = ctx.profile.params("gan2gan")
        return {
            variant: ctx.eval_spec(
                "gan2gan", noise=NOISE, seed=seed, params={**base, **overrides, "iterations": 0}
            )
            for variant, overrides in GENERATOR_VARIANTS.items()
        }

    def plan(self, ctx: Context) -> list[Cell]:
        return [cell for seed in ctx.seeds for cell in self._cells(ctx, seed).values()]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        rows = []
        for seed in ctx.seeds:
            for variant, cell in self._cells(ctx, seed).items():
                result = results.evaluation(cell)
                if result is not None:
                    stage = next(s for s in result.stages if s.stage == "g_theta2")
                    rows.append(describe_stage(NOISE, variant, stage, result))
        return pd.DataFrame(rows)

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        frame.to_csv(out_dir / "fig6a.csv", index=False)
        summary = average_seeds(frame, by=["noise", "method"], values=["psnr", "ssim", "fit_seconds"])
        figure = plot_ablation_bars(
            out_dir / "fig6a",
            frame=summary,
            title=f"Figure 6(a): g_theta2 at sigma 25 ({ctx.profile.name} profile)",
        )
        shown = pd.DataFrame(
            {
                "variant": summary["method"],
                **{
                    column: [
                        format_mean_std(m, s, digits=digits)
                        for m, s in zip(summary[column], summary[f"{column}_std"], strict=True)
                    ]
                    for column, digits in (("psnr", 3), ("ssim", 4), ("fit_seconds", 0))
                },
                "seeds": summary["seeds"],
            }
        )
        text = [
            "# Ablation: the generative model's losses and g_theta2's sigmoid (Figure 6(a))",
            "",
            f"Profile `{ctx.profile.name}`; g_theta2 (no G2G iteration) on `{NOISE}`; seeds "
            f"{', '.join(map(str, ctx.seeds))} (mean ± std over seeds). Each variant is a separate "
            "Algorithm-1 fit: no L_Z sets beta = 0, no L_cyc sets the cycle weight gamma = 0, no sigmoid "
            "makes g_theta2's output linear.",
            "",
            shown.to_markdown(index=False),
            "",
        ]
        (out_dir / "ablation-generator.md").write_text("\n".join(text))
        return ["fig6a.csv", *(p.name for p in figure), "ablation-generator.md"]
