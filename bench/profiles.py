"""Hyper-parameters of every method under each profile, in one place, with where each choice comes from.

- ``smoke``: the whole table in a few minutes on 2 CPU cores: tiny networks, few steps, bundled
  scikit-image images (no download). For tests and CI; its numbers mean nothing.
- ``cpu``: faithful architectures, reduced training, the full BSD68 test set, sized so one noise level
  of Table 2 takes about half an hour on 2 CPU cores (DnCNN-17 trains at about 47k pixels/s there).
  Expect numbers below the paper's; orderings and trends are what it can show.
- ``paper``: the published hyper-parameters (a GPU job: hours). Where the paper and the authors' code
  disagree the code wins (spec/official-code.md section 8); ``SOURCES`` says which is which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class UnknownProfileError(ValueError):
    """A profile name that is not defined."""


@dataclass(frozen=True)
class Profile:
    """Datasets and per-method hyper-parameters of one profile.

    Parameters
    ----------
    name : str
        'smoke', 'cpu' or 'paper'.
    train_data, test_data : str
        Dataset names for :func:`bench.data.load_dataset`.
    train_limit, test_limit : int or None
        Keep only the first N images (None: all).
    test_crop : int or None
        Centre-crop test images to this square size (None: whole images).
    methods : mapping
        Method key -> keyword arguments of the method's constructor.
    """

    name: str
    train_data: str
    test_data: str
    methods: Mapping[str, Mapping[str, Any]]
    train_limit: int | None = None
    test_limit: int | None = None
    test_crop: int | None = None
    description: str = field(default="", compare=False)

    def params(self, method: str) -> dict[str, Any]:
        """Constructor keyword arguments of ``method`` under this profile."""
        return dict(self.methods.get(method, {}))


def _frozen(methods: dict[str, dict[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(v) for k, v in methods.items()})


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="tiny networks on bundled scikit-image crops: checks the pipeline, not the numbers",
        train_data="skimage-train",
        test_data="skimage-test",
        test_limit=4,
        test_crop=128,
        methods=_frozen(
            {
                "bm3d": {"profile": "np"},
                "dncnn-b": {
                    "depth": 5,
                    "features": 16,
                    "steps": 150,
                    "batch_size": 16,
                    "patch_size": 32,
                    "lr": 2e-3,
                    "milestones": (120,),
                    "gamma": 0.1,
                },
                "n2c-oracle": {
                    "depth": 5,
                    "features": 16,
                    "steps": 100,
                    "batch_size": 16,
                    "patch_size": 32,
                    "lr": 2e-3,
                    "milestones": (80,),
                    "gamma": 0.1,
                },
            }
        ),
    ),
    "cpu": Profile(
        name="cpu",
        description="paper architectures, reduced training (~30 min per noise level on 2 cores), full BSD68",
        train_data="bsd400",
        test_data="bsd68",
        methods=_frozen(
            {
                "bm3d": {"profile": "np"},
                "dncnn-b": {
                    "depth": 20,
                    "features": 64,
                    "steps": 1200,
                    "batch_size": 32,
                    "patch_size": 40,
                    "lr": 1e-3,
                    "milestones": (800, 1100),
                    "gamma": 0.2,
                },
                "n2c-oracle": {
                    "depth": 17,
                    "features": 64,
                    "steps": 900,
                    "batch_size": 32,
                    "patch_size": 40,
                    "lr": 1e-3,
                    "milestones": (600, 800),
                    "gamma": 0.2,
                },
            }
        ),
    ),
    "paper": Profile(
        name="paper",
        description="published hyper-parameters (code wins where code and paper disagree); a GPU job",
        train_data="bsd400",
        test_data="bsd68",
        methods=_frozen(
            {
                "bm3d": {"profile": "np"},
                "dncnn-b": {
                    "depth": 20,
                    "features": 64,
                    "steps": 150_000,
                    "batch_size": 128,
                    "patch_size": 50,
                    "lr": 1e-3,
                    "milestones": (90_000,),
                    "gamma": 0.1,
                },
                "n2c-oracle": {
                    "depth": 17,
                    "features": 64,
                    "steps": 4800,
                    "batch_size": 128,
                    "patch_size": 64,
                    "lr": 1e-3,
                    "milestones": (1600, 3200),
                    "gamma": 0.5,
                },
            }
        ),
    ),
}

SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "bm3d.profile": "bm3d package default 'np', one thread (bm3d changelog: threads change outputs)",
        "dncnn-b.depth": "paper 5.1 and DnCNN paper: 20-layer DnCNN-B; spec 1.3: 667,008 parameters",
        "dncnn-b.patch_size/steps": "DnCNN paper: 50x50 patches, 128 x 3,000 patches per epoch, 50 epochs",
        "dncnn-b.lr": "cszn/DnCNN MATLAB v1.1: Adam 1e-3 for 30 epochs then 1e-4 (spec peers C)",
        "dncnn-b.noise": "paper 5.1: composite sigma in [0, 55], fresh per patch",
        "n2c-oracle.depth": "paper 5.1: the 17-layer DnCNN of G2G_j (spec 1.3: 556,032 parameters)",
        "n2c-oracle.schedule": "official code G2G recipe (spec 3.2): Adam 1e-3, batch 128, 64x64 crops, "
        "30 epochs, StepLR(10 epochs, 0.5); an epoch is 160 steps (20,500 patches / 128)",
    }
)


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``."""
    if name not in PROFILES:
        raise UnknownProfileError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]
