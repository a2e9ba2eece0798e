"""Denoising networks shared by the torch methods."""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn


class DnCNN(nn.Module):
    """Residual DnCNN as in the official GAN2GAN code (bias-free 3x3 convs, BN in the middle layers).

    The body f predicts the noise; the output is ``x - f(x)`` (``"linear"``) or
    ``sigmoid(x - f(x))`` (``"sigmoid"``, the authors' g_theta2). PyTorch default init is kept, except
    that ``start="identity"`` zeroes the last convolution: f starts at 0 (a linear net returns its input)
    with its hidden layers at their random start. From the default start, whose f is far from 0, a short
    training first drives the loss down to what the identity scores and then stays on that plateau until
    f learns the noise (measured for G2G_1 and N2C in the README, Profiles).

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
    start : {"default", "identity"}
        The initialisation, as above.
    """

    def __init__(
        self,
        *,
        depth: int = 17,
        features: int = 64,
        output: Literal["linear", "sigmoid"] = "linear",
        channels: int = 1,
        start: Literal["default", "identity"] = "default",
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"DnCNN needs depth >= 2, got {depth}")
        if output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid', got {output!r}")
        if start not in ("default", "identity"):
            raise ValueError(f"start must be 'default' or 'identity', got {start!r}")
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
        if start == "identity":
            nn.init.zeros_(layers[-1].weight)
        self.output = output
        # channels-last weights make every conv channels-last (a 1-channel input is both layouts): about
        # 20% faster training and 30% faster inference with oneDNN on CPU, the same logical weights
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a (B, channels, H, W) batch."""
        y = x - self.body(x)
        return torch.sigmoid(y) if self.output == "sigmoid" else y


class NoiseGenerator(nn.Module):
    """The DCGAN noise generator g_theta1 of the official code: a latent r in R^nz to a 64x64 noise patch.

    A transposed convolution from 1x1 to 4x4, then four 2x upsamplings with BN and ReLU, then tanh; the
    output is noise in image units (images in [0, 1]). ``upsample="transposed"`` is the authors' stride-2
    4x4 transposed convolutions (174,448 parameters for ``nz=128, features=8``): their overlapping kernels
    leave a fixed checkerboard in every sample and a weak outer row and column. ``"resize"`` is a
    nearest-neighbour 2x upsampling followed by a 3x3 convolution (Odena et al., Distill 2016), which
    makes no checkerboard.

    ``output="tanh"`` is the authors' last layer. ``"standardised"`` replaces the tanh with a BatchNorm over
    every output pixel (no affine part) and one learned gain: each pixel's output has mean 0 and std
    ``gain`` over a batch of latents, so the noise is zero-mean and stationary by construction (no fixed
    pattern, no weak border; the additive noise GAN2GAN assumes) and its level is one parameter, which
    :meth:`set_gain` can start at a measured noise std. The spatial correlation and the marginal's shape
    are still learned.

    Parameters
    ----------
    nz : int
        Dimension of the latent Gaussian input.
    features : int
        Width multiplier (``ngf``): the layers have 8, 4, 2 and 1 times this many channels.
    channels : int
        Channels of the generated noise.
    upsample : {"transposed", "resize"}
        How each 2x upsampling is made.
    output : {"tanh", "standardised"}
        The last layer.
    """

    size: int = 64

    def __init__(
        self,
        *,
        nz: int = 128,
        features: int = 8,
        channels: int = 1,
        upsample: Literal["transposed", "resize"] = "transposed",
        output: Literal["tanh", "standardised"] = "tanh",
    ) -> None:
        super().__init__()
        if upsample not in ("transposed", "resize"):
            raise ValueError(f"upsample must be 'transposed' or 'resize', got {upsample!r}")
        if output not in ("tanh", "standardised"):
            raise ValueError(f"output must be 'tanh' or 'standardised', got {output!r}")
        widths = [features * 8, features * 4, features * 2, features]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, widths[0], kernel_size=4, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for previous, width in itertools.pairwise(widths):
            layers += [
                _upsample_2x(previous, width, mode=upsample),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
        layers.append(_upsample_2x(widths[-1], channels, mode=upsample))
        if output == "tanh":
            layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)
        self.nz = nz
        self.upsample = upsample
        self.output = output
        if output == "standardised":
            self.standardise = nn.BatchNorm1d(channels * self.size * self.size, affine=False)
            self.gain = nn.Parameter(torch.ones(()))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Map a (B, nz) or (B, nz, 1, 1) latent batch to (B, channels, 64, 64) noise."""
        x = self.body(r.reshape(r.shape[0], self.nz, 1, 1))
        if self.output == "tanh":
            return x
        return (self.gain * self.standardise(x.flatten(1))).view_as(x)

    def set_gain(self, std: float) -> None:
        """Start the standardised output's gain, i.e. the generated noise std, at ``std``."""
        if self.output != "standardised":
            raise ValueError("only a standardised output has a gain")
        with torch.no_grad():
            self.gain.fill_(std)


def _upsample_2x(inputs: int, outputs: int, *, mode: str) -> nn.Module:
    """A bias-free 2x upsampling layer: a 4x4 stride-2 transposed conv, or nearest 2x then a 3x3 conv."""
    if mode == "transposed":
        return nn.ConvTranspose2d(inputs, outputs, kernel_size=4, stride=2, padding=1, bias=False)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(inputs, outputs, kernel_size=3, padding=1, bias=False),
    )


class Critic(nn.Module):
    """The WGAN critic f_w of the official code: a 4-layer DCGAN discriminator, no sigmoid.

    On a 64x64 input it returns a 5x5 map of scores; the W-estimate averages them over batch and
    positions, so the critic judges overlapping 34x34 patches. 2,634,369 parameters for ``features=128``
    with the authors' BatchNorm. BatchNorm in train mode normalises each batch by its own statistics, and
    LeakyReLU is positively homogeneous, so a critic that sees a batch alone is almost blind to that
    batch's scale (the noise level); ``norm="none"`` drops it (WGAN-GP's advice for a critic).

    Parameters
    ----------
    features : int
        Width of the first layer (doubled in each of the next two).
    channels : int
        Input channels.
    norm : {"batch", "none"}
        BatchNorm after the second, third and fourth convolution (the authors'), or none.
    """

    def __init__(
        self, *, features: int = 128, channels: int = 1, norm: Literal["batch", "none"] = "batch"
    ) -> None:
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', got {norm!r}")
        layers: list[nn.Module] = []
        previous = channels
        for width in (features, features * 2, features * 4):
            layers.append(nn.Conv2d(previous, width, kernel_size=4, stride=2, padding=1))
            layers.append(nn.BatchNorm2d(width) if norm == "batch" else nn.Identity())
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            previous = width
        layers.append(nn.Conv2d(previous, 1, kernel_size=4, stride=1, padding=0))
        self.body = nn.Sequential(*layers)
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score a (B, channels, H, W) batch: a (B, 1, H', W') map, larger for 'real'."""
        return self.body(x)


def init_dcgan_(module: nn.Module) -> nn.Module:
    """Apply the authors' ``weights_init_normal`` in place and return the module.

    Conv and transposed-conv weights ~ N(0, 0.02); BN weights ~ N(1, 0.02), BN biases 0. Convolution
    biases keep PyTorch's default initialisation, as in the official code (spec 1.1). Weights are drawn
    in logical order, so a channels-last module gets the same values as a contiguous one.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            with torch.no_grad():
                m.weight.copy_(torch.empty(m.weight.shape, device=m.weight.device).normal_(0.0, 0.02))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module
