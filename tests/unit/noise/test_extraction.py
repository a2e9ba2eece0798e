"""Unit tests for noise.extraction: the wavelet rule (4), the GCBD rule (3), scan grid, modes, inputs."""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pytest
import pywt

import noise
import noise.extraction
from noise import (
    ExtractionResult,
    compute_wavelet_statistic,
    extract_gcbd_patches,
    extract_noise_patches,
    extract_wavelet_patches,
)
from noise.extraction import _haar_dwt2

SIGMA = 25 / 255
N = 192  # canvas side
Q = N // 2  # quadrant side
SIZE, STRIDE = 64, 16  # small windows so that several fit inside each quadrant
FLAT, STRIPES, TEXTURE, RAMP = 0, 1, 2, 3


def stripes(shape: tuple[int, int], period: int, low: float, high: float) -> np.ndarray:
    """Vertical stripes: runs of ``period // 2`` columns alternating ``low`` / ``high``."""
    cols = np.arange(shape[1]) // (period // 2) % 2
    return np.broadcast_to(np.where(cols == 0, low, high), shape).astype(np.float64)


def texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Sinusoid mixture plus random smooth Gaussian blobs (clean std about 0.2)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    out = 0.5 + 0.3 * np.sin(2 * np.pi * xx / 19 + 1.0) * np.cos(2 * np.pi * yy / 27)
    out += 0.15 * np.sin(2 * np.pi * (xx + yy) / 13)
    for _ in range(6):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        out += rng.uniform(-0.2, 0.2) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 8.0**2))
    return out


def make_canvas(
    rng: np.random.Generator, *, flat_level: float, layout: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """192x192 noisy canvas of four 96x96 quadrants (TL, TR, BL, BR kinds) and its region map.

    Kinds: flat gray, period-4 stripes 0.3/0.7 (equal mean/variance in every 16x16 sub-patch, but a
    huge Haar LL std), texture, strong horizontal ramp 0.1 -> 0.9. Plus white Gaussian noise SIGMA.
    """
    clean = np.empty((N, N))
    regions = np.empty((N, N), dtype=np.int64)
    corners = [(0, 0), (0, Q), (Q, 0), (Q, Q)]
    for kind, (y, x) in zip(layout, corners, strict=True):
        if kind == FLAT:
            block = np.full((Q, Q), flat_level)
        elif kind == STRIPES:
            block = stripes((Q, Q), 4, 0.3, 0.7)
        elif kind == TEXTURE:
            block = texture((Q, Q), rng)
        else:
            block = np.broadcast_to(np.linspace(0.1, 0.9, Q), (Q, Q))
        clean[y : y + Q, x : x + Q] = block
        regions[y : y + Q, x : x + Q] = kind
    noisy = (clean + SIGMA * rng.standard_normal((N, N))).astype(np.float32)
    return noisy, regions


@pytest.fixture(scope="module")
def canvases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(20210503)
    a = make_canvas(rng, flat_level=0.2, layout=(FLAT, STRIPES, TEXTURE, RAMP))
    b = make_canvas(rng, flat_level=0.8, layout=(RAMP, TEXTURE, STRIPES, FLAT))
    return [a[0], b[0]], [a[1], b[1]]


def window_kinds(regions: list[np.ndarray], positions: np.ndarray, size: int) -> list[set[int]]:
    """The set of region kinds under every window."""
    return [set(np.unique(regions[i][y : y + size, x : x + size]).tolist()) for i, y, x in positions]


def pywt_statistic(window: np.ndarray) -> float:
    """Eq. (4) written out with pywt, as the authors' code does."""
    ca, (ch, cv, cd) = pywt.dwt2(np.asarray(window, dtype=np.float64), "haar")
    stds = np.array([np.std(ca), np.std(ch), np.std(cv), np.std(cd)])
    mean = stds.mean()
    return float(np.mean(np.abs(stds - mean)) / mean)


def gcbd_reference(window: np.ndarray, sub_size: int, sub_stride: int, mu: float, gamma: float) -> float:
    """Eq. (3) statistic by explicit loops over the sub-patches."""
    w = np.asarray(window, dtype=np.float64)
    mean, var = w.mean(), w.var()
    worst = 0.0
    for y in range(0, w.shape[0] - sub_size + 1, sub_stride):
        for x in range(0, w.shape[1] - sub_size + 1, sub_stride):
            q = w[y : y + sub_size, x : x + sub_size]
            worst = max(worst, abs(q.mean() - mean) / (mu * mean), abs(q.var() - var) / (gamma * var))
    return worst


def windows_at(images: list[np.ndarray], positions: np.ndarray, size: int) -> np.ndarray:
    arrays = [np.asarray(image, dtype=np.float64) for image in images]
    return np.stack([arrays[i][y : y + size, x : x + size] for i, y, x in positions])


# --------------------------------------------------------------------------------------------------
# Rule (4)
# --------------------------------------------------------------------------------------------------


def test_wavelet_rule_keeps_exactly_the_flat_windows_and_estimates_sigma(canvases):
    images, regions = canvases
    res = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.42)
    kinds = window_kinds(regions, res.positions, SIZE)
    fully_flat = np.array([k == {FLAT} for k in kinds])
    assert res.n_candidates == 2 * 8 * 8
    assert fully_flat.sum() == 9 + 4  # TL quadrant of image 0 (3x3 corners), BR of image 1 (2x2)
    assert res.n_patches >= 1
    np.testing.assert_array_equal(res.smooth, fully_flat)  # only, and all, fully flat windows
    assert res.statistic[fully_flat].max() < 0.1
    assert res.statistic[~fully_flat].min() > 0.42
    sigma = np.median(res.smooth_sigma())
    assert abs(sigma - SIGMA) / SIGMA < 0.05
    assert res.rule == "wavelet" and res.threshold == 0.42 and res.count is None and not res.capped


