"""Figures in one matplotlib style, written as PNG (to look at) and PDF (vector, for papers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bench.report import align_paper_families, order_methods, summarise_results
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
    """PSNR against noise level, one panel per noise family and one colour per method: ours solid with
    markers, the published numbers dashed with crosses.

    Returns the written files (``<stem>.png`` and ``<stem>.pdf``).
    """
    ours = summarise_results(results) if len(results) else results
    paper = align_paper_families(table.load_paper(), ours)
    order = [spec.split(":")[0] for spec in table.noises]
    families = list(dict.fromkeys([*order, *(ours["noise"] if len(ours) else []), *paper["noise"]]))
    ran = set(ours["noise"]) if len(ours) else set(paper["noise"])
    families = [f for f in families if f in ran]
    columns = order_methods(methods, columns=table.columns)
    cmap = plt.get_cmap("tab10" if len(columns) <= 10 else "tab20")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(families), figsize=(3.6 * len(families) + 1.6, 3.6), squeeze=False)
        for ax, family in zip(axes[0], families, strict=True):
            for i, method in enumerate(columns):
                colour = cmap(i % cmap.N)
                pub = paper[(paper["method"] == method) & (paper["noise"] == family)].sort_values("level")
                if not pub.empty:
                    ax.plot(
                        pub["level"], pub["psnr"], ls="--", marker="x", ms=4, lw=1, color=colour, alpha=0.8
                    )
                if len(ours):
                    mine = ours[(ours["method"] == method) & (ours["noise"] == family)].sort_values("level")
                    if not mine.empty:
                        ax.plot(mine["level"], mine["psnr"], ls="-", marker="o", ms=3.5, lw=1.6, color=colour)
            ax.set_title(family)
            ax.set_xlabel("noise level (0-255 units)")
        axes[0][0].set_ylabel("PSNR (dB)")
        for i, method in enumerate(columns):
            axes[0][-1].plot([], [], color=cmap(i % cmap.N), lw=1.6, label=method)
        axes[0][-1].plot([], [], color="0.3", ls="-", marker="o", ms=3.5, label="ours (solid)")
        axes[0][-1].plot([], [], color="0.3", ls="--", marker="x", ms=4, label="published (dashed)")
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.suptitle(title, y=1.03)
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
