"""Unit tests for noise.models: marginal stds, mixture proportions, correlation structure, PSD, parsing."""

from __future__ import annotations

import dataclasses
import doctest
import math
import time

import numpy as np
import pytest
from scipy.signal import convolve2d

import noise
import noise.models
from noise import (
    Correlated,
    Mixture,
    NoiseModel,
    NoiseSpecError,
    UniformSigmaGaussian,
    WhiteGaussian,
    parse_noise,
)

ALL_MODELS = [
    WhiteGaussian(25),
    Mixture("A", 15),
    Mixture("B", 50),
    Correlated(25),
    Correlated(25, mode="paper"),
    UniformSigmaGaussian(0, 55),
]


def autocov_from_kernel(model: Correlated, lag: tuple[int, int]) -> float:
    """Analytic autocovariance ``sum_d w_d w_{d - lag}`` of the stationary (interior) noise."""
    offsets, weights = model.build_kernel()
    taps = {(int(dy), int(dx)): w for (dy, dx), w in zip(offsets, weights, strict=True)}
    return sum(w * taps.get((dy - lag[0], dx - lag[1]), 0.0) for (dy, dx), w in taps.items())


def empirical_autocov(x: np.ndarray, lag: tuple[int, int]) -> float:
    """Mean of ``x[..., i, j] * x[..., i + ly, j + lx]`` over all valid positions (zero-mean noise)."""
    ly, lx = lag
    h, w = x.shape[-2:]
    a = x[..., max(0, -ly) : h - max(0, ly), max(0, -lx) : w - max(0, lx)]
    b = x[..., max(0, ly) : h - max(0, -ly), max(0, lx) : w - max(0, -lx)]
    return float(np.mean(a.astype(np.float64) * b))


# --------------------------------------------------------------------------------------------------
# Generic properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS, ids=str)
def test_protocol_dtype_shape_and_reproducibility(model):
    assert isinstance(model, NoiseModel)
    a = model.sample((2, 40, 56), rng=np.random.default_rng(7))
    b = model.sample((2, 40, 56), rng=np.random.default_rng(7))
    c = model.sample((2, 40, 56), rng=np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == (2, 40, 56)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert model.sample((33, 45), rng=np.random.default_rng(0)).shape == (33, 45)


@pytest.mark.parametrize("model", ALL_MODELS, ids=str)
def test_models_are_frozen_hashable_and_roundtrip(model):
    assert parse_noise(str(model)) == model
    assert parse_noise(model.spec) == model
    assert hash(parse_noise(model.spec)) == hash(model)
    assert model.spec.startswith(model.family + ":")
    field = dataclasses.fields(model)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(model, field, 1.0)


@pytest.mark.parametrize(
    "model",
    [
        WhiteGaussian(25),
        WhiteGaussian(12.5),
        Mixture("A", 15),
        Mixture("A", 25),
        Mixture("B", 30),
        Mixture("B", 50),
        Correlated(15, mode="paper"),
        Correlated(25, mode="paper"),
    ],
    ids=str,
)
def test_empirical_std_matches_analytic(model):
    x = model.sample((512, 512), rng=np.random.default_rng(1))
    ratio = float(np.std(x.astype(np.float64))) / model.std
    assert abs(ratio - 1) < 0.02, ratio
    # standard error of the mean of N samples is sqrt(psd[0, 0]) / N (bm3d PSD convention)
    assert abs(float(np.mean(x))) < 5 * math.sqrt(model.psd((512, 512))[0, 0]) / 512**2


def test_analytic_std_values():
    assert WhiteGaussian(25).std == pytest.approx(25 / 255)
    assert Mixture("A", 15).std == pytest.approx(math.sqrt(0.1 * 225 / 3 + 0.2 * 1 + 0.7 * 0.01) / 255)
    assert Mixture("B", 50).std == pytest.approx(math.sqrt(0.1 * 2500 / 3 + 0.2 * 625 + 0.7 * 225) / 255)
    k = 16
    code = math.sqrt((0.7 + 0.3 / math.sqrt(k * k - 1)) ** 2 + (k * k - 2) * 0.09 / (k * k - 1))
    assert Correlated(25).std == pytest.approx(25 / 255 * code, rel=1e-12)
    assert code == pytest.approx(0.7787, abs=1e-4)
    eta = 1 / math.sqrt(2)
    assert Correlated(25, mode="paper").std == pytest.approx(25 / 255 * math.sqrt(eta**2 + (1 - eta) ** 2))
    assert Correlated(25, mode="paper").std * 255 / 25 == pytest.approx(0.7654, abs=1e-4)
    assert UniformSigmaGaussian(0, 55).std == pytest.approx(55 / math.sqrt(3) / 255)
    assert UniformSigmaGaussian(10, 10).std == pytest.approx(10 / 255)


def test_white_gaussian_draw_order():
    x = WhiteGaussian(25).sample((8, 9), rng=np.random.default_rng(3))
    ref = (np.random.default_rng(3).standard_normal((8, 9)) * 25 / 255).astype(np.float32)
    np.testing.assert_array_equal(x, ref)


@pytest.mark.parametrize("model", ALL_MODELS, ids=str)
def test_psd_shape_and_parseval(model):
    psd = model.psd((32, 48))
    assert psd.shape == (32, 48)
    assert np.all(psd >= 0)
    assert psd.mean() / (32 * 48) == pytest.approx(model.std**2, rel=1e-10)


def test_white_psd_bm3d_convention():
    psd = WhiteGaussian(25).psd((20, 30))
    np.testing.assert_allclose(psd, np.full((20, 30), (25 / 255) ** 2 * 600))


@pytest.mark.parametrize(("mode", "rtol"), [("paper", 0.06), ("code", 0.2)])
def test_correlated_psd_matches_periodogram(mode, rtol):
    model = Correlated(25, mode=mode)
    h, w = 64, 96
    x = model.sample((300, h, w), rng=np.random.default_rng(5)).astype(np.float64)
    periodogram = np.mean(np.abs(np.fft.fft2(x)) ** 2, axis=0)
    psd = model.psd((h, w))

    def blocks(a):  # 8x8 frequency blocks to average out the periodogram's variance
        return a.reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))

    np.testing.assert_allclose(blocks(periodogram), blocks(psd), rtol=rtol)
    # the spectrum is far from flat, so a white PSD of the same power would fail this test
    assert psd.max() / psd.min() > 10


