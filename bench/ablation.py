"""Command line: the paper's ablations (section 5.3), each a CSV, a Markdown table and a figure.

Examples
--------
::

    python -m bench.ablation extraction --profile smoke   # Figures 2 and 5: rule (3) against rule (4)
    python -m bench.ablation generator                    # Figure 6(a): g_theta2 without L_Z, L_cyc, sigmoid
    python -m bench.ablation init                         # Figure 6(b): G2G_j from g_theta2 or from Z
    python -m bench.ablation convergence --profile cpu    # GAN2GAN's GAN: the authors' critics and ours

Fits and evaluations are cells of the same cache as ``python -m bench.run`` (``<out>/.cache``), so the
GAN2GAN and N2C(Eq.4) fits of Tables 2 and 3 are reused. Reports land in
``<out>/ablation-<name>/<profile>/`` (the convergence study in ``<out>/gan2gan-convergence/<profile>/``;
with another test or training set or seed, beside it in a folder named for them, as ``bench.run`` does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells import CellRunner, EvalResult, derive_rng
from bench.figures import (
    plot_ablation_bars,
    plot_extraction_histograms,
    plot_gan_convergence,
    plot_init_curves,
)
from bench.profiles import Profile, get_profile
from bench.report import open_report_folder
from bench.run import (
    USER_ERRORS,
    add_run_options,
    check_in_process,
    check_run_options,
    format_examples,
    format_os_error,
    format_warning,
    make_eval_spec,
    make_runner,
    name_experiment_folder,
    parse_seeds,
    write_experiment_manifest,
)
from noise import extract_gcbd_patches, extract_wavelet_patches, parse_noise

#: Figure 2's noise levels (white Gaussian, 0-255 units).
FIG2_SIGMAS: tuple[int, ...] = (25, 50)
#: Figure 5's noise types: one of each family of Tables 2 and 3.
FIG5_NOISES: tuple[str, ...] = ("gaussian:25", "mixture-B:30", "correlated:25")
#: Figure 6(a): the full generative model and one loss or layer removed at a time.
GENERATOR_VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "full model": {},
    "no L_Z": {"beta": 0.0},
    "no L_cyc": {"cycle_weight": 0.0},
    "no sigmoid": {"g2_output": "linear"},
}
#: Figure 6(b): where the G2G iterations start.
INIT_VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "from g_theta2": {},
    "from Z": {"g2g_init": "noisy"},
}
#: Figure 6(b)'s synthetic noises.
INIT_NOISES: tuple[str, ...] = ("gaussian:25", "correlated:25")
#: Extra G2G iterations of the init ablation beyond the profile's (the paper: "a couple more").
INIT_EXTRA_ITERATIONS = 2
#: The convergence study (issue 20): the profile's generative model against the authors' critics, with
#: separate and with joint batches. Each overrides the profile's GAN2GAN settings.
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
#: The convergence study's noise levels.
CONVERGENCE_NOISES: tuple[str, ...] = ("gaussian:25", "gaussian:50")
ABLATIONS = ("extraction", "generator", "init", "convergence")
#: Report folders whose name is not ``ablation-<name>``.
REPORT_FOLDERS: Mapping[str, str] = {"convergence": "gan2gan-convergence"}


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench.ablation`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ablation",
        description=__doc__.split("\n")[0],
        epilog=format_examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ablation", choices=ABLATIONS)
    add_run_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ablation; a user error prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = format_warning
    try:
        check_run_options(args)
        check_in_process(args, command=f"ablation {args.ablation}")
        profile = get_profile(args.profile)
        seed = parse_seeds(args.seeds)[0]
        runner = make_runner(args)
        final = args.out / REPORT_FOLDERS.get(args.ablation, f"ablation-{args.ablation}")
        final /= name_experiment_folder(args, profile)
        started = dt.datetime.now(dt.timezone.utc)
        run = {
            "extraction": run_extraction,
            "generator": run_generator,
            "init": run_init,
            "convergence": run_convergence,
        }[args.ablation]
        with open_report_folder(final) as out_dir:
            written = run(runner, args=args, profile=profile, seed=seed, out_dir=out_dir)
            write_experiment_manifest(
                out_dir,
                prog="python -m bench.ablation",
                experiment=f"ablation {args.ablation}",
                profile={"name": profile.name, "gan2gan": profile.params("gan2gan")},
                seeds=[seed],
                device=runner.device,
                started=started,
            )
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {format_os_error(error)}", file=sys.stderr)
        return 2
    print(f"wrote {final}/: {', '.join(p.name for p in written)}, manifest.json", file=sys.stderr)
    return 0


# Figures 2 and 5 ----------------------------------------------------------------------------------


def run_extraction(
    runner: CellRunner, *, args: argparse.Namespace, profile: Profile, seed: int, out_dir: Path
) -> list[Path]:
    """Figure 2 (std of the patches each rule extracts) and Figure 5 (N2C(Eq.3), N2C(Eq.4), best G2G)."""
    params = profile.params("gan2gan")
    train = runner.dataset(args.train_data or profile.train_data, limit=profile.train_limit)
    rows, patches = [], {}
    for sigma in FIG2_SIGMAS:
        noise = parse_noise(f"gaussian:{sigma}")
        rng = derive_rng(seed, "train-noise", noise.spec)
        noisy = [image + noise.sample(image.shape, rng=rng) for image in train.images]
        window, stride = params["window"], params["stride"]
        results = {
            "rule (3) GCBD": extract_gcbd_patches(noisy, size=window, stride=stride),
            "rule (4) wavelet": extract_wavelet_patches(
                noisy, size=window, stride=stride, lam=params.get("lam"), count=params.get("count")
            ),
        }
        for rule, result in results.items():
            estimated = result.smooth_sigma() * 255
            patches[(rule, sigma)] = (result.patches, estimated)
            rows.append(_describe_patches(rule, sigma, estimated, n_windows=result.n_candidates))
    fig2 = pd.DataFrame(rows)
    fig2.to_csv(out_dir / "fig2.csv", index=False)
    written = [out_dir / "fig2.csv"]
    written += plot_extraction_histograms(
        out_dir / "fig2", patches=patches, sigmas=FIG2_SIGMAS, rng=derive_rng(seed, "fig2-montage")
    )

    specs = {
        (noise, key): make_eval_spec(
            key, params=profile.params(key), profile=profile, noise=noise, seed=seed, args=args
        )
        for noise in FIG5_NOISES
        for key in ("n2c-gcbd", "n2c-eq4", "gan2gan")
    }
    fig5_rows = []
    for (noise, key), spec in specs.items():
        result = runner.evaluate(spec)
        if key == "gan2gan":
            best = max((s for s in result.stages if s.stage.startswith("G2G_")), key=lambda s: s.psnr)
            fig5_rows.append({**_row(noise, "best G2G", best.psnr, best.ssim, result), "stage": best.stage})
        else:
            stage = result.stages[-1]
            fig5_rows.append(
                {**_row(noise, stage.stage, stage.psnr, stage.ssim, result), "stage": stage.stage}
            )
    fig5 = pd.DataFrame(fig5_rows)
    fig5.to_csv(out_dir / "fig5.csv", index=False)
    written.append(out_dir / "fig5.csv")
    written += plot_ablation_bars(
        out_dir / "fig5", frame=fig5, title=f"Figure 5: extraction rule ({profile.name} profile)"
    )
    text = [
        "# Ablation: noise-patch extraction, rule (3) GCBD against rule (4) wavelet (Figures 2 and 5)",
        "",
        f"Profile `{profile.name}`; training set `{train.name}` ({len(train.images)} images); windows "
        f"{params['window']}x{params['window']}, stride {params['stride']}; rule (4) keeps "
        + (
            f"the {params['count']} smoothest windows"
            if params.get("count")
            else f"lambda <= {params['lam']}"
        )
        + "; rule (3) GCBD's tolerances (mu 0.1, gamma 0.25, 16x16 sub-patches; unverified constants).",
        "",
        "## Figure 2: estimated std of the extracted patches (0-255 units)",
        "",
        fig2.to_markdown(index=False, floatfmt=".2f"),
        "",
        "## Figure 5: PSNR (dB) / SSIM on the test set",
        "",
        fig5.pivot(index="noise", columns="method", values="psnr").to_markdown(floatfmt=".2f"),
        "",
        "Best G2G per noise: "
        + ", ".join(f"{r.noise} {r.stage}" for r in fig5[fig5["method"] == "best G2G"].itertuples()),
        "",
    ]
    (out_dir / "ablation-extraction.md").write_text("\n".join(text))
    return [*written, out_dir / "ablation-extraction.md"]


def _describe_patches(rule: str, sigma: int, estimated: np.ndarray, *, n_windows: int) -> dict[str, Any]:
    if not len(estimated):
        return {"rule": rule, "sigma": sigma, "patches": 0, "of windows": n_windows}
    p5, p25, p50, p75, p90, p95 = np.quantile(estimated, [0.05, 0.25, 0.5, 0.75, 0.9, 0.95])
    return {
        "rule": rule,
        "sigma": sigma,
        "patches": len(estimated),
        "of windows": n_windows,
        "median std": p50,
        "p5": p5,
        "p95": p95,
        "p5-p95 width": p95 - p5,
        "IQR": p75 - p25,
        "mean abs(std - sigma)": float(np.mean(np.abs(estimated - sigma))),
        "share above 1.05 sigma": float(np.mean(estimated > 1.05 * sigma)),
        "p90": p90,
    }


# Figure 6 -----------------------------------------------------------------------------------------


def run_generator(
    runner: CellRunner, *, args: argparse.Namespace, profile: Profile, seed: int, out_dir: Path
) -> list[Path]:
    """Figure 6(a): g_theta2's PSNR at sigma 25 for the full model and each component removed."""
    noise = "gaussian:25"
    rows = []
    for variant, overrides in GENERATOR_VARIANTS.items():
        params = {**profile.params("gan2gan"), **overrides, "iterations": 0}
        result = runner.evaluate(
            make_eval_spec("gan2gan", params=params, profile=profile, noise=noise, seed=seed, args=args)
        )
        stage = next(s for s in result.stages if s.stage == "g_theta2")
        rows.append(_row(noise, variant, stage.psnr, stage.ssim, result))
    frame = pd.DataFrame(rows)
    frame.to_csv(out_dir / "fig6a.csv", index=False)
    figure = plot_ablation_bars(
        out_dir / "fig6a", frame=frame, title=f"Figure 6(a): g_theta2 at sigma 25 ({profile.name} profile)"
    )
    text = [
        "# Ablation: the generative model's losses and g_theta2's sigmoid (Figure 6(a))",
        "",
        f"Profile `{profile.name}`; g_theta2 (no G2G iteration) on `{noise}`; each variant is a separate "
        "Algorithm-1 fit: no L_Z sets beta = 0, no L_cyc sets the cycle weight gamma = 0, no sigmoid makes "
        "g_theta2's output linear.",
        "",
        frame[["method", "psnr", "ssim", "fit_seconds"]].to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    (out_dir / "ablation-generator.md").write_text("\n".join(text))
    return [out_dir / "fig6a.csv", *figure, out_dir / "ablation-generator.md"]


def run_init(
    runner: CellRunner, *, args: argparse.Namespace, profile: Profile, seed: int, out_dir: Path
) -> list[Path]:
    """Figure 6(b): PSNR of G2G_j per iteration, the iterations started from g_theta2 or from Z."""
    iterations = profile.params("gan2gan").get("iterations", 3) + INIT_EXTRA_ITERATIONS
    rows = []
    for noise in INIT_NOISES:
        for variant, overrides in INIT_VARIANTS.items():
            params = {**profile.params("gan2gan"), **overrides, "iterations": iterations}
            result = runner.evaluate(
                make_eval_spec("gan2gan", params=params, profile=profile, noise=noise, seed=seed, args=args)
            )
            for stage in result.stages:
                if stage.stage.startswith("G2G_"):
                    row = _row(noise, variant, stage.psnr, stage.ssim, result)
                    rows.append({**row, "iteration": int(stage.stage.split("_")[1])})
    frame = pd.DataFrame(rows)
    frame.to_csv(out_dir / "fig6b.csv", index=False)
    figure = plot_init_curves(
        out_dir / "fig6b", frame=frame, title=f"Figure 6(b): where G2G starts ({profile.name} profile)"
    )
    table = frame.pivot_table(index=["noise", "method"], columns="iteration", values="psnr").reset_index()
    table.columns = ["noise", "start", *(f"G2G_{j}" for j in table.columns[2:])]
    text = [
        "# Ablation: G2G iterations started from g_theta2 or from the noisy images Z (Figure 6(b))",
        "",
        f"Profile `{profile.name}`; {iterations} iterations (the profile's "
        f"{iterations - INIT_EXTRA_ITERATIONS} and {INIT_EXTRA_ITERATIONS} more); PSNR (dB) of G2G_j on "
        "the test set. Figure 6(c) (real microscopy noise, WF Avg=1) needs the FMD data of the real-noise "
        "experiments.",
        "",
        table.to_markdown(index=False, floatfmt=".2f"),
        "",
    ]
    (out_dir / "ablation-init.md").write_text("\n".join(text))
    return [out_dir / "fig6b.csv", *figure, out_dir / "ablation-init.md"]


# GAN2GAN's generative model along Algorithm 1 -------------------------------------------------------


def run_convergence(
    runner: CellRunner, *, args: argparse.Namespace, profile: Profile, seed: int, out_dir: Path
) -> list[Path]:
    """g_theta1's noise (clean-free diagnostics), the critics' W-estimates and g_theta2's PSNR along
    Algorithm 1, for the profile's generative model and the authors' critics, at sigma 25 and 50."""
    curves, rows = [], []
    for noise in CONVERGENCE_NOISES:
        for variant, overrides in CONVERGENCE_VARIANTS.items():
            params = {**profile.params("gan2gan"), **overrides, "iterations": 0}
            result = runner.evaluate(
                make_eval_spec("gan2gan", params=params, profile=profile, noise=noise, seed=seed, args=args)
            )
            gan = result.fit_report["gan"]
            reference = gan["extracted_noise_255"]["random_std"]
            diagnostics = gan["diagnostics"]
            for quantity, values in diagnostics.items():
                if quantity != "step":
                    scale = 255 if quantity.endswith("_std") else 1
                    curves += [
                        {
                            "noise": noise,
                            "variant": variant,
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
                        "noise": noise,
                        "variant": variant,
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
                    **_row(noise, variant, stage.psnr, stage.ssim, result),
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
    frame, summary = pd.DataFrame(curves), pd.DataFrame(rows)
    frame.to_csv(out_dir / "convergence.csv", index=False)
    summary.to_csv(out_dir / "convergence_summary.csv", index=False)
    figure = plot_gan_convergence(
        out_dir / "convergence", frame=frame, title=f"GAN2GAN's generative model ({profile.name} profile)"
    )
    columns = [
        "noise",
        "method",
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
    ]
    params = profile.params("gan2gan")
    text = [
        "# GAN2GAN's generative model: the authors' critics against the profile's",
        "",
        f"Profile `{profile.name}`: {params.get('gan_steps')} generator iterations of batch "
        f"{params.get('gan_batch_size')}, n_critic {params.get('n_critic', 5)}, seed {seed}. Every variant "
        "is a separate Algorithm-1 fit (no G2G iteration) with the profile's settings except those it "
        "names. g_theta1's noise is measured without clean images (std in 0-255 units; random part: "
        "samples minus their per-pixel mean over 256 latents; fixed pattern: that mean; flatness: of the "
        "random part's spectrum, about 1 for white noise), beside the extracted noise patches' random-part "
        "std. PSNR/SSIM: g_theta2 on the test set (it plays no part in any choice).",
        "",
        summary[columns].rename(columns={"method": "variant"}).to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    (out_dir / "convergence.md").write_text("\n".join(text))
    return [
        out_dir / "convergence.csv",
        out_dir / "convergence_summary.csv",
        *figure,
        out_dir / "convergence.md",
    ]


def _row(noise: str, method: str, psnr: float, ssim: float, result: EvalResult) -> dict[str, Any]:
    return {
        "noise": noise,
        "method": method,
        "psnr": psnr,
        "ssim": ssim,
        "seed": result.spec.seed,
        "fit_seconds": result.fit_seconds,
        "n_images": result.stages[0].n_images,
    }


if __name__ == "__main__":
    sys.exit(main())
