"""Tests of bench.cells.metrics: PSNR and SSIM against analytic values and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from bench.cells.metrics import compute_psnr, compute_ssim


def smooth_image(
    shape: tuple[int, int] = (32, 32), seed: int = 0, lo: float = 0.2, hi: float = 0.7
) -> np.ndarray:
    """A smooth-ish random image with values in [lo, hi] (structure for SSIM, no clipping)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.25 * np.sin(6 * yy + rng.uniform(0, 3)) * np.cos(5 * xx + rng.uniform(0, 3))
    base += 0.05 * rng.standard_normal(shape)
    base = (base - base.min()) / (base.max() - base.min())
    return lo + (hi - lo) * base


# PSNR ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0.1, 20.0), (-0.1, 20.0), (0.05, 26.0206), (0.01, 40.0), (0.2, 10 * math.log10(25))],
)
def test_psnr_constant_offset_matches_analytic_value(offset: float, expected: float) -> None:
    clean = np.full((8, 8), 0.5)
    assert compute_psnr(clean + offset, clean) == pytest.approx(expected, abs=1e-4)


def test_psnr_example_from_docstring_and_symmetry() -> None:
    denoised, clean = np.full((4, 4), 0.1), np.zeros((4, 4))
    assert compute_psnr(denoised, clean) == pytest.approx(20.0, abs=1e-9)
    assert compute_psnr(clean, denoised) == pytest.approx(20.0, abs=1e-9)


def test_psnr_matches_mse_formula_on_random_images() -> None:
    rng = np.random.default_rng(3)
    clean = rng.uniform(0, 1, (16, 20))
    denoised = np.clip(clean + 0.07 * rng.standard_normal(clean.shape), 0, 1)
    mse = np.mean((denoised - clean) ** 2)
    assert compute_psnr(denoised, clean) == pytest.approx(10 * np.log10(1 / mse), rel=1e-10)


def test_psnr_of_identical_images_is_inf() -> None:
    clean = smooth_image()
    assert compute_psnr(clean.copy(), clean) == math.inf
    assert compute_psnr(clean.astype(np.float32), clean.astype(np.float32)) == math.inf


def test_psnr_clips_denoised_above_one() -> None:
    clean = np.full((6, 6), 0.8)
    # clipped to 1.0: error 0.2 (PSNR 13.98 dB), not 0.5 (6.02 dB)
    assert compute_psnr(clean + 0.5, clean) == pytest.approx(10 * math.log10(1 / 0.04), abs=1e-9)


def test_psnr_clips_denoised_below_zero() -> None:
    clean = np.full((6, 6), 0.1)
    assert compute_psnr(clean - 0.6, clean) == pytest.approx(20.0, abs=1e-9)


def test_psnr_clips_clean_too() -> None:
    # clean 1.3 is clipped to 1.0; denoised 1.0 is then exact
    assert compute_psnr(np.full((5, 5), 1.0), np.full((5, 5), 1.3)) == math.inf
    # clean -0.2 -> 0.0; denoised 0.1 -> error 0.1
    assert compute_psnr(np.full((5, 5), 0.1), np.full((5, 5), -0.2)) == pytest.approx(20.0, abs=1e-9)


def test_psnr_clipping_only_touches_out_of_range_pixels() -> None:
    rng = np.random.default_rng(1)
    clean = rng.uniform(0, 1, (10, 10))
    denoised = clean + rng.normal(0, 0.3, clean.shape)  # many pixels outside [0, 1]
    assert (denoised > 1).any() and (denoised < 0).any()
    mse = np.mean((np.clip(denoised, 0, 1) - clean) ** 2)
    assert compute_psnr(denoised, clean) == pytest.approx(10 * np.log10(1 / mse), rel=1e-10)
    unclipped = 10 * np.log10(1 / np.mean((denoised - clean) ** 2))
    assert compute_psnr(denoised, clean) > unclipped + 0.1


@pytest.mark.parametrize("metric", [compute_psnr, compute_ssim])
def test_shape_mismatch_raises(metric) -> None:
    with pytest.raises(ValueError, match="shape"):
        metric(np.zeros((16, 16)), np.zeros((16, 17)))
    with pytest.raises(ValueError, match="shape"):
        metric(np.zeros((16, 16)), np.zeros((16, 16, 1)))


@pytest.mark.parametrize("metric", [compute_psnr, compute_ssim])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated(metric, dtype) -> None:
    rng = np.random.default_rng(2)
    clean = rng.uniform(-0.2, 1.2, (16, 16)).astype(dtype)
    denoised = rng.uniform(-0.3, 1.3, (16, 16)).astype(dtype)
    clean0, denoised0 = clean.copy(), denoised.copy()
    metric(denoised, clean)
    np.testing.assert_array_equal(clean, clean0)
    np.testing.assert_array_equal(denoised, denoised0)
    assert clean.dtype == dtype and denoised.dtype == dtype


