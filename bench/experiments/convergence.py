"""GAN2GAN's generative model along Algorithm 1 (issue 20): the authors' critics with separate and with
joint batches against the profile's, at sigma 25 and 50, measured without clean images."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cells.specs import Cell, EvalSpec
from bench.experiments.base import Context, Experiment, Results, RunRecord, describe_stage
from bench.reporting.figures import plot_gan_convergence
from bench.reporting.report import average_seeds, format_mean_std
from noise import NoiseModel, parse_noise

#: The profile's generative model against the authors' critics, with separate and with joint batches.
#: Each overrides the profile's GAN2GAN settings.
CONVERGENCE_VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "code: BN critics, separate batches": {
        "critic_norm": "batch",
        "lipschitz": "clip",
        "critic_optimizer": "rmsprop",
        "lr_critic": 5e-5,
        "critic_betas": (0.5, 0.999),
        "critic_batch": "separate",
        "generator_output": "tanh",
    },
    "BN critics, joint batches": {
        "critic_norm": "batch",
        "lipschitz": "clip",
        "critic_optimizer": "rmsprop",
        "lr_critic": 5e-5,
        "critic_betas": (0.5, 0.999),
        "critic_batch": "joint",
        "generator_output": "tanh",
    },
    "WGAN-GP critics, tanh g_theta1": {"generator_output": "tanh"},
    "profile: WGAN-GP critics, standardised g_theta1": {},
}
#: The study's noise levels.
CONVERGENCE_NOISES: tuple[NoiseModel, ...] = (parse_noise("gaussian:25"), parse_noise("gaussian:50"))
#: The summary's columns beside noise and variant, each mean ± std over seeds in the report.
SUMMARY_VALUES: tuple[str, ...] = (
    "extracted std",
    "g1 random std",
    "g1 pattern std",
    "g1 border/interior",
    "g1 flatness",
    "kept iteration",
    "w1 last",
    "w2 last",
    "psnr",
    "ssim",
    "fit_seconds",
)


class Convergence(Experiment):
    """Every variant is a separate Algorithm-1 fit (no G2G iteration) per noise and seed."""

    name = "convergence"
    title = "GAN2GAN's GAN: the authors' critics and ours along Algorithm 1"
    folder = "gan2gan-convergence"
    prog = "python -m bench.ablation"

    def _cells(self, ctx: Context, seed: int) -> dict[tuple[str, str], EvalSpec]:
        base = {**ctx.profile.params("gan2gan"), "iterations": 0}
        return {
            (noise, variant): ctx.eval_spec("gan2gan", noise=noise, seed=seed, params={**base, **overrides})
            for noise in CONVERGENCE_NOISES
            for variant, overrides in CONVERGENCE_VARIANTS.items()
        }

    def plan(self, ctx: Context) -> list[Cell]:
        return [cell for seed in ctx.seeds for cell in self._cells(ctx, seed).values()]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """One row per seed, noise, variant, quantity and logged step (the curves); the per-fit summary
        travels in ``frame.attrs["summary"]``."""
        curves, rows = [], []
        for seed in ctx.seeds:
            for (noise, variant), cell in self._cells(ctx, seed).items():
                result = results.evaluation(cell)
                if result is None:
                    continue
                gan = result.fit_report["gan"]
                reference = gan["extracted_noise_255"]["random_std"]
                keys = {"seed": seed, "noise": noise.spec, "variant": variant}
                diagnostics = gan["diagnostics"]
                for quantity, values in diagnostics.items():
                    if quantity != "step":
                        scale = 255 if quantity.endswith("_std") else 1
                        curves += [
                            {
                                **keys,
                                "quantity": quantity,
                                "step": step,
                                "value": value * scale,
                                "reference": reference,
                            }
                            for step, value in zip(diagnostics["step"], values, strict=True)
                        ]
                history = gan["history"]
                for quantity in ("w1", "w2"):
                    curves += [
                        {
                            **keys,
                            "quantity": quantity,
                            "step": step,
                            "value": value,
                            "reference": float("nan"),
                        }
                        for step, value in zip(history["step"], history[quantity], strict=True)
                    ]
                generated = gan["generated_noise_255"]
                stage = next(s for s in result.stages if s.stage == "g_theta2")
                rows.append(
                    {
                        **describe_stage(noise, variant, stage, result),
                        "extracted std": reference,
                        "g1 random std": generated["random_std"],
                        "g1 pattern std": generated["pattern_std"],
                        "g1 border/interior": generated["border_std"] / generated["interior_std"],
                        "g1 flatness": generated["flatness"],
                        "kept iteration": gan["chosen_step"],
                        "w1 last": history["w1"][-1],
                        "w2 last": history["w2"][-1],
                    }
                )
        frame = pd.DataFrame(curves)
        frame.attrs["summary"] = pd.DataFrame(rows)
        return frame

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        summary = frame.attrs["summary"]
        frame.to_csv(out_dir / "convergence.csv", index=False)
        summary.to_csv(out_dir / "convergence_summary.csv", index=False)
        curves = average_seeds(
            frame, by=["noise", "variant", "quantity", "step"], values=["value", "reference"]
        )
        figure = plot_gan_convergence(
            out_dir / "convergence",
            frame=curves,
            title=f"GAN2GAN's generative model ({ctx.profile.name} profile)",
        )
        averaged = average_seeds(summary, by=["noise", "method"], values=list(SUMMARY_VALUES))
        shown = pd.DataFrame(
            {
                "noise": averaged["noise"],
                "variant": averaged["method"],
                **{
                    column: [
                        format_mean_std(m, s, digits=3)
                        for m, s in zip(averaged[column], averaged[f"{column}_std"], strict=True)
                    ]
                    for column in SUMMARY_VALUES
                },
                "seeds": averaged["seeds"],
            }
        )
        params = ctx.profile.params("gan2gan")
        text = [
            "# GAN2GAN's generative model: the authors' critics against the profile's",
            "",
            f"Profile `{ctx.profile.name}`: {params.get('gan_steps')} generator iterations of batch "
            f"{params.get('gan_batch_size')}, n_critic {params.get('n_critic', 5)}, seeds "
            f"{', '.join(map(str, ctx.seeds))} (mean ± std over seeds). Every variant is a separate "
            "Algorithm-1 fit (no G2G iteration) with the profile's settings except those it names. "
            "g_theta1's noise is measured without clean images (std in 0-255 units; random part: samples "
            "minus their per-pixel mean over 256 latents; fixed pattern: that mean; flatness: of the random "
            "part's spectrum, about 1 for white noise), beside the extracted noise patches' random-part std. "
            "PSNR/SSIM: g_theta2 on the test set (it plays no part in any choice).",
            "",
            shown.to_markdown(index=False),
            "",
        ]
        (out_dir / "convergence.md").write_text("\n".join(text))
        return ["convergence.csv", "convergence_summary.csv", *(p.name for p in figure), "convergence.md"]
