"""Noise-level estimation from one noisy image, for the blind baselines (BM3D told no sigma).

Chen, Zhu and Heng, "An Efficient Statistical Method for Image Noise Level Estimation" (ICCV 2015), the
estimator the GAN2GAN paper used to give BM3D a sigma on real noise. Hand-written: neither scikit-image
(``estimate_sigma`` is Donoho's wavelet MAD) nor another dependency of the suite provides it.

The covariance of the image's d x d patches has eigenvalues that are the noise variance plus the
signal's; natural images put their signal into a few directions, so the smallest eigenvalues are noise
alone. Taking the eigenvalues in ascending order, the estimator keeps the largest set of the smallest ones
whose mean is also their median (a set with no signal eigenvalue in it) and returns the square root of
that mean.
"""

from __future__ import annotations

import numpy as np


def estimate_noise_std(image: np.ndarray, *, patch_size: int = 8, stride: int = 1) -> float:
    """Estimate the std of additive white Gaussian noise in one grayscale image (Chen et al. 2015).

    Parameters
    ----------
    image : ndarray
        HxW noisy image; the estimate is in its units.
    patch_size : int
        Side of the square patches (the paper's d = 8).
    stride : int
        Step between patches (1: every overlapping patch).

    Returns
    -------
    float
        The estimated noise standard deviation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ramp = np.linspace(0, 1, 128)[None, :] * np.ones((128, 1))
    >>> round(estimate_noise_std(ramp + 0.1 * rng.standard_normal((128, 128))), 2)
    0.1
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    if min(image.shape) < patch_size:
        raise ValueError(f"image {image.shape} is smaller than one {patch_size}x{patch_size} patch")
    windows = np.lib.stride_tricks.sliding_window_view(image, (patch_size, patch_size))[::stride, ::stride]
    patches = windows.reshape(-1, patch_size * patch_size)
    centred = patches - patches.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centred.T @ centred / len(patches))  # ascending
    for count in range(len(eigenvalues), 0, -1):
        smallest = eigenvalues[:count]
        tau = smallest.mean()
        if np.count_nonzero(smallest > tau) == np.count_nonzero(smallest < tau):
            return float(np.sqrt(max(tau, 0.0)))
    raise AssertionError("unreachable: a single eigenvalue is its own median")
