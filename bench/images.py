"""Image files of users' own data: read with their bit depth, write back in the same format and depth.

Reading converts to the suite's float32 gray in [0, 1] (8-bit /255, 16-bit /65535, RGB to gray with a
notice) through :mod:`bench.data`, so a folder reads the same here as with ``--test-data folder:PATH``.
Writing rounds back to the input's integer depth, clipped to its range, in the input's format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import DataError, _to_gray_float, read_raw_image

#: The formats read and written (lossless, 8- and 16-bit).
FORMATS: frozenset[str] = frozenset({".png", ".tif", ".tiff"})
#: Bit depth name -> integer dtype of the written file.
DTYPES: dict[str, type[np.integer]] = {"8-bit": np.uint8, "16-bit": np.uint16}


@dataclass(frozen=True)
class ImageFile:
    """One image file: its gray float32 pixels in [0, 1], bit depth and whether it was color."""

    path: Path
    image: np.ndarray
    bit_depth: str
    converted: bool


def list_image_files(source: Path) -> list[Path]:
    """The image files of ``source`` (a file, or a folder's PNG/TIFF files sorted by name)."""
    if not source.exists():
        raise DataError(f"{source} does not exist")
    if source.is_file():
        if source.suffix.lower() not in FORMATS:
            raise DataError(f"{source} is not a PNG or TIFF image")
        return [source]
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    others = [p.name for p in files if p.suffix.lower() not in FORMATS]
    if others:
        raise DataError(
            f"folder {source} holds files that are not PNG or TIFF images: {', '.join(others[:3])}"
            + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        )
    if not files:
        raise DataError(f"folder {source} holds no images (PNG or TIFF)")
    return files


def read_image_file(path: Path) -> ImageFile:
    """Read ``path`` as gray float32 in [0, 1], noting its bit depth ('8-bit' or '16-bit')."""
    raw = read_raw_image(path)
    depth = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit"}.get(raw.dtype)
    if depth is None:
        raise DataError(
            f"image {path} has pixel type {raw.dtype}; only 8-bit and 16-bit images are supported"
        )
    image, converted = _to_gray_float(raw, path)
    return ImageFile(path=path, image=image, bit_depth=depth, converted=converted)


def write_image_file(path: Path, image: np.ndarray, *, bit_depth: str) -> None:
    """Write a float image in [0, 1] to ``path`` (format from its suffix) at ``bit_depth``, atomically."""
    from skimage import io

    dtype = DTYPES[bit_depth]
    peak = np.iinfo(dtype).max
    pixels = np.rint(np.clip(image, 0.0, 1.0) * peak).astype(dtype)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        io.imsave(tmp, pixels, check_contrast=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
