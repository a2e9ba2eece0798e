"""The one interface every denoiser implements, and what a method may be handed to learn from.

A method declares its :class:`Requirements` (the columns of the paper's Table 1). The runner builds
its :class:`TrainingData` with :func:`build_training_data`, which copies in only what those
requirements allow: a blind method is never handed a clean image or the noise model, so "blind" is
enforced by construction rather than by convention.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, runtime_checkable

import joblib
import numpy as np
import torch

from methods.batches import ImageBank, draw_noise_pair
from methods.workers import delay_in_worker
from noise import NoiseModel


@dataclass(frozen=True)
class Requirements:
    """What a method needs besides single noisy images (the paper's Table 1).

    Parameters
    ----------
    clean : bool
        Needs clean target images.
    pairs : bool
        Needs independent noisy pairs of one clean image.
    noise_model : bool
        Needs the noise distribution (or its sigma / PSD).
    noisy_images : bool
        Learns from the cell's noisy training images. False for methods whose training never sees
        the test noise (DnCNN-B, BM3D): their fit is then shared by every noise of a table.
    """

    clean: bool = False
    pairs: bool = False
    noise_model: bool = False
    noisy_images: bool = True

    @property
    def blind(self) -> bool:
        """True when the method needs neither the noise model nor clean images nor pairs."""
        return not (self.clean or self.pairs or self.noise_model)


class NoisyPairs:
    """Independent noisy copies of the same clean patches (what Noise2Noise learns from).

    Built by :func:`build_training_data`; the clean images stay inside the sampling closure, so a method
    handed pairs receives noisy patches and nothing else.
    """

    def __init__(self, draw: Callable[..., tuple[torch.Tensor, torch.Tensor]], *, noise: str) -> None:
        self._draw = draw
        self.noise = noise

    def sample(self, *, count: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Two (count, size, size) float32 tensors on ``device``: the same random clean crops, each with
        fresh noise, drawn from torch's RNG of ``device`` (:mod:`methods.batches`).

        Crops get a random dihedral transform; the noise of the two copies is independent.
        """
        return self._draw(count=count, size=size, device=device)


@dataclass(frozen=True)
class TrainingData:
    """What a method is allowed to learn from; fields it did not ask for are empty.

    Parameters
    ----------
    noisy : tuple of ndarray
        One fixed noisy realisation of the training images ("noisy images are fixed once given").
    clean : tuple of ndarray or None
        The clean training images, only for methods that require them.
    noise_model : NoiseModel or None
        The true noise model of the cell, only for methods that require it.
    pairs : NoisyPairs or None
        A sampler of independent noisy pairs, only for methods that require pairs.
    upstream : mapping
        Fitted methods this one builds on, by the role it declared in its ``upstream`` class attribute
        (N2C(Eq.4): ``{"generator": <fitted GAN2GAN>}``); fitted on the same cell's data.
    """

    noisy: tuple[np.ndarray, ...] = ()
    clean: tuple[np.ndarray, ...] | None = None
    noise_model: NoiseModel | None = None
    pairs: NoisyPairs | None = None
    upstream: Mapping[str, Denoiser] = field(default_factory=dict)


def build_training_data(
    requires: Requirements,
    *,
    clean: Sequence[np.ndarray],
    noise_model: NoiseModel | None,
    rng: np.random.Generator,
    upstream: Mapping[str, Denoiser] | None = None,
    pair_noise: NoiseModel | None = None,
) -> TrainingData:
    """Build the training data a method may see, and nothing more.

    Parameters
    ----------
    requires : Requirements
        The method's declared requirements.
    clean : sequence of ndarray
        Clean training images, float32 HxW in [0, 1].
    noise_model : NoiseModel or None
        The cell's noise; None only for methods that neither see noisy images nor need the model.
    rng : numpy.random.Generator
        Draws the one fixed noisy realisation of the training images.
    upstream : mapping or None
        Fitted methods the method declared it builds on (see :class:`TrainingData`).
    pair_noise : NoiseModel or None
        Noise of the noisy pairs; None = the cell's ``noise_model``.

    Returns
    -------
    TrainingData
        ``noisy`` only if ``requires.noisy_images``; ``clean`` only if ``requires.clean``;
        ``noise_model`` only if ``requires.noise_model``.
    """
    if noise_model is None and (requires.noisy_images or requires.noise_model):
        raise ValueError("this method learns from noisy images or the noise model, but no noise was given")
    pairs = None
    if requires.pairs:
        pair_model = pair_noise or noise_model
        if pair_model is None:
            raise ValueError("this method learns from noisy pairs, but no pair noise was given")
        pairs = _make_pairs(tuple(_freeze(img) for img in clean), pair_model)
    noisy: tuple[np.ndarray, ...] = ()
    if requires.noisy_images:
        noisy = tuple(_freeze(img + noise_model.sample(img.shape, rng=rng)) for img in clean)
    return TrainingData(
        noisy=noisy,
        clean=tuple(_freeze(img) for img in clean) if requires.clean else None,
        noise_model=noise_model if requires.noise_model else None,
        pairs=pairs,
        upstream=dict(upstream or {}),
    )


def _make_pairs(clean: tuple[np.ndarray, ...], noise: NoiseModel) -> NoisyPairs:
    banks: dict[torch.device, ImageBank] = {}

    def draw(*, count: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in banks:
            banks[device] = ImageBank(clean, device=device)
        patches = banks[device].sample(size=size, count=count)
        first, second = draw_noise_pair(noise, patches.shape, device=device)
        return first.add_(patches), second.add_(patches)

    return NoisyPairs(draw, noise=str(noise))


def _freeze(image: np.ndarray) -> np.ndarray:
    out = np.array(image, dtype=np.float32)
    out.setflags(write=False)
    return out


@runtime_checkable
class Denoiser(Protocol):
    """A denoiser: fitted once on :class:`TrainingData`, then applied to single noisy images.

    Besides the four calls, a denoiser declares what it offers (:class:`Method` gives every member a
    default, and every method and stage inherits it): ``batched`` (``denoise`` takes (N, H, W) stacks),
    ``min_image_size`` (the smallest training image side it can learn from), ``pair_noise`` (the noise
    of its noisy pairs when it is not the cell's), ``upstream`` (the methods it builds on), ``report``
    (what its fit reported), ``trains_network`` (whether ``fit`` trains a network, the work a GPU is for),
    ``trains_on_test_image`` (whether ``denoise`` trains one on its image) and ``unavailable_reason()``
    (why it cannot run here).
    """

    name: str
    requires: Requirements
    upstream: Mapping[str, tuple[str, Mapping[str, Any]]]
    batched: bool
    pair_noise: NoiseModel | None
    report: Mapping[str, Any]
    trains_network: bool
    trains_on_test_image: bool

    @property
    def min_image_size(self) -> int | None:
        """The smallest training image side the method learns from; None: any."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the method cannot run here, in one line, or None."""

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Learn from ``data``; ``checkpoint`` is a file to resume an interrupted fit from."""

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW float32 image (a denoiser with ``batched = True`` also takes an (N, H, W)
        stack of equal-size images); the output has the input's shape and scale."""

    def stages(self) -> Mapping[str, Denoiser]:
        """Intermediate denoisers worth evaluating (GAN2GAN: g_theta2, G2G_1, ...); the method itself last."""

    def save(self, path: Path) -> None:
        """Write everything :meth:`load` needs to ``path``."""

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> Denoiser:
        """Rebuild a fitted denoiser from a file written by :meth:`save`."""


class Method:
    """The defaults of the optional members of :class:`Denoiser`; every method and stage inherits them."""

    #: Fitted methods it builds on, by role: (registry key, hyper-parameter overrides). N2C(Eq.4):
    #: ``{"generator": ("gan2gan", {})}``.
    upstream: ClassVar[Mapping[str, tuple[str, Mapping[str, Any]]]] = MappingProxyType({})
    #: Whether ``denoise`` takes (N, H, W) stacks of equal-size images in one call.
    batched: ClassVar[bool] = False
    #: The noise of its noisy pairs when it is not the cell's (N2N: blind Gaussian); None: the cell's.
    pair_noise: ClassVar[NoiseModel | None] = None
    #: What the fit reported (GAN2GAN: extraction, diagnostics, stage times); empty before a fit.
    report: Mapping[str, Any] = MappingProxyType({})
    #: Whether ``fit`` trains a network, the work a GPU is for (BM3D: False, its fit learns nothing).
    trains_network: ClassVar[bool] = True
    #: Whether ``denoise`` trains a network on the image it is given (ZS-N2N), so its cost is at test time.
    trains_on_test_image: ClassVar[bool] = False

    @property
    def min_image_size(self) -> int | None:
        """The smallest training image side the method learns from; None: any."""
        return None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the method cannot run here, in one line, or None (it can)."""
        return None


#: Pixels per forward pass when :func:`denoise_images` stacks equal-size images: 6 BSD68 images, about
#: 400 MB of DnCNN activations. Stacking is what a GPU needs; on CPU it is as fast as one at a time.
BATCH_PIXELS = 1 << 20


def plan_batches(shapes: Sequence[tuple[int, ...]], *, batch_pixels: int = BATCH_PIXELS) -> list[list[int]]:
    """Group images (given by their shapes) into stacks of equal size of at most ``batch_pixels`` pixels
    (one image at least): lists of indices, each in input order, the stacks in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(index)
    stacks = []
    for shape, indices in groups.items():
        most = max(1, batch_pixels // int(np.prod(shape)))
        stacks += [indices[i : i + most] for i in range(0, len(indices), most)]
    return stacks


def denoise_images(
    denoiser: Denoiser, images: Sequence[np.ndarray], *, jobs: int = 1, batch_pixels: int = BATCH_PIXELS
) -> list[np.ndarray]:
    """Denoise many images: stacked by size for a denoiser that takes stacks, else over ``jobs`` processes.

    A ``batched`` denoiser (the torch methods) gets the stacks of :func:`plan_batches` in one call each.
    Any other (BM3D) denoises one image per call, spread over ``jobs`` joblib processes when
    ``jobs > 1``; each call is independent, so the outputs do not depend on ``jobs``.

    Parameters
    ----------
    denoiser : Denoiser
        A fitted denoiser.
    images : sequence of ndarray
        HxW float32 noisy images.
    jobs : int
        Processes for a denoiser that is not batched (1: this process).
    batch_pixels : int
        Largest stack of a batched denoiser, in pixels.

    Returns
    -------
    list of ndarray
        The denoised images, in the input order.
    """
    if denoiser.batched:
        stacks = plan_batches([image.shape for image in images], batch_pixels=batch_pixels)
    else:
        stacks = [[index] for index in range(len(images))]
    out: list[np.ndarray] = [np.empty(0)] * len(images)
    groups = [[images[i] for i in stack] for stack in stacks]
    for stack, denoised in zip(stacks, iterate_denoised(denoiser, groups, jobs=jobs), strict=True):
        for index, image in zip(stack, denoised, strict=True):
            out[index] = image
    return out


def iterate_denoised(
    denoiser: Denoiser, groups: Sequence[Sequence[np.ndarray]], *, jobs: int = 1
) -> Generator[list[np.ndarray], None, None]:
    """Denoise groups of images in order, yielding each group's outputs as soon as they are done.

    A ``batched`` denoiser gets each group (images of one size) as one stack. Any other denoises one
    image per call; with ``jobs > 1`` the calls of all groups go to one joblib pool, which stays busy
    across group boundaries. Past the first calls, the pool's own thread hands over the next call as a
    result comes in, so the caller never leaves a call handed over but not yet queued while it records
    a group; a Ctrl-C there used to race joblib's kill of the pool (loky's manager thread then failed
    with ``KeyError`` on that call).

    Parameters
    ----------
    denoiser : Denoiser
        A fitted denoiser.
    groups : sequence of sequences of ndarray
        HxW float32 noisy images, in the groups the caller wants back together.
    jobs : int
        Processes for a denoiser that is not batched (1: this process).

    Yields
    ------
    list of ndarray
        The denoised images of one group, in the group's order.
    """
    if denoiser.batched:
        for group in groups:
            yield [denoiser.denoise(group[0])] if len(group) == 1 else list(denoiser.denoise(np.stack(group)))
        return
    images = [image for group in groups for image in group]
    if jobs > 1 and len(images) > 1:
        parallel = joblib.Parallel(n_jobs=min(jobs, len(images)), return_as="generator")
        delayed = delay_in_worker(denoiser.denoise)
        outputs = parallel(delayed(image) for image in images)
    else:
        outputs = (denoiser.denoise(image) for image in images)
    try:
        for group in groups:
            yield [next(outputs) for _ in group]
    finally:
        with warnings.catch_warnings():
            # Closed early on purpose (Ctrl-C, an error): joblib cancels the calls left and need not warn.
            warnings.filterwarnings("ignore", message=".* You could benefit from adjusting the input task")
            outputs.close()