# --------------------------------------------------------------------------------------------------
# Mixture
# --------------------------------------------------------------------------------------------------


def test_mixture_constants():
    assert Mixture.PROPORTIONS == (0.1, 0.2, 0.7)
    assert Mixture.COMPONENT_STDS == {"A": (1.0, 0.1), "B": (25.0, 15.0)}


@pytest.mark.parametrize("case", ["A", "B"])
def test_mixture_proportions_and_component_stds(case):
    s = 25 if case == "A" else 50
    model = Mixture(case, s)
    x, labels = model.sample_labeled((1000, 1000), rng=np.random.default_rng(11))
    np.testing.assert_array_equal(x, model.sample((1000, 1000), rng=np.random.default_rng(11)))
    fractions = np.bincount(labels.ravel(), minlength=3) / labels.size
    np.testing.assert_allclose(fractions, [0.1, 0.2, 0.7], atol=0.01)
    np.testing.assert_allclose(fractions, [0.1, 0.2, 0.7], atol=0.002)
    x = x.astype(np.float64) * 255
    std1, std2 = Mixture.COMPONENT_STDS[case]
    uni = x[labels == 0]
    assert uni.min() >= -s and uni.max() <= s
    assert np.std(uni) == pytest.approx(s / math.sqrt(3), rel=0.01)
    assert np.std(x[labels == 1]) == pytest.approx(std1, rel=0.01)
    assert np.std(x[labels == 2]) == pytest.approx(std2, rel=0.01)


def test_mixture_a_tail_fraction_without_labels():
    # case A: |n| > 5 (in 255 units) essentially only comes from U[-25, 25]: 0.1 * 20/25 = 0.08
    x = Mixture("A", 25).sample((1000, 1000), rng=np.random.default_rng(2)) * 255
    assert np.mean(np.abs(x) > 5) == pytest.approx(0.08, abs=0.002)
    # |n| <= 0.5 is almost all of the 70% N(0, 0.1^2) plus part of N(0, 1) and of the uniform
    expected = 0.7 + 0.2 * math.erf(0.5 / math.sqrt(2)) + 0.1 * 0.5 / 25
    assert np.mean(np.abs(x) <= 0.5) == pytest.approx(expected, abs=0.003)


