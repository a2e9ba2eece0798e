"""Figure 4 of the paper: blind denoising of real noise, FMD wide-field microscopy and reconstructed CT.

For every noise level of the dataset (FMD: captures averaged 1 to 16 times; CT: doses 25 to 100) the
methods that learn from noisy images alone (N2V, GAN2GAN) train on that level's noisy training images,
the others as everywhere else: DnCNN-B on the profile's clean set with blind Gaussian noise (mismatched,
as in the paper), BM3D with sigma estimated per image (Chen et al. 2015). Every method is evaluated on
the level's real noisy test images against their ground truth (the cells' noise is ``real:<level>``: no
noise is added; see :mod:`bench.realnoise`). The paper's bars average PSNR over the levels; the report
has them beside the per-level numbers and the authors' README numbers (pretrained weights).
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells import CellRunner, EvalSpec, make_fit_spec
from bench.figures import plot_real_noise
from bench.metrics import compute_psnr
from bench.profiles import Profile
from bench.provenance import describe_device, describe_provenance
from bench.realnoise import (
    CT_SCALE,
    CT_TEST_PATIENTS,
    FMD_HELD_OUT_FOV,
    LEVELS,
    describe_real_noise_files,
    make_real_noise_name,
)
from bench.report import RESULT_COLUMNS
from methods.registry import METHODS

#: Registry keys of the paper's Figure 4 methods (N2C(Eq.4), its upper bound, is not run here).
FIG4_METHODS: tuple[str, ...] = ("dncnn-b", "bm3d-blind", "n2v", "gan2gan")
#: Column order of the report: the paper's baselines, then GAN2GAN's stages.
FIG4_COLUMNS: tuple[str, ...] = ("DnCNN-B", "BM3D(blind)", "N2V", "g_theta2", "G2G_1", "G2G_2", "G2G_3")
#: Long names of the datasets.
TITLES: dict[str, str] = {"fmd": "FMD wide-field (WF) microscopy", "ct": "reconstructed CT"}
#: Columns of the CSV, in order: the dataset, then the table CSV's columns from the noise level on.
FIG4_CSV_COLUMNS: tuple[str, ...] = ("dataset", *RESULT_COLUMNS[RESULT_COLUMNS.index("level") :])


def check_figure4_methods(methods: list[str]) -> None:
    """Refuse methods that cannot run on real noise: those needing the noise model, clean images of the
    training set or noisy pairs of it (methods that train on the profile's clean set with their own
    synthetic noise, like DnCNN-B, are fine).

    Raises
    ------
    ValueError
        Naming the first such method and what it needs.
    """
    for key in methods:
        requires = METHODS[key].requires
        builds_on = getattr(METHODS[key], "upstream", {})
        if requires.noise_model or builds_on or (requires.noisy_images and not requires.blind):
            raise ValueError(
                f"{METHODS[key].name} cannot run on real noise: it needs the noise model, another "
                "method's fit, or clean images or noisy pairs of the noisy training set; fig4 runs methods "
                "that learn from noisy images alone or never see the test noise (default: "
                f"{', '.join(FIG4_METHODS)})"
            )


def make_figure4_specs(
    dataset: str,
    *,
    root: Path,
    profile: Profile,
    methods: list[str],
    seed: int,
    clean_train_data: str,
) -> list[EvalSpec]:
    """Return the evaluation cells of Figure 4: every level of ``dataset`` under ``root`` times ``methods``.

    Parameters
    ----------
    dataset : {"fmd", "ct"}
        Which real-noise data.
    root : Path
        Its folder (see :func:`bench.realnoise.find_real_noise_root`).
    profile : Profile
        Hyper-parameters; its ``experiments["fig4"]`` gives the image limits, the test crop and
        GAN2GAN's extraction on this dataset.
    methods : list of str
        Registry keys.
    seed : int
        The seed of every cell.
    clean_train_data : str
        Training set of the methods that never see the noisy images (DnCNN-B's clean images).
    """
    sizes = profile.experiments["fig4"]
    specs = []
    for level in LEVELS[dataset]:
        noise = f"real:{level}"
        test = make_real_noise_name(dataset, root, level=level, split="test")
        for method in methods:
            params = profile.params(method)
            if method == "gan2gan":
                params.update(sizes["gan2gan"][dataset])
            learns = METHODS[method].requires.noisy_images
            fit = make_fit_spec(
                method,
                params=params,
                train_data=make_real_noise_name(dataset, root, level=level, split="train")
                if learns
                else clean_train_data,
                train_limit=sizes["train_limit"] if learns else profile.train_limit,
                noise=noise,
                seed=seed,
                params_of=profile.params,
            )
            specs.append(
                EvalSpec(
                    fit=fit,
                    test_data=test,
                    test_limit=sizes["test_limit"],
                    test_crop=sizes["test_crop"],
                    noise=noise,
                    seed=seed,
                )
            )
    return specs


def tabulate_figure4(runner: CellRunner, specs: list[EvalSpec], *, dataset: str) -> pd.DataFrame:
    """Run (or read from the cache) every cell; one row per (level, method stage), columns
    :data:`FIG4_CSV_COLUMNS` plus the noisy input's PSNR as method ``noisy input``."""
    for spec in specs:  # a missing clean set (DnCNN-B's BSD400) stops the run before any work
        if METHODS[spec.fit.method].requires.clean:
            runner.dataset(spec.fit.train_data, limit=spec.fit.train_limit)
    rows = []
    for spec in specs:
        keys = {"dataset": dataset, "level": spec.noise.partition(":")[2]}
        rows += [{**keys, **row} for row in runner.evaluate(spec).stage_rows(device=runner.device)]
    for spec in {s.test_data: s for s in specs}.values():
        test = runner.dataset(spec.test_data, limit=spec.test_limit, min_size=spec.test_crop)
        psnr = [compute_psnr(n, c) for n, c in zip(test.noisy, test.images, strict=True)]
        rows.append(
            {
                "dataset": dataset,
                "level": spec.noise.partition(":")[2],
                "method": "noisy input",
                "seed": spec.seed,
                "psnr": float(np.mean(psnr)),
                "n_images": len(psnr),
                "device": runner.device,
            }
        )
    return pd.DataFrame(rows, columns=list(FIG4_CSV_COLUMNS))


def load_readme_numbers(dataset: str) -> pd.DataFrame:
    """The authors' README numbers for ``dataset`` (pretrained weights; spec section 7): DnCNN-B and G2G
    per level, columns dataset, level, method, psnr, ssim, weights."""
    text = resources.files("bench.paper").joinpath("fig4_readme.csv").read_text(encoding="utf-8")
    frame = pd.read_csv(StringIO(text))
    return frame[frame["dataset"] == dataset].reset_index(drop=True)


def format_level_grid(frame: pd.DataFrame, *, metric: str, levels: tuple[str, ...], digits: int) -> str:
    """Markdown grid: one row per level plus their average (the paper's bars), one column per method
    (:data:`FIG4_COLUMNS` first; ``noisy input`` last)."""
    ran = frame.dropna(subset=[metric])
    grid = ran.pivot_table(index="level", columns="method", values=metric, aggfunc="mean")
    present = [lvl for lvl in levels if lvl in grid.index]
    grid = grid.reindex(present)
    order = [m for m in FIG4_COLUMNS if m in grid.columns]
    order += [m for m in grid.columns if m not in order and m != "noisy input"]
    order += ["noisy input"] if "noisy input" in grid.columns else []
    grid = grid[order]
    grid.loc[f"average over {len(present)} levels"] = grid.mean(axis=0)
    grid.index.name = "level"
    return grid.to_markdown(floatfmt=f".{digits}f")


def format_figure4_header(
    dataset: str,
    *,
    root: Path,
    profile: Profile,
    seed: int,
    device: str,
    threads: int,
    clean_train_data: str,
) -> str:
    """The report's opening paragraph: profile, data, seed, device, and what each method learns from."""
    sizes = profile.experiments["fig4"]
    split = (
        f"Training leaves out the test field of view {FMD_HELD_OUT_FOV}."
        if dataset == "fmd"
        else f"Test patients {', '.join(CT_TEST_PATIENTS)}, the others train; values / {CT_SCALE} (the "
        "authors' scale), noisy clipped to [0, 2], clean to [0, 1]."
    )
    return (
        f"Profile `{profile.name}` ({profile.description}); data `{root}`; seed {seed}; device `{device}`, "
        f"{threads} torch thread(s). N2V and GAN2GAN train on each level's noisy training images (limit "
        f"{sizes['train_limit']}, round-robin over fields of view or patients); DnCNN-B on "
        f"`{clean_train_data}` with blind Gaussian noise (mismatched, as in the paper); BM3D estimates "
        "sigma per image (Chen et al. 2015). Test: each level's real noisy images against their ground "
        f"truth (limit {sizes['test_limit']}, crop {sizes['test_crop']}); nothing is synthesised. {split}"
    )


def write_figure4(
    frame: pd.DataFrame, *, dataset: str, out_dir: Path, profile: Profile, header: str
) -> list[Path]:
    """Write ``fig4_<dataset>.csv``, ``.md`` (PSNR and SSIM per level and averaged, the authors' README
    numbers beside) and the figure (``.png`` and ``.pdf``); return the paths."""
    stem = out_dir / f"fig4_{dataset}"
    frame.to_csv(stem.with_suffix(".csv"), index=False)
    levels = LEVELS[dataset]
    readme = load_readme_numbers(dataset)
    reference = readme.pivot_table(index="level", columns="method", values=["psnr", "ssim"])
    reference = reference.reindex([lvl for lvl in levels if lvl in reference.index])
    reference.columns = [f"{method} {metric.upper()}" for metric, method in reference.columns]
    weights = "; ".join(
        f"{m}: {w}" for m, w in dict(zip(readme["method"], readme["weights"], strict=True)).items()
    )
    text = [
        f"# Figure 4: real noise, {TITLES[dataset]}",
        "",
        header,
        "",
        "## PSNR (dB) per level; the last row averages the levels (the paper's bars)",
        "",
        format_level_grid(frame, metric="psnr", levels=levels, digits=2),
        "",
        "## SSIM (data range 1)",
        "",
        format_level_grid(frame, metric="ssim", levels=levels, digits=4),
        "",
        "## SSIM, the authors' variant (data range of the denoised image; what their README reports)",
        "",
        format_level_grid(frame, metric="ssim_authors", levels=levels, digits=4),
        "",
        "## The authors' README numbers (their pretrained weights, not the paper's figure)",
        "",
        reference.to_markdown(floatfmt=".4g") if len(reference) else "(none)",
        "",
        f"Weights: {weights}. The paper's Figure 4 gives bars only; its per-level numbers are in the "
        "supplementary material, which is not in this repository.",
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(text))
    figure = plot_real_noise(
        stem,
        frame=frame,
        levels=levels,
        columns=FIG4_COLUMNS,
        reference=readme,
        title=f"Figure 4: {TITLES[dataset]} ({profile.name} profile)",
    )
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), *figure]


