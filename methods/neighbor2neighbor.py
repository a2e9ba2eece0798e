"""Neighbor2Neighbor (Huang et al., CVPR 2021) on the 17-layer DnCNN of G2G_j.

A random neighbour sub-sampler G = (g1, g2) splits each 2x2 cell of a noisy image into two of its
4-neighbouring pixels, so g1(y) and g2(y) are two half-resolution images whose noise is independent
and whose clean contents nearly agree. The network f learns g1(y) -> g2(y) (Eq. 5 of the paper) with a
regulariser that makes f consistent with the full-resolution image (Eq. 6):

    L = ||f(g1(y)) - g2(y)||^2 + gamma ||f(g1(y)) - g2(y) - (g1(f(y)) - g2(f(y)))||^2,

f(y) computed without a gradient. The paper fixes gamma = 2; its code ramps it from 0 to 2 over the epochs
(``Lambda = epoch / n_epoch * increase_ratio``). It learns from the cell's fixed noisy images and nothing
else; inference is one forward pass on the whole image.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from methods.base import Requirements, TrainingData
from methods.n2c import BatchSampler, NoiseToClean
from methods.training import Objective

#: The 8 ordered pairs of 4-neighbours in a 2x2 cell, the cell's pixels numbered 0 (top left),
#: 1 (top right), 2 (bottom left), 3 (bottom right): g1 takes the first, g2 the second.
NEIGHBOUR_PAIRS = ((0, 1), (0, 2), (1, 0), (1, 3), (2, 0), (2, 3), (3, 1), (3, 2))


def draw_neighbour_pairs(
    shape: tuple[int, int, int], *, device: torch.device, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For every 2x2 cell of a (B, H, W) batch, the cell pixels that g1 and g2 take: two (B, H/2, W/2)
    tensors of indices in 0..3, one of the 8 neighbour pairs drawn uniformly per cell."""
    count, height, width = shape
    if height % 2 or width % 2:
        raise ValueError(f"the neighbour sub-sampler needs even sides, got {height}x{width}")
    pairs = torch.tensor(NEIGHBOUR_PAIRS, device=device)
    choice = torch.randint(len(pairs), (count, height // 2, width // 2), device=device, generator=generator)
    return pairs[choice, 0], pairs[choice, 1]


def subsample(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The half-resolution image taking pixel ``index`` (0..3) of every 2x2 cell of (B, C, H, W) ``images``.

    Returns
    -------
    Tensor
        (B, C, H/2, W/2).
    """
    b, c, h, w = images.shape
    cells = (
        images.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h // 2, w // 2, 4)
    )
    return cells.gather(-1, index[:, None, :, :, None].expand(b, c, -1, -1, 1)).squeeze(-1)


def neighbor2neighbor_loss(net: nn.Module, noisy: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """The loss of Eq. 6 on a (B, 1, H, W) noisy batch, with a fresh sub-sampler per cell.

    Parameters
    ----------
    net : nn.Module
        The denoiser f.
    noisy : Tensor
        Noisy patches with even sides.
    gamma : float
        Weight of the regulariser.
    """
    first, second = draw_neighbour_pairs(noisy[:, 0].shape, device=noisy.device)
    g1y, g2y = subsample(noisy, first), subsample(noisy, second)
    with torch.no_grad():
        full = net(noisy).float()
    residual = net(g1y).float() - g2y
    gap = subsample(full, first) - subsample(full, second)
    return residual.square().mean() + gamma * (residual - gap).square().mean()


class Neighbor2Neighbor(NoiseToClean):
    """Ne2Ne: a residual DnCNN trained on sub-sampled pairs of the noisy training images (Eq. 6).

    Parameters
    ----------
    regulariser : float
        Weight gamma of the regulariser (the paper's 2).
    **kwargs
        Network and schedule, as :class:`methods.n2c.NoiseToClean`; ``patch_size`` must be even.
    """

    name: ClassVar[str] = "Ne2Ne"
    requires: ClassVar[Requirements] = Requirements()
    default_depth: ClassVar[int] = 17

    def __init__(self, *, regulariser: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.params["patch_size"] % 2:
            raise ValueError(f"Neighbor2Neighbor needs an even patch_size, got {self.params['patch_size']}")
        if regulariser < 0:
            raise ValueError(f"regulariser must be >= 0, got {regulariser}")
        self.params["regulariser"] = regulariser

    def batch_sampler(self, data: TrainingData) -> BatchSampler:
        """``draw() -> (noisy patches,)`` from the noisy training images, on the training device."""
        bank = self.noisy_bank(data)
        p = self.params

        def draw_batch() -> tuple[torch.Tensor]:
            return (bank.sample(size=p["patch_size"], count=p["batch_size"]),)

        return draw_batch

    def objective(self) -> Objective:
        """:func:`neighbor2neighbor_loss` of the batch's patches."""
        gamma = self.params["regulariser"]
        return lambda net, batch: neighbor2neighbor_loss(net, batch[0][:, None], gamma=gamma)