def test_psnr_returns_a_finite_float() -> None:
    # np.float64 is a float subclass, which is what compute_psnr currently returns for finite values
    value = compute_psnr(np.full((4, 4), 0.3), np.full((4, 4), 0.2))
    assert isinstance(value, float) and math.isfinite(value)


# SSIM ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_range", ["fixed", "denoised"])
def test_ssim_of_identical_images_is_one(data_range: str) -> None:
    clean = smooth_image()
    assert compute_ssim(clean.copy(), clean, data_range=data_range) == pytest.approx(1.0, abs=1e-12)


def test_ssim_fixed_matches_skimage_with_unit_range() -> None:
    rng = np.random.default_rng(5)
    clean = smooth_image(seed=5)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    expected = structural_similarity(noisy, clean, data_range=1.0)
    got = compute_ssim(noisy, clean)
    assert type(got) is float
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == compute_ssim(noisy, clean, data_range="fixed")
    assert 0.0 < got < 0.99


def test_ssim_fixed_clips_before_comparing() -> None:
    rng = np.random.default_rng(6)
    clean = smooth_image(seed=6)
    noisy = clean + 0.3 * rng.standard_normal(clean.shape)
    assert (noisy > 1).any() and (noisy < 0).any()
    expected = structural_similarity(np.clip(noisy, 0, 1), clean, data_range=1.0)
    assert compute_ssim(noisy, clean) == pytest.approx(expected, rel=1e-12)


def test_ssim_denoised_range_matches_skimage_and_differs_from_fixed() -> None:
    rng = np.random.default_rng(7)
    clean = smooth_image(seed=7, lo=0.25, hi=0.75)
    denoised = np.clip(clean + 0.05 * rng.standard_normal(clean.shape), 0.25, 0.75)
    span = denoised.max() - denoised.min()
    assert span == pytest.approx(0.5)
    expected = structural_similarity(denoised, clean, data_range=span)
    got = compute_ssim(denoised, clean, data_range="denoised")
    assert got == pytest.approx(expected, rel=1e-12)
    fixed = compute_ssim(denoised, clean, data_range="fixed")
    assert abs(got - fixed) > 1e-3
    # A smaller data range makes the stabilising constants smaller, which lowers SSIM here.
    assert got < fixed


def test_ssim_denoised_range_uses_the_clipped_denoised_image() -> None:
    rng = np.random.default_rng(8)
    clean = smooth_image(seed=8)
    denoised = clean + 0.4 * rng.standard_normal(clean.shape)
    clipped = np.clip(denoised, 0, 1)
    expected = structural_similarity(clipped, clean, data_range=float(clipped.max() - clipped.min()))
    assert compute_ssim(denoised, clean, data_range="denoised") == pytest.approx(expected, rel=1e-12)


def test_ssim_drops_with_a_constant_shift() -> None:
    rng = np.random.default_rng(9)
    clean = smooth_image(seed=9)
    noisy = clean + 0.05 * rng.standard_normal(clean.shape)
    assert noisy.min() > 0.0 and noisy.max() + 0.15 < 1.0
    base = compute_ssim(noisy, clean)
    shifted = compute_ssim(noisy + 0.15, clean)
    assert shifted < base - 0.01


def test_ssim_is_lower_for_noisier_images() -> None:
    rng = np.random.default_rng(10)
    clean = smooth_image(seed=10)
    noise = rng.standard_normal(clean.shape)
    assert compute_ssim(clean + 0.2 * noise, clean) < compute_ssim(clean + 0.05 * noise, clean)


@pytest.mark.parametrize("bad", ["dynamic", "Fixed", "", 1.0, None])
def test_ssim_bad_data_range_raises(bad) -> None:
    clean = smooth_image()
    with pytest.raises(ValueError, match="data_range"):
        compute_ssim(clean, clean, data_range=bad)


def test_quantised_psnr_rounds_the_output_to_8_bits_only() -> None:
    rng = np.random.default_rng(0)
    clean = np.round(rng.random((32, 32)) * 255) / 255
    eight_bit = np.round(np.clip(clean + 0.05 * rng.standard_normal(clean.shape), 0, 1) * 255) / 255
    assert compute_psnr(eight_bit, clean, quantise=True) == compute_psnr(eight_bit, clean)
    between = clean + 0.4 / 255  # under half a grey level off: quantising lands back on the clean image
    assert compute_psnr(between, clean) < 60 and compute_psnr(between, clean, quantise=True) == float("inf")