# --------------------------------------------------------------------------------------------------
# Correlated, code mode
# --------------------------------------------------------------------------------------------------


def test_code_mode_matches_convolve2d_including_borders():
    model = Correlated(25)
    m = np.random.default_rng(4).standard_normal((2, 3, 37, 50))
    kernel = np.ones((16, 16))
    kernel[8, 8] = 0
    ref = np.empty_like(m)
    for idx in np.ndindex(m.shape[:-2]):
        conv = convolve2d(m[idx], kernel, mode="same", boundary="fill", fillvalue=0)
        ref[idx] = 0.7 * m[idx] + 0.3 * conv / math.sqrt(255)
    np.testing.assert_allclose(model.correlate_white(m), ref, atol=1e-12)
    x = model.sample((2, 3, 37, 50), rng=np.random.default_rng(4))
    np.testing.assert_allclose(x, (ref * 25 / 255).astype(np.float32), rtol=1e-6, atol=1e-7)


def test_code_mode_impulse_window():
    model = Correlated(25)
    c = 0.3 / math.sqrt(255)
    delta = np.zeros((48, 48))
    delta[20, 20] = 1.0
    out = model.correlate_white(delta)  # out[p, q] = weight of offset (20 - p, 20 - q)
    rows, cols = np.nonzero(out)
    # output (i, j) sums rows i-8..i+7 -> the impulse at row 20 reaches outputs 13..28
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (13, 28, 13, 28)
    assert out[20, 20] == pytest.approx(0.7 + c)  # (i, j) is included in the sum
    assert out[21, 21] == 0.0  # output (21, 21) excludes M(20, 20) = (i-1, j-1)
    assert out[19, 19] == pytest.approx(c)  # ... but (i+1, j+1) is included
    assert np.count_nonzero(out) == 16 * 16 - 1
    # the same holds for the kernel used by std / psd
    offsets, weights = model.build_kernel()
    taps = {(int(a), int(b)): w for (a, b), w in zip(offsets, weights, strict=True)}
    assert (-1, -1) not in taps and (0, 0) in taps and (-8, -8) in taps and (7, 7) in taps
    assert (8, 8) not in taps and len(taps) == 255


def test_code_mode_interior_std_and_lower_border_variance():
    model = Correlated(25)
    x = model.sample((4, 512, 512), rng=np.random.default_rng(9)).astype(np.float64)
    interior = x[:, 16:-16, 16:-16]
    ratio = interior.std() / model.std
    assert abs(ratio - 1) < 0.02, ratio
    assert interior.std() * 255 / 25 == pytest.approx(0.779, abs=0.01)
    # pixel (0, 0) only sees the 8 x 8 quarter of its window: var = (0.7 + c)^2 + 63 c^2
    c = 0.3 / math.sqrt(255)
    corner_std = 25 / 255 * math.sqrt((0.7 + c) ** 2 + 63 * c**2)
    corners = model.sample((16384, 12, 12), rng=np.random.default_rng(19))[:, 0, 0].astype(np.float64)
    assert corners.std() == pytest.approx(corner_std, rel=0.02)
    assert corners.std() < 0.96 * model.std


def test_code_mode_autocovariance():
    model = Correlated(255)  # unit-variance M, so covariances are in sigma^2 units
    x = model.sample((4, 512, 512), rng=np.random.default_rng(10))[:, 16:-16, 16:-16]
    lags = [(0, 1), (1, 0), (1, 1), (-1, -1), (1, -1), (8, 0), (0, 8), (15, 15), (0, 16), (16, 0)]
    for lag in lags:
        expected = autocov_from_kernel(model, lag)
        assert empirical_autocov(x, lag) == pytest.approx(expected, abs=0.005), lag
    assert autocov_from_kernel(model, (0, 16)) == 0.0
    # the excluded (i-1, j-1) tap breaks the symmetry between the two diagonals
    diag, anti = autocov_from_kernel(model, (1, 1)), autocov_from_kernel(model, (1, -1))
    assert anti - diag > 0.01
    assert empirical_autocov(x, (1, -1)) - empirical_autocov(x, (1, 1)) > 0.005


