"""GAN2GAN along Algorithm 1 and its G2G iterations (issue 20): the authors' critics with separate and with
joint batches against the profile's, at sigma 25 and 50, the GAN measured without clean images; then the
profile's G2G iterations, with test PSNR and the clean-free loss-over-identity ratio against the step."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cells.specs import Cell, EvalSpec
from bench.experiments.base import Context, Experiment, Results, RunRecord, describe_stage
from bench.reporting.figures import plot_gan_convergence
from bench.reporting.report import average_seeds, format_mean_std, pivot_mean_std
from noise import NoiseModel, parse_noise

#: The variant whose G2G iterations the study follows (the profile's own GAN2GAN).
PROFILE_VARIANT = "profile: WGAN-GP critics, standardised g_theta1"
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
    PROFILE_VARIANT: {},
}
#: Snapshots of each G2G iteration evaluated on the test set (the last is the iteration's end).
G2G_SNAPSHOTS = 4
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
    """Every variant is a separate Algorithm-1 fit per noise and seed, with no G2G iteration except the
    profile's own, whose G2G iterations keep :data:`G2G_SNAPSHOTS` snapshots each for the test curve."""

    name = "convergence"
    title = "GAN2GAN's GAN: the authors' critics and ours along Algorithm 1"
    folder = "gan2gan-convergence"
    prog = "python -m bench.ablation"

    def _cells(self, ctx: Context, seed: int) -> dict[tuple[str, str], EvalSpec]:
        profile = ctx.profile.params("gan2gan")
        every = max(1, profile["g2g_steps"] // G2G_SNAPSHOTS)
        return {
            (noise, variant): ctx.eval_spec(
                "gan2gan",
                noise=noise,
                seed=seed,
                params={
                    **profile,
                    **overrides,
                    **({"g2g_snapshot_every": every} if variant == PROFILE_VARIANT else {"iterations": 0}),
                },
            )
            for noise in CONVERGENCE_NOISES
            for variant, overrides in CONVERGENCE_VARIANTS.items()
        }

    def plan(self, ctx: Context) -> list[Cell]:
        return [cell for seed in ctx.seeds for cell in self._cells(ctx, seed).values()]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """One row per seed, noise, variant, quantity and logged step (the curves; the G2G ones, quantities
        ``g2g_psnr`` and ``g2g_loss_ratio``, count steps over all iterations); the per-fit summary travels
        in ``frame.attrs["summary"]``, the G2G snapshots in ``frame.attrs["g2g"]``."""
        curves, rows, g2g = [], [], []
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
                steps = dict(result.spec.fit.params)["g2g_steps"]
                for iteration, losses in sorted(result.fit_report["g2g"].items()):
                    j = int(iteration.removeprefix("G2G_"))
                    logged = losses["history"]
                    curves += [
                        {
                            **keys,
                            "quantity": "g2g_loss_ratio",
                            "step": (j - 1) * steps + step,
                            "value": loss / identity,
                            "reference": 1.0,
                        }
                        for step, loss, identity in zip(
                            logged["step"], logged["loss"], logged["identity_loss"], strict=True
                        )
                    ]
                for stage in result.stages:
                    if stage.stage.startswith("G2G_"):
                        iteration, _, step = stage.stage.partition(" step ")
                        j = int(iteration.removeprefix("G2G_"))
                        at = int(step) if step else steps
                        row = {**keys, "iteration": j, "step": at, "psnr": stage.psnr, "ssim": stage.ssim}
                        g2g.append(row)
                        curves.append(
                            {
                                **keys,
                                "quantity": "g2g_psnr",
                                "step": (j - 1) * steps + at,
                                "value": stage.psnr,
                                "reference": float("nan"),
                            }
                        )
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
        frame.attrs["g2g"] = pd.DataFrame(g2g)
        return frame

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        summary, g2g = frame.attrs["summary"], frame.attrs["g2g"]
        frame.to_csv(out_dir / "convergence.csv", index=False)
        summary.to_csv(out_dir / "convergence_summary.csv", index=False)
        g2g.to_csv(out_dir / "convergence_g2g.csv", index=False)
        curves = average_seeds(
            frame, by=["noise", "variant", "quantity", "step"], values=["value", "reference"]
        )
        figure = plot_gan_convergence(
            out_dir / "convergence",
            frame=curves,
            title=f"GAN2GAN along Algorithm 1 and G2G ({ctx.profile.name} profile)",
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
            "Algorithm-1 fit with the profile's settings except those it names, and no G2G iteration except "
            "the profile's own (below). "
            "g_theta1's noise is measured without clean images (std in 0-255 units; random part: samples "
            "minus their per-pixel mean over 256 latents; fixed pattern: that mean; flatness: of the random "
            "part's spectrum, about 1 for white noise), beside the extracted noise patches' random-part std. "
            "PSNR/SSIM: g_theta2 on the test set (it plays no part in any choice).",
            "",
            shown.to_markdown(index=False),
            "",
            *self._describe_g2g(frame, g2g, params=params),
        ]
        (out_dir / "convergence.md").write_text("\n".join(text))
        return [
            "convergence.csv",
            "convergence_summary.csv",
            "convergence_g2g.csv",
            *(p.name for p in figure),
            "convergence.md",
        ]

    @staticmethod
    def _describe_g2g(frame: pd.DataFrame, g2g: pd.DataFrame, *, params: Mapping[str, Any]) -> list[str]:
        """The Markdown section on the profile's G2G iterations: test PSNR at each snapshot, and the pair
        loss over the identity's at the end of each iteration."""
        if g2g.empty:
            return []
        psnr = pivot_mean_std(
            average_seeds(g2g, by=["noise", "iteration", "step"], values=["psnr"]),
            index=["noise", "iteration"],
            columns="step",
            value="psnr",
        )
        steps = params["g2g_steps"]
        ratios = frame[frame["quantity"] == "g2g_loss_ratio"].assign(
            iteration=lambda f: (f["step"] - 1) // steps + 1
        )
        last = ratios.loc[ratios.groupby(["seed", "noise", "iteration"])["step"].idxmax()]
        ratio = average_seeds(last, by=["noise", "iteration"], values=["value"])
        ratio["loss / identity loss at the end"] = [
            format_mean_std(m, s, digits=3) for m, s in zip(ratio["value"], ratio["value_std"], strict=True)
        ]
        psnr = psnr.rename(columns=lambda c: c if c in ("noise", "iteration") else f"step {c}")
        table = psnr.merge(ratio[["noise", "iteration", "loss / identity loss at the end"]], how="left")
        return [
            f"## G2G iterations of `{PROFILE_VARIANT}`",
            "",
            f"Each G2G iteration trains {steps} steps of {params['g2g_batch_size']} x "
            f"{params['g2g_patch_size']}x{params['g2g_patch_size']} pairs; test PSNR (dB) of its DnCNN after "
            "each step count (column), and its pair loss over the loss of returning the input at the end "
            "(below 1: it has left the identity plateau; clean-free). The test PSNRs choose nothing.",
            "",
            table.to_markdown(index=False),
            "",
        ]
