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

import numpy as np

from methods.base import Requirements, TrainingData
from methods.n2c import BatchSampler, NoiseToClean
from methods.training import sample_patches

Replacement = Literal["uniform_withCP", "uniform_noCP"]


def draw_blind_spot_mask(
    shape: tuple[int, int, int], *, percent: float, rng: np.random.Generator
) -> np.ndarray:
    """Stratified random mask of a (B, H, W) batch: one candidate pixel per box, as ``n2v`` draws them.

    The box side is ``round(sqrt(100 / percent))``; candidates falling outside the patch are dropped,
    so a patch never has more than ``ceil(H / box) * ceil(W / box)`` masked pixels.
    """
    count, height, width = shape
    box = max(1, round(math.sqrt(100 / percent)))
    rows, cols = math.ceil(height / box), math.ceil(width / box)
    ys = np.arange(rows)[:, None] * box + rng.integers(0, box, size=(count, rows, cols))
    xs = np.arange(cols)[None, :] * box + rng.integers(0, box, size=(count, rows, cols))
    keep = (ys < height) & (xs < width)
    mask = np.zeros(shape, dtype=bool)
    index = np.broadcast_to(np.arange(count)[:, None, None], ys.shape)
    mask[index[keep], ys[keep], xs[keep]] = True
    return mask


def replace_masked_pixels(
    patches: np.ndarray, mask: np.ndarray, *, radius: int, replacement: Replacement, rng: np.random.Generator
) -> np.ndarray:
    """A copy of ``patches`` whose masked pixels hold the value of a random pixel of their neighbourhood.

    The neighbourhood is the ``(2 radius + 1)^2`` window around the pixel, cropped at the patch borders;
    the source is uniform over it, the centre included (``uniform_withCP``) or not (``uniform_noCP``).
    """
    if replacement not in ("uniform_withCP", "uniform_noCP"):
        raise ValueError(f"replacement must be 'uniform_withCP' or 'uniform_noCP', got {replacement!r}")
    b, y, x = np.nonzero(mask)
    height, width = patches.shape[1:]
    top, bottom = np.maximum(y - radius, 0), np.minimum(y + radius, height - 1)
    left, right = np.maximum(x - radius, 0), np.minimum(x + radius, width - 1)
    src_y, src_x = rng.integers(top, bottom + 1), rng.integers(left, right + 1)
    if replacement == "uniform_noCP" and radius > 0:
        centre = (src_y == y) & (src_x == x)
        while centre.any():  # redraw until every source is a neighbour, not the pixel itself
            src_y[centre] = rng.integers(top[centre], bottom[centre] + 1)
            src_x[centre] = rng.integers(left[centre], right[centre] + 1)
            centre = (src_y == y) & (src_x == x)
    sources = patches[b, src_y, src_x]
    out = patches.copy()
    out[b, y, x] = sources
    return out


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
        """``draw(rng) -> (masked inputs, noisy targets, mask)`` from the noisy training images."""
        if not data.noisy:
            raise ValueError(f"{self.name} learns from noisy images, but the training data has none")
        images = data.noisy
        p = self.params

        def draw_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            patches = sample_patches(images, size=p["patch_size"], count=p["batch_size"], rng=rng)
            mask = draw_blind_spot_mask(patches.shape, percent=p["percent"], rng=rng)
            inputs = replace_masked_pixels(
                patches, mask, radius=p["radius"], replacement=p["replacement"], rng=rng
            )
            return inputs, patches, mask.astype(np.float32)

        return draw_batch
