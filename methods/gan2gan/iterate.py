"""Iterative GAN2GAN training (Eqs. 9 and 10): denoisers trained on generated noisy pairs.

Iteration j trains a 17-layer residual DnCNN on pairs (x_hat + g_theta1(r1), x_hat + g_theta1(r2)),
where x_hat is the previous estimator's output: g_theta2 for j = 1, G2G_{j-1} after. Every sample of
every mini-batch gets a fresh pair. The official code builds each pair in the data loader, one sample at
a time, running the estimator on the noisy crop; here a whole mini-batch is generated at once with both
networks in eval mode as in the code, and x_hat is either the estimator's output on each crop (the
code's ``estimate="crops"``) or a crop of its output on the whole noisy image, computed once per
iteration (``"images"``: no zero padding around every small crop, and no estimator pass per step).

g_theta1's 64x64 output has a weak outer row and column (its transposed convolutions give the border
pixels fewer taps); the code cuts every noise crop from its top-left corner, so every crop holds that
border. ``noise_offset="interior"`` cuts each crop at a random offset inside the outermost pixel ring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from methods.batches import ImageBank
from methods.nets import NoiseGenerator
from methods.training import apply_network

#: Images estimated per forward pass when ``estimate="images"``.
_ESTIMATE_CHUNK = 16


def estimate_images(
    estimator: nn.Module, images: Sequence[np.ndarray], *, device: torch.device
) -> list[np.ndarray]:
    """The estimator's output on every whole image (images of one size go through in stacks)."""
    out: list[np.ndarray | None] = [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    for indices in by_shape.values():
        for start in range(0, len(indices), _ESTIMATE_CHUNK):
            chunk = indices[start : start + _ESTIMATE_CHUNK]
            for i, estimate in zip(
                chunk,
                apply_network(estimator, np.stack([images[i] for i in chunk]), device=device),
                strict=True,
            ):
                out[i] = estimate
    return out  # type: ignore[return-value]


def make_pair_sampler(
    noisy_images: Sequence[np.ndarray],
    *,
    generator: NoiseGenerator,
    estimator: nn.Module,
    batch_size: int,
    patch_size: int,
    device: torch.device,
    estimate: Literal["crops", "images"] = "crops",
    noise_offset: Literal["corner", "interior"] = "corner",
    per_sample: bool = False,
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A ``draw_batch`` for :func:`methods.training.train_network` that yields fresh G2G pairs (Eq. 9).

    Parameters
    ----------
    noisy_images : sequence of ndarray
        The noisy training images (HxW, at least ``patch_size``).
    generator : NoiseGenerator
        The fitted g_theta1; its output (64x64) is cropped to ``patch_size``.
    estimator : nn.Module
        The previous denoiser (g_theta2 or G2G_{j-1}).
    batch_size, patch_size : int
        Pairs per mini-batch and their side.
    device : torch.device
        Where the networks run.
    estimate : {"crops", "images"}
        x_hat is the estimator's output on each noisy crop (the code), or a crop of its output on the
        whole noisy image, computed here once.
    noise_offset : {"corner", "interior"}
        Cut each noise crop from the top-left corner of g_theta1's output (the code), or at a random
        offset that keeps off its outermost pixel ring (where the crop is smaller than 63).
    per_sample : bool
        Generate each pair separately, as the official loader does (``estimate="crops"``; for the
        benchmark only).

    Returns
    -------
    callable
        ``draw() -> (source, target)``, two (B, H, W) tensors on ``device``.
    """
    size = generator.size
    if patch_size > size:
        raise ValueError(f"patch_size {patch_size} exceeds the generated noise size {size}")
    if estimate not in ("crops", "images"):
        raise ValueError(f"estimate must be 'crops' or 'images', got {estimate!r}")
    if noise_offset not in ("corner", "interior"):
        raise ValueError(f"noise_offset must be 'corner' or 'interior', got {noise_offset!r}")
    if per_sample and estimate != "crops":
        raise ValueError("per_sample pairs are the official loader's, which estimates each crop")
    nz = generator.nz
    generator.to(device).eval()
    estimator.to(device).eval()
    sources = (
        estimate_images(estimator, noisy_images, device=device) if estimate == "images" else noisy_images
    )
    margin = 1 if noise_offset == "interior" and patch_size <= size - 2 else 0
    span = size - 2 * margin - patch_size + 1

    bank = ImageBank(sources, device=device)
    offsets = torch.arange(patch_size, device=device)

    def cut_noise(noise: torch.Tensor) -> torch.Tensor:
        if noise_offset == "corner":
            return noise[..., :patch_size, :patch_size]
        tops, lefts = margin + torch.randint(span, (2, len(noise), 1), device=device)
        rows, cols = (tops + offsets)[:, :, None], (lefts + offsets)[:, None, :]
        return noise[torch.arange(len(noise), device=device).view(-1, 1, 1), :, rows, cols].movedim(-1, 1)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        crops = bank.sample(size=patch_size, count=batch_size, augment="flips")[:, None]
        latents = torch.randn((2 * batch_size, nz), device=device)
        with torch.no_grad():
            if per_sample:  # the official loader: the crop twice through the estimator, two latents
                pairs = []
                for i in range(batch_size):
                    twice = estimator(crops[[i, i]])
                    noisy = twice + cut_noise(generator(latents[[i, batch_size + i]]))
                    pairs.append(noisy[:, 0])
                return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
            clean_estimate = estimator(crops) if estimate == "crops" else crops
            noise = cut_noise(generator(latents))
            return (clean_estimate + noise[:batch_size])[:, 0], (clean_estimate + noise[batch_size:])[:, 0]

    return draw
