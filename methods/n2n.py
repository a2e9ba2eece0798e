"""Noise2Noise (Lehtinen et al., ICML 2018) as the GAN2GAN paper ran it (Section 5.1).

A 20-layer DnCNN trained on pairs of independent noisy copies of clean BSD400 patches, with a Gaussian
sigma drawn in [0, 55] for every pair and fresh noise in every batch. Like DnCNN-B it never sees the
noise of a table's cell (mismatched on mixture and correlated noise, as in Table 3), so one fit serves
a whole table. The runner hands it a pair sampler, never the clean images.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from methods.base import Requirements, TrainingData
from methods.n2c import BatchSampler, NoiseToClean
from noise import NoiseModel, UniformSigmaGaussian


class Noise2Noise(NoiseToClean):
    """N2N: noisy input, independent noisy target of the same clean patch, MSE (paper Section 5.1)."""

    name: ClassVar[str] = "N2N"
    requires: ClassVar[Requirements] = Requirements(pairs=True, noisy_images=False)
    default_depth: ClassVar[int] = 20
    #: Noise of the training pairs: the paper's composite sigma in [0, 55].
    pair_noise: ClassVar[NoiseModel] = UniformSigmaGaussian(0.0, 55.0)

    def batch_sampler(self, data: TrainingData) -> BatchSampler:
        """``draw() -> (first copies, second copies)`` of fresh noisy pairs, made on the training device
        from torch's RNG."""
        if data.pairs is None:
            raise ValueError(f"{self.name} needs noisy pairs, but the training data carries none")
        pairs = data.pairs
        p = self.params

        def draw_batch() -> tuple[torch.Tensor, torch.Tensor]:
            return pairs.sample(count=p["batch_size"], size=p["patch_size"], device=self.device)

        return draw_batch
