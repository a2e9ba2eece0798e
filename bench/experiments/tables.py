"""The paper's tables (2 and 3) and the N2V check: every method of the table at every noise and seed, one
evaluation cell each, reported beside the published numbers (:mod:`bench.reporting.published` holds each
table as data).
Table 1 (what each method needs) is generated from the registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells.metrics import compute_psnr, compute_ssim
from bench.cells.runner import CellRunner, EvalResult, draw_noisy_test_set
from bench.cells.specs import Cell, ComputeSpec, EvalSpec, make_compute_spec
from bench.experiments.base import Context, Experiment, Results, RunRecord, find_unavailable
from bench.experiments.driver import format_resources, format_unfinished
from bench.reporting.figures import (
    plot_noise_std_histograms,
    plot_psnr_against_level,
    plot_ranking,
    plot_visual_comparison,
)
from bench.reporting.published import TableSpec
from bench.reporting.report import (
    RESULT_COLUMNS,
    describe_test_set,
    format_gan2gan_fits,
    format_noise_levels,
    order_methods,
    write_latex,
    write_markdown,
    write_summary_csv,
)
from methods.registry import METHODS
from noise import Correlated, NoiseModel

#: A benchmark's reference column: the noisy test images themselves, scored as every output is.
NOISY_INPUT = "noisy input"


def measure_noisy_input(runner: CellRunner, spec: ComputeSpec) -> dict[str, float]:
    """The floor of a benchmark cell: PSNR (also after 8-bit quantisation) and SSIM of its noisy test images
    against the clean ones, clipped to [0, 1] as every output is. Its ``test`` parameter is one of the
    cell's evaluations, whose test images and noise stream every method of the cell shares."""
    test_spec: EvalSpec = spec.param("test")
    test = runner.dataset(test_spec.test_data, limit=test_spec.test_limit, min_size=test_spec.test_crop)
    scores = [
        {
            "psnr": compute_psnr(noisy, clean),
            "psnr_8bit": compute_psnr(noisy, clean, quantise=True),
            "ssim": compute_ssim(noisy, clean),
            "ssim_authors": compute_ssim(noisy, clean, data_range="denoised"),
        }
        for _, clean, noisy in draw_noisy_test_set(test, test_spec)
    ]
    return {**pd.DataFrame(scores).mean().to_dict(), "n_images": len(scores)}


