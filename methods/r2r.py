"""Recorrupted-to-Recorrupted (Pang et al., CVPR 2021) on the 17-layer DnCNN of G2G_j.

From one noisy image y with noise of known distribution, R2R makes a training pair by recorrupting it
twice with one fresh draw z of that noise: input y + alpha z, target y - z / alpha. For Gaussian noise
the two copies' noises are independent, so the MSE between f(y + alpha z) and y - z / alpha has the
minimiser of a supervised loss (the paper's Theorem 1, with D = alpha I); at test time the network's
outputs on K recorrupted copies y + alpha z_k are averaged. The method needs the noise model (in Table
1's noise-model column): here z is drawn from the cell's own model, which is exact for the Gaussian and
correlated Gaussian noises and an approximation for the mixture. alpha = 0.5 and K = 5 are deepinv's
``R2RLoss`` defaults. Every training image keeps its one noisy realisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from methods.base import Requirements, TrainingData
from methods.batches import draw_noise
from methods.n2c import BatchSampler, NoiseToClean
from methods.training import apply_network
from noise import parse_noise
from noise.seeds import derive_seed


class Recorrupted2Recorrupted(NoiseToClean):
    """R2R: a residual DnCNN trained on recorrupted copies of the noisy training images.

    Parameters
    ----------
    alpha : float
        Scale of the recorruption.
    eval_samples : int
        Recorrupted copies averaged at test time (K).
    noise : str or None
        Spec of the noise model used to recorrupt; set by :meth:`fit` from the training data.
    eval_seed : int
        Seed of the test-time recorruptions; set by :meth:`fit` from its seed.
    **kwargs
        Network and schedule, as :class:`methods.n2c.NoiseToClean`.
    """

    name: ClassVar[str] = "R2R"
    requires: ClassVar[Requirements] = Requirements(noise_model=True)
    default_depth: ClassVar[int] = 17
    #: One image per call: each image's recorruptions come from the same seeded stream, whatever the
    #: order or stacking of a test set.
    batched: ClassVar[bool] = False

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        eval_samples: int = 5,
        noise: str | None = None,
        eval_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if eval_samples < 1:
            raise ValueError(f"eval_samples must be >= 1, got {eval_samples}")
        super().__init__(**kwargs)
        self.params.update(
            {"alpha": alpha, "eval_samples": eval_samples, "noise": noise, "eval_seed": eval_seed}
        )

    def batch_sampler(self, data: TrainingData) -> BatchSampler:
        """``draw() -> (y + alpha z, y - z / alpha)`` for patches y of the noisy training images and a fresh
        z of the cell's noise model, on the training device."""
        noise = self.training_noise(data)
        bank = self.noisy_bank(data)
        p = self.params

        def draw_batch() -> tuple[torch.Tensor, torch.Tensor]:
            noisy = bank.sample(size=p["patch_size"], count=p["batch_size"])
            z = draw_noise(noise, noisy.shape, device=self.device)
            return noisy + p["alpha"] * z, noisy - z / p["alpha"]

        return draw_batch

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Train (:meth:`methods.n2c.NoiseToClean.fit`) and keep what the test-time average needs."""
        self.params["noise"] = self.training_noise(data).spec
        self.params["eval_seed"] = derive_seed(seed, "r2r-eval")
        super().fit(data, seed=seed, progress=progress, checkpoint=checkpoint)

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """The mean of the network's outputs on ``eval_samples`` recorrupted copies of one HxW image."""
        p = self.params
        if p["noise"] is None:
            raise RuntimeError(f"{self.name} denoises after fit: it needs the noise model it learned with")
        noise = parse_noise(p["noise"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p["eval_seed"])
            copies = [
                noisy + p["alpha"] * draw_noise(noise, noisy.shape, device=torch.device("cpu")).numpy()
                for _ in range(p["eval_samples"])
            ]
        return np.mean([apply_network(self.net, copy, device=self.device) for copy in copies], axis=0)
