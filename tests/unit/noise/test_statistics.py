"""Noise statistics without clean images: a known fixed pattern, a known random std, borders, flatness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from noise import measure_noise


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_white_noise_is_all_random_and_flat(rng):
    stats = measure_noise(0.1 * rng.standard_normal((512, 32, 32)))
    assert stats.random_std == pytest.approx(0.1, rel=0.01)
    assert stats.pattern_std == pytest.approx(0.1 / np.sqrt(512), rel=0.1)  # only the sampling error
    assert stats.flatness > 0.99
    assert stats.border_std == pytest.approx(stats.interior_std, rel=0.03)
    assert stats.count == 512


def test_a_known_fixed_pattern_and_random_std_are_separated(rng):
    checkerboard = np.where(np.indices((64, 64)).sum(0) % 2 == 0, 0.15, -0.15)
    stats = measure_noise(checkerboard + 0.05 * rng.standard_normal((1000, 64, 64)))
    assert stats.pattern_std == pytest.approx(0.15, rel=0.01)
    assert stats.random_std == pytest.approx(0.05, rel=0.01)
    assert stats.total_std == pytest.approx(np.hypot(0.15, 0.05), rel=0.01)


def test_a_weak_border_is_seen(rng):
    samples = 0.2 * rng.standard_normal((300, 40, 40))
    samples[:, [0, -1], :] *= 0.25
    samples[:, :, [0, -1]] *= 0.25
    stats = measure_noise(samples)
    assert stats.interior_std == pytest.approx(0.2, rel=0.02)
    assert stats.border_std == pytest.approx(0.05, rel=0.05)


def test_correlated_noise_is_less_flat_than_white(rng):
    white = rng.standard_normal((200, 48, 48))
    blurred = uniform_filter(white, size=(1, 3, 3), mode="wrap")
    assert measure_noise(blurred).flatness < 0.6 < measure_noise(white).flatness


def test_per_sample_offsets_are_not_a_pattern(rng):
    samples = 0.1 * rng.standard_normal((400, 16, 16)) + rng.uniform(-1, 1, (400, 1, 1))
    stats = measure_noise(samples)
    assert stats.random_std == pytest.approx(0.1, rel=0.02)


def test_scaled_reports_eight_bit_units(rng):
    stats = measure_noise(rng.standard_normal((64, 16, 16)) * 20 / 255)
    scaled = stats.scaled(255)
    assert scaled["random_std"] == pytest.approx(20, rel=0.05)
    assert scaled["flatness"] == stats.flatness


@pytest.mark.parametrize(
    ("shape", "border", "match"),
    [((1, 8, 8), 1, "N >= 2"), ((8, 8), 1, "N >= 2"), ((4, 4, 4), 2, "no interior")],
)
def test_bad_input_is_named(shape, border, match):
    with pytest.raises(ValueError, match=match):
        measure_noise(np.zeros(shape), border=border)
