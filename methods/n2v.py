"""Noise2Void (Krull et al., CVPR 2019) on the 17-layer DnCNN of G2G_j, as the GAN2GAN paper compares it.

Blind-spot training as the ``n2v`` package does it: in every training patch a stratified random set of
pixels is masked (one random pixel per box of side ``round(sqrt(100 / percent))``); each masked
pixel's input value is replaced by a random pixel of its ``(2 r + 1)^2`` neighbourhood, the centre
included (``uniform_withCP``, the package's default) or excluded (``uniform_noCP``, CAREamics); the loss
is the MSE on the masked pixels only. It learns from the cell's fixed noisy images and nothing else.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch

from methods.base import Requirements, TrainingData
from methods.n2c import BatchSampler, NoiseToClean

Replacement = Literal["uniform_withCP", "uniform_noCP"]


def mask_blind_spots(
    patches: torch.Tensor,
    *,
    percent: float,
    radius: int,
    replacement: Replacement,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blind-spot inputs of a (B, H, W) batch, as ``n2v`` makes them, and their mask.

    One candidate pixel per box of side ``round(sqrt(100 / percent))``, uniform in its box; candidates
    falling outside the patch are dropped, so a patch never has more than ``ceil(H / box) * ceil(W / box)``
    masked pixels. Each masked pixel's input holds the value of a pixel drawn uniformly from its
    ``(2 radius + 1)^2`` neighbourhood cropped at the patch borders, the pixel itself included
    (``uniform_withCP``) or not (``uniform_noCP``). Everything is drawn on the patches' device from
    ``generator`` (None: that device's RNG), without a host round trip.

    Returns
    -------
    inputs, mask : Tensor
        The patches with their masked pixels replaced, and the mask (1 where masked) in their dtype.
    """
    if replacement not in ("uniform_withCP", "uniform_noCP"):
        raise ValueError(f"replacement must be 'uniform_withCP' or 'uniform_noCP', got {replacement!r}")
    count, height, width = patches.shape
    device = patches.device
    draw = {"device": device, "generator": generator}
    box = max(1, round(math.sqrt(100 / percent)))
    grid = (count, math.ceil(height / box), math.ceil(width / box))
    y = torch.arange(grid[1], device=device).view(-1, 1) * box + torch.randint(box, grid, **draw)
    x = torch.arange(grid[2], device=device) * box + torch.randint(box, grid, **draw)
    keep = (y < height) & (x < width)
    # a dropped candidate is clamped onto a pixel of its own box, which no other candidate holds
    y, x = y.clamp_(max=height - 1), x.clamp_(max=width - 1)
    b = torch.arange(count, device=device).view(-1, 1, 1).expand(grid)
    top, left = (y - radius).clamp(min=0), (x - radius).clamp(min=0)
    wide = (x + radius).clamp(max=width - 1) - left + 1
    choices = ((y + radius).clamp(max=height - 1) - top + 1) * wide
    exclude = replacement == "uniform_noCP" and radius > 0
    # uniform over the window's pixels in raster order, skipping the centre's slot when it is excluded
    k = (torch.rand(grid, dtype=torch.float64, **draw) * (choices - int(exclude))).long()
    if exclude:
        k += k >= (y - top) * wide + (x - left)
    inputs = patches.clone()
    inputs[b, y, x] = torch.where(keep, patches[b, top + k // wide, left + k % wide], patches[b, y, x])
    mask = torch.zeros_like(patches)
    mask[b, y, x] = keep.to(patches.dtype)
    return inputs, mask


class Noise2Void(NoiseToClean):
    """N2V: a residual DnCNN trained with the blind-spot loss on the noisy training images only.

    Parameters
    ----------
    percent : float
        Percentage of masked pixels (``n2v_perc_pix``): 0.198 in the package's BSD68 example, 1.5 its default.
    radius : int
        Neighbourhood radius of the replacement (``n2v_neighborhood_radius``): 2 in the BSD68 example,
        5 by default.
    replacement : {"uniform_withCP", "uniform_noCP"}
        Whether the replacement may be the masked pixel itself (``n2v``) or never is (CAREamics).
    **kwargs
        Network and schedule, as :class:`methods.n2c.NoiseToClean`.
    """

    name: ClassVar[str] = "N2V"
    requires: ClassVar[Requirements] = Requirements()
    default_depth: ClassVar[int] = 17

    def __init__(
        self,
        *,
        percent: float = 0.198,
        radius: int = 2,
        replacement: Replacement = "uniform_withCP",
        **kwargs: Any,
    ) -> None:
        if not 0 < percent <= 100:
            raise ValueError(f"percent must be in (0, 100], got {percent}")
        if replacement not in ("uniform_withCP", "uniform_noCP"):
            raise ValueError(f"replacement must be 'uniform_withCP' or 'uniform_noCP', got {replacement!r}")
        super().__init__(**kwargs)
        self.params.update({"percent": percent, "radius": radius, "replacement": replacement})

    def batch_sampler(self, data: TrainingData) -> BatchSampler:
        """``draw() -> (masked inputs, noisy targets, mask)`` from the noisy training images, made on the
        training device from torch's RNG (:mod:`methods.batches`)."""
        bank = self.noisy_bank(data)
        p = self.params

        def draw_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            patches = bank.sample(size=p["patch_size"], count=p["batch_size"])
            inputs, mask = mask_blind_spots(
                patches, percent=p["percent"], radius=p["radius"], replacement=p["replacement"]
            )
            return inputs, patches, mask

        return draw_batch