class Table(Experiment):
    """A table of the paper: its methods (columns) at its noises (rows), for every seed."""

    takes = frozenset({"methods", "noise", "correlated"})

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.title = spec.title

    def methods(self, ctx: Context) -> list[str]:
        """The run's methods: ``--methods`` or the table's."""
        return list(ctx.options.methods or self.spec.methods)

    def noises(self, ctx: Context) -> list[NoiseModel]:
        """The run's noises: ``--noise`` or the table's, correlated noise as ``--correlated`` asks."""
        return choose_correlated(list(ctx.options.noises or self.spec.noises), ctx.options.correlated)

    def unavailable(self, ctx: Context) -> dict[str, str]:
        return find_unavailable(self.methods(ctx))

    def test_crop(self, ctx: Context) -> int | None:
        """The side of the test images' centre crops: the table's own sizes (the blind benchmark's), or the
        profile's."""
        own = getattr(ctx.profile.sizes(self.name), "test_crop", None)
        return ctx.profile.test_crop if own is None else own

    def params(self, ctx: Context, method: str) -> dict[str, Any]:
        """The hyper-parameters of ``method`` in this table: the profile's, with the table's own budget
        over them (the blind benchmark's equal training budget)."""
        own = getattr(ctx.profile.sizes(self.name), "methods", {})
        return {**ctx.profile.params(method), **own.get(method, {})}

    def plan(self, ctx: Context) -> list[Cell]:
        """Every method's evaluation at every noise and seed; a benchmark adds, first, the floor of each
        noise and seed (:func:`measure_noisy_input`)."""
        unavailable = self.unavailable(ctx)
        crop = self.test_crop(ctx)
        evaluations = [
            ctx.eval_spec(method, noise=noise, seed=seed, params=self.params(ctx, method), test_crop=crop)
            for noise in self.noises(ctx)
            for method in self.methods(ctx)
            if method not in unavailable
            for seed in ctx.seeds
        ]
        if not self.spec.benchmark:
            return evaluations
        floors: dict[tuple[str, int], ComputeSpec] = {}
        for cell in evaluations:  # the first evaluation of each noise and seed stands for all of them
            if (cell.noise.spec, cell.seed) not in floors:
                floors[cell.noise.spec, cell.seed] = make_compute_spec(
                    measure_noisy_input,
                    seed=cell.seed,
                    label=f"{NOISY_INPUT} {cell.noise}",
                    noise=cell.noise,
                    test=cell,
                )
        return [*floors.values(), *evaluations]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        rows = []
        for cell in self.plan(ctx):
            keys = {
                "table": self.name,
                "profile": ctx.profile.name,
                "noise": cell.noise.family,
                "level": cell.noise.level,
            }
            if isinstance(cell, ComputeSpec):
                if (floor := results.computation(cell)) is not None:
                    rows.append({**keys, "method": NOISY_INPUT, "seed": cell.seed, **floor, "device": ""})
                continue
            if (result := results.evaluation(cell)) is not None:
                rows += [{**keys, **row} for row in result.stage_rows()]
        return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """CSV (per seed and summary), Markdown, LaTeX, figures; the paper's numbers beside ours when the
        test set is the paper's."""
        table, profile = self.spec, ctx.profile
        methods = self.methods(ctx)
        test_set = describe_test_set(ctx.test_data, limit=profile.test_limit, crop=self.test_crop(ctx))
        stem = out_dir / table.name
        frame.to_csv(stem.with_suffix(".csv"), index=False)
        write_summary_csv(out_dir / f"{table.name}_summary.csv", frame)
        names = list(dict.fromkeys([*frame["method"], *(METHODS[key].name for key in run.unavailable)]))
        header = (
            f"Profile `{profile.name}` ({profile.description}); test set `{ctx.test_data}`, seeds "
            f"{', '.join(map(str, ctx.seeds))}, device `{ctx.device_label()}`, {ctx.runner.threads} torch "
            "thread(s) per cell. "
            + ("Each cell: ours / paper / ours - paper." if test_set is None else "Each cell: ours.")
        )
        cells = [cell for cell in self.plan(ctx) if isinstance(cell, EvalSpec)]
        own_sizes = profile.sizes(self.name)
        finished = [result for cell in cells if (result := run.results.evaluation(cell)) is not None]
        fits = [(r.spec.noise, r.spec.seed, r.fit_report) for r in finished if "extraction" in r.fit_report]
        write_markdown(
            stem.with_suffix(".md"),
            table=table,
            results=frame,
            methods=names,
            header=header,
            test_set=test_set,
            notes=[
                *format_unfinished(run.status),
                *format_noise_levels(self.noises(ctx)),
                *(format_protocol(methods, protocol=self.protocol) if table.benchmark else []),
                *format_training_budget(finished, minutes=getattr(own_sizes, "train_minutes", None)),
                *format_shown_params(table, lambda key: self.params(ctx, key), methods, profile=profile.name),
                *(f"- {METHODS[key].name} was not run: {reason}" for key, reason in run.unavailable.items()),
                *format_gan2gan_fits(fits),
                *format_resources(dict(run.resources)),
            ],
        )
        written = [f"{table.name}.csv", f"{table.name}_summary.csv", f"{table.name}.md"]
        if fits:
            written += [p.name for p in plot_noise_std_histograms(out_dir / "gan2gan_noise_std", fits=fits)]
        write_latex(stem.with_suffix(".tex"), table=table, results=frame, methods=names, test_set=test_set)
        written.append(f"{table.name}.tex")
        title = f"{table.title.split(':')[0]} ({profile.name} profile, on {(test_set or 'BSD68')})"
        for noise in self.noises(ctx):
            visuals = merge_visuals(
                run.results, [c for c in cells if c.noise == noise and c.seed == ctx.seeds[0]]
            )
            if visuals:
                figure = plot_visual_comparison(
                    out_dir / f"{table.name}_visual_{noise.spec.replace(':', '')}",
                    visuals=visuals,
                    methods=order_methods(names, columns=table.columns),
                    title=f"{title.replace('`', '')}: {noise.spec}, seed {ctx.seeds[0]}",
                )
                written += [p.name for p in figure]
        if table.benchmark:
            ranking = plot_ranking(
                out_dir / f"{table.name}_ranking",
                results=frame,
                methods=names,
                title=title.replace("`", ""),
                informed=[METHODS[key].name for key in methods if not METHODS[key].requires.blind],
                floor=NOISY_INPUT,
            )
            written += [p.name for p in ranking]
        written += [
            p.name
            for p in plot_psnr_against_level(
                stem,
                table=table,
                results=frame,
                methods=names,
                title=title.replace("`", ""),
                with_paper=test_set is None,
            )
        ]
        return written

    def subset_methods(self, ctx: Context) -> Sequence[str]:
        methods = self.methods(ctx)
        return methods if set(methods) != set(self.spec.methods) else ()

    def subset_noises(self, ctx: Context) -> Sequence[NoiseModel]:
        noises = self.noises(ctx)
        defaults = choose_correlated(list(self.spec.noises), ctx.options.correlated)
        return noises if set(noises) != set(defaults) else ()


def merge_visuals(
    results: Results, cells: Sequence[EvalSpec]
) -> dict[str, dict[str, tuple[np.ndarray, float | None]]]:
    """The kept crops of the finished ``cells`` (one noise and seed), every method's beside the inputs."""
    merged: dict[str, dict[str, tuple[np.ndarray, float | None]]] = {}
    for cell in cells:
        result = results.evaluation(cell)
        if result is not None:
            for image, kept in result.visuals.items():
                merged.setdefault(image, {}).update(kept)
    return merged


