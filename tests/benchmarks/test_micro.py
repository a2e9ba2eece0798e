"""Micro benchmarks (pytest-benchmark): ``pytest -m benchmark``; excluded from the default run.

Each comparison is a group of two timed functions (ours and the reference) for pytest-benchmark's
table, and one test asserting the ratio of the two measured side by side (:mod:`bench.experiments.perf`), with
sizes small enough for a laptop; ``python -m bench.run perf`` measures at the cpu profile's sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.experiments.perf import (
    forward_bare,
    make_training_runs,
    measure_generator_iteration,
    measure_inference,
    measure_pair_generation,
    measure_training_step,
)
from methods.base import denoise_images
from methods.gan2gan.iterate import make_pair_sampler
from methods.n2c import NoiseToClean
from methods.nets import DnCNN, NoiseGenerator
from noise import extract_noise_patches

pytestmark = pytest.mark.benchmark
CPU = torch.device("cpu")
TRAIN = {"depth": 17, "features": 64, "batch_size": 8, "patch_size": 40, "lr": 1e-3}


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((160, 240), dtype=np.float32) for _ in range(4)]


@pytest.mark.benchmark(group="training step (3 steps)")
@pytest.mark.parametrize("variant", ["ours", "bare"])
def test_training_loop(benchmark, variant: str) -> None:
    benchmark(make_training_runs(TRAIN, steps=3, device=CPU)[variant])


def test_training_loop_within_ten_percent_of_bare() -> None:
    row = measure_training_step(params=TRAIN, steps=3, repeats=3, device=CPU)
    assert row.ok, row


@pytest.mark.benchmark(group="inference (4 images)")
def test_denoise_images_ours(benchmark, images) -> None:
    method = NoiseToClean(steps=1, batch_size=1, patch_size=8)
    benchmark(denoise_images, method, images)


@pytest.mark.benchmark(group="inference (4 images)")
def test_denoise_images_bare(benchmark, images) -> None:
    net = NoiseToClean(steps=1, batch_size=1, patch_size=8).net
    benchmark(forward_bare, net, images, device=CPU)


def test_denoise_images_within_five_percent_of_bare(images) -> None:
    method = NoiseToClean(steps=1, batch_size=1, patch_size=8)
    row = measure_inference("N2C", method, method.net, images, device=CPU)
    assert row.ok, row


@pytest.mark.benchmark(group="G2G pairs (batch 16)")
@pytest.mark.parametrize("per_sample", [False, True], ids=["batched", "per-sample"])
def test_pair_generation(benchmark, images, per_sample: bool) -> None:
    draw = make_pair_sampler(
        images,
        generator=NoiseGenerator(),
        estimator=DnCNN(depth=17),
        batch_size=16,
        patch_size=64,
        device=CPU,
        per_sample=per_sample,
    )
    benchmark(draw)


def test_pair_generation_batched_is_faster() -> None:
    row = measure_pair_generation(batch=16, patch=64, repeats=5, device=CPU)
    assert row.ok, row


def test_generator_iteration_reuse_is_faster() -> None:
    row = measure_generator_iteration(batch=8, repeats=2, device=CPU)
    assert row.ok, row


@pytest.mark.benchmark(group="extraction")
def test_wavelet_extraction(benchmark) -> None:
    rng = np.random.default_rng(0)
    noisy = [(0.5 + 0.1 * rng.standard_normal((180, 180))).astype(np.float32) for _ in range(40)]
    result = benchmark(extract_noise_patches, noisy, rule="wavelet", size=64, stride=4, lam=None, count=1000)
    assert len(result.patches) == 1000
