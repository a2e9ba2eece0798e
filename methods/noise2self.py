"""Noise2Self (Batson & Royer, ICML 2019) on the 17-layer DnCNN of G2G_j.

J-invariant training with a grid of masks, as the authors' ``Masker`` does it: the pixels of a patch are
split into ``width``^2 interleaved subsets J (one per phase of a ``width`` x ``width`` grid); each patch
masks one subset drawn uniformly, every masked pixel's input is the weighted mean of its 8 neighbours
(the authors' ``interpolate`` mode: weights 1 on the 4-neighbours and 1/2 on the diagonals, normalised, zero
outside the patch), and the loss is the MSE on the masked pixels only (Eq. 3 of the paper restricted to J).
With ``width`` >= 2 no masked pixel has a masked neighbour, so the network never sees the noise it must
predict. It learns from the cell's fixed noisy images and nothing else.

Inference is the authors' default (their ``Masker.infer_full_image``): ``width``^2 passes over the whole
image, one per grid phase, each pixel taken from the pass in which it is masked, so the output at a pixel
does not depend on its own noisy value (16 passes an image). A single unmasked pass (``inference="single"``)
is what the net was not trained for: it saw interpolated values at the pixels it was scored on, and the
residual DnCNN passes a real noisy centre pixel through. Measured on a fit of the blind cpu run (gaussian:25,
seed 0; BSD68 128x128 crops, one noise draw): single pass 20.11 dB against a noisy 20.44, masked passes
23.99, the interpolation alone 23.12.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch.nn.functional import conv2d

from methods.base import Requirements, TrainingData
from methods.n2c import BatchSampler, NoiseToClean
from methods.training import apply_network

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
    _check_width(width)
    phase = torch.randint(width * width, (len(patches), 1, 1), device=patches.device, generator=generator)
    return mask_phase(patches, width=width, phase=phase)


def mask_phase(
    patches: torch.Tensor, *, width: int, phase: torch.Tensor | int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mask_grid` with the grid phase given: an int for every patch or a (B, 1, 1) tensor, in
    ``0 .. width^2 - 1`` (row phase times ``width`` plus column phase)."""
    _check_width(width)
    _, height, wide = patches.shape
    device = patches.device
    rows = torch.arange(height, device=device).view(1, -1, 1) % width
    cols = torch.arange(wide, device=device).view(1, 1, -1) % width
    mask = (rows * width + cols == phase).to(patches.dtype).expand_as(patches)
    kernel = _DONUT.to(device=device, dtype=patches.dtype).view(1, 1, 3, 3)
    neighbours = conv2d(patches[:, None], kernel, padding=1)[:, 0]
    return torch.lerp(patches, neighbours, mask), mask


def _check_width(width: int) -> None:
    if width < 2:
        raise ValueError(
            f"the grid width must be >= 2 (a masked pixel needs unmasked neighbours), got {width}"
        )


class Noise2Self(NoiseToClean):
    """N2S: a residual DnCNN trained J-invariantly on the noisy training images.

    Parameters
    ----------
    width : int
        Side of the mask grid (the authors' 4: 1/16 of the pixels masked per patch).
    inference : {"j-invariant", "single"}
        ``width``^2 masked passes, each pixel from the pass that masks it (the authors' default), or one
        unmasked pass (module docstring).
    **kwargs
        Network and schedule, as :class:`methods.n2c.NoiseToClean`.
    """

    name: ClassVar[str] = "N2S"
    requires: ClassVar[Requirements] = Requirements()
    default_depth: ClassVar[int] = 17

    def __init__(
        self, *, width: int = 4, inference: Literal["j-invariant", "single"] = "j-invariant", **kwargs: Any
    ) -> None:
        if width < 2:
            raise ValueError(f"width must be >= 2, got {width}")
        if inference not in ("j-invariant", "single"):
            raise ValueError(f"inference must be 'j-invariant' or 'single', got {inference!r}")
        super().__init__(**kwargs)
        self.params["width"] = width
        self.params["inference"] = inference

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

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image (or an (N, H, W) stack) by ``inference`` (the module docstring)."""
        if self.params["inference"] == "single":
            return super().denoise(noisy)
        width = self.params["width"]
        stack = torch.from_numpy(np.asarray(noisy, dtype=np.float32).reshape(-1, *noisy.shape[-2:]))
        result = np.zeros(stack.shape, dtype=np.float32)
        for phase in range(width * width):
            inputs, mask = mask_phase(stack, width=width, phase=phase)
            result += apply_network(self.net, inputs.numpy(), device=self.device) * mask.numpy()
        return result.reshape(noisy.shape)
