"""Zero-Shot Noise2Noise (Mansour & Heckel, CVPR 2023): a small network trained on each test image alone.

Two fixed stride-2 filters, ``[[0, 1/2], [1/2, 0]]`` and ``[[1/2, 0], [0, 1/2]]``, turn the noisy image y
into two half-resolution images D1(y), D2(y) whose noises are independent; a 3-layer network f (3x3 conv
to 48 channels, LeakyReLU 0.2, 3x3 conv, LeakyReLU, 1x1 conv) predicts the noise and is trained on the
residual loss between the two halves plus a consistency loss with the full-resolution estimate:

    L = 1/2 (||D1 - f(D1) - D2||^2 + ||D2 - f(D2) - D1||^2)
        + 1/2 (||D1 - f(D1) - D1(y - f(y))||^2 + ||D2 - f(D2) - D2(y - f(y))||^2),

D_i short for D_i(y); the estimate is y - f(y). The authors' schedule: Adam 1e-3, 2000 full-image steps,
the rate halved after every 1000. Nothing is learned from the training set: :meth:`ZeroShotN2N.fit`
only keeps its seed, and each call of :meth:`ZeroShotN2N.denoise` trains a fresh network on its image, so
the method's cost is at test time (a cell's evaluation, not its fit).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn.functional import conv2d

from methods.base import Method, Requirements, TrainingData
from methods.training import init_seeded, make_adam, resolve_device, run_training, to_batch
from noise.seeds import derive_seed

#: The two downsampling filters, one per output channel of a stride-2 convolution.
_FILTERS = torch.tensor([[[[0.0, 0.5], [0.5, 0.0]]], [[[0.5, 0.0], [0.0, 0.5]]]])


def downsample_pair(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D1 and D2 of a (B, 1, H, W) batch: two (B, 1, H/2, W/2) images, each pixel the mean of one
    diagonal of a 2x2 cell (a trailing odd row or column is dropped)."""
    both = conv2d(images, _FILTERS.to(images), stride=2)
    return both[:, :1], both[:, 1:]


def build_zs_network(*, channels: int = 48) -> nn.Sequential:
    """The authors' 3-layer noise predictor."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(channels, 1, 1),
    )


def zs_n2n_loss(net: nn.Module, noisy: torch.Tensor) -> torch.Tensor:
    """The residual plus consistency loss of the module docstring on a (B, 1, H, W) batch."""
    d1, d2 = downsample_pair(noisy)
    e1, e2 = d1 - net(d1), d2 - net(d2)
    residual = 0.5 * ((e1 - d2).square().mean() + (e2 - d1).square().mean())
    c1, c2 = downsample_pair(noisy - net(noisy))
    consistency = 0.5 * ((e1 - c1).square().mean() + (e2 - c2).square().mean())
    return residual + consistency


class ZeroShotN2N(Method):
    """ZS-N2N: a fresh small network fitted on every test image (blind, no training set).

    Parameters
    ----------
    steps : int
        Adam steps per image.
    lr : float
        Initial learning rate, halved every ``step_size`` steps.
    step_size : int
        Steps between two halvings.
    channels : int
        Width of the network.
    seed : int
        Seed of every image's network and of nothing else; set by :meth:`fit`.
    device : str
        'auto', 'cpu' or 'cuda'.
    """

    name: ClassVar[str] = "ZS-N2N"
    requires: ClassVar[Requirements] = Requirements(noisy_images=False)
    #: The fit learns nothing; the training happens in :meth:`denoise`.
    trains_network: ClassVar[bool] = False
    trains_on_test_image: ClassVar[bool] = True

    def __init__(
        self,
        *,
        steps: int = 2000,
        lr: float = 1e-3,
        step_size: int = 1000,
        channels: int = 48,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        if steps < 1 or step_size < 1:
            raise ValueError(f"steps and step_size must be >= 1, got {steps} and {step_size}")
        self.params: dict[str, Any] = {
            "steps": steps,
            "lr": lr,
            "step_size": step_size,
            "channels": channels,
            "seed": seed,
        }
        self.device = resolve_device(device)

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Keep the seed; there is nothing to learn before the test image arrives."""
        self.params["seed"] = derive_seed(seed, "zs-n2n")

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Train a fresh network on this HxW image (:func:`zs_n2n_loss`), then return y - f(y)."""
        p = self.params
        net = init_seeded(lambda: build_zs_network(channels=p["channels"]), seed=p["seed"])
        optimizer = make_adam(net.parameters(), lr=p["lr"], device=self.device)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=p["step_size"], gamma=0.5)
        image = to_batch(noisy[None], self.device)

        def step() -> dict[str, torch.Tensor]:
            loss = zs_n2n_loss(net, image)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            return {"loss": loss}

        run_training(
            modules={"net": net},
            optimizers={"net": optimizer},
            schedulers={"net": scheduler},
            step=step,
            steps=p["steps"],
            settings={},
            seed=p["seed"],
            device=self.device,
            progress=False,
            desc=self.name,
        )
        with torch.inference_mode():
            return (image - net(image))[0, 0].cpu().numpy()

    def stages(self) -> Mapping[str, ZeroShotN2N]:
        """One stage: the method itself."""
        return {self.name: self}

    def save(self, path: Path) -> None:
        """Save the hyper-parameters and the seed (there are no weights to keep)."""
        torch.save({"params": self.params}, path)

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> ZeroShotN2N:
        """Rebuild from :meth:`save`'s file."""
        return cls(**torch.load(path, map_location="cpu", weights_only=True)["params"], device=device)
