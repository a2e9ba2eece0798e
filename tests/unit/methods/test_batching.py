"""methods.base.denoise_images: stacks of equal-size images for torch methods, processes for BM3D."""

from __future__ import annotations

import numpy as np
import pytest

from methods.base import TrainingData, denoise_images, plan_batches
from methods.bm3d import BM3D
from methods.n2c import NoiseToClean
from noise import parse_noise


class Recorder:
    """A batched denoiser that records the shapes it is called with and halves its input."""

    batched = True

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        self.calls.append(noisy.shape)
        return noisy / 2


def test_plan_batches_stacks_equal_sizes_within_the_pixel_budget() -> None:
    shapes = [(4, 4)] * 3 + [(4, 8)] * 2 + [(4, 4)] * 2
    assert plan_batches(shapes, batch_pixels=32) == [[0, 1], [2, 5], [6], [3], [4]]
    assert plan_batches([(10, 10)] * 2, batch_pixels=1) == [[0], [1]]


def test_batched_denoiser_gets_stacks_and_outputs_keep_the_input_order() -> None:
    rng = np.random.default_rng(0)
    images = [rng.random(shape, dtype=np.float32) for shape in [(6, 5), (5, 6), (6, 5), (6, 5)]]
    recorder = Recorder()
    out = denoise_images(recorder, images, batch_pixels=1000)
    assert recorder.calls == [(3, 6, 5), (5, 6)]
    for image, denoised in zip(images, out, strict=True):
        np.testing.assert_array_equal(denoised, image / 2)


def test_torch_method_stack_matches_one_image_at_a_time() -> None:
    method = NoiseToClean(depth=3, features=4, steps=1, batch_size=1, patch_size=8)
    rng = np.random.default_rng(1)
    images = [rng.random((12, 10), dtype=np.float32) for _ in range(3)]
    stacked = denoise_images(method, images)
    for image, denoised in zip(images, stacked, strict=True):
        np.testing.assert_allclose(denoised, method.denoise(image), atol=1e-6)


def test_bm3d_over_processes_gives_the_outputs_of_one_process() -> None:
    method = BM3D()
    method.fit(TrainingData(noise_model=parse_noise("gaussian:25")), seed=0)
    rng = np.random.default_rng(2)
    images = [np.clip(0.5 + 0.1 * rng.standard_normal((40, 40)), 0, 1).astype(np.float32) for _ in range(3)]
    serial = denoise_images(method, images, jobs=1)
    parallel = denoise_images(method, images, jobs=2)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("jobs", [1, 3])
def test_empty_input_gives_no_output(jobs: int) -> None:
    assert denoise_images(Recorder(), [], jobs=jobs) == []
    assert denoise_images(BM3D(), [], jobs=jobs) == []
