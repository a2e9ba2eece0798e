"""BM3D (Dabov et al., 2007) through the ``bm3d`` package, told what it knows of the noise.

BM3D is the non-learned baseline of Tables 2 and 3, in three variants that differ only in the noise
argument handed to ``bm3d.bm3d``:

- ``bm3d`` (the paper's column): the true marginal noise std, as a white-noise level, whatever the noise;
- ``bm3d-psd``: the true power spectral density of the noise (the oracle for correlated noise; the same
  as ``bm3d`` on white noise);
- ``bm3d-blind``: a std estimated from each noisy image by Chen et al. (2015)
  (:func:`noise.estimate.estimate_noise_std`), as the paper did on real noise; it needs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import bm3d as _bm3d
import numpy as np

from methods.base import Method, Requirements, TrainingData
from noise import NoiseModel, parse_noise
from noise.estimate import estimate_noise_std

# bm4d 4.2.5 (used by bm3d 4.0.3 for PSD input) calls np.trapz, removed in numpy 2.4.
if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid


class BM3D(Method):
    """BM3D told the true noise std (a white-noise level, also for correlated noise).

    Parameters
    ----------
    profile : str
        A ``bm3d`` profile name ('np' is the package default; 'refilter' crashes in bm3d 4.0.3).
    """

    name: ClassVar[str] = "BM3D"
    requires: ClassVar[Requirements] = Requirements(noise_model=True, noisy_images=False)
    trains_network: ClassVar[bool] = False

    def __init__(self, *, profile: str = "np", device: str = "cpu") -> None:
        _select_profile(profile)  # fail early on a bad name
        self.profile = profile
        self._noise: NoiseModel | None = None

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Remember the true noise model; BM3D learns nothing."""
        if data.noise_model is None:
            raise ValueError("BM3D needs the noise model, but the training data carries none")
        self._noise = data.noise_model

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image with one thread (bit-reproducible output)."""
        return np.asarray(
            _bm3d.bm3d(noisy, self.noise_argument(noisy), profile=_select_profile(self.profile)),
            dtype=np.float32,
        )

    def noise_argument(self, noisy: np.ndarray) -> float | np.ndarray:
        """The ``sigma_psd`` argument of ``bm3d.bm3d`` for this image: the true noise std."""
        return float(self._fitted_noise().std)

    def _fitted_noise(self) -> NoiseModel:
        if self._noise is None:
            raise RuntimeError(f"{self.name}.denoise called before fit")
        return self._noise

    def stages(self) -> Mapping[str, BM3D]:
        """BM3D has one stage: itself."""
        return {self.name: self}

    def save(self, path: Path) -> None:
        """Write the profile and the noise spec as JSON."""
        spec = self._noise.spec if self._noise is not None else None
        Path(path).write_text(json.dumps({"profile": self.profile, "noise": spec}))

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> BM3D:
        """Read what :meth:`save` wrote."""
        state = json.loads(Path(path).read_text())
        method = cls(profile=state["profile"])
        if state["noise"] is not None:
            method._noise = parse_noise(state["noise"])
        return method


class BM3DWithPSD(BM3D):
    """BM3D told the true noise power spectral density (its std for white noise): the oracle."""

    name: ClassVar[str] = "BM3D(PSD)"

    def noise_argument(self, noisy: np.ndarray) -> float | np.ndarray:
        """The PSD of the true noise at the image's shape, or its std when the PSD is flat."""
        noise = self._fitted_noise()
        psd = noise.psd(noisy.shape)
        return float(noise.std) if np.ptp(psd) == 0 else psd


class BlindBM3D(BM3D):
    """BM3D with the std estimated from each noisy image (Chen et al. 2015); told nothing."""

    name: ClassVar[str] = "BM3D(blind)"
    requires: ClassVar[Requirements] = Requirements(noisy_images=False)

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Nothing to learn and nothing to be told."""

    def noise_argument(self, noisy: np.ndarray) -> float | np.ndarray:
        """The noise std estimated from ``noisy`` itself."""
        return estimate_noise_std(noisy)


def _select_profile(name: str) -> _bm3d.BM3DProfile:
    profiles = {
        "np": _bm3d.BM3DProfile,
        "vn": _bm3d.profiles.BM3DProfileVN,
        "vn_old": _bm3d.profiles.BM3DProfileVNOld,
        "high": _bm3d.profiles.BM3DProfileHigh,
    }
    if name not in profiles:  # 'refilter' is left out: it crashes with a shape error in bm3d 4.0.3
        raise ValueError(f"unknown or unsupported bm3d profile {name!r}; valid: {', '.join(profiles)}")
    profile = profiles[name]()
    profile.num_threads = 1  # bm3d's docs: more threads may change the output slightly
    return profile
