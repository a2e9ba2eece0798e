"""Figure 4 of the paper: blind denoising of real noise, FMD wide-field microscopy and reconstructed CT.

For every noise level of the dataset (FMD: captures averaged 1 to 16 times; CT: doses 25 to 100) the
methods that learn from noisy images alone (N2V, GAN2GAN) train on that level's noisy training images,
the others as everywhere else: DnCNN-B on the profile's clean set with blind Gaussian noise (mismatched,
as in the paper), BM3D with sigma estimated per image (Chen et al. 2015). Every method is evaluated on
the level's real noisy test images against their ground truth (the cells' noise is ``real:<level>``: no
noise is added; see :mod:`bench.datasets.realnoise`). The paper's bars average PSNR over the levels; the
report
has them beside the per-level numbers and the authors' README numbers (pretrained weights).
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells.metrics import compute_psnr
from bench.cells.runner import CellRunner
from bench.cells.specs import Cell, ComputeSpec, EvalSpec, make_compute_spec, make_fit_spec
from bench.config.options import UsageError
from bench.config.profiles import Profile
from bench.datasets.catalog import resolve_data_root
from bench.datasets.realnoise import (
    CT_SCALE,
    CT_TEST_PATIENTS,
    FMD_HELD_OUT_FOV,
    LEVELS,
    check_real_noise_layout,
    describe_real_noise_files,
    make_real_noise_spec,
)
from bench.experiments.base import Context, Experiment, Results, RunRecord, find_unavailable
from bench.reporting.figures import plot_real_noise
from bench.reporting.report import RESULT_COLUMNS, name_report_folder
from methods.registry import METHODS
from noise import RealNoise

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
        builds_on = METHODS[key].upstream
        if requires.noise_model or builds_on or (requires.noisy_images and not requires.blind):
            raise ValueError(
                f"{METHODS[key].name} cannot run on real noise: it needs the noise model, another "
                "method's fit, or clean images or noisy pairs of the noisy training set; fig4 runs methods "
                "that learn from noisy images alone or never see the test noise (default: "
                f"{', '.join(FIG4_METHODS)})"
            )


def measure_noisy_input(runner: CellRunner, spec: ComputeSpec) -> dict[str, Any]:
    """A computation cell: the mean PSNR of a real-noise test set's noisy images against their truth."""
    test = runner.dataset(
        spec.param("test_data"), limit=spec.param("test_limit"), min_size=spec.param("test_crop")
    )
    psnr = [compute_psnr(n, c) for n, c in zip(test.noisy, test.images, strict=True)]
    return {"psnr": float(np.mean(psnr)), "n_images": len(psnr)}


def load_readme_numbers(dataset: str) -> pd.DataFrame:
    """The authors' README numbers for ``dataset`` (pretrained weights; spec section 7): DnCNN-B and G2G
    per level, columns dataset, level, method, psnr, ssim, weights."""
    text = resources.files("bench.reporting.paper").joinpath("fig4_readme.csv").read_text(encoding="utf-8")
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


