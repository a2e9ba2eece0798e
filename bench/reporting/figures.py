"""Figures in one matplotlib style, written as PNG (to look at) and PDF (vector, for papers)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from skimage.util import montage

from bench.reporting.published import TableSpec
from bench.reporting.report import align_paper_families, format_seed_count, order_methods, summarise_results
from noise import NoiseModel

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


def save_figure(fig: plt.Figure, path_stem: Path) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (to look at) and ``<stem>.pdf`` (vector); close it; return both."""
    paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths


def plot_psnr_against_level(
    path_stem: Path,
    *,
    table: TableSpec,
    results: pd.DataFrame,
    methods: Sequence[str],
    title: str,
    with_paper: bool = True,
) -> list[Path]:
    """PSNR against noise level, one panel per noise family and one colour per method: ours solid with
    markers (the mean over seeds, with error bars of one sample std where a point has several seeds),
    the published numbers dashed with crosses (unless ``with_paper`` is False: another test set).

    Returns the written files (``<stem>.png`` and ``<stem>.pdf``).
    """
    ours = summarise_results(results) if len(results) else results
    bars = bool(len(ours)) and int(ours["seeds"].max()) > 1
    paper = align_paper_families(table.load_paper(), ours)
    if not with_paper:
        paper = paper.iloc[:0]
    order = [noise.family for noise in table.noises]
    families = list(dict.fromkeys([*order, *(ours["noise"] if len(ours) else []), *paper["noise"]]))
    ran = set(ours["noise"]) if len(ours) else set(paper["noise"])
    families = [f for f in families if f in ran] or order  # nothing to show: the table's empty panels
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
                    if mine.empty:
                        continue
                    if bars:
                        ax.errorbar(
                            mine["level"],
                            mine["psnr"],
                            yerr=mine["psnr_std"].fillna(0.0),
                            ls="-",
                            marker="o",
                            ms=3.5,
                            lw=1.6,
                            color=colour,
                            capsize=3,
                            elinewidth=1,
                        )
                    else:
                        ax.plot(mine["level"], mine["psnr"], ls="-", marker="o", ms=3.5, lw=1.6, color=colour)
            ax.set_title(family)
            ax.set_xlabel("noise level (0-255 units)")
        axes[0][0].set_ylabel("PSNR (dB)")
        last = axes[0][-1]
        handles = [
            last.plot([], [], color=cmap(i % cmap.N), lw=1.6, label=m)[0] for i, m in enumerate(columns)
        ]
        if bars:
            handles.append(
                last.errorbar(
                    [],
                    [],
                    yerr=[],
                    color="0.3",
                    ls="-",
                    marker="o",
                    ms=3.5,
                    capsize=3,
                    label=f"ours (solid; mean, bars ± 1 std over {format_seed_count(ours)})",
                )
            )
        else:
            handles += last.plot([], [], color="0.3", ls="-", marker="o", ms=3.5, label="ours (solid)")
        if with_paper:
            handles += last.plot([], [], color="0.3", ls="--", marker="x", ms=4, label="published (dashed)")
        last.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.suptitle(title, y=1.03)
        return save_figure(fig, path_stem)


