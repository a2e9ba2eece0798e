"""Real-noise datasets of the paper's section 5.3: FMD wide-field microscopy and reconstructed CT.

Both are read from a data root in a documented layout and paired by name, never by listing order.

**FMD wide field** (Zhang et al. 2019), the layout the authors' code reads (spec 4.5)::

    <root>/train/WF/{avg1,avg2,avg4,avg8,avg16}/<type>/<FoV>/<captures>   noisy captures (e.g. 50 per FoV)
    <root>/train/WF/gt/<type>/<FoV>/<ground truth>                       one image per FoV
    <root>/test/WF/{avg1,...,avg16}/<files>                              noisy test images
    <root>/test/WF/gt/<files>                                            same file names

``<root>`` may also be a folder holding ``Real_FM_images/`` (the authors' ``./data``). A training capture
is paired with the ground truth of its type and field of view; a test image with the ground truth of the
same file name. The field of view ``19`` is the test one and is left out of training (the authors' code
skips it); :func:`load_fmd` takes it as ``held_out_fov``. Training sets hold the noisy captures only,
treated as distinct images as the paper did; clean images are read for test sets only.

**Reconstructed CT**, a simple layout of multi-page TIFF stacks (the authors' MATLAB v7.3 files need
h5py; convert each patient's ``img`` / ``img_clean`` array to one TIFF)::

    <root>/{Dose25,Dose50,Dose75,Dose100}/<patient>.tif   noisy slices, one stack per patient
    <root>/Clean/<patient>.tif                             the clean slices of that patient

``<root>`` may also hold ``Medical_images/``. Slices are paired by patient (file stem) and slice index.
Test patients are female_13-15 and male_12-13 (the authors' split); every other patient trains. Float
stacks are in the authors' units and are divided by 0.4 (:data:`CT_SCALE`), as their loader does; the
noisy slices are then clipped to [0, 2] (their test-set clip, applied to training too) and the clean
ones to [0, 1] (their metric clip). 8- and 16-bit stacks are scaled to [0, 1] by 255 or 65535 instead.

:func:`~bench.datasets.catalog.load_dataset` reads these by name, ``fmd:<root>:<level>:<split>`` and
``ct:<root>:<level>:<split>`` (see :func:`make_real_noise_spec`): a training set's ``images`` are the
noisy captures; a test set's ``images`` are the clean references and ``noisy`` their noisy images.
A cell whose noise is ``real:<level>`` (:class:`noise.RealNoise`) trains on the captures as they are
(methods that need more than noisy images are refused, :func:`check_real_noise_method`) and evaluates
those given pairs.
:mod:`bench.datasets.demo` builds small synthetic folders in these layouts to try the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets.base import Dataset, DatasetSpec
from methods.base import Requirements
from methods.images import DataError, is_image_file, read_gray_image, sha256_file
from noise import RealNoise

__all__ = [
    "CT_LEVELS",
    "CT_SCALE",
    "CT_TEST_PATIENTS",
    "FMD_HELD_OUT_FOV",
    "FMD_LEVELS",
    "LEVELS",
    "ImagePair",
    "RealNoiseDataset",
    "check_real_noise_layout",
    "check_real_noise_method",
    "describe_real_noise_files",
    "find_real_noise_root",
    "list_ct_slices",
    "list_fmd_pairs",
    "list_real_noise_files",
    "load_ct",
    "load_fmd",
    "load_real_noise",
    "make_real_noise_spec",
    "parse_real_noise_name",
]

#: Noise levels of FMD wide field: captures averaged 1, 2, 4, 8 or 16 times.
FMD_LEVELS: tuple[str, ...] = ("avg1", "avg2", "avg4", "avg8", "avg16")
#: Dose levels of the reconstructed CT data.
CT_LEVELS: tuple[str, ...] = ("Dose25", "Dose50", "Dose75", "Dose100")
#: Levels of each real-noise dataset, in the paper's order.
LEVELS: dict[str, tuple[str, ...]] = {"fmd": FMD_LEVELS, "ct": CT_LEVELS}
#: The FMD field of view of the test images, left out of training (spec 4.5).
FMD_HELD_OUT_FOV = "19"
#: CT test patients of the authors' split (spec 4.6); every other patient trains.
CT_TEST_PATIENTS: tuple[str, ...] = ("female_13", "female_14", "female_15", "male_12", "male_13")
#: The authors divide CT values by this at load time (spec 4.6).
CT_SCALE = 0.4

_SPLITS = ("train", "test")
_NAME_RE = re.compile(r"^(?P<dataset>fmd|ct):(?P<root>.+):(?P<level>[^:]+):(?P<split>train|test)$")
_PARENTS = {"fmd": "Real_FM_images", "ct": "Medical_images"}
_FMD_LAYOUT = (
    "expected <root>/train/WF/{avg1,...,avg16}/<type>/<FoV>/<captures>, <root>/train/WF/gt/<type>/<FoV>/"
    "<ground truth>, <root>/test/WF/{avg1,...,avg16}/<files> and <root>/test/WF/gt/<files> (or the same "
    "under <root>/Real_FM_images)"
)
_CT_LAYOUT = (
    "expected <root>/{Dose25,Dose50,Dose75,Dose100}/<patient>.tif and <root>/Clean/<patient>.tif "
    "(multi-page TIFF; or the same under <root>/Medical_images)"
)
_TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True, eq=False)
class RealNoiseDataset(Dataset):
    """A real-noise training or test set (a :class:`bench.datasets.catalog.Dataset` with the noisy side).

    Attributes
    ----------
    images : tuple of numpy.ndarray
        Training sets: the noisy captures (all a method may learn from). Test sets: the clean
        references, as in every test set of the suite.
    noisy : tuple of numpy.ndarray or None
        Test sets: the noisy image of each clean ``images[i]``; None for training sets.
    noisy_checksums : tuple of str
        Test sets: SHA-256 of each noisy file (``checksums`` are those of the clean files); training
        sets: empty (``checksums`` are the captures').
    dataset, level, split : str
        ``"fmd"`` or ``"ct"``; e.g. ``"avg1"`` or ``"Dose25"``; ``"train"`` or ``"test"``.
    """

    noisy: tuple[np.ndarray, ...] | None = None
    noisy_checksums: tuple[str, ...] = ()
    dataset: str = ""
    level: str = ""
    split: str = ""


@dataclass(frozen=True)
class ImagePair:
    """One noisy image and its clean reference, matched by name.

    Attributes
    ----------
    name : str
        ``<type>/<FoV>/<file>`` (FMD training), the file name (FMD test) or ``<patient>/<slice>`` (CT).
    noisy, clean : Path
        The files (for CT, the stacks holding the slice).
    index : int or None
        The slice index within the CT stacks; None for FMD.
    """

    name: str
    noisy: Path
    clean: Path
    index: int | None = None


# --------------------------------------------------------------------------------------------- names


def check_real_noise_method(noise: RealNoise, *, requires: Requirements) -> None:
    """Refuse a real-noise cell (:class:`noise.RealNoise`) for a method that needs clean images, noisy
    pairs or the noise model: its training images are the noisy captures themselves.

    Raises
    ------
    DataError
        The method needs more than single noisy images.
    """
    if requires.clean or requires.pairs or requires.noise_model:
        raise DataError(
            f"noise {noise.spec!r} means the training images are already noisy; a method that needs clean "
            "images, noisy pairs or the noise model cannot be trained on them"
        )


def make_real_noise_spec(dataset: str, root: str | Path, *, level: str, split: str) -> DatasetSpec:
    """The dataset of one level and split, with the root made absolute.

    Examples
    --------
    >>> make_real_noise_spec("fmd", "/data/fmd", level="avg1", split="test").name
    'fmd:/data/fmd:avg1:test'
    """
    _check_level(dataset, level)
    if split not in _SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(_SPLITS)}")
    return DatasetSpec(dataset, path=Path(root).expanduser().resolve(), level=level, split=split)


def parse_real_noise_name(name: str) -> DatasetSpec:
    """The dataset named ``fmd:ROOT:LEVEL:SPLIT`` or ``ct:ROOT:LEVEL:SPLIT``."""
    match = _NAME_RE.match(name)
    if match is None:
        raise DataError(
            f"bad real-noise dataset name {name!r}; use fmd:ROOT:LEVEL:SPLIT or ct:ROOT:LEVEL:SPLIT, "
            "SPLIT train or test"
        )
    return make_real_noise_spec(match["dataset"], match["root"], level=match["level"], split=match["split"])


def _check_level(dataset: str, level: str) -> None:
    if dataset not in LEVELS:
        raise DataError(f"unknown real-noise dataset {dataset!r}; valid: {', '.join(LEVELS)}")
    if level not in LEVELS[dataset]:
        raise DataError(f"unknown {dataset} level {level!r}; valid: {', '.join(LEVELS[dataset])}")


# --------------------------------------------------------------------------------------------- layout


def find_real_noise_root(dataset: str, root: str | Path) -> Path:
    """Return the folder holding the ``dataset`` layout: ``root`` itself, or its ``Real_FM_images`` (FMD)
    or ``Medical_images`` (CT) subfolder.

    Raises
    ------
    DataError
        Neither holds the layout (the message says which layout was expected).
    """
    if dataset not in LEVELS:
        raise DataError(f"unknown real-noise dataset {dataset!r}; valid: {', '.join(LEVELS)}")
    root = Path(root).expanduser().resolve()
    for candidate in (root, root / _PARENTS[dataset]):
        if (
            dataset == "fmd"
            and (candidate / "train" / "WF").is_dir()
            and (candidate / "test" / "WF").is_dir()
        ):
            return candidate
        if dataset == "ct" and (candidate / "Clean").is_dir():
            return candidate
    layout = _FMD_LAYOUT if dataset == "fmd" else _CT_LAYOUT
    what = "FMD wide-field" if dataset == "fmd" else "CT"
    raise DataError(f"no {what} data in {root}: {layout}")


def check_real_noise_layout(dataset: str, root: str | Path) -> Path:
    """Pair every level and split of ``dataset`` under ``root`` (no pixels read) and return the folder
    holding the layout, so a broken data root stops a run before any work with one :class:`DataError`."""
    base = find_real_noise_root(dataset, root)
    for level in LEVELS[dataset]:
        for split in _SPLITS:
            list_real_noise_files(dataset, base, level=level, split=split)
    return base


def list_real_noise_files(dataset: str, root: str | Path, *, level: str, split: str) -> list[ImagePair]:
    """The pairs of one level and split with the default hold-out: :func:`list_fmd_pairs` or
    :func:`list_ct_slices` (reads no pixels, so the whole layout can be checked before any work)."""
    _check_level(dataset, level)
    if dataset == "fmd":
        return list_fmd_pairs(root, level=level, split=split)
    return list_ct_slices(root, level=level, split=split)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)


def _require_folder(folder: Path, layout: str) -> None:
    if not folder.is_dir():
        raise DataError(f"folder {folder} not found: {layout}")


def list_fmd_pairs(
    root: str | Path, *, level: str, split: str, held_out_fov: str = FMD_HELD_OUT_FOV
) -> list[ImagePair]:
    """Pair the FMD wide-field noisy images of one level and split with their ground truth, by name.

    Training captures ``train/WF/<level>/<type>/<FoV>/*`` pair with the one image of
    ``train/WF/gt/<type>/<FoV>/`` (where that folder holds several, the one whose name contains "avg");
    test images ``test/WF/<level>/<file>`` with ``test/WF/gt/<file>``. Listing order plays no part.

    Parameters
    ----------
    root : str or Path
        The FMD root (or a folder holding ``Real_FM_images/``).
    level : str
        One of :data:`FMD_LEVELS`.
    split : {"train", "test"}
        Which split.
    held_out_fov : str
        Training only: the field of view left out, the test one (default ``"19"``, as the authors).

    Returns
    -------
    list of ImagePair
        Sorted by name; training names read ``<type>/<FoV>/<file>``, test names the file name.

    Raises
    ------
    DataError
        A missing folder, a capture or test image without its ground truth, a ground truth without
        captures or test image, an ambiguous ground-truth folder, or no image at all (one line naming
        the file or folder).
    """
    _check_level("fmd", level)
    base = find_real_noise_root("fmd", root)
    if split == "test":
        return _pair_fmd_test(base / "test" / "WF", level=level)
    if split != "train":
        raise DataError(f"unknown split {split!r}; valid: {', '.join(_SPLITS)}")
    noisy_dir, gt_dir = base / "train" / "WF" / level, base / "train" / "WF" / "gt"
    _require_folder(noisy_dir, _FMD_LAYOUT)
    _require_folder(gt_dir, _FMD_LAYOUT)
    captures = {
        (kind.name, fov.name): _image_files(fov)
        for kind in _subfolders(noisy_dir)
        for fov in _subfolders(kind)
        if fov.name != held_out_fov
    }
    captures = {key: files for key, files in captures.items() if files}
    truths = {
        (kind.name, fov.name): _find_ground_truth(fov)
        for kind in _subfolders(gt_dir)
        for fov in _subfolders(kind)
        if fov.name != held_out_fov
    }
    for key, files in sorted(captures.items()):
        if truths.get(key) is None:
            raise DataError(
                f"capture {files[0]} has no ground truth: expected one image in {gt_dir.joinpath(*key)}"
            )
    for key, truth in sorted(truths.items(), key=lambda item: item[0]):
        if truth is not None and key not in captures:
            raise DataError(f"ground truth {truth} has no captures in {noisy_dir.joinpath(*key)}")
    pairs = [
        ImagePair(name=f"{kind}/{fov}/{file.name}", noisy=file, clean=truths[(kind, fov)])
        for (kind, fov), files in captures.items()
        for file in files
    ]
    if not pairs:
        raise DataError(f"no training captures in {noisy_dir} (field of view {held_out_fov} held out)")
    return sorted(pairs, key=lambda pair: pair.name)


def _find_ground_truth(folder: Path) -> Path | None:
    files = _image_files(folder)
    if len(files) > 1:
        files = [f for f in files if "avg" in f.name.lower()]
        if len(files) != 1:
            raise DataError(
                f"ground-truth folder {folder} holds several images; keep one, or one named '*avg*'"
            )
    return files[0] if files else None


def _pair_fmd_test(folder: Path, *, level: str) -> list[ImagePair]:
    noisy_dir, gt_dir = folder / level, folder / "gt"
    _require_folder(noisy_dir, _FMD_LAYOUT)
    _require_folder(gt_dir, _FMD_LAYOUT)
    noisy = {p.name: p for p in _image_files(noisy_dir)}
    clean = {p.name: p for p in _image_files(gt_dir)}
    for name in sorted(noisy):
        if name not in clean:
            raise DataError(f"test image {noisy[name]} has no ground truth {gt_dir / name}")
    for name in sorted(clean):
        if name not in noisy:
            raise DataError(f"ground truth {clean[name]} has no noisy test image {noisy_dir / name}")
    if not noisy:
        raise DataError(f"no test images in {noisy_dir}")
    return [ImagePair(name=name, noisy=noisy[name], clean=clean[name]) for name in sorted(noisy)]


def list_ct_slices(
    root: str | Path, *, level: str, split: str, test_patients: Sequence[str] = CT_TEST_PATIENTS
) -> list[ImagePair]:
    """Pair the CT slices of one dose and split with the clean slices, by patient and slice index.

    Parameters
    ----------
    root : str or Path
        The CT root (or a folder holding ``Medical_images/``).
    level : str
        One of :data:`CT_LEVELS`.
    split : {"train", "test"}
        Which patients: ``test_patients``, or every other patient.
    test_patients : sequence of str
        File stems of the test patients (default: the authors' female_13-15, male_12-13).

    Returns
    -------
    list of ImagePair
        One per slice, sorted by patient then slice; names read ``<patient>/<slice, 3 digits>``.

    Raises
    ------
    DataError
        A missing folder, a patient without its clean stack (or the reverse), stacks of different
        slice counts or sizes, or no patient in the split.
    """
    _check_level("ct", level)
    if split not in _SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(_SPLITS)}")
    base = find_real_noise_root("ct", root)
    noisy_dir, clean_dir = base / level, base / "Clean"
    _require_folder(noisy_dir, _CT_LAYOUT)
    noisy = _tiff_stacks(noisy_dir)
    clean = _tiff_stacks(clean_dir)
    for patient in sorted(noisy):
        if patient not in clean:
            raise DataError(f"CT stack {noisy[patient]} has no clean stack {clean_dir / noisy[patient].name}")
    for patient in sorted(clean):
        if patient not in noisy:
            raise DataError(f"clean CT stack {clean[patient]} has no {level} stack in {noisy_dir}")
    wanted = set(test_patients)
    patients = [p for p in sorted(noisy) if (p in wanted) == (split == "test")]
    if not patients:
        raise DataError(f"no {split} patients in {noisy_dir} (test patients: {', '.join(test_patients)})")
    pairs = []
    for patient in patients:
        n_noisy, n_clean = _count_slices(noisy[patient]), _count_slices(clean[patient])
        if n_noisy != n_clean:
            raise DataError(
                f"CT stack {noisy[patient]} has {n_noisy} slices but its clean stack {clean[patient]} has "
                f"{n_clean}"
            )
        pairs += [
            ImagePair(name=f"{patient}/{i:03d}", noisy=noisy[patient], clean=clean[patient], index=i)
            for i in range(n_noisy)
        ]
    return pairs


def _tiff_stacks(folder: Path) -> dict[str, Path]:
    _require_folder(folder, _CT_LAYOUT)
    return {
        p.stem: p
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _TIFF_SUFFIXES
    }


def _count_slices(path: Path) -> int:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
    except Exception as exc:
        raise DataError(f"cannot read CT stack {path}: {exc}") from exc
    if len(shape) not in (2, 3):
        raise DataError(f"CT stack {path} has shape {shape}; need slices x H x W (or one H x W slice)")
    return 1 if len(shape) == 2 else int(shape[0])


# --------------------------------------------------------------------------------------------- loading


def load_real_noise(
    spec: DatasetSpec, *, limit: int | None = None, min_size: int | None = None
) -> RealNoiseDataset:
    """Load one level and split of a real-noise dataset (what :func:`bench.datasets.catalog.load_dataset`
    passes on), with the default hold-out and patient split."""
    load = load_fmd if spec.kind == "fmd" else load_ct
    return load(spec.path, level=spec.level, split=spec.split, limit=limit, min_size=min_size)


def load_fmd(
    root: str | Path,
    *,
    level: str,
    split: str,
    held_out_fov: str = FMD_HELD_OUT_FOV,
    limit: int | None = None,
    min_size: int | None = None,
) -> RealNoiseDataset:
    """Load one level and split of FMD wide field as float32 gray images in [0, 1] (8-bit / 255).

    Pairs come from :func:`list_fmd_pairs`. A training set holds the noisy captures only (the field of
    view ``held_out_fov``, default ``"19"``, the test one, left out); a test set the clean references
    and their noisy images.

    Parameters
    ----------
    root : str or Path
        The FMD root (or a folder holding ``Real_FM_images/``).
    level : str
        One of :data:`FMD_LEVELS`.
    split : {"train", "test"}
        Which split.
    held_out_fov : str
        Training only: the field of view left out.
    limit : int, optional
        Keep this many images: test sets the first by name; training sets round-robin over the fields
        of view (the first capture of every FoV, then the second, ...), so no FoV is dropped whole.
    min_size : int, optional
        Require both sides of every image to be at least this.

    Returns
    -------
    RealNoiseDataset
        Sorted by name, with the SHA-256 of every file read.
    """
    pairs = list_fmd_pairs(root, level=level, split=split, held_out_fov=held_out_fov)
    return _load_pairs(
        pairs, dataset="fmd", root=root, level=level, split=split, limit=limit, min_size=min_size
    )


def load_ct(
    root: str | Path,
    *,
    level: str,
    split: str,
    test_patients: Sequence[str] = CT_TEST_PATIENTS,
    limit: int | None = None,
    min_size: int | None = None,
) -> RealNoiseDataset:
    """Load one dose and split of the CT stacks, scaled as the authors do (module docstring).

    Parameters
    ----------
    root : str or Path
        The CT root (or a folder holding ``Medical_images/``).
    level : str
        One of :data:`CT_LEVELS`.
    split : {"train", "test"}
        Which patients (:func:`list_ct_slices`).
    test_patients : sequence of str
        The test patients; every other patient trains.
    limit : int, optional
        Keep this many slices: test sets the first by name; training sets round-robin over patients.
    min_size : int, optional
        Require both sides of every slice to be at least this.

    Returns
    -------
    RealNoiseDataset
        One image per slice, sorted by patient and slice; checksums are those of the stack files.
    """
    pairs = list_ct_slices(root, level=level, split=split, test_patients=test_patients)
    return _load_pairs(
        pairs, dataset="ct", root=root, level=level, split=split, limit=limit, min_size=min_size
    )


def _load_pairs(
    pairs: list[ImagePair],
    *,
    dataset: str,
    root: str | Path,
    level: str,
    split: str,
    limit: int | None,
    min_size: int | None,
) -> RealNoiseDataset:
    pairs = _select_pairs(pairs, split, limit)
    read = _read_fmd if dataset == "fmd" else _make_ct_reader()
    digests: dict[Path, str] = {}

    def digest(path: Path) -> str:
        if path not in digests:
            digests[path] = sha256_file(path)
        return digests[path]

    noisy = [read(pair.noisy, pair.index, clean=False) for pair in pairs]
    for image, pair in zip(noisy, pairs, strict=True):
        _check_min_size(image, pair, min_size)
    name = make_real_noise_spec(dataset, root, level=level, split=split).name
    source = str(find_real_noise_root(dataset, root))
    if split == "train":
        return RealNoiseDataset(
            name=name,
            images=tuple(noisy),
            names=tuple(p.name for p in pairs),
            source=source,
            checksums=tuple(digest(p.noisy) for p in pairs),
            dataset=dataset,
            level=level,
            split=split,
        )
    clean = [read(pair.clean, pair.index, clean=True) for pair in pairs]
    for image, reference, pair in zip(noisy, clean, pairs, strict=True):
        if image.shape != reference.shape:
            raise DataError(
                f"noisy image {pair.noisy} is {image.shape[0]}x{image.shape[1]} but its ground truth "
                f"{pair.clean} is {reference.shape[0]}x{reference.shape[1]}"
            )
    return RealNoiseDataset(
        name=name,
        images=tuple(clean),
        names=tuple(p.name for p in pairs),
        source=source,
        checksums=tuple(digest(p.clean) for p in pairs),
        noisy=tuple(noisy),
        noisy_checksums=tuple(digest(p.noisy) for p in pairs),
        dataset=dataset,
        level=level,
        split=split,
    )


def _select_pairs(pairs: list[ImagePair], split: str, limit: int | None) -> list[ImagePair]:
    """All pairs, or ``limit`` of them: the first by name (test) or round-robin over groups (train)."""
    if limit is not None and limit < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    if limit is None:
        return pairs
    return pairs[:limit] if split == "test" else _round_robin(pairs, limit)


def _round_robin(pairs: list[ImagePair], limit: int) -> list[ImagePair]:
    """``limit`` pairs taken one per group in turn (group: FMD type/FoV, CT patient), sorted by name."""
    groups: dict[str, list[ImagePair]] = {}
    for pair in pairs:
        groups.setdefault(pair.name.rsplit("/", 1)[0], []).append(pair)
    chosen: list[ImagePair] = []
    for rank in range(max(len(g) for g in groups.values())):
        chosen += [g[rank] for g in groups.values() if rank < len(g)]
    return sorted(chosen[:limit], key=lambda pair: pair.name)


def _check_min_size(image: np.ndarray, pair: ImagePair, min_size: int | None) -> None:
    if min_size is not None and min(image.shape) < min_size:
        h, w = image.shape
        where = pair.noisy if pair.index is None else f"{pair.noisy} slice {pair.index}"
        raise DataError(f"image {where} is {h}x{w}, smaller than the patch size {min_size}")


def _read_fmd(path: Path, index: int | None, *, clean: bool) -> np.ndarray:
    return read_gray_image(path)[0]


def _make_ct_reader():
    """A reader of CT slices that keeps the last stack it read (slices come sorted by patient)."""
    last: dict[Path, np.ndarray] = {}

    def read(path: Path, index: int | None, *, clean: bool) -> np.ndarray:
        if path not in last:
            last.clear()
            last[path] = _read_stack(path)
        stack = last[path]
        return _scale_ct_slice(stack if stack.ndim == 2 else stack[index or 0], path, index, clean=clean)

    return read


def _read_stack(path: Path) -> np.ndarray:
    import tifffile

    try:
        return np.asarray(tifffile.imread(path))
    except Exception as exc:
        raise DataError(f"cannot read CT stack {path}: {exc}") from exc


def _scale_ct_slice(raw: np.ndarray, path: Path, index: int | None, *, clean: bool) -> np.ndarray:
    """One slice in the authors' scale: float / 0.4, noisy clipped to [0, 2], clean to [0, 1]."""
    if raw.dtype == np.uint8:
        image = raw / 255.0
    elif raw.dtype == np.uint16:
        image = raw / 65535.0
    elif np.issubdtype(raw.dtype, np.floating):
        image = raw.astype(np.float64) / CT_SCALE
    else:
        raise DataError(f"CT stack {path} has unsupported pixel type {raw.dtype} (need float, 8- or 16-bit)")
    if not np.all(np.isfinite(image)):
        raise DataError(f"CT stack {path} slice {index} has non-finite values")
    out = np.clip(image, 0.0, 1.0 if clean else 2.0).astype(np.float32)
    out.setflags(write=False)
    return out


def describe_real_noise_files(spec: DatasetSpec, *, limit: int | None = None) -> dict[str, Any]:
    """The manifest entry of a real-noise dataset name: its folder, image count and the SHA-256 of every
    file it reads (noisy, and clean for test sets), by path under the folder; reads no pixels.

    Parameters
    ----------
    spec : DatasetSpec
        One level and split of FMD or CT.
    limit : int, optional
        The same ``limit`` as the dataset was loaded with (the same images are selected).
    """
    dataset, root, level, split = spec.kind, spec.path, spec.level, spec.split
    base = find_real_noise_root(dataset, root)
    pairs = _select_pairs(list_real_noise_files(dataset, root, level=level, split=split), split, limit)

    def hashes(paths: list[Path]) -> dict[str, str]:
        return {p.relative_to(base).as_posix(): sha256_file(p) for p in dict.fromkeys(paths)}

    entry: dict[str, Any] = {"source": str(base), "n_images": len(pairs)}
    entry["noisy_sha256"] = hashes([p.noisy for p in pairs])
    if split == "test":
        entry["clean_sha256"] = hashes([p.clean for p in pairs])
    return entry
