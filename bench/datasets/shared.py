"""Datasets decoded once per run: the command's process writes each dataset it decoded to the cache as
one file of pixels, and its worker processes map that file instead of decoding the images again.

Layout, in ``<cache>/datasets``::

    <digest>.npy    the images' float32 pixels, one after another (row-major), as one flat array
    <digest>.json   the dataset's name, source, file names, checksums and image shapes

``<digest>`` hashes the format, the dataset's name, file names and checksums. Both files are written
through a temporary file and a rename, and the writer compares what is there with its own decoded
images before using it, so a stale or damaged pair is rewritten, never read. The mapped pages are
shared by every worker of the machine (the page cache), read-only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from bench.cells.store import make_temp_path
from bench.datasets.base import Dataset
from methods.images import DataError

__all__ = ["map_dataset", "share_dataset"]

#: Version of the layout above; part of the digest.
FORMAT = 1


def share_dataset(dataset: Dataset, folder: Path) -> Path:
    """Write ``dataset`` to ``folder`` for worker processes (once: an identical copy there is kept).

    Parameters
    ----------
    dataset : Dataset
        A decoded dataset (:func:`bench.datasets.catalog.load_dataset`).
    folder : Path
        The shared folder, ``<cache>/datasets``.

    Returns
    -------
    Path
        The ``.npy`` file to give :func:`map_dataset`.
    """
    identity = json.dumps([FORMAT, dataset.name, dataset.names, dataset.checksums])
    path = folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.npy"
    if _holds(path, dataset):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.concatenate([image.ravel() for image in dataset.images]) if dataset.images else np.zeros(0)
    index = {
        "format": FORMAT,
        "name": dataset.name,
        "source": dataset.source,
        "names": list(dataset.names),
        "checksums": list(dataset.checksums),
        "shapes": [list(image.shape) for image in dataset.images],
    }
    temporary = make_temp_path(path)
    with temporary.open("wb") as file:
        np.save(file, pixels.astype(np.float32, copy=False))
    os.replace(temporary, path)
    temporary.write_text(json.dumps(index))
    os.replace(temporary, path.with_suffix(".json"))
    return path


def map_dataset(path: Path) -> Dataset:
    """The dataset :func:`share_dataset` wrote to ``path``, its images read-only views of the mapped file.

    Raises
    ------
    DataError
        If the file or its index is missing or does not match the other.
    """
    try:
        index = json.loads(path.with_suffix(".json").read_text())
        pixels = np.load(path, mmap_mode="r")
        shapes = [tuple(int(side) for side in shape) for shape in index["shapes"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"shared dataset {path}: cannot be read ({error!r}); run the command again") from None
    sizes = [int(np.prod(shape)) for shape in shapes]
    if index.get("format") != FORMAT or pixels.dtype != np.float32 or pixels.shape != (sum(sizes),):
        raise DataError(
            f"shared dataset {path}: {pixels.shape[0]} float values of type {pixels.dtype} for "
            f"{len(shapes)} images of {sum(sizes)} pixels (format {index.get('format')}); "
            "delete it and run the command again"
        )
    starts = np.cumsum([0, *sizes])[:-1]
    images = tuple(
        np.asarray(pixels[start : start + size]).reshape(shape)
        for start, size, shape in zip(starts, sizes, shapes, strict=True)
    )
    return Dataset(
        name=index["name"],
        images=images,
        names=tuple(index["names"]),
        source=index["source"],
        checksums=tuple(index["checksums"]),
    )


def _holds(path: Path, dataset: Dataset) -> bool:
    """Whether ``path`` maps to exactly ``dataset`` (same names, checksums and pixels)."""
    if not path.exists():
        return False
    try:
        shared = map_dataset(path)
    except DataError:
        return False
    return (
        (shared.name, shared.names, shared.source, shared.checksums)
        == (dataset.name, dataset.names, dataset.source, dataset.checksums)
        and len(shared.images) == len(dataset.images)
        and all(np.array_equal(a, b) for a, b in zip(shared.images, dataset.images, strict=True))
    )
