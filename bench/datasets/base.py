"""The two types every dataset module shares: a dataset's name, parsed once, and the loaded images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Dataset kinds that read real noisy captures (:mod:`bench.datasets.realnoise`).
REAL_NOISE_KINDS = ("fmd", "ct")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset named once: a registered set, a folder of images, or one level and split of a
    real-noise dataset (:func:`bench.datasets.catalog.parse_dataset` builds it from its name).

    Attributes
    ----------
    kind : str
        ``"bsd400"``, ``"bsd68"``, ``"skimage-train"``, ``"skimage-test"``, ``"folder"``, ``"fmd"`` or
        ``"ct"``.
    path : pathlib.Path or None
        The folder (``folder``) or the real-noise root (``fmd``, ``ct``), absolute.
    level, split : str or None
        The real-noise level (e.g. ``"avg1"``) and split (``"train"`` or ``"test"``).
    """

    kind: str
    path: Path | None = None
    level: str | None = None
    split: str | None = None

    @property
    def name(self) -> str:
        """The name that parses back to this spec, e.g. ``"bsd68"`` or ``"folder:/data/mine"``."""
        if self.kind == "folder":
            return f"folder:{self.path}"
        if self.kind in REAL_NOISE_KINDS:
            return f"{self.kind}:{self.path}:{self.level}:{self.split}"
        return self.kind

    @property
    def real_noise(self) -> bool:
        """Whether the images are real noisy captures (a test split adds their clean references)."""
        return self.kind in REAL_NOISE_KINDS

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded set of grayscale images.

    Attributes
    ----------
    name : str
        Dataset name, e.g. ``"bsd68"``, ``"skimage-test"`` or ``"folder:/abs/path"``.
    images : tuple of numpy.ndarray
        Read-only float32 arrays of shape (H, W) with values in [0, 1].
    names : tuple of str
        File names (image names for scikit-image datasets), in the order of ``images``.
    source : str
        Folder the images were read from, or ``"scikit-image <version> (bundled)"``.
    checksums : tuple of str
        SHA256 hex digest of each file's bytes, in the order of ``images``.
    """

    name: str
    images: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    source: str
    checksums: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)