def describe_training(cls: type) -> str:
    """When a method trains a network: before testing, on each test image (ZS-N2N), or never (BM3D)."""
    if cls.trains_on_test_image:
        return "on each test image"
    return "before testing" if cls.trains_network else "no network"


def format_protocol(methods: Sequence[str], *, protocol: str) -> list[str]:
    """Markdown lines: what each method was given and when it trained, then the protocol every column
    shares (input noise, metrics)."""
    rows = []
    for key in methods:
        cls = METHODS[key]
        req = cls.requires
        given = [
            name
            for name, on in (
                ("noisy training images", req.noisy_images),
                ("clean training images", req.clean),
                ("noisy pairs of clean images", req.pairs),
                ("the noise model", req.noise_model),
            )
            if on
        ]
        if cls.pair_noise is not None:
            given.append(f"pairs noised with {cls.pair_noise.spec}, not the cell's noise")
        rows.append(
            {
                "method": cls.name,
                "key": key,
                "blind": "yes" if req.blind else "no",
                "given besides the test image": ", ".join(given) or "nothing",
                "trains": describe_training(cls),
            }
        )
    return [
        "## Protocol: what each method was given",
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
        f"Every column: {protocol}. Training images keep one fixed noisy realisation (a method never "
        "re-draws the training noise of a blind column); the second PSNR grid rounds the clipped outputs "
        "to 8 bits first, as papers that save 8-bit outputs report.",
        "",
    ]


def format_training_budget(results: Sequence[EvalResult], *, minutes: float | None) -> list[str]:
    """Markdown lines: the training budget every method was sized to, and the seconds each method trained
    per cell (mean and range over noises and seeds): its fit, or for a method that trains on each test image
    (ZS-N2N) the seconds it spent denoising the test images. Methods that train nothing are left out."""
    if minutes is None:
        return []
    seconds: dict[str, list[float]] = {}
    for result in results:
        cls = METHODS[result.spec.fit.method]
        if cls.trains_network or cls.trains_on_test_image:
            spent = (
                sum(stage.denoise_seconds * stage.n_images for stage in result.stages)
                if cls.trains_on_test_image
                else result.fit_seconds
            )
            seconds.setdefault(cls.name, []).append(spent)
    if not seconds:
        return []
    rows = [
        {
            "method": name,
            "training (s per cell)": f"{np.mean(values):.0f}",
            "min-max (s)": f"{min(values):.0f}-{max(values):.0f}",
            "cells": len(values),
        }
        for name, values in seconds.items()
    ]
    return [
        "## Training budget",
        "",
        f"Every method that trains a network was given the same budget, {minutes:g} minutes of one CPU core "
        "per cell (noise and seed): its steps (below) were sized from step times measured on this kind of "
        "machine with two cells side by side. What each one took in this run (a cell's fit; for ZS-N2N, "
        "which trains on every test image, the seconds it spent on the test images):",
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
    ]


def choose_correlated(noises: list[NoiseModel], correlated: str) -> list[NoiseModel]:
    """``noises`` with correlated noise as ``--correlated`` asks (the authors' code's or the paper's)."""
    if correlated != "paper":
        return noises
    return [replace(n, mode="paper") if isinstance(n, Correlated) else n for n in noises]


def format_shown_params(
    table: TableSpec, params_of: Callable[[str], dict[str, Any]], methods: list[str], *, profile: str
) -> list[str]:
    """Markdown lines: the table's ``shown_params`` of every method under the profile, side by side.

    A value the profile leaves out is the method's default, read from its signature.
    """
    if not table.shown_params:
        return []
    columns = {}
    for key in methods:
        defaults = {
            name: parameter.default for name, parameter in inspect.signature(METHODS[key]).parameters.items()
        }
        params = {**defaults, **params_of(key)}
        columns[METHODS[key].name] = [params.get(name, "-") for name in table.shown_params]
    frame = pd.DataFrame(columns, index=pd.Index(table.shown_params, name="hyper-parameter"))
    return [f"## Hyper-parameters (profile `{profile}`)", "", frame.to_markdown(), ""]


def format_table1() -> str:
    """The paper's Table 1 (what each method needs), generated from the registered methods."""
    rows = []
    for key, cls in METHODS.items():
        req = cls.requires
        rows.append(
            {
                "method": cls.name,
                "key": key,
                "clean image": req.clean,
                "noisy pairs": req.pairs,
                "noise model": req.noise_model,
                "trains": describe_training(cls),
            }
        )
    frame = pd.DataFrame(rows).set_index("method")
    for column in ("clean image", "noisy pairs", "noise model"):
        frame[column] = frame[column].map({True: "yes", False: "no"})
    return "Table 1: what each method needs besides single noisy images\n\n" + frame.to_markdown()
