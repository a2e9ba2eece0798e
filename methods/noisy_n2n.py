"""Iterative Noisy N2N (section 3, Figure 1): N2N on pairs made from *noisy* estimates of the clean images.

The experiment behind GAN2GAN, in the ideal setting where the noise is simulated exactly. The initial
estimates are the clean training images corrupted by extra Gaussian noise of std ``sigma0``; Noisy-N2N_1
is a DnCNN trained on pairs (estimate + N1, estimate + N2), N1, N2 drawn from the true noise model.
Iteration j > 1 takes as estimates the previous network's output on the actual noisy training images Z
and trains again (warm-started), as G2G_j does with g_theta1's noise. With ``sigma0 = 0`` the estimates
are the clean images and Noisy-N2N_1 is ordinary N2N: Figure 1's upper bound.

It needs the clean images and the noise model (an oracle experiment, not a blind method).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from methods.base import Requirements, TrainingData
from methods.batches import ImageBank, draw_noise
from methods.gan2gan.method import NetworkStage
from methods.n2c import NoiseToClean
from methods.nets import DnCNN
from methods.training import apply_network, init_seeded, train_network
from noise import NoiseModel, derive_rng, derive_seed


def make_noisy_pair_sampler(
    images: tuple[np.ndarray, ...],
    *,
    estimator: nn.Module | None,
    noise: NoiseModel,
    batch_size: int,
    patch_size: int,
    device: torch.device,
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """``draw()``: crops of ``images`` through ``estimator`` (None: as they are), plus two independent
    draws of ``noise`` each: the Noisy N2N pair (Eq. 2). Crops and noise are made on ``device`` from its
    torch RNG (:mod:`methods.batches`)."""
    if estimator is not None:
        estimator.to(device).eval()
    bank = ImageBank(images, device=device)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        crops = bank.sample(size=patch_size, count=batch_size, augment="flips")
        with torch.no_grad():
            estimate = crops if estimator is None else estimator(crops[:, None])[:, 0]
        first, second = (draw_noise(noise, crops.shape, device=device) for _ in range(2))
        return estimate + first, estimate + second

    return draw


def make_initial_estimates(
    clean: tuple[np.ndarray, ...], *, sigma0: float, seed: int
) -> tuple[np.ndarray, ...]:
    """The initial noisy estimates: each clean image plus Gaussian noise of std ``sigma0`` (0-255 units),
    one fixed realisation per seed."""
    rng = derive_rng(seed, 0x5E0)
    return tuple((image + rng.normal(0.0, sigma0 / 255, image.shape)).astype(np.float32) for image in clean)


class NoisyN2N(NoiseToClean):
    """Noisy-N2N_1 ... Noisy-N2N_J from initial estimates at extra noise ``sigma0`` (0-255 units).

    Parameters
    ----------
    sigma0 : float
        Std of the Gaussian noise added to the clean images to make the initial estimates (0: N2N).
    iterations : int
        Number J of Noisy N2N iterations.
    **kwargs
        The DnCNN and the schedule of each iteration, as :class:`methods.n2c.NoiseToClean`.
    """

    name: ClassVar[str] = "Noisy N2N"
    requires: ClassVar[Requirements] = Requirements(clean=True, noise_model=True)

    def __init__(self, *, sigma0: float = 25.0, iterations: int = 3, **kwargs: Any) -> None:
        if sigma0 < 0 or iterations < 1:
            raise ValueError(f"need sigma0 >= 0 and iterations >= 1, got {sigma0} and {iterations}")
        super().__init__(**kwargs)
        self.params.update({"sigma0": float(sigma0), "iterations": int(iterations)})
        self.nets: list[DnCNN] = []

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Make the initial estimates, then train the J iterations (``checkpoint`` per iteration)."""
        if data.clean is None or data.noise_model is None or not data.noisy:
            raise ValueError(f"{self.name} needs clean images, the noise model and the noisy images")
        p = self.params
        estimates = make_initial_estimates(data.clean, sigma0=p["sigma0"], seed=seed)
        config = self.train_config()
        self.nets = []
        source, estimator = estimates, None
        for j in range(1, p["iterations"] + 1):
            stage_seed = derive_seed(seed, j)
            if estimator is None:
                net = init_seeded(self.build_network, seed=stage_seed)
            else:
                net = copy.deepcopy(estimator)
            draw = make_noisy_pair_sampler(
                source,
                estimator=estimator,
                noise=data.noise_model,
                batch_size=p["batch_size"],
                patch_size=p["patch_size"],
                device=self.device,
            )
            train_network(
                net,
                draw_batch=draw,
                config=config,
                seed=stage_seed,
                device=self.device,
                checkpoint_path=None
                if checkpoint is None
                else checkpoint.with_name(f"{checkpoint.name}-{j}"),
                progress=progress,
                desc=f"Noisy-N2N_{j}",
            )
            self.nets.append(net.eval())
            source, estimator = data.noisy, net
        self.net = self.nets[-1]

    def stages(self) -> Mapping[str, NetworkStage | NoisyN2N]:
        """``Noisy-N2N_1`` ... ``Noisy-N2N_J``; the last is the method itself."""
        names = [f"Noisy-N2N_{j}" for j in range(1, len(self.nets) + 1)]
        stages: dict[str, NetworkStage | NoisyN2N] = {
            name: NetworkStage(name, net, device=self.device)
            for name, net in zip(names[:-1], self.nets, strict=False)
        }
        stages[names[-1] if names else self.name] = self
        return stages

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image (or an (N, H, W) stack) with the last iteration's network."""
        return apply_network(self.net, noisy, device=self.device)

    def save(self, path: Path) -> None:
        """Save hyper-parameters and every iteration's weights."""
        torch.save({"params": self.params, "nets": [net.state_dict() for net in self.nets]}, path)

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> NoisyN2N:
        """Rebuild from :meth:`save`'s file."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        method = cls(**state["params"], device=device)
        for weights in state["nets"]:
            net = method.build_network()
            net.load_state_dict(weights)
            method.nets.append(net.to(method.device).eval())
        method.net = method.nets[-1] if method.nets else method.net
        return method