class Figure4(Experiment):
    """Figure 4: every level of FMD wide field or CT (``--dataset``) times the methods, per seed; the two
    datasets share one report folder."""

    name = "fig4"
    title = "Figure 4: real noise, FMD wide field or CT (--dataset)"
    takes = frozenset({"methods", "dataset"})
    protocol = (
        "real noisy test images against their ground truth (no noise added; cell noise 'real:<level>'); "
        "images float32 in [0,1] (8-bit / 255; CT: / 0.4, noisy clipped to [0,2], clean to [0,1]); PSNR "
        "10log10(1/MSE) per image on images clipped to [0,1], averaged; SSIM data_range=1 (ssim_authors: "
        "data range of the denoised image); model selection: last step"
    )

    def check(self, ctx: Context) -> None:
        super().check(ctx)
        if ctx.options.dataset is None:
            raise UsageError("fig4 needs --dataset fmd (FMD wide field) or --dataset ct")
        if resolve_data_root(ctx.options.data_root) is None:
            raise UsageError(
                f"fig4 needs --data-root DIR (or $GAN2GAN_DATA) holding the {ctx.options.dataset} data "
                "(layout "
                "in bench/datasets/realnoise.py; python -m bench.datasets.demo fmd DIR writes a small "
                "synthetic one)"
            )
        if ctx.options.test_data:
            raise UsageError(
                "fig4 evaluates every level on the dataset's own noisy test images; drop --test-data"
            )
        try:
            check_figure4_methods(self.methods(ctx))
        except ValueError as error:
            raise UsageError(str(error)) from None
        check_real_noise_layout(
            ctx.options.dataset, resolve_data_root(ctx.options.data_root)
        )  # reads no pixels

    def root(self, ctx: Context) -> Path:
        """The dataset's folder under the data root."""
        return check_real_noise_layout(ctx.options.dataset, resolve_data_root(ctx.options.data_root))

    def methods(self, ctx: Context) -> list[str]:
        """The run's methods: ``--methods`` or :data:`FIG4_METHODS`."""
        return list(ctx.options.methods or FIG4_METHODS)

    def unavailable(self, ctx: Context) -> dict[str, str]:
        return find_unavailable(self.methods(ctx))

    def _cells(self, ctx: Context, seed: int) -> dict[tuple[str, str], Cell]:
        dataset, root, profile = ctx.options.dataset, self.root(ctx), ctx.profile
        sizes, unavailable = ctx.profile.fig4, self.unavailable(ctx)
        cells: dict[tuple[str, str], Cell] = {}
        for level in LEVELS[dataset]:
            noise = RealNoise(level)
            test = make_real_noise_spec(dataset, root, level=level, split="test")
            cells[(level, "noisy input")] = make_compute_spec(
                measure_noisy_input,
                seed=ctx.seeds[0],  # the test images' own noise: the same for every seed
                label=f"noisy input {dataset} {level}",
                test_data=test,
                test_limit=sizes.test_limit,
                test_crop=sizes.test_crop,
            )
            for method in self.methods(ctx):
                if method in unavailable:
                    continue
                params = profile.params(method)
                if method == "gan2gan":
                    params.update(sizes.gan2gan[dataset])
                learns = METHODS[method].requires.noisy_images
                fit = make_fit_spec(
                    method,
                    params=params,
                    train_data=make_real_noise_spec(dataset, root, level=level, split="train")
                    if learns
                    else ctx.train_data,
                    train_limit=sizes.train_limit if learns else profile.train_limit,
                    noise=noise,
                    seed=seed,
                    params_of=profile.params,
                    device=ctx.device_type,
                    precision=ctx.options.precision,
                )
                cells[(level, method)] = EvalSpec(
                    fit=fit,
                    test_data=test,
                    test_limit=sizes.test_limit,
                    test_crop=sizes.test_crop,
                    noise=noise,
                    seed=seed,
                )
        return cells

    def plan(self, ctx: Context) -> list[Cell]:
        cells = {cell.key: cell for seed in ctx.seeds for cell in self._cells(ctx, seed).values()}
        return list(cells.values())

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """One row per seed, level and method stage, columns :data:`FIG4_CSV_COLUMNS`, the noisy input's
        PSNR as method ``noisy input``."""
        dataset, rows = ctx.options.dataset, []
        for seed in ctx.seeds:
            for (level, _), cell in self._cells(ctx, seed).items():
                keys = {"dataset": dataset, "level": level}
                if isinstance(cell, ComputeSpec):
                    noisy = results.computation(cell)
                    if noisy is not None:
                        rows.append(
                            {
                                **keys,
                                "method": "noisy input",
                                "seed": seed,
                                **noisy,
                                "device": "cpu",  # numpy
                            }
                        )
                elif (result := results.evaluation(cell)) is not None:
                    rows += [{**keys, **row} for row in result.stage_rows()]
        return pd.DataFrame(rows, columns=list(FIG4_CSV_COLUMNS))

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """This dataset's CSV, Markdown and figure; the other dataset's files of the folder are kept."""
        dataset, previous = ctx.options.dataset, run.previous
        for kept in previous.glob("fig4_*") if previous is not None and previous.is_dir() else ():
            if not kept.name.startswith(f"fig4_{dataset}."):
                shutil.copy2(kept, out_dir / kept.name)
        header = format_figure4_header(ctx, root=self.root(ctx))
        written = write_figure4(frame, dataset=dataset, out_dir=out_dir, profile=ctx.profile, header=header)
        return [p.name for p in written]

    def describe_data(self, ctx: Context, cells: list[Cell]) -> dict[str, Any]:
        """The SHA-256 of every real-noise file read, and of the clean training set of DnCNN-B."""
        evals = [cell for cell in cells if isinstance(cell, EvalSpec)]
        datasets: dict[str, Any] = {}
        for test, limit in sorted({(s.test_data, s.test_limit) for s in evals}, key=str):
            datasets[test.name] = describe_real_noise_files(test, limit=limit)
        for spec in evals:
            fit = spec.fit
            if fit.train_data.name in datasets or not METHODS[fit.method].requires.noisy_images:
                continue
            datasets[fit.train_data.name] = describe_real_noise_files(fit.train_data, limit=fit.train_limit)
        for spec in evals:
            if METHODS[spec.fit.method].requires.clean and spec.fit.train_data.name not in datasets:
                clean = ctx.runner.dataset(spec.fit.train_data, limit=spec.fit.train_limit)
                datasets[spec.fit.train_data.name] = {
                    "source": clean.source,
                    "n_images": len(clean),
                    "sha256": dict(zip(clean.names, clean.checksums, strict=True)),
                }
        return datasets

    def merge_manifest(self, manifest: dict[str, Any], *, previous: Path) -> dict[str, Any]:
        """``{"experiment": "fig4", "fmd": ..., "ct": ...}``: this run's manifest under its dataset, the
        other dataset's last run kept."""
        merged: dict[str, Any] = {"experiment": "fig4"}
        path = previous / "manifest.json"
        if path.exists():
            try:
                earlier = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                earlier = {}
            if isinstance(earlier, dict) and earlier.get("experiment") == "fig4":
                merged.update({key: earlier[key] for key in LEVELS if key in earlier})
        merged[manifest["dataset"]] = manifest
        return merged

    def name_folder(self, ctx: Context) -> str:
        return name_report_folder(
            ctx.profile.name,
            train_data=ctx.options.train_data
            if ctx.options.train_data not in (None, ctx.profile.train_data)
            else None,
            methods=self.methods(ctx) if set(self.methods(ctx)) != set(FIG4_METHODS) else (),
            seeds=ctx.seeds if ctx.seeds != (0,) else (),
            precision=ctx.options.precision,
        )


