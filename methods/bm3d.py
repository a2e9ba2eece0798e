"""BM3D (Dabov et al., 2007) through the ``bm3d`` package, told the true noise level or PSD.

BM3D is the non-learned baseline of Tables 2 and 3. On synthetic noise it knows the truth: white noise
(Gaussian, mixture) is passed as its marginal std, correlated noise as its power spectral density, so
the correlated-noise column is not handicapped by a white-noise assumption.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import bm3d as _bm3d
import numpy as np

from methods.base import Requirements, TrainingData
from noise import NoiseModel, parse_noise

# bm4d 4.2.5 (used by bm3d 4.0.3 for PSD input) calls np.trapz, removed in numpy 2.4.
if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid


class BM3D:
    """BM3D with the true noise statistics.

    Parameters
    ----------
    profile : str
        A ``bm3d`` profile name ('np' is the package default; 'refilter' crashes in bm3d 4.0.3).
    """

    name = "BM3D"
    requires = Requirements(noise_model=True, noisy_images=False)

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
        if self._noise is None:
            raise RuntimeError("BM3D.denoise called before fit")
        psd = self._noise.psd(noisy.shape)
        sigma_psd: float | np.ndarray = float(self._noise.std) if np.ptp(psd) == 0 else psd
        return np.asarray(
            _bm3d.bm3d(noisy, sigma_psd, profile=_select_profile(self.profile)), dtype=np.float32
        )

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
