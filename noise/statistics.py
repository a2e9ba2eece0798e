"""Statistics of noise samples that need no clean image: how random, how flat, how even the noise is.

They check a learned noise model (GAN2GAN's g_theta1) against the noise patches extracted from the noisy
images themselves. A generator's samples are split into a fixed pattern (their per-pixel mean over many
latents, the same in every sample) and a random part (each sample minus that mean). Only the random part
differs between the two halves of a G2G pair, so only it can be learned away; a fixed pattern is kept by
the denoiser as if it were signal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class NoiseStatistics:
    """What :func:`measure_noise` reports about a stack of noise samples (image units).

    Attributes
    ----------
    total_std : float
        Standard deviation over every pixel of every sample, each sample's mean removed.
    random_std : float
        Standard deviation of the samples minus their per-pixel mean: the part that changes with the draw.
    pattern_std : float
        Standard deviation of the per-pixel mean (a fixed pattern shared by all samples); 0 for real noise,
        up to the sampling error ``random_std / sqrt(count)``.
    border_std, interior_std : float
        ``random_std`` over the outermost ring of ``border`` pixels, and over the rest.
    flatness : float
        Spectral flatness of the random part: geometric over arithmetic mean of its average power spectrum,
        zero frequency left out. About 1 for white noise, smaller for correlated or structured noise.
    count : int
        Number of samples.
    """

    total_std: float
    random_std: float
    pattern_std: float
    border_std: float
    interior_std: float
    flatness: float
    count: int

    def scaled(self, factor: float) -> dict[str, float]:
        """The statistics as a dict, standard deviations multiplied by ``factor`` (255: 8-bit units)."""
        out = asdict(self)
        for key in ("total_std", "random_std", "pattern_std", "border_std", "interior_std"):
            out[key] *= factor
        return out


def measure_noise(samples: np.ndarray, *, border: int = 1) -> NoiseStatistics:
    """Split noise samples into a fixed pattern and a random part and measure both.

    Parameters
    ----------
    samples : ndarray
        ``(N, H, W)`` noise samples of one source (N >= 2), e.g. g_theta1's outputs for N latents, or N
        extracted noise patches cropped to one size.
    border : int
        Width of the outer ring compared with the interior.

    Returns
    -------
    NoiseStatistics

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pattern = np.where(np.indices((32, 32)).sum(0) % 2 == 0, 0.1, -0.1)
    >>> stats = measure_noise(pattern + 0.2 * rng.standard_normal((400, 32, 32)))
    >>> round(stats.random_std, 2), round(stats.pattern_std, 2)
    (0.2, 0.1)
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 3 or len(samples) < 2:
        raise ValueError(f"measure_noise needs an (N, H, W) stack with N >= 2, got shape {samples.shape}")
    if not 0 < 2 * border < min(samples.shape[1:]):
        side = f"{samples.shape[1]}x{samples.shape[2]}"
        raise ValueError(f"border {border} leaves no interior in {side} samples")
    centred = samples - samples.mean(axis=(1, 2), keepdims=True)
    pattern = centred.mean(axis=0)
    random = centred - pattern
    interior = np.zeros(samples.shape[1:], dtype=bool)
    interior[border:-border, border:-border] = True
    power = (np.abs(np.fft.fft2(random)) ** 2).mean(axis=0).ravel()[1:]
    power = np.maximum(power, np.finfo(np.float64).tiny)
    return NoiseStatistics(
        total_std=float(centred.std()),
        random_std=float(random.std()),
        pattern_std=float(pattern.std()),
        border_std=float(random[:, ~interior].std()),
        interior_std=float(random[:, interior].std()),
        flatness=float(np.exp(np.log(power).mean()) / power.mean()),
        count=len(samples),
    )