def format_figure4_header(ctx: Context, *, root: Path) -> str:
    """The report's opening paragraph: profile, data, seeds, device, and what each method learns from."""
    profile, dataset = ctx.profile, ctx.options.dataset
    sizes = profile.fig4
    split = (
        f"Training leaves out the test field of view {FMD_HELD_OUT_FOV}."
        if dataset == "fmd"
        else f"Test patients {', '.join(CT_TEST_PATIENTS)}, the others train; values / {CT_SCALE} (the "
        "authors' scale), noisy clipped to [0, 2], clean to [0, 1]."
    )
    return (
        f"Profile `{profile.name}` ({profile.description}); data `{root}`; seeds "
        f"{', '.join(map(str, ctx.seeds))} (mean over seeds); device `{ctx.device_label()}`, "
        f"{ctx.runner.threads} torch thread(s). N2V and GAN2GAN train on each level's noisy training images "
        f"(limit {sizes.train_limit}, round-robin over fields of view or patients); DnCNN-B on "
        f"`{ctx.train_data}` with blind Gaussian noise (mismatched, as in the paper); BM3D estimates "
        "sigma per image (Chen et al. 2015). Test: each level's real noisy images against their ground "
        f"truth (limit {sizes.test_limit}, crop {sizes.test_crop}); nothing is synthesised. {split}"
    )
