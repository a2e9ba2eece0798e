"""Synthetic noise models (white Gaussian, mixture, correlated, uniform-sigma Gaussian)."""

from noise.estimate import estimate_noise_std
from noise.extraction import (
    ExtractionResult,
    compute_wavelet_statistic,
    extract_gcbd_patches,
    extract_noise_patches,
    extract_wavelet_patches,
)
from noise.models import (
    VALID_SPECS,
    Correlated,
    Mixture,
    NoiseModel,
    NoiseSpec,
    NoiseSpecError,
    RealNoise,
    UniformSigmaGaussian,
    WhiteGaussian,
    parse_noise,
    parse_noise_spec,
)
from noise.seeds import SEED_SCHEME, derive_rng, derive_seed
from noise.statistics import NoiseStatistics, measure_noise

__all__ = [
    "SEED_SCHEME",
    "VALID_SPECS",
    "Correlated",
    "ExtractionResult",
    "Mixture",
    "NoiseModel",
    "NoiseSpec",
    "NoiseSpecError",
    "NoiseStatistics",
    "RealNoise",
    "UniformSigmaGaussian",
    "WhiteGaussian",
    "compute_wavelet_statistic",
    "derive_rng",
    "derive_seed",
    "estimate_noise_std",
    "extract_gcbd_patches",
    "extract_noise_patches",
    "extract_wavelet_patches",
    "measure_noise",
    "parse_noise",
    "parse_noise_spec",
]
