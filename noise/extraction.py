"""Smooth noise-patch extraction from noisy images: rules (3) and (4) of the GAN2GAN paper.

GAN2GAN (Cha et al., ICLR 2021) learns the noise distribution from noisy windows that lie on smooth,
homogeneous image areas: such a window minus its own mean is (approximately) a pure noise sample.
Two rules decide whether a window is smooth:

- **Rule (3)**, the GCBD rule (Chen et al., "Image Blind Denoising With Generative Adversarial Network
  Based Noise Modeling", CVPR 2018): every local sub-patch has a mean and a variance close to the
  window's. :func:`extract_gcbd_patches`.
- **Rule (4)**, GAN2GAN's wavelet rule: the four sub-bands of a one-level 2-D Haar transform of the
  window have nearly equal standard deviations. :func:`extract_wavelet_patches`, whose statistic alone
  is :func:`compute_wavelet_statistic`.

Both scan square windows of ``size`` pixels with step ``stride`` from the top-left corner and return
an :class:`ExtractionResult`: the statistic, estimated noise level and position of every candidate
window, which of them are smooth, and the mean-subtracted smooth windows (the noise patches).
Images are float HxW arrays in [0, 1]; sigmas are in the same (image) units.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> flat = np.full((128, 128), 0.5) + rng.standard_normal((128, 128)) * 25 / 255
>>> res = extract_wavelet_patches([flat], size=64, stride=32)
>>> res.positions.tolist()
[[0, 0, 0], [0, 0, 32], [0, 32, 0], [0, 32, 32]]
>>> res.n_patches, res.patches.shape, res.patches.dtype
(4, (4, 64, 64), dtype('float32'))
>>> bool(np.all(np.abs(res.smooth_sigma() * 255 - 25) < 1.5))
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "ExtractionResult",
    "compute_wavelet_statistic",
    "extract_gcbd_patches",
    "extract_noise_patches",
    "extract_wavelet_patches",
]

# Number of float64 elements materialised at once while scanning (32 MiB).
_CHUNK_ELEMENTS = 1 << 22
# Below this mean band std a window counts as noise-free: its rule-(4) statistic is 0/0, taken as 0.
_TINY_STD = 1e-12


@dataclass(frozen=True, eq=False)
class ExtractionResult:
    """Outcome of a smooth-patch scan over a list of images.

    Attributes
    ----------
    rule : str
        ``"wavelet"`` (rule (4), Eq. (4)) or ``"gcbd"`` (rule (3), Eq. (3)).
    patches : numpy.ndarray
        ``(N, size, size)`` float32, every smooth window minus its own mean, in scan order.
    statistic : numpy.ndarray
        ``(M,)`` float64, the rule's statistic for every candidate window; smooth iff
        ``statistic <= threshold``.
    sigma : numpy.ndarray
        ``(M,)`` float64, population std of every candidate window (image units), i.e. the noise
        level estimate of a smooth window.
    positions : numpy.ndarray
        ``(M, 3)`` int64: image index, top, left of every candidate window.
    smooth : numpy.ndarray
        ``(M,)`` bool, the windows kept in ``patches``.
    threshold : float
        The lambda used by rule (4) (NaN when count mode saw no candidate), or ``1.0`` for rule (3).
    size, stride : int
        Window side and scan step.
    count : int or None
        Rule (4) count mode: the number of windows asked for (``None`` otherwise).
    capped : bool
        Count mode: ``True`` if ``max_lambda`` lowered lambda, so fewer than ``count`` windows were kept.
    """

    rule: str
    patches: np.ndarray
    statistic: np.ndarray
    sigma: np.ndarray
    positions: np.ndarray
    smooth: np.ndarray
    threshold: float
    size: int
    stride: int
    count: int | None = None
    capped: bool = False

    @property
    def n_patches(self) -> int:
        """Number of smooth windows N."""
        return int(self.patches.shape[0])

    @property
    def n_candidates(self) -> int:
        """Number of scanned windows M."""
        return int(self.statistic.shape[0])

    def smooth_sigma(self) -> np.ndarray:
        """Sigma of the kept windows (the histogram of the paper's Figure 2), in image units."""
        return self.sigma[self.smooth]


# --------------------------------------------------------------------------------------------------
# Input checks and the window grid
# --------------------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_nonnegative(name: str, value: Any) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_images(images: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """Return the images as arrays after checking that each is 2-D with both sides >= ``size``."""
    if isinstance(images, np.ndarray) and images.ndim == 2:
        raise ValueError(
            "images must be a sequence of 2-D arrays or an (N, H, W) array, got a single 2-D array "
            f"of shape {images.shape}; wrap it in a list"
        )
    arrays = [np.asarray(image) for image in images]
    if not arrays:
        raise ValueError("images is empty")
    for index, image in enumerate(arrays):
        if image.ndim != 2:
            raise ValueError(f"image {index} must be a 2-D (H, W) array, got shape {image.shape}")
        if min(image.shape) < size:
            raise ValueError(
                f"image {index} of shape {image.shape} is smaller than the window size {size} "
                "(both sides must be at least size)"
            )
    return arrays


def _as_float(image: np.ndarray, index: int) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if not np.all(np.isfinite(image)):
        raise ValueError(f"image {index} contains NaN or infinite values")
    return image


def _scan_offsets(length: int, size: int, stride: int) -> np.ndarray:
    """Window offsets along one axis: ``0, stride, 2 * stride, ...`` with ``offset + size < length``.

    The strict ``<`` reproduces the GAN2GAN authors' scan loop, which drops the last window when
    ``length - size`` is a multiple of ``stride`` (so an image of exactly ``size`` pixels gives none).
    """
    return np.arange(0, length - size, stride, dtype=np.int64)


def _row_chunks(n_rows: int, row_elements: int) -> Iterator[slice]:
    """Slices over ``n_rows`` rows of ``row_elements`` elements each, about ``_CHUNK_ELEMENTS`` at a time."""
    step = max(1, _CHUNK_ELEMENTS // max(1, row_elements))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def _moments(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance over the last two axes (two-pass, float64)."""
    mean = windows.mean(axis=(-2, -1))
    dev = windows - mean[..., None, None]
    np.square(dev, out=dev)
    return mean, dev.mean(axis=(-2, -1))


def _grid_moments(
    image: np.ndarray, size: int, step: int, n_y: int, n_x: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the ``size`` x ``size`` windows at offsets ``(i * step, j * step)``."""
    view = sliding_window_view(image, (size, size))[::step, ::step][:n_y, :n_x]
    mean = np.empty(view.shape[:2])
    var = np.empty(view.shape[:2])
    for rows in _row_chunks(view.shape[0], view.shape[1] * size * size):
        mean[rows], var[rows] = _moments(view[rows])
    return mean, var


def _gather_patches(
    arrays: list[np.ndarray], positions: np.ndarray, smooth: np.ndarray, size: int
) -> np.ndarray:
    """Copy the smooth windows out of the images and subtract each one's own mean (float32)."""
    kept = positions[smooth]
    patches = np.empty((kept.shape[0], size, size), dtype=np.float32)
    if kept.shape[0] == 0:
        return patches
    # kept is sorted by image: one run of rows per image
    starts = [*np.flatnonzero(np.diff(kept[:, 0], prepend=-1)).tolist(), kept.shape[0]]
    for begin, end in itertools.pairwise(starts):
        image = np.asarray(arrays[int(kept[begin, 0])], dtype=np.float32)
        view = sliding_window_view(image, (size, size))
        for rows in _row_chunks(end - begin, size * size):
            sel = kept[begin + rows.start : begin + rows.stop]
            windows = view[sel[:, 1], sel[:, 2]]
            mean = windows.mean(axis=(1, 2), dtype=np.float64, keepdims=True).astype(np.float32)
            np.subtract(windows, mean, out=patches[begin + rows.start : begin + rows.stop])
    return patches


# --------------------------------------------------------------------------------------------------
# Rule (4): Haar sub-band standard deviations
# --------------------------------------------------------------------------------------------------


def _haar_dwt2(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One-level 2-D Haar transform of the last two (even) axes: ``(LL, LH, HL, HH)``.

    Same coefficients and signs as ``pywt.dwt2(w, "haar")`` -> ``cA, (cH, cV, cD)`` for even sizes.
    """
    w = np.asarray(windows, dtype=np.float64)
    a, b = w[..., 0::2, 0::2], w[..., 0::2, 1::2]
    c, d = w[..., 1::2, 0::2], w[..., 1::2, 1::2]
    top, bottom = a + b, c + d
    left, right = a - b, c - d
    return (top + bottom) / 2, (top - bottom) / 2, (left + right) / 2, (left - right) / 2


def _band_moments(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and population variances ``(..., 4)`` of the four Haar bands (LL, LH, HL, HH)."""
    moments = [_moments(band) for band in _haar_dwt2(windows)]
    return np.stack([m for m, _ in moments], axis=-1), np.stack([v for _, v in moments], axis=-1)


def _wavelet_statistic(band_std: np.ndarray) -> np.ndarray:
    """Eq. (4) statistic ``mean_k |sigma_k - mean(sigma)| / mean(sigma)`` from ``(..., 4)`` band stds."""
    mean_std = band_std.mean(axis=-1)
    diff = np.abs(band_std - mean_std[..., None]).mean(axis=-1)
    flat = mean_std <= _TINY_STD
    return np.where(flat, 0.0, diff / np.where(flat, 1.0, mean_std))


def compute_wavelet_statistic(windows: np.ndarray) -> np.ndarray:
    """Rule (4) smoothness statistic of each window, Eq. (4) of the GAN2GAN paper.

    One-level 2-D Haar transform of the window (``pywt.dwt2(w, "haar")``) into its four sub-bands,
    **including** the approximation LL; ``sigma_k`` is the population std of band k,
    ``mean = (1/4) sum_k sigma_k`` and ``diff = (1/4) sum_k |sigma_k - mean|``. The statistic is
    ``diff / mean``; the authors keep a window iff ``diff <= lambda * mean``, i.e. statistic <= lambda.
    White noise on a flat area gives about 0.01 (it depends on the window size). A window whose band
    stds are all (numerically) zero, i.e. a noise-free constant window, gets 0. The rule only sees
    std differences between bands: a pattern whose Haar coefficients are constant, such as vertical
    stripes of period 2 aligned with the pixel pairs, shifts a band's mean but not its std and passes.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(M, s, s)`` (any leading shape, any even sides) array of windows.

    Returns
    -------
    numpy.ndarray
        ``(M,)`` float64 statistics (shape ``windows.shape[:-2]``).

    Raises
    ------
    ValueError
        Fewer than two dimensions, or an odd window side (``pywt`` would pad it symmetrically).
    """
    windows = np.asarray(windows)
    if windows.ndim < 2:
        raise ValueError(f"windows must have shape (M, s, s), got {windows.shape}")
    if windows.shape[-1] % 2 or windows.shape[-2] % 2 or 0 in windows.shape[-2:]:
        raise ValueError(f"window sides must be even and positive, got {windows.shape[-2:]}")
    _, var = _band_moments(windows)
    return _wavelet_statistic(np.sqrt(var))


def _phase_plan(n: int, stride: int) -> list[tuple[int, slice, int, int, int]]:
    """Split ``n`` scan offsets ``k * stride`` by parity: ``(parity, grid slice, start, step, count)``.

    A window at an offset of parity p has its Haar bands inside the band map of the image shifted by
    p, at band offset ``(offset - p) // 2``; for each parity those band offsets are ``start + i * step``.
    """
    if stride % 2 == 0:
        return [(0, slice(0, n), 0, stride // 2, n)]
    return [
        (0, slice(0, n, 2), 0, stride, (n + 1) // 2),
        (1, slice(1, n, 2), (stride - 1) // 2, stride, n // 2),
    ]


def _scan_wavelet(image: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, ...]:
    """Statistic, sigma, top and left of every window of one image (rule (4)).

    The Haar bands of a window are a crop of the bands of the whole image (shifted by the parity of
    the window's corner), so each image is transformed once and only the band moments are per window.
    """
    ys = _scan_offsets(image.shape[0], size, stride)
    xs = _scan_offsets(image.shape[1], size, stride)
    half = size // 2
    statistic = np.empty((ys.size, xs.size))
    sigma = np.empty((ys.size, xs.size))
    for py, rows_out, y0, y_step, ny in _phase_plan(ys.size, stride):
        for px, cols_out, x0, x_step, nx in _phase_plan(xs.size, stride):
            if ny == 0 or nx == 0:
                continue
            shifted = image[py:, px:]
            shifted = shifted[: shifted.shape[0] // 2 * 2, : shifted.shape[1] // 2 * 2]
            views = [
                sliding_window_view(band, (half, half))[y0::y_step, x0::x_step][:ny, :nx]
                for band in _haar_dwt2(shifted)
            ]
            mean = np.empty((ny, nx, 4))
            var = np.empty((ny, nx, 4))
            for rows in _row_chunks(ny, nx * half * half):
                for k, view in enumerate(views):
                    mean[rows, :, k], var[rows, :, k] = _moments(view[rows])
            statistic[rows_out, cols_out] = _wavelet_statistic(np.sqrt(var))
            # Haar is orthonormal and mean(LL) = 2 mean(window), hence
            # var(window) = (sum_k var_k + mean_LH^2 + mean_HL^2 + mean_HH^2) / 4.
            window_var = (var.sum(axis=-1) + np.square(mean[..., 1:]).sum(axis=-1)) / 4
            sigma[rows_out, cols_out] = np.sqrt(window_var)
    top, left = np.meshgrid(ys, xs, indexing="ij")
    return statistic.ravel(), sigma.ravel(), top.ravel(), left.ravel()


def _collect(
    arrays: list[np.ndarray], scan: Callable[..., tuple[np.ndarray, ...]], *args: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``scan(image, *args)`` over the images; concatenate statistic, sigma and positions."""
    stats, sigmas, positions = [], [], []
    for index, image in enumerate(arrays):
        statistic, sigma, top, left = scan(_as_float(image, index), *args)
        stats.append(statistic)
        sigmas.append(sigma)
        positions.append(np.stack([np.full_like(top, index), top, left], axis=1))
    return (
        np.concatenate(stats).astype(np.float64),
        np.concatenate(sigmas).astype(np.float64),
        np.concatenate(positions).astype(np.int64).reshape(-1, 3),
    )


def extract_wavelet_patches(
    images: Sequence[np.ndarray],
    *,
    size: int = 96,
    stride: int = 24,
    lam: float | None = 0.42,
    count: int | None = None,
    max_lambda: float | None = None,
) -> ExtractionResult:
    """Extract smooth noise patches with GAN2GAN's wavelet rule, Eq. (4) (rule (4)).

    Every ``size`` x ``size`` window at top-left ``(y, x)``, ``y`` and ``x`` multiples of ``stride``, is
    a candidate iff ``y + size < H`` and ``x + size < W``: the strict ``<`` follows the authors' code
    (an off-by-one: the window touching the bottom/right border is skipped when ``H - size`` is a
    multiple of ``stride``). Its statistic is :func:`compute_wavelet_statistic`; it is smooth iff
    ``statistic <= lambda``, and the noise patch is the window minus its own mean.

    Exactly one of ``lam`` and ``count`` selects lambda:

    - **fixed**: ``lam=0.42`` (default) keeps every window with statistic <= ``lam``;
    - **count**: ``lam=None, count=K`` takes lambda = the K-th smallest statistic over all candidates,
      the smallest lambda keeping at least K windows (ties may keep more; with fewer than K candidates
      all are kept). With ``max_lambda``, lambda = min(that, ``max_lambda``): when the cap bites fewer
      than K windows are kept and ``result.capped`` is True (no exception).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        2-D float images in [0, 1] (or an ``(N, H, W)`` array), each side at least ``size``.
    size : int
        Window side; even (the Haar transform pairs pixels).
    stride : int
        Scan step.
    lam : float or None
        Fixed lambda (>= 0), or None for count mode.
    count : int or None
        Count mode: number of windows to keep (>= 1).
    max_lambda : float or None
        Count mode only: upper bound on lambda.

    Returns
    -------
    ExtractionResult
        ``rule="wavelet"``, ``threshold`` = the lambda used (NaN in count mode without candidates).

    Raises
    ------
    ValueError
        Bad image (not 2-D, smaller than ``size``, non-finite; the message names its index), odd
        ``size``, both or neither of ``lam``/``count``, ``max_lambda`` without ``count``.
    """
    size = _check_int("size", size, minimum=2)
    stride = _check_int("stride", stride, minimum=1)
    if size % 2:
        raise ValueError(f"size must be even for the Haar transform, got {size}")
    if (lam is None) == (count is None):
        raise ValueError(
            "give exactly one of lam (fixed lambda) and count (lambda from the number of windows); "
            f"got lam={lam!r}, count={count!r}; for count mode pass lam=None, e.g. lam=None, count=20000"
        )
    if lam is not None:
        lam = _check_nonnegative("lam", lam)
        if max_lambda is not None:
            raise ValueError("max_lambda only applies in count mode (lam=None, count=K)")
    else:
        count = _check_int("count", count, minimum=1)
        if max_lambda is not None:
            max_lambda = _check_nonnegative("max_lambda", max_lambda)
    arrays = _check_images(images, size)
    statistic, sigma, positions = _collect(arrays, _scan_wavelet, size, stride)
    capped = False
    if lam is not None:
        threshold = lam
    elif statistic.size == 0:
        threshold = math.nan
    else:
        k = min(count, statistic.size) - 1
        threshold = float(np.partition(statistic, k)[k])
        if max_lambda is not None and threshold > max_lambda:
            threshold, capped = max_lambda, True
    smooth = statistic <= threshold
    return ExtractionResult(
        rule="wavelet",
        patches=_gather_patches(arrays, positions, smooth, size),
        statistic=statistic,
        sigma=sigma,
        positions=positions,
        smooth=smooth,
        threshold=float(threshold),
        size=size,
        stride=stride,
        count=count,
        capped=capped,
    )


# --------------------------------------------------------------------------------------------------
# Rule (3): GCBD local mean / variance
# --------------------------------------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` for ``den > 0``; else 0 where ``num == den == 0`` (the rule holds) and inf."""
    positive = den > 0
    out = np.where(positive, num / np.where(positive, den, 1.0), np.inf)
    return np.where(~positive & (num == 0) & (den == 0), 0.0, out)


def _scan_gcbd(
    image: np.ndarray, size: int, stride: int, sub_size: int, sub_stride: int, mu: float, gamma: float
) -> tuple[np.ndarray, ...]:
    """Statistic, sigma, top and left of every window of one image (rule (3))."""
    ys = _scan_offsets(image.shape[0], size, stride)
    xs = _scan_offsets(image.shape[1], size, stride)
    top, left = np.meshgrid(ys, xs, indexing="ij")
    if ys.size == 0 or xs.size == 0:
        empty = np.empty(0)
        return empty, empty, top.ravel(), left.ravel()
    mean, var = _grid_moments(image, size, stride, ys.size, xs.size)
    offsets = np.arange(0, size - sub_size + 1, sub_stride, dtype=np.int64)
    # Every sub-patch corner is a multiple of gcd(stride, sub_stride): one grid of local moments.
    step = math.gcd(stride, sub_stride)
    sub_y = (ys[:, None] + offsets) // step  # (ny, n_sub)
    sub_x = (xs[:, None] + offsets) // step  # (nx, n_sub)
    sub_mean, sub_var = _grid_moments(image, sub_size, step, int(sub_y.max()) + 1, int(sub_x.max()) + 1)
    statistic = np.empty((ys.size, xs.size))
    for rows in _row_chunks(ys.size, xs.size * offsets.size**2):
        iy = sub_y[rows][:, None, :, None]
        ix = sub_x[None, :, None, :]
        m = mean[rows][..., None, None]
        v = var[rows][..., None, None]
        mean_ratio = _ratio(np.abs(sub_mean[iy, ix] - m), mu * m)
        var_ratio = _ratio(np.abs(sub_var[iy, ix] - v), gamma * v)
        statistic[rows] = np.maximum(mean_ratio, var_ratio).max(axis=(-2, -1))
    return statistic.ravel(), np.sqrt(var).ravel(), top.ravel(), left.ravel()


def extract_gcbd_patches(
    images: Sequence[np.ndarray],
    *,
    size: int = 64,
    stride: int = 32,
    sub_size: int = 16,
    sub_stride: int = 16,
    mu: float = 0.1,
    gamma: float = 0.25,
) -> ExtractionResult:
    """Extract smooth noise patches with the GCBD rule, Eq. (3) of GAN2GAN (rule (3)).

    A global patch p (``size`` = GCBD's d, ``stride`` = s_g) is smooth iff every local sub-patch q_j
    inside it (``sub_size`` = h, ``sub_stride`` = s_l; offsets ``0, s_l, ...`` with
    ``offset + h <= d``) satisfies ``|Mean(q_j) - Mean(p)| <= mu * Mean(p)`` and
    ``|Var(q_j) - Var(p)| <= gamma * Var(p)`` (population variance); the noise block is
    ``p - Mean(p)``. The statistic is ``max_j max(|dMean_j| / (mu Mean(p)), |dVar_j| / (gamma Var(p)))``
    so that smooth iff statistic <= 1 (``threshold`` = 1.0); a zero or negative bound gives inf unless
    the difference is 0 as well (then 0, the rule holds).

    Candidate windows are scanned exactly as in :func:`extract_wavelet_patches` (strict
    ``y + size < H``, the GAN2GAN code's loop) so both rules see the same windows; GCBD's own scan
    would also keep the window touching the border when ``H - size`` is a multiple of ``stride``.

    Defaults are GCBD's published setting as we recall it: d = 64, s_g = 32, h = 16, s_l = 16,
    mu = 0.1, gamma = 0.25. **Not verified against the GCBD paper's text** (it could not be retrieved);
    only corroborated by third-party code: GCBD re-implementations use mu = 0.1, gamma = 0.25, and a
    script extracting noise patches from real photos uses d = 64, h = 16, s_g = 32, s_l = 16 (with
    mu = 0.05, gamma = 0.1). GAN2GAN's ablation applies the rule at its own window size (e.g.
    ``size=96, stride=24``).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        2-D float images in [0, 1] (or an ``(N, H, W)`` array), each side at least ``size``.
    size, stride : int
        Global patch side d and scan step s_g.
    sub_size, sub_stride : int
        Local sub-patch side h (<= ``size``) and step s_l.
    mu, gamma : float
        Relative tolerances (>= 0) on the local means and variances.

    Returns
    -------
    ExtractionResult
        ``rule="gcbd"``, ``threshold=1.0``.

    Raises
    ------
    ValueError
        Bad image (the message names its index) or bad option.
    """
    size = _check_int("size", size, minimum=1)
    stride = _check_int("stride", stride, minimum=1)
    sub_size = _check_int("sub_size", sub_size, minimum=1)
    sub_stride = _check_int("sub_stride", sub_stride, minimum=1)
    if sub_size > size:
        raise ValueError(f"sub_size ({sub_size}) must be <= size ({size})")
    mu = _check_nonnegative("mu", mu)
    gamma = _check_nonnegative("gamma", gamma)
    arrays = _check_images(images, size)
    statistic, sigma, positions = _collect(arrays, _scan_gcbd, size, stride, sub_size, sub_stride, mu, gamma)
    smooth = statistic <= 1.0
    return ExtractionResult(
        rule="gcbd",
        patches=_gather_patches(arrays, positions, smooth, size),
        statistic=statistic,
        sigma=sigma,
        positions=positions,
        smooth=smooth,
        threshold=1.0,
        size=size,
        stride=stride,
    )


def extract_noise_patches(
    images: Sequence[np.ndarray], *, rule: Literal["wavelet", "gcbd"], **options: Any
) -> ExtractionResult:
    """Dispatch to :func:`extract_wavelet_patches` (rule (4)) or :func:`extract_gcbd_patches` (rule (3)).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        2-D float images in [0, 1].
    rule : {"wavelet", "gcbd"}
        Smoothness rule: Eq. (4) or Eq. (3) of the GAN2GAN paper.
    **options
        Keyword options of the chosen function.

    Returns
    -------
    ExtractionResult

    Raises
    ------
    ValueError
        Unknown rule, or what the chosen function raises (unknown options raise TypeError).
    """
    if rule == "wavelet":
        return extract_wavelet_patches(images, **options)
    if rule == "gcbd":
        return extract_gcbd_patches(images, **options)
    raise ValueError(f"unknown rule {rule!r}; valid: 'wavelet', 'gcbd'")
