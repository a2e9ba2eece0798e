"""The side of :mod:`methods.n2v_official` that runs inside the official ``n2v`` environment.

Run as a script by that environment's interpreter (TensorFlow 2.15, numpy < 2), never imported by the
main process for training; it imports only numpy and, inside the functions that need them, ``n2v``.
Everything crosses the process boundary as files:

``python n2v_official_worker.py fit WORK``
    reads ``WORK/train.npz`` (one float32 array per noisy image) and ``WORK/config.json``, trains an
    ``n2v.models.N2V`` and leaves the package's model folder in ``WORK/model/n2v`` (``config.json`` and
    ``weights_last.h5``) and the Keras history in ``WORK/history.json``.
``python n2v_official_worker.py serve MODEL``
    loads the model folder ``MODEL`` once, then answers JSON lines on stdin
    (``{"input": "a.npy", "output": "b.npy"}``) with one JSON line each on stdout
    (``{"ok": true}`` or ``{"error": "..."}``); anything the libraries print goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

MODEL_NAME = "n2v"


def tile_images(images: list[np.ndarray], *, multiple: int) -> np.ndarray:
    """Cut every image into non-overlapping square tiles of one common side, as a (N, S, S) array.

    The side is the smallest image side rounded down to a multiple of ``multiple`` (the U-Net's
    ``2 ** depth``); on BSD400 (180x180, depth 2) each image is one tile, the whole image.
    """
    side = min(min(image.shape) for image in images) // multiple * multiple
    if side < multiple:
        raise ValueError(f"the smallest training image is below {multiple} pixels on a side")
    tiles = [
        image[top : top + side, left : left + side]
        for image in images
        for top in range(0, image.shape[0] - side + 1, side)
        for left in range(0, image.shape[1] - side + 1, side)
    ]
    return np.stack(tiles).astype(np.float32)


def augment_dihedral(tiles: np.ndarray) -> np.ndarray:
    """The 8 rotations and flips of every square tile (the package's ``N2V_DataGenerator`` augmentation)."""
    rotations = [np.rot90(tiles, k, axes=(1, 2)) for k in range(4)]
    return np.concatenate([*rotations, *(np.flip(r, axis=2) for r in rotations)])


def fit(work: Path) -> None:
    """Train the official N2V on ``work/train.npz`` with ``work/config.json`` (see the module docstring)."""
    config = json.loads((work / "config.json").read_text())
    seed = config.pop("seed")
    augment = config.pop("augment")
    val_fraction = config.pop("val_fraction")
    _seed_everything(seed)
    from n2v.models import N2V, N2VConfig

    with np.load(work / "train.npz") as archive:
        images = [archive[name] for name in sorted(archive.files)]
    tiles = tile_images(images, multiple=2 ** config["unet_n_depth"])
    if augment:
        tiles = augment_dihedral(tiles)
    rng = np.random.default_rng(seed)
    tiles = tiles[rng.permutation(len(tiles))][..., np.newaxis]
    # The self-supervised setting has only these noisy images: validation (ReduceLROnPlateau) watches a
    # fraction of them, which stay in the training set.
    validation = tiles[: max(1, int(np.ceil(len(tiles) * val_fraction)))]
    config["n2v_patch_shape"] = tuple(config["n2v_patch_shape"])
    n2v_config = N2VConfig(tiles, train_checkpoint=None, train_tensorboard=False, **config)
    model = N2V(n2v_config, MODEL_NAME, basedir=str(work / "model"))
    history = model.train(tiles, validation)
    (work / "history.json").write_text(
        json.dumps({k: [float(v) for v in values] for k, values in history.history.items()})
    )


def serve(model_dir: Path) -> None:
    """Denoise the images named on stdin with the model in ``model_dir`` until stdin closes."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # keep the libraries' prints out of the reply channel
    from n2v.models import N2V

    model = N2V(None, model_dir.name, basedir=str(model_dir.parent))
    for line in sys.stdin:
        request = json.loads(line)
        try:
            image = np.load(request["input"]).astype(np.float32)
            np.save(request["output"], model.predict(image, axes="YX").astype(np.float32))
            replies.write(json.dumps({"ok": True}) + "\n")
        except Exception as error:  # report to the main process, which raises it there
            replies.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")


def _seed_everything(seed: int) -> None:
    """Seed the generators the package draws from (numpy's global one for masks and crops) and TF's."""
    import random

    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf.config.experimental.enable_op_determinism()


def main(argv: list[str]) -> int:
    """``fit WORK`` or ``serve MODEL``."""
    if len(argv) != 2 or argv[0] not in ("fit", "serve"):
        print("usage: n2v_official_worker.py fit WORK | serve MODEL", file=sys.stderr)
        return 2
    command, folder = argv[0], Path(argv[1])
    if command == "fit":
        fit(folder)
    else:
        serve(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