def test_gcbd_admits_period_four_stripes_that_the_wavelet_rule_rejects(canvases):
    """Figure 2b's point: equal local mean/variance does not mean noise-like."""
    images, regions = canvases
    gcbd = extract_gcbd_patches(images, size=SIZE, stride=STRIDE, sub_size=16, sub_stride=16)
    wave = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.42)
    np.testing.assert_array_equal(gcbd.positions, wave.positions)
    on_stripes = np.array([k == {STRIPES} for k in window_kinds(regions, gcbd.positions, SIZE)])
    assert on_stripes.sum() == 6 + 6
    assert gcbd.smooth[on_stripes].all()
    assert gcbd.statistic[on_stripes].max() < 0.8
    assert not wave.smooth[on_stripes].any()
    assert wave.statistic[on_stripes].min() > 0.6
    kinds = window_kinds(regions, gcbd.positions, SIZE)
    ramp_or_mixed = np.array([k == {RAMP} or len(k) > 1 for k in kinds])
    assert not gcbd.smooth[ramp_or_mixed].any()
    assert gcbd.threshold == 1.0 and gcbd.rule == "gcbd"
    np.testing.assert_array_equal(gcbd.smooth, gcbd.statistic <= 1.0)


def test_wavelet_rule_is_blind_to_period_two_stripes():
    """Haar pairs columns, so period-2 stripes give a constant LH band: no extra std in any band."""
    rng = np.random.default_rng(3)
    image = stripes((128, 128), 2, 0.3, 0.7) + SIGMA * rng.standard_normal((128, 128))
    res = extract_wavelet_patches([image], size=SIZE, stride=STRIDE, lam=0.42)
    assert res.smooth.all() and res.statistic.max() < 0.1
    # ... but the window sigma does show the pattern (std 0.2 on top of the noise).
    assert np.all(res.sigma > 0.2)


def test_vectorised_statistic_matches_pywt_per_window():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:32, :32]
    windows = 0.5 + SIGMA * rng.standard_normal((12, 32, 32))
    windows[4:8] += 0.2 * np.sin(xx / (1.0 + np.arange(4)[:, None, None]))
    windows[8:] += np.linspace(0, 0.5, 4)[:, None, None] * yy / 32
    got = compute_wavelet_statistic(windows)
    want = np.array([pywt_statistic(w) for w in windows])
    assert got.shape == (12,) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    # float32 windows and leading dims
    np.testing.assert_allclose(
        compute_wavelet_statistic(windows.astype(np.float32).reshape(3, 4, 32, 32)).ravel(),
        [pywt_statistic(w) for w in windows.astype(np.float32)],
        rtol=1e-6,
    )
    # the bands themselves, with pywt's signs and order
    ca, (ch, cv, cd) = pywt.dwt2(windows[5], "haar")
    for mine, ref in zip(_haar_dwt2(windows[5]), (ca, ch, cv, cd), strict=True):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("stride", [7, 8, 13])
