"""A small synthetic data set in the FMD wide-field or CT layout, to try Figure 4 without the real data
(the tests use it too): ``python -m bench.datasets.demo fmd|ct DIR [--size N] [--seed N]``.

Clean fields of view are crops of scikit-image's bundled images; the noise is Poisson-Gaussian (FMD,
captures averaged 1 to 16 times) or dose-dependent (CT), drawn from a seeded generator.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.datasets.realnoise import CT_LEVELS, CT_SCALE, FMD_HELD_OUT_FOV, FMD_LEVELS, LEVELS
from methods.images import read_gray_image
from noise import derive_rng, parse_noise

#: Bundled scikit-image images the FMD fixture crops its clean fields of view from.
_FIXTURE_SOURCES = ("cell.png", "ihc.png", "coins.png", "moon.png", "camera.png", "brick.png")


def write_fmd_fixture(
    root: str | Path,
    *,
    size: int = 96,
    types: Sequence[str] = ("WideField_BPAE_B", "WideField_BPAE_G"),
    fovs: Sequence[str] = ("1", "2"),
    held_out_fov: str = FMD_HELD_OUT_FOV,
    captures: int = 4,
    test_images: int = 2,
    peak: float = 120.0,
    read_sigma: float = 4.0,
    correlated: str = "correlated:8",
    seed: int = 0,
) -> Path:
    """Write a small synthetic data set in the FMD wide-field layout, to try the real-noise pipeline.

    Every (type, field of view), ``held_out_fov`` included, gets a clean image: a ``size`` x ``size``
    crop of a bundled scikit-image image, scaled to [0.05, 0.8]. A raw capture is that image with
    Poisson noise of ``peak`` photons at intensity 1, Gaussian read noise of std ``read_sigma`` and
    correlated noise ``correlated`` (a :func:`noise.parse_noise` spec; both in 0-255 units); an
    ``avgN`` image is the mean of N fresh raw captures; every image is saved as 8-bit PNG. Training
    gets ``captures`` images per field of view and level, the ground truth is the clean image, and
    the test set holds ``test_images`` images per type from ``held_out_fov`` (the same names under
    ``gt/``). All randomness comes from ``noise.derive_rng(seed)``.

    Parameters
    ----------
    root : str or Path
        Folder to write (created; existing files of the same names are overwritten).
    size : int
        Image side (at least 64, what GAN2GAN's smoke profile needs).
    types, fovs : sequence of str
        Sample types and training fields of view.
    held_out_fov : str
        The test field of view.
    captures, test_images : int
        Images per training field of view and level; test images per type and level.
    peak, read_sigma, correlated :
        The noise (see above).
    seed : int
        Seed of the generator.

    Returns
    -------
    Path
        ``root``, resolved.

    Examples
    --------
    >>> import tempfile
    >>> from bench.datasets.realnoise import list_fmd_pairs
    >>> root = write_fmd_fixture(tempfile.mkdtemp(), size=64, captures=1, test_images=1)
    >>> train = list_fmd_pairs(root, level="avg1", split="train")
    >>> test = list_fmd_pairs(root, level="avg16", split="test")
    >>> len(train), len(test), train[0].name
    (4, 2, 'WideField_BPAE_B/1/HV110_P0500510000.png')
    """
    from skimage import io

    if size < 16:
        raise ValueError(f"size must be at least 16, got {size}")
    root = Path(root).expanduser().resolve()
    rng = derive_rng(seed)
    extra = parse_noise(correlated)
    fields = [(kind, fov) for kind in types for fov in (*fovs, held_out_fov)]
    clean = {key: _crop_source(i, size=size, rng=rng) for i, key in enumerate(fields)}

    def save(path: Path, image: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        io.imsave(path, np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8), check_contrast=False)

    def capture(image: np.ndarray, repeats: int) -> np.ndarray:
        raw = [
            rng.poisson(image * peak) / peak
            + rng.normal(0.0, read_sigma / 255.0, image.shape)
            + extra.sample(image.shape, rng=rng)
            for _ in range(repeats)
        ]
        return np.mean(raw, axis=0)

    for (kind, fov), image in clean.items():
        save(root / "train" / "WF" / "gt" / kind / fov / "avg50.png", image)
        for level in FMD_LEVELS:
            repeats = int(level[3:])
            for k in range(captures):
                save(
                    root / "train" / "WF" / level / kind / fov / f"HV110_P0500510{k:03d}.png",
                    capture(image, repeats),
                )
    for kind in types:
        image = clean[(kind, held_out_fov)]
        for k in range(test_images):
            name = f"{kind}_{held_out_fov}_{k + 1}.png"
            save(root / "test" / "WF" / "gt" / name, image)
            for level in FMD_LEVELS:
                save(root / "test" / "WF" / level / name, capture(image, int(level[3:])))
    return root


def _crop_source(index: int, *, size: int, rng: np.random.Generator) -> np.ndarray:
    """A clean ``size`` x ``size`` crop in [0.05, 0.8] of the ``index``-th fixture source image."""
    import skimage.data
    from skimage.transform import resize

    folder = Path(skimage.data.__file__).parent
    image = read_gray_image(folder / _FIXTURE_SOURCES[index % len(_FIXTURE_SOURCES)])[0].astype(np.float64)
    if min(image.shape) < size:
        image = resize(image, (max(size, image.shape[0]), max(size, image.shape[1])), anti_aliasing=False)
    top = int(rng.integers(0, image.shape[0] - size + 1))
    left = int(rng.integers(0, image.shape[1] - size + 1))
    crop = image[top : top + size, left : left + size]
    low, high = crop.min(), crop.max()
    crop = (crop - low) / (high - low) if high > low else np.zeros_like(crop)
    return 0.05 + 0.75 * crop


def write_ct_fixture(
    root: str | Path,
    *,
    size: int = 96,
    slices: int = 3,
    patients: Sequence[str] = ("female_1", "male_1", "female_13", "male_12"),
    sigma_at_25: float = 30.0,
    seed: int = 0,
) -> Path:
    """Write a small synthetic data set in the CT layout (float32 multi-page TIFF stacks).

    Each patient's clean slices are crops of scikit-image's bundled phantom (and other bundled images),
    in the authors' units (values up to :data:`CT_SCALE`); the slices of dose D add white Gaussian plus
    correlated noise whose std is ``sigma_at_25 * sqrt(25 / D)`` (0-255 units, after the /0.4 scaling).
    The default patients give two training and two test patients under the authors' split.

    Parameters
    ----------
    root : str or Path
        Folder to write.
    size, slices : int
        Slice side and slices per patient.
    patients : sequence of str
        Patient names (file stems).
    sigma_at_25 : float
        Noise std at dose 25.
    seed : int
        Seed of ``noise.derive_rng``.

    Returns
    -------
    Path
        ``root``, resolved.
    """
    import tifffile

    root = Path(root).expanduser().resolve()
    rng = derive_rng(seed)
    stacks: dict[str, np.ndarray] = {}
    for i, patient in enumerate(patients):
        stacks[patient] = np.stack([_crop_source(i * slices + s, size=size, rng=rng) for s in range(slices)])
    for folder in ("Clean", *CT_LEVELS):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for patient, clean in stacks.items():
        tifffile.imwrite(
            root / "Clean" / f"{patient}.tif", (clean * CT_SCALE).astype(np.float32), photometric="minisblack"
        )
        for level in CT_LEVELS:
            sigma = sigma_at_25 * np.sqrt(25.0 / int(level[4:]))
            model = parse_noise(f"correlated:{sigma:.3f}")
            noisy = (
                clean
                + 0.5 * model.sample(clean.shape, rng=rng)
                + rng.normal(0, 0.5 * sigma / 255, clean.shape)
            )
            tifffile.imwrite(
                root / level / f"{patient}.tif",
                (noisy * CT_SCALE).astype(np.float32),
                photometric="minisblack",
            )
    return root


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.datasets.demo fmd|ct DIR [--size N] [--seed N]``: write a small synthetic data set
    in the FMD or CT layout (:func:`write_fmd_fixture`, :func:`write_ct_fixture`) and say how to use it."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.datasets.demo", description="Write a small synthetic real-noise data set."
    )
    parser.add_argument("dataset", choices=tuple(LEVELS))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=int, default=96, help="image side (default 96)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and crops (default 0)")
    args = parser.parse_args(argv)
    write = write_fmd_fixture if args.dataset == "fmd" else write_ct_fixture
    try:
        root = write(args.folder, size=args.size, seed=args.seed)
    except (OSError, ValueError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(
        f"wrote {root}; try: python -m bench.run fig4 --dataset {args.dataset} --data-root {root} "
        "--profile smoke"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
