"""Denoising networks shared by the torch methods."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class DnCNN(nn.Module):
    """Residual DnCNN as in the official GAN2GAN code (bias-free 3x3 convs, BN in the middle layers).

    The body f predicts the noise; the output is ``x - f(x)`` (``"linear"``) or
    ``sigmoid(x - f(x))`` (``"sigmoid"``, the authors' g_theta2). PyTorch default init is kept.

    Parameters
    ----------
    depth : int
        Total number of conv layers (17: 556,032 params; 20: 667,008; 15: 482,048 for one channel).
    features : int
        Width of the hidden layers.
    output : {"linear", "sigmoid"}
        Output activation applied to the residual estimate.
    channels : int
        Image channels in and out.
    """

    def __init__(
        self,
        *,
        depth: int = 17,
        features: int = 64,
        output: Literal["linear", "sigmoid"] = "linear",
        channels: int = 1,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"DnCNN needs depth >= 2, got {depth}")
        if output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid', got {output!r}")
        layers: list[nn.Module] = [
            nn.Conv2d(channels, features, kernel_size=3, padding=1, bias=False),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(features, features, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(features),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(features, channels, kernel_size=3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a (B, channels, H, W) batch."""
        y = x - self.body(x)
        return torch.sigmoid(y) if self.output == "sigmoid" else y
