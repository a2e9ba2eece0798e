"""Chen et al. (2015) noise-level estimation."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import noise.estimate
from noise import parse_noise
from noise.estimate import estimate_noise_std


def smooth_image(size: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / size
    return 0.5 + 0.25 * np.sin(3 * xx) * np.cos(2 * yy) + 0.2 * xx


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_estimates_white_gaussian_noise_within_five_percent(sigma):
    noise = parse_noise(f"gaussian:{sigma}")
    image = smooth_image()
    noisy = image + noise.sample(image.shape, rng=np.random.default_rng(sigma))
    assert estimate_noise_std(noisy) == pytest.approx(noise.std, rel=0.05)


def test_a_clean_smooth_image_has_almost_no_noise():
    assert estimate_noise_std(smooth_image()) < 1 / 255


def test_estimate_scales_with_the_image():
    noisy = smooth_image() + 0.1 * np.random.default_rng(0).standard_normal((160, 160))
    assert estimate_noise_std(3 * noisy) == pytest.approx(3 * estimate_noise_std(noisy), rel=1e-9)


def test_stride_subsamples_patches_without_changing_the_answer_much():
    noisy = smooth_image() + 0.1 * np.random.default_rng(1).standard_normal((160, 160))
    assert estimate_noise_std(noisy, stride=3) == pytest.approx(estimate_noise_std(noisy), rel=0.05)


@pytest.mark.parametrize(("shape", "message"), [((8, 8, 3), "2-D"), ((5, 40), "smaller")])
def test_bad_images_are_refused(shape, message):
    with pytest.raises(ValueError, match=message):
        estimate_noise_std(np.zeros(shape))


def test_docstring_example_runs():
    assert doctest.testmod(noise.estimate).failed == 0