def plot_noise_std_histograms(path_stem: Path, *, fits: Sequence[tuple[NoiseModel, int, dict]]) -> list[Path]:
    """Histogram of the std of the extracted noise patches, one panel per fit (cf. the paper's Figure 2).

    Parameters
    ----------
    path_stem : Path
        Output path without suffix; ``.png`` and ``.pdf`` are written.
    fits : sequence of (noise, seed, GAN2GAN fit report)
        The reports carry the histogram counts and edges (0-255 units).
    """
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(fits), figsize=(3.2 * len(fits), 2.8), squeeze=False)
        for ax, (noise, seed, report) in zip(axes[0], fits, strict=True):
            extraction = report["extraction"]
            hist = extraction["sigma_255_histogram"]
            edges = hist["edges"]
            if edges:
                widths = np.diff(edges)
                ax.bar(edges[:-1], hist["counts"], width=widths, align="edge", color="tab:blue", alpha=0.8)
            ax.axvline(noise.level, color="k", ls="--", lw=1, label=f"true {noise.level:g}")
            generated = report.get("gan", {}).get("generated_noise_255")
            if generated is not None:
                random, pattern = generated["random_std"], generated["pattern_std"]
                ax.axvline(random, color="tab:red", lw=1, label=f"g_theta1 random part {random:.1f}")
                total = generated["total_std"]
                ax.axvline(
                    total, color="tab:red", ls=":", lw=1, label=f"total {total:.1f} (pattern {pattern:.1f})"
                )
            title = f"{noise} seed {seed}: {extraction['n_patches']} patches ({extraction['rule']})"
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("std of patch (0-255)")
            ax.legend(fontsize=6, loc="upper left")
        axes[0][0].set_ylabel("patches")
        return save_figure(fig, path_stem)


def plot_theorem1(path_stem: Path, *, curves: pd.DataFrame, summary: pd.DataFrame) -> list[Path]:
    """Theorem 1: closed-form MSE of Noisy N2N on Z against y = sigma_0^2 / sigma_X^2, Monte Carlo dots
    (``curves`` averaged over seeds: error bars are the std over seeds), the line MSE = sigma_0^2 and each
    threshold y_0 (``summary``, one row per ratio)."""
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
            ax.errorbar(
                part["y"],
                part["mse_monte_carlo"],
                yerr=part["mse_monte_carlo_std"].fillna(0.0),
                ls="none",
                marker="o",
                ms=2.5,
                capsize=1.5,
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
        return save_figure(fig, path_stem)


def plot_extraction_histograms(
    path_stem: Path,
    *,
    patches: Mapping[tuple[str, int], tuple[np.ndarray, np.ndarray]],
    sigmas: Sequence[int],
) -> list[Path]:
    """Figure 2: per noise level, the histogram of the extracted patches' std under each rule, and a
    montage of the patches chosen to show (up to 16, among each rule's patches above its 90th
    percentile of std: texture that leaked in shows there).

    ``patches[(rule, sigma)]`` holds the mean-subtracted patches to show and the estimated std of every
    extracted patch (0-255 units).
    """
    rules = list(dict.fromkeys(rule for rule, _ in patches))
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(sigmas), 1 + len(rules), figsize=(3.4 * (1 + len(rules)), 3.0 * len(sigmas)), squeeze=False
        )
        for row, sigma in zip(axes, sigmas, strict=True):
            top = max(float(np.max(patches[(r, sigma)][1], initial=sigma)) for r in rules)
            bins = np.linspace(0.9 * sigma, max(top, 1.1 * sigma), 41)
            limit = 3 * sigma / 255  # the same grey scale for every montage of this row
            for i, rule in enumerate(rules):
                blocks, std = patches[(rule, sigma)]
                row[0].hist(
                    std, bins=bins, density=True, alpha=0.55, color=cmap(i), label=f"{rule} ({len(std)})"
                )
                panel = row[1 + i]
                panel.axis("off")
                if len(blocks):
                    grid = montage(blocks[:16], grid_shape=(4, 4), padding_width=2, fill=limit)
                    panel.imshow(grid, cmap="gray", vmin=-limit, vmax=limit)
                panel.set_title(f"{rule}, sigma {sigma}: std above p90", fontsize=8)
            row[0].axvline(sigma, color="k", ls="--", lw=1, label=f"true sigma {sigma}")
            row[0].set_xlabel("estimated std of patch (0-255)")
            row[0].set_ylabel("density")
            row[0].legend(loc="upper left", fontsize=6)
        fig.suptitle("Figure 2: noise patches extracted by rule (3) and rule (4)")
        return save_figure(fig, path_stem)


