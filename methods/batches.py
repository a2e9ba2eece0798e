"""Training batches made where the network trains: images resident on the device, noise drawn in torch.

A GPU step of the paper profile consumes 13,000-20,000 patches of 50x50 a second, more than one host
core cuts and noises with numpy. :class:`ImageBank` keeps the training images in one flat float32
tensor on the training device and cuts a batch of patches with one gather (O(batch), whatever the
number of images); :func:`draw_noise` draws the training noise of every model of :mod:`noise` in
float32 on that device. Every draw comes from torch's RNG of the device, which
:func:`methods.training.run_training` seeds per fit and checkpoints, so CPU runs stay bit-identical and
resumable.

The distributions are those of :meth:`noise.NoiseModel.sample` (the test sets' noise, drawn with numpy,
is unchanged); the random streams are torch's, so the numbers of a fit differ from the numpy-drawn
batches of revisions before this module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from noise import Correlated, Mixture, NoiseModel, UniformSigmaGaussian, WhiteGaussian
from noise.seeds import Label, derive_seed

Augment = Literal["dihedral", "flips", "none"]


class ImageBank:
    """Training images packed in one flat float32 tensor on ``device``, cut into random patches there.

    Parameters
    ----------
    images : sequence of ndarray
        2-D images of any sizes.
    device : torch.device
        Where the pixels live and the patches are cut.
    """

    def __init__(self, images: Sequence[np.ndarray], *, device: torch.device) -> None:
        if len(images) == 0:
            raise ValueError("an image bank needs at least one image")
        bad = next((i for i, image in enumerate(images) if np.ndim(image) != 2), None)
        if bad is not None:
            raise ValueError(f"image {bad} has shape {np.shape(images[bad])}; patches need 2-D images")
        shapes = np.array([image.shape for image in images], dtype=np.int64)
        self.device = device
        self.shapes = torch.from_numpy(shapes).to(device)
        self.offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(shapes.prod(axis=1))[:-1]])).to(device)
        flat = np.concatenate([np.asarray(image, dtype=np.float32).ravel() for image in images])
        self.pixels = torch.from_numpy(flat).to(device)
        self.smallest = int(shapes.min(axis=1).argmin())
        self.smallest_side = int(shapes.min())
        self._tables: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.shapes)

    def sample(
        self,
        *,
        size: int,
        count: int,
        augment: Augment = "dihedral",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Cut ``count`` random ``size`` x ``size`` patches, each with a random transform.

        Image, position and transform are drawn uniformly from ``generator``, or from torch's RNG of the
        bank's device.

        Parameters
        ----------
        size, count : int
            Patch side and number of patches.
        augment : {"dihedral", "flips", "none"}
            One of the 8 rot90/flip transforms per patch, one of the 4 combinations of horizontal and
            vertical flips (the official GAN2GAN loaders: keeps the orientation of correlated noise),
            or none.
        generator : torch.Generator or None
            A seeded generator on the bank's device for draws outside a training loop (a fixed set of
            crops); None draws from the device's RNG, which :func:`methods.training.run_training` seeds.

        Returns
        -------
        Tensor
            ``(count, size, size)`` float32 on the bank's device.
        """
        if self.smallest_side < size:
            shape = tuple(self.shapes[self.smallest].tolist())
            raise ValueError(f"image {self.smallest} has shape {shape}; patches need at least {size}x{size}")
        if augment not in ("dihedral", "flips", "none"):
            raise ValueError(f"augment must be 'dihedral', 'flips' or 'none', got {augment!r}")
        draw = {"device": self.device, "generator": generator}
        index = torch.randint(len(self), (count,), **draw)
        height, width = self.shapes[index, 0], self.shapes[index, 1]
        top = (torch.rand(count, dtype=torch.float64, **draw) * (height - size + 1)).long()
        left = (torch.rand(count, dtype=torch.float64, **draw) * (width - size + 1)).long()
        corner = (self.offsets[index] + top * width + left).view(count, 1, 1)
        rows, cols = self._transform_tables(size)
        if augment == "none":
            code = torch.zeros(count, dtype=torch.long, device=self.device)
        elif augment == "flips":  # {0, 2, 4, 6}: the flips of the code below
            code = 2 * torch.randint(4, (count,), **draw)
        else:
            code = torch.randint(8, (count,), **draw)
        flat = rows[code].mul_(width.view(count, 1, 1)).add_(cols[code]).add_(corner)  # in place: no temps
        return self.pixels[flat]

    def _transform_tables(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Source row and column of every output pixel of a ``size`` x ``size`` patch under each of the
        8 transforms: code k is ``numpy.rot90(patch, k % 4)``, then a horizontal flip if k >= 4."""
        if size not in self._tables:
            grid = np.indices((size, size))
            tables = [np.rot90(grid, k, axes=(1, 2)) for k in range(4)]
            tables += [table[:, :, ::-1] for table in tables]
            stacked = torch.from_numpy(np.stack(tables, axis=1).copy()).to(self.device)
            self._tables[size] = (stacked[0], stacked[1])
        return self._tables[size]


def seeded_generator(seed: int, *labels: Label, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` for one purpose of one seed (:func:`noise.seeds.derive_seed`):
    fixed draws made outside a training loop, which leave every other stream untouched."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *labels))


@functools.singledispatch
def draw_noise(noise: NoiseModel, shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    """Draw ``noise`` (same distribution as ``noise.sample``) as a float32 tensor on ``device``.

    Parameters
    ----------
    noise : NoiseModel
        A model of :mod:`noise`, or one that registered its own torch sampler
        (:class:`methods.gan2gan.gan.LearnedNoise`).
    shape : tuple of int
        ``(..., H, W)``.
    device : torch.device
        Where to draw (from that device's torch RNG).

    Returns
    -------
    Tensor
    """
    raise TypeError(f"no torch sampler for noise {noise!r} ({type(noise).__name__})")


@draw_noise.register
def _(noise: WhiteGaussian, shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, device=device).mul_(noise.sigma / 255.0)


@draw_noise.register
def _(noise: UniformSigmaGaussian, shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, device=device).mul_(_draw_sigmas(noise, shape, device=device))


@draw_noise.register
def _(noise: Mixture, shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    p_u, p_1, _ = noise.PROPORTIONS
    std1, std2 = noise.COMPONENT_STDS[noise.case]
    u = torch.rand(shape, device=device)
    uniform = (2 * torch.rand(shape, device=device) - 1) * noise.s
    gaussian = torch.randn(shape, device=device)
    values = torch.where(u < p_u, uniform, gaussian * torch.where(u < p_u + p_1, std1, std2))
    return values / 255.0


@draw_noise.register
def _(noise: Correlated, shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    return correlate_white(noise, torch.randn(shape, device=device)) * (noise.sigma / 255.0)


def draw_noise_pair(
    noise: NoiseModel, shape: tuple[int, ...], *, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent draws of ``noise`` for Noise2Noise pairs; a model with a random parameter per
    patch (:class:`noise.UniformSigmaGaussian`) shares it between the two copies."""
    if isinstance(noise, UniformSigmaGaussian):
        sigmas = _draw_sigmas(noise, shape, device=device)
        return torch.randn(shape, device=device).mul_(sigmas), torch.randn(shape, device=device).mul_(sigmas)
    return draw_noise(noise, shape, device=device), draw_noise(noise, shape, device=device)


def _draw_sigmas(
    noise: UniformSigmaGaussian, shape: tuple[int, ...], *, device: torch.device
) -> torch.Tensor:
    """One sigma (image units) per 2-D slice of ``shape``, shaped to broadcast against it."""
    lead = tuple(shape[:-2])
    span = noise.sigma_max - noise.sigma_min
    sigmas = noise.sigma_min + span * torch.rand(lead, device=device)
    return sigmas.view(*lead, 1, 1) / 255.0


def correlate_white(noise: Correlated, m: torch.Tensor) -> torch.Tensor:
    """:meth:`noise.Correlated.correlate_white` in torch: the mixing map applied to a white field ``m``
    (last two axes), by running sums in O(H W) per slice, zero-filled (code mode) or periodic (paper)."""
    lo, hi, excluded = noise.window()
    wrap = noise.mode == "paper"
    box = _window_sum(_window_sum(m, lo, hi, dim=-2, wrap=wrap), lo, hi, dim=-1, wrap=wrap)
    dy, dx = excluded
    if wrap:
        centre = torch.roll(m, (-dy, -dx), dims=(-2, -1))
    else:
        centre = torch.zeros_like(m)
        h, w = m.shape[-2:]
        centre[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)] = m[
            ..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)
        ]
    a, b = noise.WEIGHTS[noise.mode]
    return a * m + (b / math.sqrt(noise.k**2 - 1)) * (box - centre)


def _window_sum(m: torch.Tensor, lo: int, hi: int, *, dim: int, wrap: bool) -> torch.Tensor:
    """``out[i] = sum_{d=lo..hi} m[i + d]`` along ``dim``, zero-filled or periodic outside."""
    m = m.movedim(dim, -1)
    n = m.shape[-1]
    before, after = max(0, -lo), max(0, hi)
    if wrap:
        padded = torch.cat([m[..., n - before :], m, m[..., :after]], dim=-1)
    else:
        padded = torch.nn.functional.pad(m, (before, after))
    sums = torch.nn.functional.pad(padded.cumsum(-1), (1, 0))
    out = sums[..., before + hi + 1 : before + hi + 1 + n] - sums[..., before + lo : before + lo + n]
    return out.movedim(-1, dim)
