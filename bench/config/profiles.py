"""The profiles: each the datasets, the method budgets (:mod:`methods.presets`) and the sizes of every
experiment, as typed configuration checked when a command starts (:func:`check_profile`).

- ``smoke``: the whole table in a few minutes on 2 CPU cores: tiny networks, few steps, bundled
  scikit-image images (no download). For tests and CI; its numbers mean nothing.
- ``cpu``: faithful architectures, reduced training, the full BSD68 test set: the whole Table 2 in about
  4-5 hours on 2 CPU cores (DnCNN-17 trains at about 47k pixels/s there).
  Expect numbers below the paper's; orderings and trends are what it can show.
- ``paper``: the published hyper-parameters (a GPU job: hours). Where the paper and the authors' code
  disagree the code wins (spec/official-code.md section 8); :data:`methods.presets.SOURCES` says which is
  which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from bench.datasets.base import DatasetSpec
from methods.presets import PRESETS, check_params, check_presets
from methods.registry import METHODS


class ProfileError(ValueError):
    """A profile that cannot be used: an unknown name, or a setting that does not fit."""


class UnknownProfileError(ProfileError):
    """A profile name that is not defined."""


@dataclass(frozen=True)
class Sizes:
    """The sizes of one experiment; every field a positive number unless its type allows None."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, int | float) and not isinstance(v, bool) and v <= 0 for v in values):
                raise ValueError(f"{type(self).__name__}.{item.name} must be positive, got {value!r}")

    def describe(self) -> dict[str, Any]:
        """The sizes as plain data (for manifests and cache keys)."""
        return {item.name: _to_plain(getattr(self, item.name)) for item in fields(self)}


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _to_plain(item) for key, item in value.items()}
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Theorem1Sizes(Sizes):
    """Theorem 1's Monte Carlo check: grid points of y in (0, 1) and samples per point."""

    points: int
    samples: int


@dataclass(frozen=True)
class Figure1Sizes(Sizes):
    """Figure 1: the extra noise levels sigma_0 of the initial estimates and the Noisy-N2N iterations."""

    sigma0: tuple[float, ...]
    iterations: int


@dataclass(frozen=True)
class TimingSizes(Sizes):
    """Inference timing: test images timed and repeats per image."""

    images: int
    repeats: int


@dataclass(frozen=True)
class PerfSizes(Sizes):
    """The performance suite's sizes, and whether its bounds decide the exit status (``enforce``)."""

    train_steps: int
    repeats: int
    bm3d_images: int
    gan_batch: int
    pair_batch: int
    pair_patch: int
    enforce: bool


@dataclass(frozen=True)
class Figure4Sizes(Sizes):
    """Figure 4 (real noise): training and test images per level (None: all), the test crop, and
    GAN2GAN's extraction on each dataset (overrides of its hyper-parameters)."""

    train_limit: int | None
    test_limit: int | None
    test_crop: int | None
    gan2gan: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class BlindSizes(Sizes):
    """The blind benchmark: its test images, centre crops of side ``test_crop`` (None: the profile's own
    test images), since ZS-N2N trains a network on every test image it denoises; and the training budget
    every method that trains gets per cell, ``train_minutes`` of one core (None: the profile's presets as
    they are), as ``methods``, overrides of the profile's presets sized to it by measured step costs."""

    test_crop: int | None
    train_minutes: float | None = None
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SlurmSizes(Sizes):
    """What a Slurm job of each task kind asks for (:func:`bench.cells.executors.plan_resources`): time
    limits in minutes of a fit that trains a network, of an evaluation or computation that runs one,
    and of a CPU task (BM3D, a Monte Carlo check), and host memory in GiB of network and CPU tasks.
    Each limit is at least three times the largest such cell's measured or estimated cost on one GPU or
    CPU core, so a slow node does not kill it; ``--slurm-time`` replaces them all."""

    train_minutes: int
    evaluate_minutes: int
    cpu_minutes: int
    network_mem_gb: int
    cpu_mem_gb: int


