"""Image files: read as the suite's float32 gray in [0, 1], written back in their format and bit depth.

Reading converts 8-bit (/255), 16-bit (/65535) and float images in [0, 1]; color becomes gray by
``skimage.color.rgb2gray`` and an alpha channel is dropped, each with a note. Writing rounds back to the
input's integer depth, clipped to its range, in the input's format (JPEG at quality 95: a lossy format
cannot keep every denoised value). Every problem is a :class:`DataError` of one line naming the file.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The image formats read everywhere: folder datasets and ``python -m methods`` (issue 21).
IMAGE_EXTENSIONS = frozenset({".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg"})
#: What :func:`to_gray_float` says when it converts color (``skimage.color.rgb2gray``'s luma weights).
GRAY_CONVERSION = "color converted to gray as 0.2125 R + 0.7154 G + 0.0721 B"


class DataError(ValueError):
    """Data that cannot be found, read or verified; the message is one line naming the file or dataset."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a visible file with one of :data:`IMAGE_EXTENSIONS`."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def read_raw_image(path: Path) -> np.ndarray:
    """The pixels of one image file as stored (dtype and channels kept); an unreadable file is a
    :class:`DataError` naming it."""
    from skimage import io

    try:
        with warnings.catch_warnings():
            # imageio probes its legacy plugins on undecodable files; their deprecation notices are noise here
            warnings.filterwarnings("ignore", message=r"The legacy `\w+` plugin", category=DeprecationWarning)
            return np.asarray(io.imread(path))
    except Exception as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def read_gray_image(path: Path) -> tuple[np.ndarray, str]:
    """Read one image file as float32 gray in [0, 1]; also return how it was converted ('' if not)."""
    return to_gray_float(read_raw_image(path), path)


def to_gray_float(raw: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """``raw`` pixels as float32 gray in [0, 1] and a note of what was converted ('' when nothing was).

    Color becomes gray by ``skimage.color.rgb2gray`` (:data:`GRAY_CONVERSION`); an alpha channel is
    dropped and the note says so.
    """
    from skimage.color import rgb2gray

    if raw.dtype == np.uint8:
        img = raw.astype(np.float64) / 255.0
    elif raw.dtype == np.uint16:
        img = raw.astype(np.float64) / 65535.0
    elif raw.dtype == np.bool_:
        img = raw.astype(np.float64)
    elif np.issubdtype(raw.dtype, np.floating):
        img = raw.astype(np.float64)
        if not np.all(np.isfinite(img)) or img.min() < 0.0 or img.max() > 1.0:
            raise DataError(
                f"image {path} has float values outside [0, 1] (min {np.nanmin(img):.4g}, "
                f"max {np.nanmax(img):.4g}); rescale it or save it as 8/16-bit"
            )
    else:
        raise DataError(f"image {path} has unsupported pixel type {raw.dtype} (need 8-bit, 16-bit or float)")

    notes = []
    if img.ndim == 3 and img.shape[-1] in (1, 2):  # gray, or gray + alpha
        notes += ["alpha channel dropped"] if img.shape[-1] == 2 else []
        img = img[..., 0]
    elif img.ndim == 3 and img.shape[-1] in (3, 4):
        notes += [GRAY_CONVERSION] + (["alpha channel dropped"] if img.shape[-1] == 4 else [])
        img = rgb2gray(img[..., :3])
    if img.ndim != 2:
        raise DataError(f"image {path} has unsupported shape {raw.shape} (need HxW gray or HxWx3/4 color)")
    out = np.clip(img, 0.0, 1.0).astype(np.float32)
    out.setflags(write=False)
    return out, ", ".join(notes)


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
