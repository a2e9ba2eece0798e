"""PSNR and SSIM exactly as the evaluation protocol says (DESIGN.md; official code, spec section 6).

Both metrics clip the denoised image and the reference to [0, 1] first, work on float data (no 8-bit
quantisation) and are computed per image; tables average them over images. Many papers quantise their
outputs to 8 bits before the PSNR: ``compute_psnr(..., quantise=True)`` gives that number too.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from skimage.metrics import structural_similarity


def compute_psnr(denoised: np.ndarray, clean: np.ndarray, *, quantise: bool = False) -> float:
    """PSNR in dB with peak 1: ``10 log10(1 / MSE)`` on images clipped to [0, 1].

    Parameters
    ----------
    quantise : bool
        Round the clipped denoised image to 8 bits (``round(255 x) / 255``) first, as papers that
        save their outputs as 8-bit images report.

    Examples
    --------
    >>> round(compute_psnr(np.full((4, 4), 0.1), np.zeros((4, 4))), 6)
    20.0
    >>> round(compute_psnr(np.full((4, 4), 0.1), np.zeros((4, 4)), quantise=True), 4)  # 26/255
    19.8313
    """
    x, y = _clip_pair(denoised, clean)
    if quantise:
        x = np.round(x * 255.0) / 255.0
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def compute_ssim(
    denoised: np.ndarray, clean: np.ndarray, *, data_range: Literal["fixed", "denoised"] = "fixed"
) -> float:
    """SSIM of scikit-image (7x7 uniform window, K1 = 0.01, K2 = 0.03) on images clipped to [0, 1].

    Parameters
    ----------
    data_range : {'fixed', 'denoised'}
        'fixed' uses the data range 1 of [0, 1] images (our default). 'denoised' is the authors'
        variant: the range ``max - min`` of the denoised image.
    """
    x, y = _clip_pair(denoised, clean)
    if data_range == "fixed":
        span = 1.0
    elif data_range == "denoised":
        span = float(x.max() - x.min())
    else:
        raise ValueError(f"unknown SSIM data_range {data_range!r}; valid: 'fixed', 'denoised'")
    return float(structural_similarity(x, y, data_range=span))


def _clip_pair(denoised: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if denoised.shape != clean.shape:
        raise ValueError(f"shape mismatch: denoised {denoised.shape} vs clean {clean.shape}")
    return (
        np.clip(np.asarray(denoised, dtype=np.float64), 0.0, 1.0),
        np.clip(np.asarray(clean, dtype=np.float64), 0.0, 1.0),
    )