@dataclass(frozen=True)
class Profile:
    """Datasets, per-method hyper-parameters and experiment sizes of one profile.

    Parameters
    ----------
    name : str
        'smoke', 'cpu' or 'paper'.
    train_data, test_data : DatasetSpec
        The training and test sets.
    methods : mapping
        Method key -> keyword arguments of the method's constructor (:data:`methods.presets.PRESETS`).
    theorem1, fig1, timing, perf, fig4, blind : Sizes
        The sizes of those experiments.
    slurm : SlurmSizes
        Time and memory of its Slurm jobs by task kind.
    train_limit, test_limit : int or None
        Keep only the first N images (None: all).
    test_crop : int or None
        Centre-crop test images to this square size (None: whole images).
    needs_gpu : bool
        Its networks are sized for a GPU: a run that would train them on CPU needs ``--allow-cpu``.
    """

    name: str
    train_data: DatasetSpec
    test_data: DatasetSpec
    methods: Mapping[str, Mapping[str, Any]]
    theorem1: Theorem1Sizes
    fig1: Figure1Sizes
    timing: TimingSizes
    perf: PerfSizes
    fig4: Figure4Sizes
    blind: BlindSizes
    slurm: SlurmSizes
    train_limit: int | None = None
    test_limit: int | None = None
    test_crop: int | None = None
    needs_gpu: bool = False
    description: str = field(default="", compare=False)

    def params(self, method: str) -> dict[str, Any]:
        """Constructor keyword arguments of ``method`` under this profile."""
        return dict(self.methods.get(method, {}))

    def sizes(self, experiment: str) -> Sizes | None:
        """The sizes of ``experiment``; None for one that has none."""
        by_name = {"theorem1": self.theorem1, "fig1": self.fig1, "timing": self.timing, "perf": self.perf}
        return {**by_name, "fig4": self.fig4, "blind": self.blind}.get(experiment)


#: Figure 4 (real noise): GAN2GAN's extraction on FMD wide field and CT replaces the BSD one. The authors
#: keep every 96x96 window (stride 24) with Eq. (4) statistic <= lambda, 0.42 (WF) or 0.15 (CT), capped at
#: 40,000 in scan order (spec 4.1); here the 40,000 smoothest under that lambda (count mode, max_lambda).
_PAPER_REAL_EXTRACTION: dict[str, dict[str, Any]] = {
    "fmd": {"window": 96, "stride": 24, "lam": None, "count": 40_000, "max_lambda": 0.42},
    "ct": {"window": 96, "stride": 24, "lam": None, "count": 40_000, "max_lambda": 0.15},
}
_CPU_REAL_EXTRACTION: dict[str, dict[str, Any]] = {
    key: {**value, "count": 10_000} for key, value in _PAPER_REAL_EXTRACTION.items()
}