# --------------------------------------------------------------------------------------------------
# Correlated, paper mode
# --------------------------------------------------------------------------------------------------


def test_paper_mode_is_stationary_and_not_sigma():
    model = Correlated(255, mode="paper")
    x = model.sample((16, 128, 128), rng=np.random.default_rng(12)).astype(np.float64)
    border = np.concatenate([x[:, :4, :].ravel(), x[:, -4:, :].ravel(), x[:, :, :4].ravel()])
    assert border.std() == pytest.approx(model.std, rel=0.02)
    assert x.std() == pytest.approx(model.std, rel=0.02)
    # the paper claims std == sigma; its own formula gives ~0.765 sigma
    assert x.std() < 0.8


def test_paper_mode_impulse_is_centred_window_with_wrap():
    model = Correlated(25, mode="paper")
    eta = 1 / math.sqrt(2)
    c = (1 - eta) / math.sqrt(255)
    delta = np.zeros((40, 40))
    delta[0, 0] = 1.0
    out = model.correlate_white(delta)  # out[p, q] = weight of offset (-p, -q) mod 40
    assert out[0, 0] == pytest.approx(eta)
    assert np.count_nonzero(out) == 256  # the centre (eta) plus 255 neighbours
    assert len(model.build_kernel()[1]) == 256
    assert out[8, 8] == pytest.approx(c)  # offset (-8, -8) is in the window
    assert out[-7, -7] == pytest.approx(c)  # offset (7, 7) is in the window (wrapped)
    assert out[-8, -8] == 0.0  # offset (8, 8) is not
    assert out[1, 1] == pytest.approx(c) and out[-1, -1] == pytest.approx(c)


def test_paper_mode_autocovariance():
    model = Correlated(255, mode="paper")
    x = model.sample((32, 256, 256), rng=np.random.default_rng(13))
    for lag in [(0, 1), (1, 1), (1, -1), (4, 4), (8, 0), (0, 15), (0, 16)]:
        expected = autocov_from_kernel(model, lag)
        assert empirical_autocov(x, lag) == pytest.approx(expected, abs=0.004), lag
    assert autocov_from_kernel(model, (1, 1)) == pytest.approx(autocov_from_kernel(model, (1, -1)))
    assert autocov_from_kernel(model, (0, 1)) > 0.02


def test_correlated_sample_is_fast():
    rng = np.random.default_rng(0)
    for mode in ("code", "paper"):
        model = Correlated(25, mode=mode)
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            model.sample((321, 481), rng=rng)
            best = min(best, time.perf_counter() - t0)
        assert best < 0.05, (mode, best)


