"""Noise2Noise: noisy pairs built by the runner (never the clean images), shared sigma, fit once per table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.cells.specs import make_fit_spec
from bench.datasets.base import DatasetSpec
from methods.base import build_training_data
from methods.n2n import Noise2Noise
from noise import UniformSigmaGaussian, WhiteGaussian, parse_noise

FLAT = 0.5


def pairs_of(noise, count: int = 400, size: int = 32, seed: int = 0):
    clean = [np.full((64, 64), FLAT, np.float32)] * 3
    data = build_training_data(
        Noise2Noise.requires, clean=clean, noise_model=None, rng=np.random.default_rng(0), pair_noise=noise
    )
    torch.manual_seed(seed)
    first, second = data.pairs.sample(count=count, size=size, device=torch.device("cpu"))
    return data, first.numpy() - FLAT, second.numpy() - FLAT


def test_n2n_is_handed_pairs_and_nothing_else() -> None:
    data, first, second = pairs_of(Noise2Noise.pair_noise)
    assert data.clean is None and data.noise_model is None and data.noisy == ()
    assert data.pairs.noise == "uniform-gaussian:0-55"
    assert first.shape == second.shape == (400, 32, 32) and first.dtype == np.float32
    assert not hasattr(data.pairs, "clean")


def test_pairs_share_a_sigma_drawn_in_0_55_with_independent_noise() -> None:
    _, first, second = pairs_of(UniformSigmaGaussian(0, 55))
    sigma_first, sigma_second = first.std(axis=(1, 2)) * 255, second.std(axis=(1, 2)) * 255
    np.testing.assert_allclose(sigma_first, sigma_second, rtol=0.15, atol=0.5)  # one sigma per pair
    assert sigma_first.min() < 5 and sigma_first.max() > 50  # spread over [0, 55]
    assert np.quantile(sigma_first, 0.5) == pytest.approx(27.5, abs=4)
    correlation = np.corrcoef(first.ravel(), second.ravel())[0, 1]
    assert abs(correlation) < 0.02  # independent noise


def test_pairs_of_a_fixed_model_have_its_std() -> None:
    _, first, second = pairs_of(WhiteGaussian(25), count=100)
    assert first.std() * 255 == pytest.approx(25, rel=0.02)
    assert (first - second).std() * 255 == pytest.approx(25 * np.sqrt(2), rel=0.02)


def test_n2n_is_fitted_once_per_table() -> None:
    spec = make_fit_spec(
        "n2n",
        params={},
        train_data=DatasetSpec("bsd400"),
        train_limit=None,
        noise=parse_noise("gaussian:25"),
        seed=0,
    )
    other = make_fit_spec(
        "n2n",
        params={},
        train_data=DatasetSpec("bsd400"),
        train_limit=None,
        noise=parse_noise("mixture-A:15"),
        seed=0,
    )
    assert spec.noise is None and spec.key == other.key


def test_n2n_without_pairs_raises() -> None:
    data = build_training_data(
        Noise2Noise.requires,
        clean=[np.zeros((32, 32), np.float32)],
        noise_model=WhiteGaussian(25),
        rng=np.random.default_rng(0),
    )
    method = Noise2Noise(depth=3, features=8, steps=2, batch_size=2, patch_size=16, device="cpu")
    with pytest.raises(ValueError, match="pairs"):
        method.fit(type(data)(), seed=0, progress=False)
