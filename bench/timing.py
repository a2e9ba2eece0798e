"""Inference time per test image of every method (the paper: BM3D 4.5-5.0 s per image, G2G about 4 ms
per image on a GPU), on the CPU and, when present, on the GPU.

Each method is fitted (or loaded from the cache) once, saved, and loaded again on every device; the time
of its ``denoise`` (the last stage, the one a user applies) is the median of ``repeats`` calls per image
after one warm-up call, over the first ``images`` test images (centre-cropped as the profile's
evaluation crops them).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.cells import CellRunner, EvalSpec, crop_centre, derive_rng
from bench.tables import TABLE2_METHODS
from methods.registry import METHODS, load_method
from noise import parse_noise

#: The paper's claims (section 5.2), by method name: (seconds per image, device).
PAPER_CLAIMS: dict[str, tuple[str, str]] = {
    "BM3D(blind)": ("4.5-5.0", "cpu (sigma estimated, real-noise images)"),
    "GAN2GAN": ("0.004", "gpu"),
}
#: The methods timed: Table 2's and the blind BM3D the claim is about.
TIMED_METHODS: tuple[str, ...] = ("bm3d", "bm3d-blind", *TABLE2_METHODS[1:])


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


def tabulate_timing(
    runner: CellRunner, specs: Sequence[EvalSpec], *, images: int, repeats: int
) -> pd.DataFrame:
    """One row per method and device: the median seconds per image and the paper's claim beside."""
    rows = []
    for spec in specs:
        method, _ = runner.fit(spec.fit)
        test = runner.dataset(spec.test_data, limit=spec.test_limit, min_size=spec.test_crop)
        rng = derive_rng(spec.seed, "timing", spec.noise)
        noise = parse_noise(spec.noise)
        clean = [crop_centre(image, spec.test_crop) for image in test.images[:images]]
        noisy = [(image + noise.sample(image.shape, rng=rng)).astype(np.float32) for image in clean]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model"
            method.save(path)
            for device in list_devices():
                loaded = load_method(spec.fit.method, path, device=device)
                seconds = time_denoise(loaded.denoise, noisy, repeats=repeats)
                name = METHODS[spec.fit.method].name
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
    return pd.DataFrame(rows)
