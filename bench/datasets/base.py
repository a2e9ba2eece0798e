"""The one type every dataset loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


# --------------------------------------------------------------------------------------------- helpers
