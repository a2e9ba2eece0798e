"""Shared fixtures: where the BSD data lives, and a tiny folder dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from skimage import io

REPO = Path(__file__).resolve().parent.parent


def find_shared_data() -> Path | None:
    """$GAN2GAN_DATA, else ../shared/data beside the checkout (as in CI)."""
    for candidate in (os.environ.get("GAN2GAN_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "BSD68").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def shared_data() -> Path:
    root = find_shared_data()
    if root is None:
        pytest.skip("BSD data not found: set GAN2GAN_DATA or put shared/data beside the checkout")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three 8-bit gray PNGs of 128x128 (the smoke profile's test crop) with some structure."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128]
    for i in range(3):
        image = 0.5 + 0.3 * np.sin(xx / (3 + i)) * np.cos(yy / 5) + 0.05 * rng.standard_normal((128, 128))
        io.imsave(folder / f"img{i}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8), check_contrast=False)
    return folder
