"""Figures 2 and 5 of the paper: noise-patch extraction by rule (3) (GCBD) against rule (4) (wavelet),
the std of what each rule extracts (Figure 2) and what each does to the denoisers (Figure 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells.runner import CellRunner
from bench.cells.specs import Cell, ComputeSpec, EvalSpec, make_compute_spec
from bench.experiments.base import Context, Experiment, Results, RunRecord, describe_stage
from bench.reporting.figures import plot_ablation_bars, plot_extraction_histograms
from bench.reporting.report import average_seeds, pivot_mean_std
from noise import (
    NoiseModel,
    WhiteGaussian,
    derive_rng,
    extract_gcbd_patches,
    extract_wavelet_patches,
    parse_noise,
)

#: Figure 2's noise levels (white Gaussian, 0-255 units).
FIG2_SIGMAS: tuple[int, ...] = (25, 50)
#: Figure 5's noise types: one of each family of Tables 2 and 3.
FIG5_NOISES: tuple[NoiseModel, ...] = tuple(
    map(parse_noise, ("gaussian:25", "mixture-B:30", "correlated:25"))
)
#: Figure 5's methods: the upper bounds trained on each rule's patches, and GAN2GAN.
FIG5_METHODS: tuple[str, ...] = ("n2c-gcbd", "n2c-eq4", "gan2gan")
#: Patches shown per rule and level in Figure 2's montages.
MONTAGE = 16


def extract_patches(runner: CellRunner, spec: ComputeSpec) -> dict[str, Any]:
    """A computation cell: both rules on one fixed noisy copy of the training set at one sigma; per rule
    the statistics of the extracted patches' std, every std (for the histogram) and :data:`MONTAGE`
    patches drawn among those above the 90th percentile of std (texture that leaked in shows there)."""
    train = runner.dataset(spec.param("train_data"), limit=spec.param("train_limit"))
    noise = WhiteGaussian(spec.param("sigma"))
    rng = derive_rng(spec.seed, "train-noise", noise.spec)
    noisy = [image + noise.sample(image.shape, rng=rng) for image in train.images]
    window, stride = spec.param("window"), spec.param("stride")
    rules = {
        "rule (3) GCBD": extract_gcbd_patches(noisy, size=window, stride=stride),
        "rule (4) wavelet": extract_wavelet_patches(
            noisy, size=window, stride=stride, lam=spec.param("lam"), count=spec.param("count")
        ),
    }
    montage_rng = derive_rng(spec.seed, "fig2-montage", noise.spec)
    out = {}
    for rule, result in rules.items():
        estimated = result.smooth_sigma() * 255
        above = result.patches[estimated >= np.quantile(estimated, 0.9)] if len(estimated) else result.patches
        chosen = above[montage_rng.permutation(len(above))[:MONTAGE]]
        out[rule] = {
            "row": describe_patches(rule, spec.param("sigma"), estimated, n_windows=result.n_candidates),
            "std": np.round(estimated, 4).tolist(),
            "montage": np.round(chosen, 5).tolist(),
        }
    return out


def describe_patches(rule: str, sigma: int, estimated: np.ndarray, *, n_windows: int) -> dict[str, Any]:
    """Figure 2's statistics of the extracted patches' estimated std (0-255 units)."""
    if not len(estimated):
        return {"rule": rule, "sigma": sigma, "patches": 0, "of windows": n_windows}
    p5, p25, p50, p75, p90, p95 = np.quantile(estimated, [0.05, 0.25, 0.5, 0.75, 0.9, 0.95])
    return {
        "rule": rule,
        "sigma": sigma,
        "patches": len(estimated),
        "of windows": n_windows,
        "median std": float(p50),
        "p5": float(p5),
        "p95": float(p95),
        "p5-p95 width": float(p95 - p5),
        "IQR": float(p75 - p25),
        "mean abs(std - sigma)": float(np.mean(np.abs(estimated - sigma))),
        "share above 1.05 sigma": float(np.mean(estimated > 1.05 * sigma)),
        "p90": float(p90),
    }


class ExtractionAblation(Experiment):
    """Figure 2 (computation cells per level and seed) and Figure 5 (evaluation cells per noise, method
    and seed)."""

    name = "extraction"
    title = "Figures 2 and 5: extraction rule (3) against rule (4)"
    folder = "ablation-extraction"
    prog = "python -m bench.ablation"

    def _fig2(self, ctx: Context, seed: int) -> dict[int, ComputeSpec]:
        params = ctx.profile.params("gan2gan")
        return {
            sigma: make_compute_spec(
                extract_patches,
                seed=seed,
                label=f"extraction sigma {sigma}",
                train_data=ctx.train_data,
                train_limit=ctx.profile.train_limit,
                sigma=sigma,
                window=params["window"],
                stride=params["stride"],
                lam=params.get("lam"),
                count=params.get("count"),
            )
            for sigma in FIG2_SIGMAS
        }

    def _fig5(self, ctx: Context, seed: int) -> dict[tuple[str, str], EvalSpec]:
        return {
            (noise, key): ctx.eval_spec(key, noise=noise, seed=seed)
            for noise in FIG5_NOISES
            for key in FIG5_METHODS
        }

    def plan(self, ctx: Context) -> list[Cell]:
        return [
            cell
            for seed in ctx.seeds
            for cells in (self._fig2(ctx, seed), self._fig5(ctx, seed))
            for cell in cells.values()
        ]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """Figure 5's rows (one per noise, method and seed); Figure 2's statistics, std values and
        montages travel in ``frame.attrs``."""
        fig2, patches, rows = [], {}, []
        for seed in ctx.seeds:
            for sigma, cell in self._fig2(ctx, seed).items():
                result = results.computation(cell)
                for rule, part in (result or {}).items():
                    fig2.append({**part["row"], "seed": seed})
                    stds, blocks = patches.get((rule, sigma), ([], None))
                    montage = blocks if blocks is not None else np.asarray(part["montage"], dtype=np.float32)
                    patches[(rule, sigma)] = ([*stds, *part["std"]], montage)
            for (noise, key), cell in self._fig5(ctx, seed).items():
                result = results.evaluation(cell)
                if result is None:
                    continue
                if key == "gan2gan":
                    best = max((s for s in result.stages if s.stage.startswith("G2G_")), key=lambda s: s.psnr)
                    rows.append({**describe_stage(noise, "best G2G", best, result), "stage": best.stage})
                else:
                    stage = result.stages[-1]
                    rows.append({**describe_stage(noise, stage.stage, stage, result), "stage": stage.stage})
        frame = pd.DataFrame(rows)
        frame.attrs["fig2"] = pd.DataFrame(fig2)
        frame.attrs["patches"] = {key: (blocks, np.asarray(stds)) for key, (stds, blocks) in patches.items()}
        return frame

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        fig2 = frame.attrs["fig2"]
        fig2.to_csv(out_dir / "fig2.csv", index=False)
        written = ["fig2.csv"]
        written += [
            p.name
            for p in plot_extraction_histograms(
                out_dir / "fig2", patches=frame.attrs["patches"], sigmas=FIG2_SIGMAS
            )
        ]
        frame.to_csv(out_dir / "fig5.csv", index=False)
        written.append("fig5.csv")
        summary = average_seeds(frame, by=["noise", "method"], values=["psnr", "ssim"])
        written += [
            p.name
            for p in plot_ablation_bars(
                out_dir / "fig5",
                frame=summary,
                title=f"Figure 5: extraction rule ({ctx.profile.name} profile)",
            )
        ]
        params = ctx.profile.params("gan2gan")
        statistics = [c for c in fig2.columns if c not in ("rule", "sigma", "seed")]
        fig2_summary = fig2.groupby(["rule", "sigma"], sort=False)[statistics].mean().reset_index()
        train = ctx.runner.dataset(ctx.train_data, limit=ctx.profile.train_limit)
        best = frame[frame["method"] == "best G2G"]
        text = [
            "# Ablation: noise-patch extraction, rule (3) GCBD against rule (4) wavelet (Figures 2 and 5)",
            "",
            f"Profile `{ctx.profile.name}`; training set `{train.name}` ({len(train.images)} images); "
            "windows "
            f"{params['window']}x{params['window']}, stride {params['stride']}; rule (4) keeps "
            + (
                f"the {params['count']} smoothest windows"
                if params.get("count")
                else f"lambda <= {params['lam']}"
            )
            + "; rule (3) GCBD's tolerances (mu 0.1, gamma 0.25, 16x16 sub-patches; unverified constants). "
            f"Seeds {', '.join(map(str, ctx.seeds))}.",
            "",
            "## Figure 2: estimated std of the extracted patches (0-255 units, mean over seeds)",
            "",
            fig2_summary.to_markdown(index=False, floatfmt=".2f"),
            "",
            "## Figure 5: PSNR (dB) on the test set (mean ± std over seeds)",
            "",
            pivot_mean_std(summary, index=["noise"], columns="method", value="psnr").to_markdown(index=False),
            "",
            "Best G2G per noise and seed: "
            + ", ".join(f"{r.noise} seed {r.seed} {r.stage}" for r in best.itertuples()),
            "",
        ]
        (out_dir / "ablation-extraction.md").write_text("\n".join(text))
        return [*written, "ablation-extraction.md"]