def test_scan_statistic_and_sigma_match_per_window_reference(stride):
    """The scan transforms whole images once (per corner parity); check it window by window."""
    rng = np.random.default_rng(stride)
    images = [texture((101, 87), rng) + SIGMA * rng.standard_normal((101, 87)) for _ in range(2)]
    images.append(0.5 + SIGMA * rng.standard_normal((64, 90)))
    res = extract_wavelet_patches(images, size=32, stride=stride, lam=0.2)
    windows = windows_at(images, res.positions, 32)
    np.testing.assert_allclose(res.statistic, [pywt_statistic(w) for w in windows], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.sigma, windows.std(axis=(1, 2)), rtol=1e-9)
    assert (res.positions[:, 1] % stride == 0).all() and (res.positions[:, 2] % stride == 0).all()


def test_noise_free_constant_window_counts_as_smooth():
    assert compute_wavelet_statistic(np.full((2, 16, 16), 0.3)).tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------------------------------
# Rule (3)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "stride", "sub_size", "sub_stride", "mu", "gamma"),
    [(32, 8, 8, 8, 0.1, 0.25), (30, 7, 8, 5, 0.2, 0.8)],  # the second: overlapping sub-patches
)
def test_gcbd_statistic_matches_loop_reference(size, stride, sub_size, sub_stride, mu, gamma):
    rng = np.random.default_rng(11)
    images = [texture((90, 77), rng) + 0.02 * rng.standard_normal((90, 77)) for _ in range(2)]
    images.append(0.4 + 0.02 * rng.standard_normal((70, 70)))
    res = extract_gcbd_patches(
        images, size=size, stride=stride, sub_size=sub_size, sub_stride=sub_stride, mu=mu, gamma=gamma
    )
    windows = windows_at(images, res.positions, size)
    want = [gcbd_reference(w, sub_size, sub_stride, mu, gamma) for w in windows]
    np.testing.assert_allclose(res.statistic, want, rtol=1e-9)
    np.testing.assert_allclose(res.sigma, windows.std(axis=(1, 2)), rtol=1e-9)
    assert 0 < res.n_patches < res.n_candidates


def test_gcbd_degenerate_bounds():
    flat = np.full((40, 40), 0.5)
    res = extract_gcbd_patches([flat], size=32, stride=4, sub_size=8, sub_stride=8)
    assert res.smooth.all() and np.all(res.statistic == 0)  # var 0 and every dvar 0: the rule holds
    zero_mean = np.zeros((40, 40))
    zero_mean[::2] = 0.1
    zero_mean -= 0.05  # mean 0, so |dMean| <= mu * 0 needs exact equality
    res = extract_gcbd_patches([zero_mean], size=32, stride=4, sub_size=8, sub_stride=8)
    assert res.smooth.all()
    res = extract_gcbd_patches([zero_mean - 0.01], size=32, stride=4, sub_size=8, sub_stride=8)
    assert not res.smooth.any() and np.isinf(res.statistic).all()  # negative mean: bound < 0


# --------------------------------------------------------------------------------------------------
# Count mode
# --------------------------------------------------------------------------------------------------


def test_count_mode_picks_the_kth_smallest_statistic(canvases):
    images, _ = canvases
    fixed = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.42)
    stats = np.sort(fixed.statistic)
    for k in (1, 5, 20, 100):
        res = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=None, count=k)
        assert res.threshold == stats[k - 1]
        assert res.n_patches >= k and res.count == k and not res.capped
        np.testing.assert_array_equal(res.smooth, fixed.statistic <= stats[k - 1])
    # more than the candidates: keep them all
    res = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=None, count=10_000)
    assert res.n_patches == res.n_candidates == 128 and not res.capped


def test_count_mode_cap(canvases):
    images, _ = canvases
    stats = np.sort(extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.42).statistic)
    cap = float((stats[9] + stats[10]) / 2)
    res = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=None, count=50, max_lambda=cap)
    assert res.capped and res.threshold == cap and res.n_patches == 10 and res.count == 50
    loose = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=None, count=5, max_lambda=10.0)
    assert not loose.capped and loose.threshold == stats[4]


def test_mode_selection_errors(canvases):
    images, _ = canvases
    with pytest.raises(ValueError, match="exactly one of lam"):
        extract_wavelet_patches(images, size=SIZE, count=10)  # lam keeps its default 0.42
    with pytest.raises(ValueError, match="exactly one of lam"):
        extract_wavelet_patches(images, size=SIZE, lam=None)
    with pytest.raises(ValueError, match="max_lambda"):
        extract_wavelet_patches(images, size=SIZE, lam=0.3, max_lambda=0.5)
    for bad in ({"lam": -0.1}, {"lam": float("nan")}, {"lam": None, "count": 0}, {"stride": 0}):
        with pytest.raises(ValueError):
            extract_wavelet_patches(images, size=SIZE, **bad)
    with pytest.raises(ValueError, match="even"):
        extract_wavelet_patches(images, size=63)
    with pytest.raises(ValueError, match="even"):
        compute_wavelet_statistic(np.zeros((2, 15, 15)))


