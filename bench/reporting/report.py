"""Reports: tidy results -> CSV, Markdown and LaTeX in the paper's layout, published numbers beside ours.

The Markdown and LaTeX tables have one row per noise level and one column per method; each cell reads
"ours / paper / delta" (PSNR in dB, then SSIM in a second table). Methods we have not run yet keep
their column with the paper's number alone, so the layout never changes. With several seeds "ours"
reads "mean ± std" (sample std over seeds) and the delta is mean - paper; a single seed reads as before.

A report folder is keyed by what it holds (:func:`name_report_folder`): ``<out>/<experiment>/<profile>``
for the experiment's full default run, with a suffix for each way a run departs from it (another test set,
a subset of methods or noises, other seeds), so a partial run writes beside a full report, never over it.
Every report is written into a temporary folder and swapped in whole when it is complete
(:func:`open_report_folder`): a failed run leaves the earlier report as it was, and no file of an earlier
run lingers beside a new one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from bench.datasets.base import DatasetSpec
from bench.reporting.published import PAPER_FAMILIES, PAPER_METHODS, PAPER_NOTES, TableSpec
from noise import NoiseModel, NoiseSpec

#: Columns of the tidy results CSV, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "table",
    "profile",
    "noise",
    "level",
    "method",
    "seed",
    "psnr",
    "psnr_8bit",
    "ssim",
    "ssim_authors",
    "n_images",
    "fit_seconds",
    "denoise_seconds",
    "device",
)

#: Columns of the per-cell summary over seeds (see :func:`summarise_results`), in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "noise",
    "level",
    "method",
    "psnr",
    "psnr_std",
    "psnr_8bit",
    "psnr_8bit_std",
    "ssim",
    "ssim_std",
    "seeds",
)

_LATEX_NAMES = {
    "g_theta2": r"$g_{\theta_2}$",
    "G2G_1": r"G2G$_1$",
    "G2G_2": r"G2G$_2$",
    "G2G_3": r"G2G$_3$",
}


def order_methods(methods: Sequence[str], *, columns: Sequence[str] = PAPER_METHODS) -> list[str]:
    """The table's published columns first, in its order, then our extra methods in the order given."""
    extra = [m for m in methods if m not in columns]
    return [*columns, *dict.fromkeys(extra)]


def summarise_results(results: pd.DataFrame) -> pd.DataFrame:
    """Per (noise, level, method), the mean over seeds of PSNR, PSNR on 8-bit outputs and SSIM (columns
    ``psnr``, ``psnr_8bit`` and ``ssim``), their sample standard deviation (ddof=1; ``<column>_std``, NaN
    with a single seed) and
    the number of distinct seeds (``seeds``); columns :data:`SUMMARY_COLUMNS`, sorted by the keys.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results, one row per (noise, level, method, seed); see :data:`RESULT_COLUMNS`.
    """
    keys = ["noise", "level", "method"]
    summary = average_seeds(results, by=keys, values=["psnr", "psnr_8bit", "ssim"])
    return summary.sort_values(keys, ignore_index=True)[list(SUMMARY_COLUMNS)]