def plot_ablation_bars(path_stem: Path, *, frame: pd.DataFrame, title: str) -> list[Path]:
    """Grouped bars of PSNR: one group per noise, one bar per method or variant (Figures 5 and 6(a));
    ``frame`` averaged over seeds (:func:`bench.reporting.report.average_seeds`), error bars the std over
    seeds."""
    noises = list(dict.fromkeys(frame["noise"]))
    methods = list(dict.fromkeys(frame["method"]))
    width = 0.8 / len(methods)
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(1.2 + 1.6 * len(noises) * max(1, len(methods) / 3), 3.6))
        for i, method in enumerate(methods):
            parts = [frame[(frame["noise"] == n) & (frame["method"] == method)] for n in noises]
            values = [part["psnr"].mean() for part in parts]
            errors = [part["psnr_std"].mean() for part in parts]
            x = np.arange(len(noises)) + (i - (len(methods) - 1) / 2) * width
            bars = ax.bar(
                x,
                values,
                width=width,
                yerr=np.nan_to_num(errors),
                capsize=2,
                color=cmap(i % 10),
                label=method,
            )
            ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
        ax.set_xticks(np.arange(len(noises)), noises)
        ax.set_ylabel("PSNR (dB)")
        low = np.nanmin(frame["psnr"])
        ax.set_ylim(max(0.0, low - 3), np.nanmax(frame["psnr"]) + 1.5)
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        return save_figure(fig, path_stem)


def plot_init_curves(path_stem: Path, *, frame: pd.DataFrame, title: str) -> list[Path]:
    """Figure 6(b): PSNR of G2G_j against the iteration j, one panel per noise, one line per start;
    ``frame`` averaged over seeds, error bars the std over seeds."""
    noises = list(dict.fromkeys(frame["noise"]))
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(noises), figsize=(3.6 * len(noises) + 1.4, 3.4), squeeze=False)
        for ax, noise in zip(axes[0], noises, strict=True):
            part = frame[frame["noise"] == noise]
            for i, variant in enumerate(dict.fromkeys(part["method"])):
                line = part[part["method"] == variant].sort_values("iteration")
                ax.errorbar(
                    line["iteration"],
                    line["psnr"],
                    yerr=line["psnr_std"].fillna(0.0),
                    marker="o",
                    ms=3.5,
                    capsize=2,
                    color=cmap(i),
                    label=variant,
                )
            ax.set_title(noise)
            ax.set_xlabel("G2G iteration j")
            ax.set_xticks(sorted(part["iteration"].unique()))
        axes[0][0].set_ylabel("PSNR (dB)")
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.suptitle(title, y=1.03)
        return save_figure(fig, path_stem)


