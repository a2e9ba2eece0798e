"""N2C(Eq.4) and N2C(Eq.3): the paper's upper bounds, a DnCNN trained on clean images plus learned noise.

The noise comes from g_theta1 of a GAN2GAN fitted on the same cell's noisy images: with rule (4)
patches for N2C(Eq.4) (the same fit whose G2G stages fill the table), with rule (3) patches for
N2C(Eq.3), whose generative model alone is fitted (no G2G iteration). The clean images make these
upper bounds, not blind methods: they show how good the learned noise is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from methods.base import Requirements, TrainingData
from methods.gan2gan.gan import LearnedNoise
from methods.n2c import NoiseToClean


class NoiseToCleanEq4(NoiseToClean):
    """A 17-layer DnCNN trained on clean patches plus noise from GAN2GAN's g_theta1 (paper, Section 5.1)."""

    name: ClassVar[str] = "N2C(Eq.4)"
    requires: ClassVar[Requirements] = Requirements(clean=True, noisy_images=False)
    #: role -> (registry key, parameter overrides) of the fitted method this one builds on
    upstream: ClassVar[Mapping[str, tuple[str, Mapping[str, Any]]]] = {"generator": ("gan2gan", {})}

    def training_noise(self, data: TrainingData) -> LearnedNoise:
        """Noise drawn from the upstream GAN2GAN's fitted g_theta1."""
        gan2gan = data.upstream.get("generator")
        if gan2gan is None or not hasattr(gan2gan, "learned_noise"):
            raise ValueError(f"{self.name} needs a fitted GAN2GAN as its 'generator' upstream")
        if self.params["patch_size"] > gan2gan.generator.size:
            raise ValueError(
                f"{self.name}: patch_size {self.params['patch_size']} exceeds g_theta1's output "
                f"{gan2gan.generator.size}"
            )
        return LearnedNoise(gan2gan.generator, device=self.device)


class NoiseToCleanEq3(NoiseToCleanEq4):
    """As :class:`NoiseToCleanEq4`, with g_theta1 learned from GCBD's rule-(3) patches (Figure 5 ablation)."""

    name: ClassVar[str] = "N2C(Eq.3)"
    upstream: ClassVar[Mapping[str, tuple[str, Mapping[str, Any]]]] = {
        "generator": ("gan2gan", {"extraction": "gcbd", "iterations": 0})
    }
