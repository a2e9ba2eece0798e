"""Synthetic noise models (white Gaussian, mixture, correlated, uniform-sigma Gaussian)."""

from noise.models import (
    VALID_SPECS,
    Correlated,
    Mixture,
    NoiseModel,
    NoiseSpecError,
    UniformSigmaGaussian,
    WhiteGaussian,
    parse_noise,
)

__all__ = [
    "VALID_SPECS",
    "Correlated",
    "Mixture",
    "NoiseModel",
    "NoiseSpecError",
    "UniformSigmaGaussian",
    "WhiteGaussian",
    "parse_noise",
]
