"""Noise2Self (Batson & Royer, ICML 2019) on the 17-layer DnCNN of G2G_j.

J-invariant training with a grid of masks, as the authors' ``Masker`` does it: the pixels of a patch are
split into ``width``^2 interleaved subsets J (one per phase of a ``width`` x ``width`` grid); each patch
masks one subset drawn uniformly, every masked pixel's input is the weighted mean of its 8 neighbours
(the authors' ``interpolate`` mode: weights 1 on the 4-neighbours and 1/2 on the diagonals, normalised, zero
outside the patch), and the loss is the MSE on the masked pixels only (Eq. 3 of the paper restricted to J).
With ``width`` >= 2 no masked pixel has a masked neighbour, so the network never sees the noise it must
predict. It learns from the cell's fixed noisy images and nothing else; inference is one forward pass on
the whole image (the authors' J-invariant inference, averaging the ``width``^2 masked passes, costs 16
passes an image and is not used here).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch.nn.functional import conv2d

from methods.base import Requirements, TrainingData
from methods.n2c import BatchSampler, NoiseToClean

#: The authors' interpolation kernel: the neighbours' weighted mean, the centre excluded.
_DONUT = torch.tensor([[0.5, 1.0, 0.5], [1.0, 0.0, 1.0], [0.5, 1.0, 0.5]]) / 6.0


def mask_grid(
    patches: torch.Tensor, *, width: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """J-invariant inputs of a (B, H, W) batch and their mask: in each patch the pixels of one phase of a
    ``width`` x ``width`` grid, drawn uniformly, replaced by their neighbours' weighted mean.

    Returns
    -------
    inputs, mask : Tensor
        The masked patches and the mask (1 on the masked subset) in the patches' dtype.
    """
    if width < 2:
        raise ValueError(
            f"the grid width must be >= 2 (a masked pixel needs unmasked neighbours), got {width}"
        )
    count, height, wide = patches.shape
    device = patches.device
    phase = torch.randint(width * width, (count, 1, 1), device=device, generator=generator)
    rows = torch.arange(height, device=device).view(1, -1, 1) % width
    cols = torch.arange(wide, device=device).view(1, 1, -1) % width
    mask = (rows * width + cols == phase).to(patches.dtype)
    kernel = _DONUT.to(device=device, dtype=patches.dtype).view(1, 1, 3, 3)
    neighbours = conv2d(patches[:, None], kernel, padding=1)[:, 0]
    return torch.lerp(patches, neighbours, mask), mask


class Noise2Self(NoiseToClean):
    """N2S: a residual DnCNN trained J-invariantly on the noisy training images.

    Parameters
    ----------
    width : int
        Side of the mask grid (the authors' 4: 1/16 of the pixels masked per patch).
    **kwargs
        Network and schedule, as :class:`methods.n2c.NoiseToClean`.
    """

    name: ClassVar[str] = "N2S"
    requires: ClassVar[Requirements] = Requirements()
    default_depth: ClassVar[int] = 17

    def __init__(self, *, width: int = 4, **kwargs: Any) -> None:
        if width < 2:
            raise ValueError(f"width must be >= 2, got {width}")
        super().__init__(**kwargs)
        self.params["width"] = width

    def batch_sampler(self, data: TrainingData) -> BatchSampler:
        """``draw() -> (masked inputs, noisy targets, mask)`` from the noisy training images, on the
        training device."""
        bank = self.noisy_bank(data)
        p = self.params

        def draw_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            patches = bank.sample(size=p["patch_size"], count=p["batch_size"])
            inputs, mask = mask_grid(patches, width=p["width"])
            return inputs, patches, mask

        return draw_batch