def describe_figure4_run(
    runner: CellRunner,
    specs: list[EvalSpec],
    *,
    dataset: str,
    profile: Profile,
    started: dt.datetime,
) -> dict[str, Any]:
    """``manifest.json`` of a Figure 4 run: provenance, profile, cells, and the SHA-256 of every file read."""
    datasets: dict[str, Any] = {}
    for name, limit in sorted({(s.test_data, s.test_limit) for s in specs}, key=str):
        datasets[name] = describe_real_noise_files(name, limit=limit)
    for spec in specs:
        fit = spec.fit
        if fit.train_data in datasets or not METHODS[fit.method].requires.noisy_images:
            continue
        datasets[fit.train_data] = describe_real_noise_files(fit.train_data, limit=fit.train_limit)
    for spec in specs:
        requires = METHODS[spec.fit.method].requires
        if requires.clean and spec.fit.train_data not in datasets:
            clean = runner.dataset(spec.fit.train_data, limit=spec.fit.train_limit)
            datasets[spec.fit.train_data] = {
                "source": clean.source,
                "n_images": len(clean),
                "sha256": dict(zip(clean.names, clean.checksums, strict=True)),
            }
    return {
        **describe_provenance(prog="python -m bench.run", experiment="fig4"),
        "dataset": dataset,
        "profile": {
            "name": profile.name,
            "fig4": dict(profile.experiments["fig4"]),
            "methods": {key: profile.params(key) for key in dict.fromkeys(s.fit.method for s in specs)},
        },
        "seeds": sorted({s.seed for s in specs}),
        "cells": [
            {"eval": s.key, "fit": s.fit.key, "method": s.fit.method, "noise": s.noise, "test": s.test_data}
            for s in specs
        ],
        "protocol": "real noisy test images against their ground truth (no noise added; cell noise "
        "'real:<level>'); images float32 in [0,1] (8-bit / 255; CT: / 0.4, noisy clipped to [0,2], "
        "clean to [0,1]); PSNR 10log10(1/MSE) per image on images clipped to [0,1], averaged; SSIM "
        "data_range=1 (ssim_authors: data range of the denoised image); model selection: last step",
        "device": describe_device(runner.device),
        "threads_per_cell": runner.threads,
        "datasets": datasets,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def merge_figure4_manifest(path: Path, manifest: dict[str, Any], *, dataset: str) -> dict[str, Any]:
    """The content of ``manifest.json`` of the Figure 4 folder: ``{"experiment": "fig4", "fmd": ...,
    "ct": ...}``, the run's ``manifest`` under its dataset and the other dataset's last run kept."""
    merged: dict[str, Any] = {"experiment": "fig4"}
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            previous = {}
        if isinstance(previous, dict) and previous.get("experiment") == "fig4":
            merged.update({key: previous[key] for key in LEVELS if key in previous})
    merged[dataset] = manifest
    return merged