# --------------------------------------------------------------------------------------------------
# Scan grid, inputs, outputs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "corners"),
    [
        ((120, 120), [(0, 0)]),  # 0 + 96 < 120, but 24 + 96 = 120 is not < 120
        ((121, 121), [(0, 0), (0, 24), (24, 0), (24, 24)]),
        ((121, 150), [(0, 0), (0, 24), (0, 48), (24, 0), (24, 24), (24, 48)]),
        ((96, 200), []),  # exactly the window size: no window at all
    ],
)
@pytest.mark.parametrize("rule", ["wavelet", "gcbd"])
def test_scan_grid_uses_strict_bound(shape, corners, rule):
    image = 0.5 + SIGMA * np.random.default_rng(0).standard_normal(shape)
    res = extract_noise_patches([image], rule=rule, size=96, stride=24)
    assert res.positions.dtype == np.int64 and res.positions.shape == (len(corners), 3)
    assert [tuple(p) for p in res.positions[:, 1:].tolist()] == corners
    assert (res.positions[:, 0] == 0).all()
    assert res.statistic.shape == res.sigma.shape == res.smooth.shape == (len(corners),)


def test_bad_images_are_named_by_index():
    good = np.zeros((100, 100), dtype=np.float32)
    with pytest.raises(ValueError, match=r"image 1 .*shape \(100,\)"):
        extract_wavelet_patches([good, np.zeros(100)], size=64)
    with pytest.raises(ValueError, match=r"image 2 of shape \(50, 200\)"):
        extract_gcbd_patches([good, good, np.zeros((50, 200))], size=64)
    with pytest.raises(ValueError, match="image 1 contains NaN"):
        extract_wavelet_patches([good, np.full((100, 100), np.nan)], size=64)
    with pytest.raises(ValueError, match="single 2-D array"):
        extract_wavelet_patches(good, size=64)
    with pytest.raises(ValueError, match="empty"):
        extract_gcbd_patches([], size=64)
    with pytest.raises(ValueError, match="sub_size"):
        extract_gcbd_patches([good], size=16, sub_size=32)
    with pytest.raises(ValueError, match="unknown rule"):
        extract_noise_patches([good], rule="bm3d")


def test_patches_are_mean_subtracted_float32_windows(canvases):
    images, _ = canvases
    res = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.42)
    assert res.patches.dtype == np.float32 and res.patches.shape == (res.n_patches, SIZE, SIZE)
    assert np.abs(res.patches.mean(axis=(1, 2), dtype=np.float64)).max() < 1e-6
    windows = windows_at(images, res.positions[res.smooth], SIZE)
    np.testing.assert_allclose(res.patches, windows - windows.mean(axis=(1, 2), keepdims=True), atol=1e-6)
    np.testing.assert_allclose(res.smooth_sigma(), res.patches.std(axis=(1, 2), dtype=np.float64), rtol=1e-5)


def test_no_smooth_window_gives_empty_patches(canvases):
    images, _ = canvases
    res = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.0)
    assert res.n_patches == 0 and res.patches.shape == (0, SIZE, SIZE) and res.patches.dtype == np.float32
    assert res.smooth_sigma().shape == (0,)


def test_array_input_dispatch_and_frozen_result(canvases):
    images, _ = canvases
    stacked = np.stack(images)
    a = extract_noise_patches(stacked, rule="wavelet", size=SIZE, stride=STRIDE, lam=0.42)
    b = extract_wavelet_patches(images, size=SIZE, stride=STRIDE, lam=0.42)
    np.testing.assert_array_equal(a.patches, b.patches)
    np.testing.assert_array_equal(a.statistic, b.statistic)
    c = extract_noise_patches(images, rule="gcbd", size=SIZE, stride=STRIDE)
    assert isinstance(c, ExtractionResult) and (c.size, c.stride) == (SIZE, STRIDE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.threshold = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        extract_noise_patches(images, rule="gcbd", lam=0.3)


def test_default_options():
    res = extract_gcbd_patches([0.5 + SIGMA * np.random.default_rng(1).standard_normal((180, 180))])
    assert (res.size, res.stride) == (64, 32) and res.n_candidates == 16  # offsets 0, 32, 64, 96
    res = extract_wavelet_patches([np.full((180, 180), 0.5)])
    assert (res.size, res.stride, res.threshold) == (96, 24, 0.42) and res.n_candidates == 16
    assert "extract_wavelet_patches" in noise.__all__


def test_module_doctests():
    result = doctest.testmod(noise.extraction, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
