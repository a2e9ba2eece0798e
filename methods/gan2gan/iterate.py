"""Iterative GAN2GAN training (Eqs. 9 and 10): denoisers trained on generated noisy pairs.

Iteration j trains a 17-layer residual DnCNN on pairs (x_hat + g_theta1(r1), x_hat + g_theta1(r2)),
where x_hat is the previous estimator's output on a noisy crop: g_theta2 for j = 1, G2G_{j-1} after.
Every sample of every mini-batch gets a fresh pair. The official code builds each pair in the data
loader, one sample at a time; here a whole mini-batch is generated in two forward passes (one of the
estimator, one of g_theta1 for 2B latents), with both networks in eval mode as in the code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from methods.nets import NoiseGenerator
from methods.training import sample_patches, to_batch


def make_pair_sampler(
    noisy_images: Sequence[np.ndarray],
    *,
    generator: NoiseGenerator,
    estimator: nn.Module,
    batch_size: int,
    patch_size: int,
    device: torch.device,
    per_sample: bool = False,
) -> Callable[[np.random.Generator], tuple[torch.Tensor, torch.Tensor]]:
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
    per_sample : bool
        Generate each pair separately, as the official loader does (for the benchmark only).

    Returns
    -------
    callable
        ``draw(rng) -> (source, target)``, two (B, H, W) tensors on ``device``.
    """
    if patch_size > generator.size:
        raise ValueError(f"patch_size {patch_size} exceeds the generated noise size {generator.size}")
    nz = generator.nz
    generator.to(device).eval()
    estimator.to(device).eval()

    def draw(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        crops = sample_patches(noisy_images, size=patch_size, count=batch_size, rng=rng, augment="flips")
        latents = torch.from_numpy(rng.standard_normal((2 * batch_size, nz), dtype=np.float32)).to(device)
        with torch.no_grad():
            if per_sample:  # the official loader: the crop twice through the estimator, two latents
                pairs = []
                for i in range(batch_size):
                    twice = estimator(to_batch(np.stack([crops[i], crops[i]]), device))
                    noisy = twice + generator(latents[[i, batch_size + i]])[..., :patch_size, :patch_size]
                    pairs.append(noisy[:, 0])
                return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
            clean_estimate = estimator(to_batch(crops, device))
            noise = generator(latents)[..., :patch_size, :patch_size]
            return (clean_estimate + noise[:batch_size])[:, 0], (clean_estimate + noise[batch_size:])[:, 0]

    return draw
