"""DnCNN-B (Zhang et al., 2017): one 20-layer DnCNN trained blind on white Gaussian noise, sigma in [0, 55].

It never sees the noise of a table's cell, so one trained model serves every row of Tables 2 and 3
(on mixture and correlated noise it is mismatched by design, as in the paper).
"""

from __future__ import annotations

from typing import ClassVar

from methods.base import Requirements, TrainingData
from methods.n2c import NoiseToClean
from noise import NoiseModel, UniformSigmaGaussian


class DnCNNB(NoiseToClean):
    """Blind DnCNN-B: clean targets, composite Gaussian noise with sigma ~ U[0, 55] per patch."""

    name: ClassVar[str] = "DnCNN-B"
    requires: ClassVar[Requirements] = Requirements(clean=True, noisy_images=False)
    default_depth: ClassVar[int] = 20

    def training_noise(self, data: TrainingData) -> NoiseModel:
        """White Gaussian noise with a fresh sigma in [0, 55] for every patch."""
        return UniformSigmaGaussian(0.0, 55.0)
