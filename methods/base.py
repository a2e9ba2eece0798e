"""The one interface every denoiser implements, and what a method may be handed to learn from.

A method declares its :class:`Requirements` (the columns of the paper's Table 1). The runner builds
its :class:`TrainingData` with :func:`build_training_data`, which copies in only what those
requirements allow: a blind method is never handed a clean image or the noise model, so "blind" is
enforced by construction rather than by convention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

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
    upstream : mapping
        Fitted methods this one builds on, by the role it declared in its ``upstream`` class attribute
        (N2C(Eq.4): ``{"generator": <fitted GAN2GAN>}``); fitted on the same cell's data.
    """

    noisy: tuple[np.ndarray, ...] = ()
    clean: tuple[np.ndarray, ...] | None = None
    noise_model: NoiseModel | None = None
    upstream: Mapping[str, Denoiser] = field(default_factory=dict)


def build_training_data(
    requires: Requirements,
    *,
    clean: Sequence[np.ndarray],
    noise_model: NoiseModel | None,
    rng: np.random.Generator,
    upstream: Mapping[str, Denoiser] | None = None,
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

    Returns
    -------
    TrainingData
        ``noisy`` only if ``requires.noisy_images``; ``clean`` only if ``requires.clean``;
        ``noise_model`` only if ``requires.noise_model``.
    """
    if requires.pairs:
        raise NotImplementedError("noisy-pair training data is not built yet (no registered method needs it)")
    if noise_model is None and (requires.noisy_images or requires.noise_model):
        raise ValueError("this method learns from noisy images or the noise model, but no noise was given")
    noisy: tuple[np.ndarray, ...] = ()
    if requires.noisy_images:
        noisy = tuple(_freeze(img + noise_model.sample(img.shape, rng=rng)) for img in clean)
    return TrainingData(
        noisy=noisy,
        clean=tuple(_freeze(img) for img in clean) if requires.clean else None,
        noise_model=noise_model if requires.noise_model else None,
        upstream=dict(upstream or {}),
    )


def _freeze(image: np.ndarray) -> np.ndarray:
    out = np.array(image, dtype=np.float32)
    out.setflags(write=False)
    return out


@runtime_checkable
class Denoiser(Protocol):
    """A denoiser: fitted once on :class:`TrainingData`, then applied to single noisy images."""

    name: str
    requires: Requirements

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Learn from ``data``; ``checkpoint`` is a file to resume an interrupted fit from."""

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW float32 image; the output has the input's scale."""

    def stages(self) -> Mapping[str, Denoiser]:
        """Intermediate denoisers worth evaluating (GAN2GAN: g_theta2, G2G_1, ...); the method itself last."""

    def save(self, path: Path) -> None:
        """Write everything :meth:`load` needs to ``path``."""

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> Denoiser:
        """Rebuild a fitted denoiser from a file written by :meth:`save`."""