def test_correlated_rejects_1d_and_bad_params():
    with pytest.raises(ValueError):
        Correlated(25).sample((100,), rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        Correlated(25, mode="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Correlated(25, k=1)


# --------------------------------------------------------------------------------------------------
# Uniform-sigma Gaussian
# --------------------------------------------------------------------------------------------------


def test_uniform_sigma_one_sigma_per_leading_index():
    model = UniformSigmaGaussian(0, 55)
    x = model.sample((64, 64, 64), rng=np.random.default_rng(14)).astype(np.float64)
    per_image = x.std(axis=(1, 2)) * 255
    assert per_image.min() >= 0 and per_image.max() <= 55 * 1.05
    assert per_image.max() - per_image.min() > 30
    # draw order: the sigmas come first, one per leading index
    sigmas = np.random.default_rng(14).uniform(0, 55, size=64)
    np.testing.assert_allclose(per_image, sigmas, rtol=0.05, atol=0.05)


def test_uniform_sigma_2d_one_sigma_per_call_and_leading_dims():
    model = UniformSigmaGaussian(0, 55)
    rng = np.random.default_rng(15)
    stds = [model.sample((128, 128), rng=rng).std() * 255 for _ in range(20)]
    assert max(stds) - min(stds) > 20
    x = model.sample((3, 5, 32, 32), rng=np.random.default_rng(16))
    sigmas = np.random.default_rng(16).uniform(0, 55, size=(3, 5))
    np.testing.assert_allclose(x.std(axis=(-2, -1)) * 255, sigmas, rtol=0.1, atol=0.2)


def test_uniform_sigma_overall_std():
    model = UniformSigmaGaussian(0, 55)
    x = model.sample((4096, 16, 16), rng=np.random.default_rng(17)).astype(np.float64)
    ratio = x.std() / model.std
    assert abs(ratio - 1) < 0.025, ratio


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gaussian:25", WhiteGaussian(25)),
        ("gaussian:12.5", WhiteGaussian(12.5)),
        ("mixture-A:15", Mixture("A", 15)),
        ("mixture-B:50", Mixture("B", 50)),
        ("correlated:25", Correlated(25)),
        ("correlated-paper:25", Correlated(25, mode="paper")),
        ("uniform-gaussian:0-55", UniformSigmaGaussian(0, 55)),
        ("uniform-gaussian:5.5-20", UniformSigmaGaussian(5.5, 20)),
    ],
)
def test_parse_noise_roundtrip(spec, expected):
    model = parse_noise(spec)
    assert model == expected
    assert str(model) == spec == model.spec
    assert parse_noise(str(model)) == model


def test_levels_and_families():
    assert (parse_noise("gaussian:25").family, parse_noise("gaussian:25").level) == ("gaussian", 25.0)
    assert (parse_noise("mixture-B:30").family, parse_noise("mixture-B:30").level) == ("mixture-B", 30.0)
    assert parse_noise("correlated-paper:15").family == "correlated-paper"
    assert parse_noise("uniform-gaussian:0-55").level == 55.0
    assert str(parse_noise("gaussian:25.0")) == "gaussian:25"


@pytest.mark.parametrize(
    "spec",
    [
        "gausian:25",
        "gaussian",
        "gaussian:",
        "gaussian:abc",
        "mixture-C:15",
        "mixture-a:15",
        "correlated:25:1",
        "uniform-gaussian:55",
        "gaussian:0-55",
        "",
        "gaussian:nan",
        "gaussian:inf",
    ],
)
def test_parse_noise_errors(spec):
    with pytest.raises(NoiseSpecError) as info:
        parse_noise(spec)
    msg = str(info.value)
    assert repr(spec) in msg
    for form in noise.VALID_SPECS:
        assert form in msg
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("spec", ["gaussian:-5", "correlated:-1", "mixture-A:-15", "uniform-gaussian:55-0"])
def test_parse_noise_rejects_negative_or_inverted(spec):
    with pytest.raises(NoiseSpecError, match="valid: gaussian:SIGMA"):
        parse_noise(spec)


@pytest.mark.parametrize("spec", ["gaussian:1e9", "mixture-B:256", "uniform-gaussian:0-300"])
def test_parse_noise_rejects_levels_beyond_the_image_range(spec):
    with pytest.raises(NoiseSpecError, match="levels are in 0-255 units"):
        parse_noise(spec)
    assert parse_noise("gaussian:255").level == 255


def test_constructors_reject_negative():
    for make in (lambda: WhiteGaussian(-1), lambda: Mixture("A", -1), lambda: UniformSigmaGaussian(-1, 5)):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError):
        Mixture("C", 15)  # type: ignore[arg-type]


def test_module_doctests():
    result = doctest.testmod(noise.models, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_noise_spec_parses_models_and_real_noise():
    from noise import RealNoise, parse_noise_spec

    assert parse_noise_spec("gaussian:25") == parse_noise("gaussian:25")
    assert parse_noise_spec(" real:avg1 ") == RealNoise("avg1")
    assert str(RealNoise("avg1")) == "real:avg1"
    with pytest.raises(NoiseSpecError, match="real-noise dataset"):
        parse_noise("real:avg1")
    with pytest.raises(NoiseSpecError, match="real:LEVEL"):
        parse_noise_spec("poisson:3")
    with pytest.raises(NoiseSpecError, match="level"):
        parse_noise_spec("real:")
