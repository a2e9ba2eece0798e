"""Inference time per test image of every method (the paper: BM3D 4.5-5.0 s per image, G2G about 4 ms
per image on a GPU), on the CPU and, when present, on the GPU.

Each method is fitted (or loaded from the cache) once, saved, and loaded again on every device; the time
of its ``denoise`` (the last stage, the one a user applies) is the median of ``repeats`` calls per image
after one warm-up call, over the first ``images`` test images (centre-cropped as the profile's
evaluation crops them). Each method and seed is one computation cell, so timings run on any executor and
are cached like any result (each row names the CPU it ran on; ``--force`` measures again).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.cells.runner import CellRunner, crop_centre
from bench.cells.specs import Cell, ComputeSpec, make_compute_spec
from bench.experiments.base import Context, Experiment, Results, RunRecord, find_unavailable
from bench.reporting.figures import plot_timing
from bench.reporting.published import TABLE2_METHODS
from bench.reporting.report import average_seeds, format_mean_std
from methods.provenance import describe_cpu
from methods.registry import METHODS, load_method
from noise import derive_rng, parse_noise

#: The paper's claims (section 5.2), by method name: (seconds per image, device).
PAPER_CLAIMS: dict[str, tuple[str, str]] = {
    "BM3D(blind)": ("4.5-5.0", "cpu (sigma estimated, real-noise images)"),
    "GAN2GAN": ("0.004", "gpu"),
}
#: The methods timed: Table 2's and the blind BM3D the claim is about.
TIMED_METHODS: tuple[str, ...] = ("bm3d", "bm3d-blind", *TABLE2_METHODS[1:])
#: The noise of the timed test images.
NOISE = parse_noise("gaussian:25")


def list_devices() -> list[str]:
    """The devices to time on: the CPU, and CUDA when torch sees it."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def time_denoise(
    denoise: Callable[[np.ndarray], np.ndarray], images: Sequence[np.ndarray], *, repeats: int
) -> list[float]:
    """Seconds of ``denoise`` per image: one warm-up call, then the median of ``repeats`` calls each."""
    denoise(images[0])
    medians = []
    for image in images:
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            denoise(image)
            seconds.append(time.perf_counter() - start)
        medians.append(float(np.median(seconds)))
    return medians


def measure_timing(runner: CellRunner, spec: ComputeSpec) -> dict[str, Any]:
    """A computation cell: the seconds per test image of one fitted method's last stage on every device,
    the model saved and loaded again on each, beside the paper's claim."""
    (fit,) = spec.fits
    method, _ = runner.fit(fit)
    test = runner.dataset(
        spec.param("test_data"), limit=spec.param("test_limit"), min_size=spec.param("test_crop")
    )
    noise = spec.param("noise")
    rng = derive_rng(spec.seed, "timing", noise.spec)
    images, repeats = spec.param("images"), spec.param("repeats")
    clean = [crop_centre(image, spec.param("test_crop")) for image in test.images[:images]]
    noisy = [(image + noise.sample(image.shape, rng=rng)).astype(np.float32) for image in clean]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model"
        method.save(path)
        for device in list_devices():
            loaded = load_method(fit.method, path, device=device)
            seconds = time_denoise(loaded.denoise, noisy, repeats=repeats)
            name = METHODS[fit.method].name
            claim = PAPER_CLAIMS.get(name, ("", ""))
            rows.append(
                {
                    "method": name,
                    "stage": list(loaded.stages())[-1],
                    "device": device,
                    "seconds_per_image": float(np.median(seconds)),
                    "min": float(np.min(seconds)),
                    "max": float(np.max(seconds)),
                    "images": len(noisy),
                    "image_shape": "x".join(map(str, noisy[0].shape)),
                    "repeats": repeats,
                    "paper_seconds": claim[0],
                    "paper_device": claim[1],
                }
            )
    return {"rows": rows, "cpu": describe_cpu()}


class Timing(Experiment):
    """Inference time per test image of every method, per device and seed, beside the paper's claims."""

    name = "timing"
    title = "inference time per test image, beside the paper's claims"
    takes = frozenset({"methods"})

    def methods(self, ctx: Context) -> list[str]:
        """The run's methods: ``--methods`` or :data:`TIMED_METHODS`."""
        return list(ctx.options.methods or TIMED_METHODS)

    def unavailable(self, ctx: Context) -> dict[str, str]:
        return find_unavailable(self.methods(ctx))

    def plan(self, ctx: Context) -> list[Cell]:
        sizes, unavailable = ctx.profile.timing, self.unavailable(ctx)
        cells = []
        for seed in ctx.seeds:
            for key in self.methods(ctx):
                if key in unavailable:
                    continue
                spec = ctx.eval_spec(key, noise=NOISE, seed=seed)
                cells.append(
                    make_compute_spec(
                        measure_timing,
                        seed=seed,
                        label=f"timing {METHODS[key].name}",
                        fits=(spec.fit,),
                        noise=NOISE,
                        test_data=spec.test_data,
                        test_limit=spec.test_limit,
                        test_crop=spec.test_crop,
                        images=sizes.images,
                        repeats=sizes.repeats,
                    )
                )
        return cells

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        rows = []
        for cell in self.plan(ctx):
            result = results.computation(cell)
            if result is not None:
                rows += [{"seed": cell.seed, **row, "cpu": result["cpu"]} for row in result["rows"]]
        return pd.DataFrame(rows)

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """The CSV (per seed), the Markdown table (median seconds, mean ± std over seeds) and the figure."""
        sizes = ctx.profile.timing
        frame.to_csv(out_dir / "timing.csv", index=False)
        keys = ["method", "stage", "device", "paper_seconds", "paper_device"]
        summary = average_seeds(frame, by=keys, values=["seconds_per_image"])
        shown = summary.assign(
            seconds_per_image=[
                format_mean_std(m, s, digits=4)
                for m, s in zip(summary["seconds_per_image"], summary["seconds_per_image_std"], strict=True)
            ]
        )[["method", "stage", "device", "seconds_per_image", "paper_seconds", "paper_device", "seeds"]]
        devices = ", ".join(dict.fromkeys(frame["device"])) if len(frame) else ""
        (out_dir / "timing.md").write_text(
            "\n".join(
                [
                    "# Inference time per test image (median over images of the median of repeats)",
                    "",
                    f"Profile `{ctx.profile.name}` (its architectures); test set `{ctx.test_data}`; "
                    f"{sizes.images} images, {sizes.repeats} repeats after one warm-up call; devices: "
                    f"{devices}; seeds {', '.join(map(str, ctx.seeds))} (mean ± std over seeds). The paper's "
                    "claims beside (section 5.2).",
                    "",
                    shown.to_markdown(index=False),
                    "",
                ]
            )
        )
        title = f"Inference time per image ({ctx.profile.name} profile)"
        figure = plot_timing(out_dir / "timing", frame=summary, title=title)
        return ["timing.csv", "timing.md", *(p.name for p in figure)]

    def subset_methods(self, ctx: Context) -> Sequence[str]:
        methods = self.methods(ctx)
        return methods if set(methods) != set(TIMED_METHODS) else ()
