"""Every method of the suite by key, so tables and Table 1 are generated from what methods declare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from methods.base import Denoiser
from methods.bm3d import BM3D, BlindBM3D, BM3DWithPSD
from methods.dncnn_b import DnCNNB
from methods.gan2gan.method import GAN2GAN
from methods.gan2gan.upper_bound import NoiseToCleanEq3, NoiseToCleanEq4
from methods.n2c import NoiseToClean
from methods.n2n import Noise2Noise
from methods.n2v import Noise2Void
from methods.n2v_official import Noise2VoidOfficial
from methods.neighbor2neighbor import Neighbor2Neighbor
from methods.noise2self import Noise2Self
from methods.noisy_n2n import NoisyN2N
from methods.r2r import Recorrupted2Recorrupted
from methods.zs_n2n import ZeroShotN2N

METHODS: dict[str, type] = {
    "bm3d": BM3D,
    "bm3d-blind": BlindBM3D,
    "bm3d-psd": BM3DWithPSD,
    "dncnn-b": DnCNNB,
    "gan2gan": GAN2GAN,
    "n2c-eq4": NoiseToCleanEq4,
    "n2c-gcbd": NoiseToCleanEq3,
    "n2c-oracle": NoiseToClean,
    "n2n": Noise2Noise,
    "n2s": Noise2Self,
    "n2v": Noise2Void,
    "n2v-official": Noise2VoidOfficial,
    "ne2ne": Neighbor2Neighbor,
    "noisy-n2n": NoisyN2N,
    "r2r": Recorrupted2Recorrupted,
    "zs-n2n": ZeroShotN2N,
}


class UnknownMethodError(ValueError):
    """A method key or name that no registered method has."""


def find_method(name: str) -> str:
    """Return the registry key for a key or a display name (case-insensitive).

    Examples
    --------
    >>> find_method("DnCNN-B")
    'dncnn-b'
    """
    wanted = name.strip().lower()
    for key, cls in METHODS.items():
        if wanted in (key, cls.name.lower()):
            return key
    valid = ", ".join(f"{key} ({cls.name})" for key, cls in METHODS.items())
    raise UnknownMethodError(f"unknown method {name!r}; valid: {valid}")


def make_method(key: str, *, params: dict[str, Any], device: str = "auto") -> Denoiser:
    """Build an unfitted method from its key and hyper-parameters."""
    return METHODS[find_method(key)](**params, device=device)


def load_method(key: str, path: Path, *, device: str = "auto") -> Denoiser:
    """Load a fitted method saved by its ``save``."""
    return METHODS[find_method(key)].load(path, device=device)
