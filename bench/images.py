"""Image files of users' own data: read with their bit depth, write back in the same format and depth.

Reading converts to the suite's float32 gray in [0, 1] (8-bit /255, 16-bit /65535, color to gray and
alpha dropped, each with a note) through :mod:`bench.data`, so a folder reads the same here as with
``--test-data folder:PATH``. Writing rounds back to the input's integer depth, clipped to its range, in the
input's format (JPEG at quality 95: a lossy format cannot keep every denoised value).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import IMAGE_EXTENSIONS, DataError, read_raw_image, to_gray_float

#: Quality of written JPEG files (imageio's default, 75, visibly blurs fine noise-free detail).
JPEG_QUALITY = 95
#: Bit depth name -> integer dtype of the written file.
DTYPES: dict[str, type[np.integer]] = {"8-bit": np.uint8, "16-bit": np.uint16}


@dataclass(frozen=True)
class ImageFile:
    """One image file: its gray float32 pixels in [0, 1], bit depth and what reading it converted."""

    path: Path
    image: np.ndarray
    bit_depth: str
    conversion: str


def list_image_files(source: Path) -> list[Path]:
    """The image files of ``source`` (a file, or a folder's image files sorted by name)."""
    kinds = "PNG, TIFF, BMP or JPEG"
    if not source.exists():
        raise DataError(f"{source} does not exist")
    if source.is_file():
        if source.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{source} is not a {kinds} image")
        return [source]
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    others = [p.name for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    if others:
        raise DataError(
            f"folder {source} holds files that are not {kinds} images: {', '.join(others[:3])}"
            + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        )
    if not files:
        raise DataError(f"folder {source} holds no images ({kinds})")
    return files


def read_image_file(path: Path) -> ImageFile:
    """Read ``path`` as gray float32 in [0, 1], noting its bit depth ('8-bit' or '16-bit')."""
    raw = read_raw_image(path)
    depth = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit"}.get(raw.dtype)
    if depth is None:
        raise DataError(
            f"image {path} has pixel type {raw.dtype}; only 8-bit and 16-bit images are supported"
        )
    image, conversion = to_gray_float(raw, path)
    return ImageFile(path=path, image=image, bit_depth=depth, conversion=conversion)


def write_image_file(path: Path, image: np.ndarray, *, bit_depth: str) -> None:
    """Write a float image in [0, 1] to ``path`` (format from its suffix) at ``bit_depth``, atomically."""
    import imageio.v3 as iio

    dtype = DTYPES[bit_depth]
    peak = np.iinfo(dtype).max
    pixels = np.rint(np.clip(image, 0.0, 1.0) * peak).astype(dtype)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    lossy = {"quality": JPEG_QUALITY} if path.suffix.lower() in {".jpg", ".jpeg"} else {}
    try:
        iio.imwrite(tmp, pixels, **lossy)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