def plot_gan_convergence(path_stem: Path, *, frame: pd.DataFrame, title: str) -> list[Path]:
    """GAN2GAN along Algorithm 1 and G2G, one row per noise, one line per variant: g_theta1's random-part
    std against the extracted noise's, its fixed-pattern std, the W-estimate of f_w1, and, where G2G ran,
    the test PSNR of its snapshots and its pair loss over the identity's against the G2G step.

    ``frame`` has columns noise, variant, quantity, step, value, value_std (the std over seeds, drawn as
    a band) and reference (a dashed line in the random-part panel: the extracted noise's std; in the
    loss-ratio panel: 1).
    """
    panels = [
        ("g1_random_std", "random-part std of g_theta1 (0-255)", "generator iteration"),
        ("g1_pattern_std", "fixed-pattern std of g_theta1 (0-255)", "generator iteration"),
        ("w1", "W-estimate of f_w1 (Eq. 5)", "generator iteration"),
        ("g2g_psnr", "G2G: test PSNR (dB)", "G2G step (all iterations)"),
        ("g2g_loss_ratio", "G2G: pair loss / identity's", "G2G step (all iterations)"),
    ]
    panels = [panel for panel in panels if (frame["quantity"] == panel[0]).any()]
    noises = list(dict.fromkeys(frame["noise"]))
    variants = list(dict.fromkeys(frame["variant"]))
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(noises), len(panels), figsize=(3.4 * len(panels) + 2.2, 3.3 * len(noises)), squeeze=False
        )
        for row, noise in zip(axes, noises, strict=True):
            for ax, (quantity, label, xlabel) in zip(row, panels, strict=True):
                part = frame[(frame["noise"] == noise) & (frame["quantity"] == quantity)]
                for i, variant in enumerate(variants):
                    line = part[part["variant"] == variant].sort_values("step")
                    if line.empty:
                        continue
                    marker = "o" if quantity == "g2g_psnr" else None
                    ax.plot(line["step"], line["value"], color=cmap(i), lw=1.3, marker=marker, ms=3)
                    spread = line["value_std"].fillna(0.0)
                    ax.fill_between(
                        line["step"],
                        line["value"] - spread,
                        line["value"] + spread,
                        color=cmap(i),
                        alpha=0.15,
                        lw=0,
                    )
                reference = part["reference"].dropna()
                if quantity in ("g1_random_std", "g2g_loss_ratio") and len(reference):
                    ax.axhline(float(reference.iloc[0]), color="k", ls="--", lw=1)
                ax.set_title(f"{noise}: {label}", fontsize=8)
                ax.set_xlabel(xlabel)
        handles = [
            plt.Line2D([], [], color=cmap(i), lw=1.3, label=variant) for i, variant in enumerate(variants)
        ]
        handles.append(plt.Line2D([], [], color="k", ls="--", lw=1, label="extracted noise / identity"))
        axes[0][-1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.suptitle(title, y=1.01)
        fig.tight_layout()
        return save_figure(fig, path_stem)


def plot_noisy_n2n(path_stem: Path, *, frame: pd.DataFrame, title: str) -> list[Path]:
    """Figure 1: test PSNR of Noisy-N2N_j against sigma_0 (the initial estimates' PSNR under each tick),
    with N2N as the horizontal upper bound. ``frame`` is averaged over seeds
    (:func:`bench.reporting.report.average_seeds`): error bars and the band around N2N are the std over
    seeds."""
    noisy = frame[frame["method"] != "N2N"]
    sigmas = sorted(noisy["sigma0"].unique())
    cmap = plt.get_cmap("tab10")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        upper = frame[frame["method"] == "N2N"]
        if len(upper):
            mean, std = float(upper["psnr"].iloc[0]), float(upper["psnr_std"].fillna(0.0).iloc[0])
            ax.axhline(mean, color="k", ls="--", lw=1.2, label="N2N (upper bound)")
            ax.axhspan(mean - std, mean + std, color="k", alpha=0.08, lw=0)
        for i, method in enumerate(sorted(noisy["method"].unique())):
            line = noisy[noisy["method"] == method].sort_values("sigma0")
            ax.errorbar(
                line["sigma0"],
                line["psnr"],
                yerr=line["psnr_std"].fillna(0.0),
                marker="o",
                ms=3.5,
                capsize=2,
                color=cmap(i + 1),
                label=method,
            )
        initial = noisy.groupby("sigma0")["initial_psnr"].first()
        ax.set_xticks(sigmas, [f"{s:g}\n({initial[s]:.2f})" for s in sigmas])
        ax.set_xlabel(r"$\sigma_0$ of the initial estimates (their PSNR, dB)")
        ax.set_ylabel("PSNR on the test set (dB)")
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        return save_figure(fig, path_stem)


def plot_timing(path_stem: Path, *, frame: pd.DataFrame, title: str) -> list[Path]:
    """Median seconds per test image of every method, one bar colour per device, log scale; ``frame``
    averaged over seeds (:func:`bench.reporting.report.average_seeds`), error bars the std over seeds."""
    methods = list(dict.fromkeys(frame["method"]))
    devices = list(dict.fromkeys(frame["device"]))
    width = 0.8 / len(devices)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(methods), 3.6))
        for i, device in enumerate(devices):
            part = frame[frame["device"] == device].set_index("method")
            values = [part["seconds_per_image"].get(m, np.nan) for m in methods]
            errors = [part["seconds_per_image_std"].get(m, np.nan) for m in methods]
            x = np.arange(len(methods)) + (i - (len(devices) - 1) / 2) * width
            bars = ax.bar(x, values, width=width, yerr=np.nan_to_num(errors), capsize=2, label=device)
            ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=1)
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
        ax.set_ylabel("seconds per image (median)")
        ax.set_title(title)
        ax.legend(fontsize=7)
        return save_figure(fig, path_stem)