def average_seeds(frame: pd.DataFrame, *, by: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by``, the mean over seeds of each of ``values``, its sample standard deviation
    (ddof=1; ``<value>_std``, NaN with a single seed) and the number of distinct seeds (``seeds``); groups
    in order of first appearance.
    """
    columns = [*by, *(c for v in values for c in (v, f"{v}_std")), "seeds"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    aggregations = {c: (v, f) for v in values for c, f in ((v, "mean"), (f"{v}_std", "std"))}
    summary = frame.groupby(list(by), as_index=False, sort=False, dropna=False).agg(
        **aggregations, seeds=("seed", "nunique")
    )
    return summary[columns]


def format_mean_std(mean: float, std: float, *, digits: int = 2) -> str:
    """``mean ± std`` to ``digits`` decimals; the mean alone when ``std`` is NaN (a single seed)."""
    if isinstance(mean, float) and math.isnan(mean):
        return "-"
    if isinstance(std, float) and math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def pivot_mean_std(
    summary: pd.DataFrame, *, index: Sequence[str], columns: str, value: str, digits: int = 2
) -> pd.DataFrame:
    """A table of ``mean ± std`` strings from :func:`average_seeds`'s ``summary``: rows ``index``, one
    column per value of ``columns`` (in order of first appearance)."""
    cells = summary.assign(
        _cell=[
            format_mean_std(m, s, digits=digits)
            for m, s in zip(summary[value], summary[f"{value}_std"], strict=True)
        ]
    )
    table = cells.pivot(index=list(index), columns=columns, values="_cell")
    table = table.reindex(columns=list(dict.fromkeys(summary[columns])))
    table.columns.name = None
    return table.fillna("-").reset_index()


def write_summary_csv(path: Path, results: pd.DataFrame) -> None:
    """Write :func:`summarise_results` of the tidy ``results`` as CSV: one row per (noise, level, method)
    with the mean and sample std over seeds of PSNR and SSIM and the number of seeds."""
    summarise_results(results).to_csv(path, index=False)


def format_seed_count(summary: pd.DataFrame) -> str:
    """How many seeds the cells of ``summary`` (from :func:`summarise_results`) average: '3 seeds', or
    '2-3 seeds' when cells differ; '' when it holds no cell."""
    if summary.empty:
        return ""
    low, high = int(summary["seeds"].min()), int(summary["seeds"].max())
    count = f"{high}" if low == high else f"{low}-{high}"
    return f"{count} seed{'s' if high > 1 else ''}"


def format_comparison(
    table: TableSpec,
    results: pd.DataFrame,
    *,
    metric: str,
    digits: int,
    methods: Sequence[str],
    plus_minus: str = "±",
    with_paper: bool = True,
) -> pd.DataFrame:
    """The paper-layout grid for one metric: cells 'ours / paper / delta', '-' where a side is missing.

    Where a cell averages several seeds, "ours" reads 'mean ``plus_minus`` std' and the delta is
    mean - paper; where the grid's cells average different numbers of seeds, those below the most
    add '(n=k)'. Cells of a single seed in a single-seed grid read 'value / paper / delta'. Without
    ``with_paper`` (results on another test set than the paper's) cells read 'ours' alone.
    """
    ours = summarise_results(results)
    paper = align_paper_families(table.load_paper(), ours)
    if not with_paper:
        paper = paper.iloc[:0]
    most = int(ours["seeds"].max()) if len(ours) else 1
    families = [noise.family for noise in table.noises]
    rows = sorted(
        {(n, float(v)) for n, v in zip(paper["noise"], paper["level"], strict=True)}
        | {(n, float(v)) for n, v in zip(ours["noise"], ours["level"], strict=True)},
        key=lambda row: (families.index(row[0]) if row[0] in families else len(families), row),
    )
    grid: dict[str, list[str]] = {}
    for method in order_methods(methods, columns=table.columns):
        column = []
        for noise, level in rows:
            mine = _lookup(ours, noise, level, method)
            published = _lookup(paper, noise, level, method)
            column.append(
                _format_cell(
                    None if mine is None else float(mine[metric]),
                    None if published is None or metric not in published else float(published[metric]),
                    std=None if mine is None or most == 1 else float(mine[f"{metric}_std"]),
                    seeds=None if mine is None or mine["seeds"] == most else int(mine["seeds"]),
                    digits=digits,
                    flag=(noise, level, method) in PAPER_NOTES,
                    plus_minus=plus_minus,
                    with_paper=with_paper,
                )
            )
        grid[method] = column
    index = pd.Index([f"{noise} {_format_level(level)}" for noise, level in rows], name="noise")
    return pd.DataFrame(grid, index=index)


def align_paper_families(paper: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """Published rows renamed to our family where we ran only its variant (``correlated-paper``)."""
    for family, published in PAPER_FAMILIES.items():
        ran = set(ours["noise"]) if len(ours) else set()
        if family in ran and published not in ran:
            paper = paper.assign(noise=paper["noise"].replace(published, family))
    return paper


def format_noise_levels(noises: Sequence[NoiseModel]) -> list[str]:
    """Markdown lines: the realised marginal std of every noise row (mixture and correlated noise's
    std is not their level)."""
    rows = []
    for model in noises:
        rows.append(
            {"noise": model.spec, "level": model.level, "realised std (0-255)": round(model.std * 255, 2)}
        )
    return [
        "## Noise: realised marginal std of each row",
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
    ]


def _lookup(frame: pd.DataFrame, noise: str, level: float, method: str) -> pd.Series | None:
    hit = frame[
        (frame["noise"] == noise) & (frame["level"].astype(float) == level) & (frame["method"] == method)
    ]
    return None if hit.empty else hit.iloc[0]


def _format_cell(
    mine: float | None,
    published: float | None,
    *,
    std: float | None,
    seeds: int | None,
    digits: int,
    flag: bool,
    plus_minus: str,
    with_paper: bool = True,
) -> str:
    def fmt(x: float | None) -> str:
        return "-" if x is None or math.isnan(x) else f"{x:.{digits}f}"

    ours = fmt(mine)
    if std is not None and not math.isnan(std) and ours != "-":
        ours += f" {plus_minus} {fmt(std)}"
    if seeds is not None:
        ours += f" (n={seeds})"
    if not with_paper:
        return ours
    missing = mine is None or published is None or math.isnan(mine - published)
    delta = "-" if missing else f"{mine - published:+.{digits}f}"
    return f"{ours} / {fmt(published)}{'*' if flag else ''} / {delta}"


def _format_level(level: float) -> str:
    return f"{level:g}"


def write_markdown(
    path: Path,
    *,
    table: TableSpec,
    results: pd.DataFrame,
    methods: Sequence[str],
    header: str,
    notes: Sequence[str] = (),
    test_set: str | None = None,
) -> None:
    """Write the PSNR and SSIM grids as Markdown, the flagged paper numbers explained, then ``notes``;
    with several seeds each grid's header says "mean ± std" and a line under it how many seeds.

    ``test_set`` names the test set when it is not the paper's (full BSD68): the title says so, and the
    paper's numbers, which were measured there, are left out."""
    title = table.title if test_set is None else f"{table.title.split(':')[0]} layout, on {test_set}"
    parts = [f"# {title}", "", header, ""]
    if test_set is not None:
        parts += [f"The paper's numbers are for full BSD68, not for {test_set}: they are not shown.", ""]
    seeds = _seed_note(results)
    side = " / paper / delta" if test_set is None else ""
    for metric, digits, unit in table.metrics:
        grid = format_comparison(
            table, results, metric=metric, digits=digits, methods=methods, with_paper=test_set is None
        )
        if seeds:
            parts += [f"## {unit}: ours (mean ± std){side}", "", seeds, ""]
        else:
            parts += [f"## {unit}: ours{side}", ""]
        parts += [grid.to_markdown(), ""]
    parts += _footnotes(table) if test_set is None else []
    if notes:
        parts += ["", *notes]
    path.write_text("\n".join(parts) + "\n")


def format_gan2gan_fits(fits: Sequence[tuple[NoiseModel, int, dict[str, Any]]]) -> list[str]:
    """Markdown lines on each GAN2GAN fit: the extracted noise patches and the wall time of every stage.

    Parameters
    ----------
    fits : sequence of (noise, seed, fit report)
        Reports of :class:`methods.gan2gan.method.GAN2GAN` fits.
    """
    if not fits:
        return []
    rows = []
    for noise, seed, report in fits:
        extraction = report.get("extraction", {})
        quantiles = extraction.get("sigma_255_quantiles", {})
        seconds = report.get("seconds", {})
        rows.append(
            {
                "noise": noise.spec,
                "seed": seed,
                "rule": extraction.get("rule"),
                "window/stride": f"{extraction.get('size')}/{extraction.get('stride')}",
                "lambda": round(extraction.get("threshold", float("nan")), 4),
                "patches": f"{extraction.get('n_patches')} of {extraction.get('n_windows')}",
                "std of patches (p5/p50/p95)": "/".join(
                    f"{quantiles.get(k, float('nan')):.1f}" for k in ("p5", "p50", "p95")
                ),
                **_format_generated_noise(report.get("gan", {})),
                **_format_denoiser_checks(report),
                **{f"{stage} s": round(value) for stage, value in seconds.items()},
            }
        )
    return [
        "## GAN2GAN fits: extracted noise, g_theta1's noise beside it (0-255 units), wall time per stage",
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
        "Clean-free checks of the denoisers: the std of g_theta2's residual z - g_theta2(z) on fixed noisy"
        " crops at the GAN's last iteration, beside the extracted noise's (well above it: g_theta2"
        " over-smooths); each G2G iteration's pair loss at the end of its training over the loss of"
        " returning its input (about 1: the iteration learnt nothing, the residual DnCNN sits on the"
        " identity).",
        "",
    ]


def _format_denoiser_checks(report: Mapping[str, Any]) -> dict[str, str]:
    """g_theta2's residual std beside the extracted noise std (0-255), and G2G's loss over the identity's."""
    gan = report.get("gan", {})
    residual = gan.get("diagnostics", {}).get("g2_residual_std") or [float("nan")]
    extracted = gan.get("extracted_noise_255", {}).get("random_std", float("nan"))
    ratios = [f"{losses['loss'] / losses['identity_loss']:.2f}" for losses in report.get("g2g", {}).values()]
    return {
        "g_theta2 residual std (ours / extracted)": f"{residual[-1] * 255:.1f} / {extracted:.1f}",
        "G2G loss / identity loss": " / ".join(ratios) or "-",
    }


def _format_generated_noise(gan: Mapping[str, Any]) -> dict[str, Any]:
    """g_theta1's noise beside the extracted patches' (random part, fixed pattern, flatness), 0-255."""
    generated = gan.get("generated_noise_255", {})
    extracted = gan.get("extracted_noise_255", {})

    def pair(key: str, digits: int) -> str:
        return (
            f"{generated.get(key, float('nan')):.{digits}f} / {extracted.get(key, float('nan')):.{digits}f}"
        )

    return {
        "g_theta1 random std (ours / extracted)": pair("random_std", 1),
        "fixed pattern std": pair("pattern_std", 1),
        "border / interior std": f"{generated.get('border_std', float('nan')):.1f} / "
        f"{generated.get('interior_std', float('nan')):.1f}",
        "flatness": pair("flatness", 2),
        "kept iteration": gan.get("chosen_step"),
    }


def write_latex(
    path: Path,
    *,
    table: TableSpec,
    results: pd.DataFrame,
    methods: Sequence[str],
    test_set: str | None = None,
) -> None:
    """Write the PSNR and SSIM grids as two LaTeX tabulars (booktabs); with several seeds "ours" reads
    "mean $\\pm$ std" and a comment line above each tabular says how many seeds. On another test set
    than the paper's (``test_set``) the cells hold ours alone."""
    blocks = []
    seeds = _seed_note(results, plus_minus="+/-")
    for metric, digits in (("psnr", 2), ("ssim", 4)):
        grid = format_comparison(
            table,
            results,
            metric=metric,
            digits=digits,
            methods=methods,
            plus_minus=r"$\pm$",
            with_paper=test_set is None,
        )
        grid = grid.rename(columns=lambda m: _LATEX_NAMES.get(m, m.replace("_", r"\_")))
        grid.index = grid.index.str.replace("_", r"\_")
        body = grid.style.to_latex(hrules=True, column_format="l" + "c" * grid.shape[1])
        ours = "ours (mean +/- std)" if seeds else "ours"
        side = " / paper / delta" if test_set is None else f" on {test_set} (the paper's are for BSD68)"
        comment = f"% {metric.upper()}: {ours}{side}\n" + (f"% {seeds}\n" if seeds else "")
        blocks.append(f"{comment}{body}")
    path.write_text("\n".join(blocks))


def _seed_note(results: pd.DataFrame, *, plus_minus: str = "±") -> str:
    """A sentence on the seeds behind the grid's cells; '' when every cell has a single seed."""
    summary = summarise_results(results)
    if summary.empty or int(summary["seeds"].max()) == 1:
        return ""
    ids = ", ".join(str(seed) for seed in sorted(results["seed"].dropna().unique()))
    note = (
        f"Ours: mean {plus_minus} sample std (ddof=1) over {format_seed_count(summary)} (seeds {ids}); "
        "delta = mean - paper."
    )
    if summary["seeds"].nunique() > 1:
        note += " Cells marked (n=k) average only k seeds."
    return note


def _footnotes(table: TableSpec) -> list[str]:
    sources = [f"Published numbers: {table.sources}", ""] if table.sources else []
    notes = [
        f"- {method} at {noise} {level:g}: {text}"
        for (noise, level, method), text in PAPER_NOTES.items()
        if noise in {model.family for model in table.noises} and method in table.columns
    ]
    if not notes:
        return sources
    return [*sources, "Paper numbers marked * are kept as published but look wrong:", "", *notes]


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the run's provenance as JSON."""
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n")


def name_report_folder(
    profile: str,
    *,
    test_data: DatasetSpec | None = None,
    train_data: DatasetSpec | None = None,
    methods: Sequence[str] = (),
    noises: Sequence[NoiseSpec] = (),
    seeds: Sequence[int] = (),
    precision: str = "fp32",
) -> str:
    """The name of a report folder: the profile, then one part per departure from the full default run.

    Parameters
    ----------
    profile : str
        The profile's name.
    test_data, train_data : DatasetSpec, optional
        The test and training sets when they are not the profile's (``folder:PATH`` gets the folder's
        name and a hash of the path).
    methods, noises : sequence of str, sequence of NoiseSpec
        The methods (registry keys) and noises when they are a subset of the experiment's.
    seeds : sequence of int
        The seeds when they are not the default (seed 0 alone).
    precision : str
        The training precision (``bf16`` gets a part; ``fp32`` is the default).
    """
    parts = [profile]
    if test_data:
        parts.append(f"test-{_slug_dataset(test_data)}")
    if train_data:
        parts.append(f"train-{_slug_dataset(train_data)}")
    if methods:
        parts.append("methods-" + "+".join(methods))
    if noises:
        parts.append("noise-" + "+".join(noise.spec.replace(":", "") for noise in noises))
    if seeds:
        parts.append("seeds-" + "+".join(map(str, seeds)))
    if precision != "fp32":
        parts.append(precision)
    return re.sub(r"[^A-Za-z0-9.+_-]", "-", "_".join(parts))


def _slug_dataset(spec: DatasetSpec) -> str:
    if spec.path is None:
        return spec.name
    digest = hashlib.sha256(spec.name.encode()).hexdigest()[:6]
    return f"{spec.kind}-{spec.path.name}-{digest}"


@contextmanager
def open_report_folder(final: Path) -> Iterator[Path]:
    """A fresh folder beside ``final`` to write a report into; it replaces ``final`` whole when the block
    ends without an error, and is removed (``final`` kept as it was) when it raises."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        fresh.chmod(0o777 & ~_read_umask())
        yield fresh
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
        os.replace(final, old / final.name)
    os.replace(fresh, final)
    if old is not None:
        shutil.rmtree(old)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def describe_test_set(
    spec: DatasetSpec, *, limit: int | None, crop: int | None, paper: str = "bsd68"
) -> str | None:
    """How a report names its test set when it is not the paper's (full, uncropped ``paper``), else None."""
    if spec.name == paper and limit is None and crop is None:
        return None
    parts = [f"`{spec.name}`"]
    if limit is not None:
        parts.append(f"its first {limit} images at most")
    if crop is not None:
        parts.append(f"{crop}x{crop} centre crops")
    return ", ".join(parts)