def _frozen(mapping: dict[str, dict[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(v) for k, v in mapping.items()})


def size_schedule(preset: Mapping[str, Any], *, seconds: float, step_seconds: float) -> dict[str, Any]:
    """The steps of ``preset`` that fill ``seconds`` of training at ``step_seconds`` a step, its learning-rate
    milestones kept at the same fractions of the run."""
    steps = max(1, round(seconds / step_seconds))
    milestones = tuple(round(m * steps / preset["steps"]) for m in preset.get("milestones", ()))
    return {"steps": steps, "milestones": milestones}


#: Seconds of one training step at the cpu presets on 2 AMD EPYC cores, two cells side by side (one torch
#: thread each), as the blind benchmark runs them: N2V's step took 2.3 s in the whole cpu Table 2
#: (90a2e21: its 400-step fit at sigma 25, 916 s); the others were measured as ratios to N2V's step in one
#: process (N2S 0.98, Ne2Ne 0.56, R2R 0.98, N2N 0.90, N2C(oracle) 0.73 (0.77 in that Table 2 run);
#: GAN2GAN's generator iteration 1.18 and its G2G step 0.74; ZS-N2N's step on a 128x128 crop 0.0196).
#: A G2G step that runs the previous denoiser on its batch (``g2g_estimate="crops"``) adds that forward
#: pass, 0.29 of a DnCNN-17 training step of 32 x 40x40 (measured in one process: 0.81 s against 2.81).
_CPU_N2V_STEP = 2.3
_CPU_STEP_SECONDS: dict[str, float] = {
    key: ratio * _CPU_N2V_STEP
    for key, ratio in {
        "n2v": 1.0,
        "n2s": 0.98,
        "ne2ne": 0.56,
        "r2r": 0.98,
        "n2n": 0.90,
        "n2c-oracle": 0.73,
        "gan2gan.gan": 1.18,
        "gan2gan.g2g": 0.74 * 1.29,
        "zs-n2n": 0.0196,
    }.items()
}

#: The blind benchmark's training budget per cell at the cpu profile: 6 minutes of one core, so that its
#: 48 trainings (8 methods, 2 noises, 3 seeds) and their evaluations fit in about 3 hours on 2 cores.
_CPU_BLIND_SECONDS = 360.0


def _size_cpu_blind(seconds: float) -> dict[str, dict[str, Any]]:
    """Overrides of the cpu presets that give every trained method of the blind benchmark ``seconds`` of
    training per cell: the DnCNN methods' steps; GAN2GAN half for Algorithm 1, half for its three G2G
    iterations (the cpu preset's split); ZS-N2N the budget spread over the 68 BSD68 test crops.

    GAN2GAN's G2G pairs come from the previous denoiser's output on each batch's crops (the authors'
    code) instead of the cpu preset's whole-image estimates: estimating the 400 training images takes
    about 150 s of one core per G2G iteration, which alone left GAN2GAN 817 s per cell against 360
    (the first cpu run of this table, at 6c78afc)."""
    presets = PRESETS["cpu"]
    sized = {
        key: size_schedule(presets[key], seconds=seconds, step_seconds=_CPU_STEP_SECONDS[key])
        for key in ("n2v", "n2s", "ne2ne", "r2r", "n2n", "n2c-oracle")
    }
    gan2gan = presets["gan2gan"]
    g2g = size_schedule(
        {"steps": gan2gan["g2g_steps"], "milestones": gan2gan["g2g_milestones"]},
        seconds=seconds / 2 / gan2gan["iterations"],
        step_seconds=_CPU_STEP_SECONDS["gan2gan.g2g"],
    )
    sized["gan2gan"] = {
        "gan_steps": round(seconds / 2 / _CPU_STEP_SECONDS["gan2gan.gan"]),
        "g2g_estimate": "crops",
        "g2g_steps": g2g["steps"],
        "g2g_milestones": g2g["milestones"],
    }
    zs_steps = round(seconds / 68 / _CPU_STEP_SECONDS["zs-n2n"])
    sized["zs-n2n"] = {"steps": zs_steps, "step_size": max(1, zs_steps // 2)}
    return sized


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="tiny networks on bundled scikit-image crops: checks the pipeline, not the numbers",
        train_data=DatasetSpec("skimage-train"),
        test_data=DatasetSpec("skimage-test"),
        test_limit=4,
        test_crop=128,
        theorem1=Theorem1Sizes(points=19, samples=300_000),
        fig1=Figure1Sizes(sigma0=(15, 35), iterations=3),
        timing=TimingSizes(images=2, repeats=2),
        # every measure once, small; ratios are reported, bounds not enforced
        perf=PerfSizes(
            train_steps=2, repeats=1, bm3d_images=4, gan_batch=2, pair_batch=4, pair_patch=32, enforce=False
        ),
        # real noise: every image of the data root (the demo's small set is the intended input); GAN2GAN
        # keeps the smoothest quarter of the 64x64 windows at stride 8
        fig4=Figure4Sizes(
            train_limit=None,
            test_limit=None,
            test_crop=None,
            gan2gan=_frozen({"fmd": {"stride": 8, "count": 64}, "ct": {"stride": 8, "count": 64}}),
        ),
        blind=BlindSizes(test_crop=None),
        slurm=SlurmSizes(
            train_minutes=15, evaluate_minutes=15, cpu_minutes=15, network_mem_gb=4, cpu_mem_gb=4
        ),
        methods=PRESETS["smoke"],
    ),
    "cpu": Profile(
        name="cpu",
        description="paper architectures, reduced training (Table 2 in about 4.3 h on 2 cores), full BSD68",
        train_data=DatasetSpec("bsd400"),
        test_data=DatasetSpec("bsd68"),
        theorem1=Theorem1Sizes(points=99, samples=1_000_000),
        fig1=Figure1Sizes(sigma0=(10, 20, 30, 40, 50), iterations=3),
        timing=TimingSizes(images=5, repeats=3),
        # the cpu profile's DnCNN batch; GAN2GAN batches of the prototype
        perf=PerfSizes(
            train_steps=10,
            repeats=3,
            bm3d_images=16,
            gan_batch=16,
            pair_batch=32,
            pair_patch=64,
            enforce=True,
        ),
        # real noise: 300 training images per level, round-robin over the fields of view (FMD has 2,850 of
        # 512x512 per level), the whole test set
        fig4=Figure4Sizes(
            train_limit=300, test_limit=None, test_crop=None, gan2gan=_frozen(_CPU_REAL_EXTRACTION)
        ),
        # ZS-N2N trains about 0.5 s a step on a whole BSD68 image on one core (2 h a cell at 200 steps):
        # every method of the blind table is tested on 128x128 centre crops of the 68 images instead, and
        # every method trains for the same wall-clock budget
        blind=BlindSizes(
            test_crop=128,
            train_minutes=_CPU_BLIND_SECONDS / 60,
            methods=_frozen(_size_cpu_blind(_CPU_BLIND_SECONDS)),
        ),
        # one core: a GAN2GAN fit up to 45 min, its evaluation (four stages, 68 images) 6, BM3D with the
        # PSD on 68 images about 15; peak memory of the largest task 1.9 GiB (measured)
        slurm=SlurmSizes(
            train_minutes=150, evaluate_minutes=30, cpu_minutes=60, network_mem_gb=8, cpu_mem_gb=8
        ),
        methods=PRESETS["cpu"],
    ),
    "paper": Profile(
        name="paper",
        needs_gpu=True,
        description="published hyper-parameters (code wins where code and paper disagree); a GPU job",
        train_data=DatasetSpec("bsd400"),
        test_data=DatasetSpec("bsd68"),
        theorem1=Theorem1Sizes(points=99, samples=1_000_000),
        fig1=Figure1Sizes(sigma0=(10, 20, 30, 40, 50), iterations=3),
        timing=TimingSizes(images=10, repeats=5),
        perf=PerfSizes(
            train_steps=10,
            repeats=3,
            bm3d_images=16,
            gan_batch=64,
            pair_batch=128,
            pair_patch=64,
            enforce=True,
        ),
        fig4=Figure4Sizes(
            train_limit=None, test_limit=None, test_crop=None, gan2gan=_frozen(_PAPER_REAL_EXTRACTION)
        ),
        blind=BlindSizes(test_crop=None),
        # from step times measured on an H200 (README, "Running the paper profile on a GPU or a cluster"):
        # DnCNN-B and N2N about 53 min each, N2V at least 28 min per level, GAN2GAN about 12.5 min per
        # level, an evaluation under a minute; BM3D on one core as in the cpu profile; left wide, since
        # older GPUs are several times slower
        slurm=SlurmSizes(
            train_minutes=360, evaluate_minutes=60, cpu_minutes=60, network_mem_gb=32, cpu_mem_gb=8
        ),
        methods=PRESETS["paper"],
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``, checked (:func:`check_profile`)."""
    if name not in PROFILES:
        raise UnknownProfileError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    check_profile(PROFILES[name])
    return PROFILES[name]


def check_profile(profile: Profile) -> None:
    """Check a profile before any cell runs: every method's hyper-parameters are keyword arguments of its
    constructor, and so are the overrides of GAN2GAN for Figure 4 and the blind benchmark's budgets (the
    experiment sizes are checked when the profile is built).

    Raises
    ------
    ProfileError
        Naming the profile, the method and the parameter that does not fit.
    """
    try:
        check_presets(profile.name, METHODS)
        for dataset, overrides in profile.fig4.gan2gan.items():
            params = {**profile.params("gan2gan"), **overrides}
            check_params(METHODS, "gan2gan", params, where=f"profile {profile.name!r}, fig4 {dataset}")
        for key, overrides in profile.blind.methods.items():
            params = {**profile.params(key), **overrides}
            check_params(METHODS, key, params, where=f"profile {profile.name!r}, blind benchmark")
    except ValueError as error:
        raise ProfileError(str(error)) from None
