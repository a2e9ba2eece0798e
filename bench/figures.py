"""Figures in one matplotlib style, written as PNG (to look at) and PDF (vector, for papers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bench.report import order_methods, summarise_results
from bench.tables import TableSpec

STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 4.2),
    "figure.dpi": 150,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "savefig.bbox": "tight",
}


def plot_psnr_against_level(
    path_stem: Path, *, table: TableSpec, results: pd.DataFrame, methods: Sequence[str], title: str
) -> list[Path]:
    """PSNR against noise level, one colour per method: ours solid with markers, the paper's dashed.

    Returns the written files (``<stem>.png`` and ``<stem>.pdf``).
    """
    paper = table.load_paper()
    ours = summarise_results(results) if len(results) else results
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for i, method in enumerate(order_methods(methods, columns=table.columns)):
            colour = cmap(i % 10)
            pub = paper[paper["method"] == method].sort_values("level")
            if not pub.empty:
                ax.plot(pub["level"], pub["psnr"], ls="--", marker="x", ms=4, lw=1, color=colour, alpha=0.8)
            mine = ours[ours["method"] == method].sort_values("level") if len(ours) else pub.iloc[0:0]
            if not mine.empty:
                ax.plot(mine["level"], mine["psnr"], ls="-", marker="o", ms=3.5, lw=1.6, color=colour)
            if not pub.empty or not mine.empty:
                ax.plot([], [], color=colour, lw=1.6, label=method)
        ax.plot([], [], color="0.3", ls="-", marker="o", ms=3.5, label="ours (solid)")
        ax.plot([], [], color="0.3", ls="--", marker="x", ms=4, label="published (dashed)")
        ax.set_xlabel("noise level (sigma, 0-255 units)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
        for path in paths:
            fig.savefig(path)
        plt.close(fig)
    return paths


def plot_noise_std_histograms(path_stem: Path, *, fits: Sequence[tuple[str, dict]]) -> list[Path]:
    """Histogram of the std of the extracted noise patches, one panel per noise (cf. the paper's Figure 2).

    Parameters
    ----------
    path_stem : Path
        Output path without suffix; ``.png`` and ``.pdf`` are written.
    fits : sequence of (noise spec, GAN2GAN fit report)
        The reports carry the histogram counts and edges (0-255 units).
    """
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(fits), figsize=(3.2 * len(fits), 2.8), squeeze=False)
        for ax, (noise, report) in zip(axes[0], fits, strict=True):
            extraction = report["extraction"]
            hist = extraction["sigma_255_histogram"]
            edges = hist["edges"]
            if edges:
                widths = np.diff(edges)
                ax.bar(edges[:-1], hist["counts"], width=widths, align="edge", color="tab:blue", alpha=0.8)
            level = noise.split(":")[-1]
            ax.axvline(float(level), color="k", ls="--", lw=1, label=f"true {level}")
            generated = report.get("gan", {}).get("generated_std_255")
            if generated is not None:
                ax.axvline(generated, color="tab:red", lw=1, label=f"g_theta1 {generated:.1f}")
            ax.set_title(f"{noise}: {extraction['n_patches']} patches ({extraction['rule']})")
            ax.set_xlabel("std of patch (0-255)")
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel("patches")
        paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
        for path in paths:
            fig.savefig(path)
        plt.close(fig)
    return paths


def plot_theorem1(path_stem: Path, *, curves: pd.DataFrame, summary: pd.DataFrame) -> list[Path]:
    """Theorem 1: closed-form MSE of Noisy N2N on Z against y = sigma_0^2 / sigma_X^2, Monte Carlo dots,
    the line MSE = sigma_0^2 and each threshold y_0."""
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for i, row in enumerate(summary.itertuples(index=False)):
            ratio = row[0]
            part = curves[curves["var_n/var_x"] == ratio]
            colour = cmap(i)
            ax.plot(
                part["y"],
                part["mse_closed_form"],
                color=colour,
                lw=1.6,
                label=rf"$\sigma_N^2/\sigma_X^2$ = {ratio:g}: closed form",
            )
            ax.plot(
                part["y"],
                part["mse_monte_carlo"],
                ls="none",
                marker="o",
                ms=2.5,
                color=colour,
                label=f"Monte Carlo ({row.samples_per_point:,} samples)",
            )
            ax.axvline(row.y0_closed_form, color=colour, ls=":", lw=1)
            ax.annotate(
                rf"$y_0$ = {row.y0_closed_form:.3f}",
                (row.y0_closed_form, 0.02),
                color=colour,
                fontsize=7,
                rotation=90,
                ha="right",
                va="bottom",
            )
        ax.plot([0, 1], [0, 1], color="k", ls="--", lw=1, label=r"$\sigma_0^2$ (MSE of the noisy estimate)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, None)
        ax.set_xlabel(r"$y = \sigma_0^2 / \sigma_X^2$")
        ax.set_ylabel(r"$E(X - f_{\mathrm{Noisy\ N2N}}(Z, y))^2$ (units of $\sigma_X^2$)")
        ax.set_title(r"Theorem 1: Noisy N2N beats its noisy estimate for $y > y_0$")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
        for path in paths:
            fig.savefig(path)
        plt.close(fig)
    return paths