def plot_real_noise(
    path_stem: Path,
    *,
    frame: pd.DataFrame,
    levels: Sequence[str],
    columns: Sequence[str],
    reference: pd.DataFrame,
    title: str,
) -> list[Path]:
    """Figure 4: (a) PSNR of every method averaged over the noise levels as bars (the paper's panel),
    (b) PSNR per level, one line per method, the noisy input dotted and the authors' README numbers
    (pretrained weights, ``reference`` with columns level, method, psnr) as crosses.

    Returns the written files (``<stem>.png`` and ``<stem>.pdf``).
    """
    ran = frame[frame["method"] != "noisy input"].dropna(subset=["psnr"])
    methods = [m for m in columns if m in set(ran["method"])]
    methods += [m for m in dict.fromkeys(ran["method"]) if m not in methods]
    levels = [lvl for lvl in levels if lvl in set(frame["level"])]
    means = ran.groupby(["level", "method"])["psnr"].mean()
    cmap = plt.get_cmap("tab10")
    colours = {m: cmap(i % 10) for i, m in enumerate(methods)}
    x = np.arange(len(levels))
    with plt.rc_context(STYLE):
        fig, (bars_ax, lines_ax) = plt.subplots(
            1, 2, figsize=(4.0 + 0.55 * len(methods) + 3.0 + 0.5 * len(levels), 3.8)
        )
        averages = [float(np.mean([means.get((lvl, m), np.nan) for lvl in levels])) for m in methods]
        bars = bars_ax.bar(np.arange(len(methods)), averages, color=[colours[m] for m in methods])
        bars_ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
        bars_ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
        finite = [a for a in averages if np.isfinite(a)]
        if finite:
            bars_ax.set_ylim(max(0.0, min(finite) - 3), max(finite) + 1.5)
        bars_ax.set_ylabel("PSNR (dB), average over levels")
        bars_ax.set_title(f"(a) average over {len(levels)} levels", fontsize=9)
        for m in methods:
            lines_ax.plot(
                x,
                [means.get((lvl, m), np.nan) for lvl in levels],
                marker="o",
                ms=3.5,
                color=colours[m],
                label=m,
            )
        noisy = frame[frame["method"] == "noisy input"].groupby("level")["psnr"].mean()
        if len(noisy):
            lines_ax.plot(
                x, [noisy.get(lvl, np.nan) for lvl in levels], ls=":", color="0.4", label="noisy input"
            )
        for i, (method, part) in enumerate(reference.groupby("method", sort=False)):
            values = part.set_index("level")["psnr"]
            lines_ax.plot(
                x,
                [values.get(lvl, np.nan) for lvl in levels],
                ls="--",
                marker="x",
                ms=4,
                lw=1,
                color=("0.15", "0.55")[i % 2],
                label=f"{method} (authors' weights)",
            )
        lines_ax.set_xticks(x, levels)
        lines_ax.set_xlabel("noise level")
        lines_ax.set_ylabel("PSNR (dB)")
        lines_ax.set_title("(b) per level", fontsize=9)
        lines_ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.suptitle(title, y=1.02)
        return save_figure(fig, path_stem)


