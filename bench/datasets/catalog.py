"""Datasets for training and evaluation: BSD400, BSD68, bundled scikit-image images and image folders.

Images are returned as read-only float32 arrays of shape (H, W) with values in [0, 1].
BSD400 and BSD68 live under a data root (``--data-root DIR`` or ``$GAN2GAN_DATA``) as
``<root>/BSD400/*.png`` and ``<root>/BSD68/*.png``; their SHA256 sums ship with the package
(``bench/datasets/sha256sums.txt``) and :func:`fetch_dataset` downloads them from the public DnCNN repository.

Command line::

    python -m bench.datasets list [--data-root DIR]
    python -m bench.datasets verify NAME [--data-root DIR]
    python -m bench.datasets fetch NAME [--data-root DIR] [--base-url URL]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, DatasetSpec
from bench.datasets.realnoise import load_real_noise, parse_real_noise_name
from methods.images import IMAGE_EXTENSIONS, DataError, is_image_file, read_gray_image, sha256_file

__all__ = [
    "BSD68_URL",
    "BSD400_URL",
    "DATA_ROOT_ENV",
    "SKIMAGE_TEST",
    "SKIMAGE_TRAIN",
    "DataError",
    "Dataset",
    "DatasetSpec",
    "fetch_dataset",
    "list_datasets",
    "load_dataset",
    "main",
    "parse_dataset",
    "resolve_data_root",
    "verify_dataset",
]

DATA_ROOT_ENV = "GAN2GAN_DATA"

#: Public URL prefixes of the BSD files (a file's URL is ``f"{prefix}/{file name}"``).
BSD400_URL = (
    "https://raw.githubusercontent.com/cszn/DnCNN/master/TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400"
)
BSD68_URL = "https://raw.githubusercontent.com/cszn/DnCNN/master/testsets/BSD68"

#: Registered BSD datasets: name -> (folder under the data root, URL prefix).
_BSD = {"bsd400": ("BSD400", BSD400_URL), "bsd68": ("BSD68", BSD68_URL)}

#: scikit-image bundled files of the test split (file name -> image name).
SKIMAGE_TEST = ("astronaut.png", "camera.png", "coffee.png", "coins.png", "moon.png", "page.png")
#: scikit-image bundled files of the train split: natural photos and textures, disjoint from the test split.
SKIMAGE_TRAIN = (
    "brick.png",
    "cell.png",
    "chelsea.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "rocket.jpg",
    "text.png",
)
_SKIMAGE = {"skimage-train": SKIMAGE_TRAIN, "skimage-test": SKIMAGE_TEST}

_FOLDER_PREFIX = "folder:"
#: Real-noise datasets (FMD wide field, CT) of :mod:`bench.datasets.realnoise`: ``fmd:ROOT:LEVEL:SPLIT``,
#: ``ct:...``.
_REAL_NOISE_PREFIXES = ("fmd:", "ct:")
_SUMS_FILE = "sha256sums.txt"

_log = logging.getLogger(__name__)


def _read_sums() -> dict[str, dict[str, str]]:
    """Return the shipped checksums as ``{folder: {file name: sha256}}``."""
    text = resources.files("bench.datasets").joinpath(_SUMS_FILE).read_text(encoding="utf-8")
    sums: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, rel = line.split(maxsplit=1)
        folder, _, fname = rel.lstrip("*").partition("/")
        sums.setdefault(folder, {})[fname] = digest.lower()
    return sums


def _expected_sums(name: str) -> dict[str, str]:
    folder = _BSD[name][0]
    sums = _read_sums().get(folder)
    if not sums:
        raise DataError(f"no checksums for dataset '{name}' in the shipped {_SUMS_FILE}")
    return dict(sorted(sums.items()))


def _skimage_dir() -> Path:
    import skimage.data

    return Path(os.path.dirname(skimage.data.__file__))


def _skimage_source() -> str:
    import skimage

    return f"scikit-image {skimage.__version__} (bundled)"


def _check_size(img: np.ndarray, path: Path | str, min_size: int | None) -> None:
    if min_size is not None and min(img.shape) < min_size:
        h, w = img.shape
        raise DataError(f"image {path} is {h}x{w}, smaller than the patch size {min_size}")


def _check_options(limit: int | None, min_size: int | None) -> None:
    if limit is not None and limit < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    if min_size is not None and min_size < 1:
        raise DataError(f"min_size must be >= 1, got {min_size}")


def _root_origin(data_root: str | os.PathLike | None) -> str:
    return "from --data-root" if data_root is not None else f"from ${DATA_ROOT_ENV}"


def _bsd_folder(name: str, data_root: str | os.PathLike | None) -> Path:
    """Return the existing folder of a BSD dataset or raise a DataError saying where it looked."""
    root = resolve_data_root(data_root)
    folder_name = _BSD[name][0]
    if root is None:
        raise DataError(
            f"dataset '{name}' not found: no data root given (pass --data-root DIR or set ${DATA_ROOT_ENV}). "
            f"Get it with: python -m bench.datasets fetch {name} --data-root DIR"
        )
    folder = root / folder_name
    if not folder.is_dir():
        raise DataError(
            f"dataset '{name}' not found: looked in {folder} ({_root_origin(data_root)}). "
            f"Get it with: python -m bench.datasets fetch {name} --data-root {root}"
        )
    return folder


def parse_dataset(name: str | DatasetSpec) -> DatasetSpec:
    """The dataset called ``name``: one of :func:`list_datasets`, ``folder:PATH`` (made absolute),
    ``fmd:ROOT:LEVEL:SPLIT`` or ``ct:ROOT:LEVEL:SPLIT``; a :class:`DatasetSpec` is returned as it is.

    Raises
    ------
    DataError
        If the name is unknown or malformed.

    Examples
    --------
    >>> parse_dataset("bsd68"), parse_dataset("folder:/data/mine").name
    (DatasetSpec(kind='bsd68', path=None, level=None, split=None), 'folder:/data/mine')
    """
    if isinstance(name, DatasetSpec):
        return name
    if name in _BSD or name in _SKIMAGE:
        return DatasetSpec(name)
    if name.startswith(_FOLDER_PREFIX) and len(name) > len(_FOLDER_PREFIX):
        return DatasetSpec("folder", path=Path(name[len(_FOLDER_PREFIX) :]).expanduser().resolve())
    if name.startswith(_REAL_NOISE_PREFIXES):
        return parse_real_noise_name(name)
    raise DataError(
        f"unknown dataset '{name}': use one of {', '.join(list_datasets())}, folder:PATH, "
        "fmd:ROOT:LEVEL:SPLIT or ct:ROOT:LEVEL:SPLIT"
    )


def _folder_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise DataError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"image folder {folder} is not a folder")
    files = sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise DataError(f"image folder {folder} holds no image files ({exts})")
    return files


# --------------------------------------------------------------------------------------------- public API


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path | None:
    """Return the data root: ``data_root`` if given, else ``$GAN2GAN_DATA`` if set, else None.

    Parameters
    ----------
    data_root : str or os.PathLike, optional
        Explicit data root (e.g. from ``--data-root``).

    Returns
    -------
    pathlib.Path or None
        The data root (not checked for existence), or None when none is configured.
    """
    if data_root is not None and str(data_root) != "":
        return Path(data_root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV, "").strip()
    return Path(env).expanduser() if env else None


def list_datasets() -> list[str]:
    """Return the registered dataset names (``folder:PATH`` is also accepted by :func:`load_dataset`).

    Returns
    -------
    list of str
        ``["bsd400", "bsd68", "skimage-train", "skimage-test"]``.
    """
    return [*_BSD, *_SKIMAGE]


def load_dataset(
    name: str | DatasetSpec,
    *,
    data_root: str | os.PathLike | None = None,
    limit: int | None = None,
    min_size: int | None = None,
) -> Dataset:
    """Load a dataset as read-only float32 gray images in [0, 1], sorted by file name.

    ``bsd400`` and ``bsd68`` are read from ``<data root>/BSD400`` and ``<data root>/BSD68``; their file
    names are checked against the shipped checksum list (use :func:`verify_dataset` for the hashes).
    ``skimage-train`` and ``skimage-test`` are images bundled with scikit-image (no download), color ones
    converted with ``skimage.color.rgb2gray``:

    - test: astronaut (gray), camera, coffee (gray), coins, moon, page;
    - train: brick, cell, chelsea (gray), grass, gravel, hubble_deep_field (gray), motorcycle_left (gray),
      rocket (gray), text.

    ``folder:PATH`` reads every ``.png``, ``.tif``, ``.tiff``, ``.jpg`` and ``.jpeg`` file of PATH (hidden
    files and other extensions are ignored); 8-bit is divided by 255, 16-bit by 65535, float must be in
    [0, 1]; color images are converted to gray with one warning per dataset.

    ``fmd:ROOT:LEVEL:SPLIT`` and ``ct:ROOT:LEVEL:SPLIT`` are the real-noise data of
    :mod:`bench.datasets.realnoise` (FMD wide field, reconstructed CT; e.g. ``fmd:/data/fmd:avg1:train``): a
    training split holds the noisy images, a test split the clean references with their noisy images.

    Parameters
    ----------
    name : str or DatasetSpec
        A name from :func:`list_datasets`, ``"folder:PATH"``, a real-noise name, or its parsed spec
        (:func:`parse_dataset`).
    data_root : str or os.PathLike, optional
        Data root for the BSD datasets; defaults to ``$GAN2GAN_DATA``.
    limit : int, optional
        Keep only the first ``limit`` images (after sorting).
    min_size : int, optional
        Require both sides of every kept image to be at least this (e.g. the patch size).

    Returns
    -------
    Dataset
        The images, their names, source and SHA256 checksums.

    Raises
    ------
    DataError
        If the dataset is unknown, missing, incomplete, unreadable or has an image smaller than ``min_size``.
    """
    spec = parse_dataset(name)
    _check_options(limit, min_size)
    if spec.kind in _BSD:
        return _load_bsd(spec.kind, data_root=data_root, limit=limit, min_size=min_size)
    if spec.kind in _SKIMAGE:
        return _load_skimage(spec.kind, limit=limit, min_size=min_size)
    if spec.real_noise:
        return load_real_noise(spec, limit=limit, min_size=min_size)
    return _load_folder(spec.path, limit=limit, min_size=min_size)


def _load_bsd(name: str, *, data_root, limit: int | None, min_size: int | None) -> Dataset:
    folder = _bsd_folder(name, data_root)
    expected = _expected_sums(name)
    present = {p.name for p in folder.iterdir() if is_image_file(p)}
    missing = sorted(set(expected) - present)
    extra = sorted(present - set(expected))
    if missing:
        raise DataError(
            f"dataset '{name}' in {folder} is incomplete: {len(missing)} of {len(expected)} files missing "
            f"(first: {missing[0]}). Check with: python -m bench.datasets verify {name} --data-root "
            f"{folder.parent}"
        )
    if extra:
        raise DataError(
            f"dataset '{name}' in {folder} has {len(extra)} unexpected image files (first: {extra[0]}); "
            f"expected exactly the {len(expected)} files of the shipped checksum list"
        )
    files = [folder / f for f in expected]
    if limit is not None:
        files = files[:limit]
    images, _ = _read_files(files, min_size)
    return Dataset(
        name=name,
        images=tuple(images),
        names=tuple(p.name for p in files),
        source=str(folder),
        checksums=tuple(sha256_file(p) for p in files),
    )


def _read_files(files: list[Path], min_size: int | None) -> tuple[list[np.ndarray], dict[str, int]]:
    """The images of ``files`` and how many of them each conversion note applied to."""
    images: list[np.ndarray] = []
    notes: dict[str, int] = {}
    for path in files:
        img, note = read_gray_image(path)
        _check_size(img, path, min_size)
        images.append(img)
        for part in filter(None, note.split(", ")):
            notes[part] = notes.get(part, 0) + 1
    return images, notes


def _load_skimage(name: str, *, limit: int | None, min_size: int | None) -> Dataset:
    folder = _skimage_dir()
    files = [folder / f for f in sorted(_SKIMAGE[name])]
    if limit is not None:
        files = files[:limit]
    for path in files:
        if not path.is_file():
            raise DataError(
                f"dataset '{name}': bundled image {path.name} not found in {folder} ({_skimage_source()})"
            )
    images, _ = _read_files(files, min_size)  # color -> gray is part of the documented split: no warning
    return Dataset(
        name=name,
        images=tuple(images),
        names=tuple(p.stem for p in files),
        source=_skimage_source(),
        checksums=tuple(sha256_file(p) for p in files),
    )


def _load_folder(folder: Path, *, limit: int | None, min_size: int | None) -> Dataset:
    files = _folder_files(folder)
    if limit is not None:
        files = files[:limit]
    images, notes = _read_files(files, min_size)
    if notes:
        warnings.warn(
            f"dataset 'folder:{folder}': "
            + "; ".join(f"{note} in {n} of {len(files)} images" for note, n in notes.items()),
            UserWarning,
            stacklevel=3,
        )
    return Dataset(
        name=f"{_FOLDER_PREFIX}{folder}",
        images=tuple(images),
        names=tuple(p.name for p in files),
        source=str(folder),
        checksums=tuple(sha256_file(p) for p in files),
    )


def verify_dataset(name: str, *, data_root: str | os.PathLike | None = None) -> list[str]:
    """Check a dataset's files and return the problems found (empty list: all good).

    For ``bsd400``/``bsd68`` every file of the shipped checksum list must be present with the right
    SHA256, and no other image file may be in the folder. For ``skimage-*`` the bundled files must be
    present and readable; for ``folder:PATH`` every image file must be readable.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets` or ``"folder:PATH"``.
    data_root : str or os.PathLike, optional
        Data root for the BSD datasets; defaults to ``$GAN2GAN_DATA``.

    Returns
    -------
    list of str
        One line per problem: missing file, checksum mismatch, unexpected or unreadable file.

    Raises
    ------
    DataError
        If the dataset is unknown or its folder does not exist at all.
    """
    spec = parse_dataset(name)
    kind = spec.kind
    problems: list[str] = []
    if kind in _BSD:
        folder = _bsd_folder(name, data_root)
        expected = _expected_sums(name)
        for fname, digest in expected.items():
            path = folder / fname
            if not path.is_file():
                problems.append(f"missing: {path}")
                continue
            actual = sha256_file(path)
            if actual != digest:
                problems.append(f"checksum mismatch: {path} (expected sha256 {digest}, got {actual})")
        for path in sorted(folder.iterdir()):
            if is_image_file(path) and path.name not in expected:
                problems.append(f"unexpected file: {path}")
        return problems
    if spec.real_noise:
        try:
            load_dataset(spec)
        except DataError as exc:
            problems.append(str(exc))
        return problems
    if kind in _SKIMAGE:
        folder = _skimage_dir()
        files = [folder / f for f in sorted(_SKIMAGE[name])]
    else:
        files = _folder_files(spec.path)
    for path in files:
        if not path.is_file():
            problems.append(f"missing: {path}")
            continue
        try:
            read_gray_image(path)
        except DataError as exc:
            problems.append(str(exc))
    return problems


def _count_files(name: str) -> int:
    spec = parse_dataset(name)
    if spec.kind in _BSD:
        return len(_expected_sums(spec.kind))
    if spec.kind in _SKIMAGE:
        return len(_SKIMAGE[spec.kind])
    if spec.real_noise:
        return len(load_dataset(spec))
    return len(_folder_files(spec.path))


def fetch_dataset(
    name: str,
    *,
    data_root: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download a BSD dataset into ``<data root>/<BSD400|BSD68>``, checking every file's SHA256.

    Files already present with the right hash are skipped. scikit-image datasets are bundled and need no
    fetch (their folder is returned); ``folder:PATH`` datasets cannot be fetched.

    Parameters
    ----------
    name : str
        ``"bsd400"`` or ``"bsd68"`` (``"skimage-*"`` returns at once).
    data_root : str or os.PathLike, optional
        Data root to download into; defaults to ``$GAN2GAN_DATA``.
    base_url : str, optional
        URL prefix replacing the public one; a file's URL is ``f"{base_url}/{file name}"``.
    progress : bool, default True
        Show a progress bar over the files.

    Returns
    -------
    pathlib.Path
        The dataset folder.

    Raises
    ------
    DataError
        If no data root is configured, the dataset cannot be fetched, or a download fails or has the
        wrong hash.
    """
    spec = parse_dataset(name)
    if spec.kind in _SKIMAGE:
        _log.info("dataset '%s' is bundled with scikit-image: nothing to fetch", name)
        return _skimage_dir()
    if spec.kind == "folder" or spec.real_noise:
        raise DataError(f"dataset '{name}' is a local folder and cannot be fetched")

    import pooch
    from tqdm.auto import tqdm

    root = resolve_data_root(data_root)
    if root is None:
        raise DataError(
            f"cannot fetch dataset '{name}': no data root given "
            f"(pass --data-root DIR or set ${DATA_ROOT_ENV})"
        )
    folder_name, default_url = _BSD[name]
    prefix = (base_url or default_url).rstrip("/")
    folder = root / folder_name
    expected = _expected_sums(name)
    todo = [
        f
        for f, digest in expected.items()
        if not ((folder / f).is_file() and sha256_file(folder / f) == digest)
    ]
    if not todo:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create dataset folder {folder}: {exc}") from exc

    pooch_logger = pooch.get_logger()
    old_level = pooch_logger.level
    pooch_logger.setLevel(logging.WARNING)
    try:
        for fname in tqdm(todo, desc=f"fetch {name}", unit="file", disable=not progress):
            url = f"{prefix}/{fname}"
            try:
                pooch.retrieve(
                    url, known_hash=f"sha256:{expected[fname]}", fname=fname, path=folder, progressbar=False
                )
            except Exception as exc:
                raise DataError(f"cannot fetch {fname} of dataset '{name}' from {url}: {exc}") from exc
    finally:
        pooch_logger.setLevel(old_level)
    return folder


# --------------------------------------------------------------------------------------------- CLI


def _status(name: str, data_root: str | os.PathLike | None) -> tuple[int, str, str]:
    """Return (image count, source, status) of a registered dataset for ``list``."""
    if name in _SKIMAGE:
        folder = _skimage_dir()
        missing = [f for f in _SKIMAGE[name] if not (folder / f).is_file()]
        status = "found" if not missing else f"missing {len(missing)} bundled files"
        return len(_SKIMAGE[name]), _skimage_source(), status
    expected = _expected_sums(name)
    root = resolve_data_root(data_root)
    if root is None:
        return len(expected), "-", f"no data root (pass --data-root DIR or set ${DATA_ROOT_ENV})"
    folder = root / _BSD[name][0]
    if not folder.is_dir():
        return len(expected), str(folder), "not found"
    n_present = sum((folder / f).is_file() for f in expected)
    status = "found" if n_present == len(expected) else f"incomplete ({n_present}/{len(expected)} files)"
    return len(expected), str(folder), status


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-root",
        metavar="DIR",
        default=None,
        help=f"data root holding BSD400/ and BSD68/ (default: ${DATA_ROOT_ENV})",
    )
    parser = argparse.ArgumentParser(
        prog="python -m bench.datasets", description="List, verify and fetch datasets."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", parents=[common], help="list datasets and whether they are found")
    verify = sub.add_parser("verify", parents=[common], help="check a dataset's files and checksums")
    verify.add_argument("name", help="dataset name or folder:PATH")
    fetch = sub.add_parser("fetch", parents=[common], help="download a dataset into the data root")
    fetch.add_argument("name", help="dataset name")
    fetch.add_argument("--base-url", default=None, help="URL prefix replacing the public one")
    fetch.add_argument("--quiet", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``python -m bench.datasets`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 if ``verify`` found problems, 2 on a DataError.
    """
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for name in list_datasets():
                count, source, status = _status(name, args.data_root)
                print(f"{name:<14} {count:>4} images  {status:<10}  {source}")
            print("also: folder:PATH (any folder of .png/.tif/.tiff/.jpg/.jpeg images)")
            print("also: fmd:ROOT:LEVEL:SPLIT, ct:ROOT:LEVEL:SPLIT (real noise: bench/datasets/realnoise.py)")
            return 0
        if args.command == "verify":
            problems = verify_dataset(args.name, data_root=args.data_root)
            if problems:
                for problem in problems:
                    print(problem)
                print(f"{len(problems)} problem(s) in dataset '{args.name}'")
                return 1
            print(f"ok: {_count_files(args.name)} files")
            return 0
        if args.command == "fetch":
            kind = parse_dataset(args.name).kind
            folder = fetch_dataset(
                args.name, data_root=args.data_root, base_url=args.base_url, progress=not args.quiet
            )
            if kind in _SKIMAGE:
                print(f"dataset '{args.name}' is bundled with scikit-image: nothing to fetch ({folder})")
            else:
                print(f"ok: {len(_expected_sums(args.name))} files in {folder}")
            return 0
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2  # unreachable: argparse requires a command
