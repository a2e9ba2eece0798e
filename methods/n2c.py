"""Noise-to-clean (N2C) training of a DnCNN: clean patches plus synthetic noise as input, clean as target.

The supervised DnCNN baselines of the paper are all this one recipe with a different training noise:
``N2C(oracle)`` draws from the true noise model of the cell (the upper bound when the noise is known),
``DnCNN-B`` (:mod:`methods.dncnn_b`) from white Gaussian noise with sigma in [0, 55], and the paper's
``N2C(Eq.4)`` will draw from GAN2GAN's learned noise generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from methods.base import Method, Requirements, TrainingData
from methods.batches import ImageBank, draw_noise
from methods.nets import DnCNN
from methods.training import (
    Objective,
    TrainConfig,
    apply_network,
    init_seeded,
    resolve_device,
    train_network,
)
from noise import NoiseModel

#: ``draw() -> (inputs, targets)``: one training batch, two (B, H, W) float32 tensors on the device.
BatchSampler = Callable[[], tuple[torch.Tensor, ...]]


class NoiseToClean(Method):
    """A residual DnCNN trained with clean targets and the true noise model (Eq. 1 with clean targets).

    Parameters
    ----------
    depth, features : int
        DnCNN depth (conv layers) and width; 17 x 64 is the paper's denoiser (556,032 parameters).
    start : {"default", "identity"}
        The DnCNN's initialisation (:class:`methods.nets.DnCNN`): PyTorch's default, or starting as the
        identity (last convolution zeroed), which leaves the identity plateau sooner in short trainings.
    steps, batch_size, patch_size, lr, milestones, gamma, warmup :
        Training schedule (Adam, MultiStepLR on optimizer steps after ``warmup`` steps of linear warmup):
        :class:`methods.training.TrainConfig`.
    device : str
        'auto', 'cpu' or 'cuda'.
    """

    name: ClassVar[str] = "N2C(oracle)"
    requires: ClassVar[Requirements] = Requirements(clean=True, noise_model=True, noisy_images=False)
    default_depth: ClassVar[int] = 17
    batched: ClassVar[bool] = True

    def __init__(
        self,
        *,
        depth: int | None = None,
        features: int = 64,
        start: str = "default",
        steps: int = 1000,
        batch_size: int = 32,
        patch_size: int = 40,
        lr: float = 1e-3,
        milestones: tuple[int, ...] = (),
        gamma: float = 0.1,
        warmup: int = 0,
        device: str = "auto",
    ) -> None:
        self.params: dict[str, Any] = {
            "depth": self.default_depth if depth is None else depth,
            "features": features,
            "start": start,
            "steps": steps,
            "batch_size": batch_size,
            "patch_size": patch_size,
            "lr": lr,
            "milestones": tuple(milestones),
            "gamma": gamma,
            "warmup": warmup,
        }
        self.device = resolve_device(device)
        self.net = self.build_network().to(self.device).eval()

    @property
    def min_image_size(self) -> int:
        """Smallest training image side: the patch size."""
        return self.params["patch_size"]

    def training_noise(self, data: TrainingData) -> NoiseModel:
        """The noise added to clean patches during training: here the cell's true noise model."""
        if data.noise_model is None:
            raise ValueError(f"{self.name} needs the noise model, but the training data carries none")
        return data.noise_model

    def batch_sampler(self, data: TrainingData) -> BatchSampler:
        """``draw() -> (inputs, targets)``: clean patches plus training noise, and the clean patches.

        Both are made on the training device from torch's RNG (:mod:`methods.batches`), which
        :func:`methods.training.run_training` seeds and checkpoints.
        """
        if data.clean is None:
            raise ValueError(f"{self.name} needs clean images, but the training data carries none")
        noise = self.training_noise(data)
        bank = ImageBank(data.clean, device=self.device)
        p = self.params

        def draw_batch() -> tuple[torch.Tensor, torch.Tensor]:
            clean = bank.sample(size=p["patch_size"], count=p["batch_size"])
            return draw_noise(noise, clean.shape, device=self.device).add_(clean), clean

        return draw_batch

    def objective(self) -> Objective | None:
        """The training loss of one batch; None: MSE between ``net(inputs)`` and ``targets`` (over the mask
        where :meth:`batch_sampler` gives one)."""
        return None

    def noisy_bank(self, data: TrainingData) -> ImageBank:
        """The noisy training images on the training device, for the methods that learn from them."""
        if not data.noisy:
            raise ValueError(f"{self.name} learns from noisy images, but the training data has none")
        return ImageBank(data.noisy, device=self.device)

    def build_network(self) -> DnCNN:
        """A freshly initialised DnCNN of this method's depth and width."""
        p = self.params
        return DnCNN(depth=p["depth"], features=p["features"], start=p["start"])

    def train_config(self) -> TrainConfig:
        """The schedule of :func:`methods.training.train_network` from this method's hyper-parameters."""
        p = self.params
        return TrainConfig(
            steps=p["steps"],
            batch_size=p["batch_size"],
            patch_size=p["patch_size"],
            lr=p["lr"],
            milestones=p["milestones"],
            gamma=p["gamma"],
            warmup=p["warmup"],
        )

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Train on fresh batches from :meth:`batch_sampler` (MSE, Adam, MultiStepLR)."""
        draw_batch = self.batch_sampler(data)
        self.net = init_seeded(self.build_network, seed=seed)
        train_network(
            self.net,
            draw_batch=draw_batch,
            objective=self.objective(),
            config=self.train_config(),
            seed=seed,
            device=self.device,
            checkpoint_path=checkpoint,
            progress=progress,
            desc=self.name,
        )

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image (or an (N, H, W) stack) in a single forward pass."""
        return apply_network(self.net, noisy, device=self.device)

    def stages(self) -> Mapping[str, NoiseToClean]:
        """One stage: the trained network."""
        return {self.name: self}

    def save(self, path: Path) -> None:
        """Save hyper-parameters and weights with :func:`torch.save`."""
        torch.save({"params": self.params, "state_dict": self.net.state_dict()}, path)

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> NoiseToClean:
        """Rebuild from :meth:`save`'s file."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        method = cls(**state["params"], device=device)
        method.net.load_state_dict(state["state_dict"])
        method.net.to(method.device).eval()
        return method