def plot_ranking(
    path_stem: Path,
    *,
    results: pd.DataFrame,
    methods: Sequence[str],
    title: str,
    informed: Collection[str] = (),
    floor: str | None = None,
) -> list[Path]:
    """One panel per noise row: every method's PSNR as a horizontal bar, best on top, with an error bar of
    one sample std over the seeds where there are several.

    Parameters
    ----------
    informed : collection of str
        Methods given more than the noisy images (the references): hatched bars.
    floor : str or None
        A method drawn as a dashed vertical line instead of a bar (the noisy input).

    Returns the written files (``<stem>.png`` and ``<stem>.pdf``).
    """
    ours = summarise_results(results)
    rows = list(dict.fromkeys(zip(results["noise"], results["level"], strict=True)))  # the table's order
    bars = [m for m in methods if m != floor]
    colours = {m: plt.get_cmap("tab20")(i % 20) for i, m in enumerate(bars)}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1,
            max(1, len(rows)),
            figsize=(3.4 * max(1, len(rows)) + 1.2, 0.32 * len(bars) + 1.6),
            squeeze=False,
            layout="constrained",
        )
        for ax, (noise, level) in zip(axes[0], rows, strict=False):
            here = ours[(ours["noise"] == noise) & (ours["level"] == level)]
            cell = here[here["method"].isin(bars)].sort_values("psnr")
            drawn = ax.barh(
                cell["method"],
                cell["psnr"],
                xerr=cell["psnr_std"].fillna(0.0),
                color=[colours[m] for m in cell["method"]],
                capsize=2,
            )
            for bar, method in zip(drawn, cell["method"], strict=True):
                if method in informed:
                    bar.set_hatch("///")
                    bar.set_edgecolor("0.25")
                    bar.set_linewidth(0)
            low, high = cell["psnr"].min(), cell["psnr"].max()
            lowest = here[here["method"] == floor]
            if not lowest.empty:
                value = float(lowest["psnr"].iloc[0])
                ax.axvline(
                    value, color="black", linestyle="--", linewidth=1, label=f"{floor} ({value:.2f} dB)"
                )
                low = min(low, value)
            ax.set_xlim(low - 0.15 * (high - low + 1), high + 0.1 * (high - low + 1))
            ax.set_title(f"{noise} {level:g}")
            ax.set_xlabel("PSNR (dB)")
            handles = ax.get_legend_handles_labels()[0]
            if informed and any(m in informed for m in cell["method"]):
                handles.append(
                    Patch(facecolor="lightgrey", hatch="///", edgecolor="0.25", label="informed reference")
                )
            if handles:
                ax.legend(handles=handles, loc="lower right", fontsize="small")
        fig.suptitle(title)
        paths = save_figure(fig, path_stem)
        plt.close(fig)
    return paths


def plot_visual_comparison(
    path_stem: Path,
    *,
    visuals: Mapping[str, Mapping[str, tuple[np.ndarray, float | None]]],
    methods: Sequence[str],
    title: str,
) -> list[Path]:
    """The same crop of each kept test image (one row each): noisy, every method in ``methods`` order, and
    clean, each panel labelled with the PSNR of the whole image
    (:attr:`bench.cells.runner.EvalResult.visuals`).

    Returns the written files (``<stem>.png`` and ``<stem>.pdf``).
    """
    images = list(visuals)
    present = {label for kept in visuals.values() for label in kept}
    columns = ["noisy", *(m for m in methods if m in present), "clean"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(images), len(columns), figsize=(1.6 * len(columns), 1.9 * len(images) + 0.5), squeeze=False
        )
        for row, image in zip(axes, images, strict=True):
            for ax, label in zip(row, columns, strict=True):
                ax.set_axis_off()
                if label not in visuals[image]:
                    continue
                crop, psnr = visuals[image][label]
                ax.imshow(crop, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_title(label if psnr is None else f"{label}\n{psnr:.2f} dB", fontsize=7)
            row[0].text(-0.08, 0.5, image, transform=row[0].transAxes, rotation=90, va="center", ha="right")
        fig.suptitle(title)
        paths = save_figure(fig, path_stem)
        plt.close(fig)
    return paths
