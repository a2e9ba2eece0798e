"""Every method's hyper-parameters at each budget, in one place, with where each choice comes from.

- ``smoke``: tiny networks, few steps: the whole pipeline in minutes on 2 CPU cores; its numbers mean
  nothing.
- ``cpu``: faithful architectures, reduced training: the whole Table 2 in about 4-5 hours on 2 CPU cores
  (DnCNN-17 trains at about 47k pixels/s there; SOURCES["cpu.budget"]).
- ``paper``: the published hyper-parameters (a GPU job: hours). Where the paper and the authors' code
  disagree the code wins (spec/official-code.md section 8); :data:`SOURCES` says which is which.

The benchmark's profiles (:mod:`bench.config.profiles`) add datasets and experiment sizes to these; the
own-images command (``python -m methods fit --profile``) uses them alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class UnknownPresetError(ValueError):
    """A budget name that is not defined."""


#: Blind-spot masking of N2V, shared by ``n2v`` and ``n2v-official`` so ``n2v-check`` compares like
#: with like: the n2v package's BSD68 recipe, and its defaults for short runs (see SOURCES).
_BSD68_N2V_MASKING: dict[str, Any] = {"percent": 0.198, "radius": 2, "replacement": "uniform_withCP"}
_SHORT_N2V_MASKING: dict[str, Any] = {"percent": 1.5, "radius": 5, "replacement": "uniform_withCP"}

#: Rule (4) on BSD400 (180x180 images; window, stride and lambda are not published, spec 4.7): 64x64
#: windows (what g_theta1 generates and the critics see), stride 4, and lambda = the 10,000th smallest
#: Eq.-(4) statistic, i.e. the 10,000 smoothest windows. The paper's N is 20,000, but at sigma 15 the
#: 20,000 smoothest windows already include texture (median std 16.9 instead of 15.8).
_BSD_EXTRACTION: dict[str, Any] = {
    "extraction": "wavelet",
    "window": 64,
    "stride": 4,
    "lam": None,
    "count": 10_000,
}

#: GAN2GAN's generative model in the short profiles (smoke, cpu), chosen from issue 20's measurements
#: (listed in ``methods/gan2gan/__init__.py``; ``python -m bench.ablation convergence`` reruns the
#: comparison). The authors' critics have BatchNorm and see the
#: real and the fake batch in separate passes, so they barely see the noise level; their g_theta1 starts
#: with a fixed checkerboard pattern and a weak border that a short run never removes. Here: critics
#: without BatchNorm kept 1-Lipschitz by a gradient penalty (WGAN-GP; Adam 4e-4, betas (0.5, 0.9)),
#: 32 features wide (the 128 of the authors cost 2x the whole iteration on CPU), a standardised
#: g_theta1 (zero-mean, stationary, its std one gain started at the extracted patches' std), the
#: g_theta1 whose noise best matches the extracted patches (clean-free), and G2G pairs from whole-image
#: estimates with noise crops off g_theta1's border. n_critic and the learning rates are the authors'.
_SHORT_GAN: dict[str, Any] = {
    "critic_norm": "none",
    "lipschitz": "penalty",
    "critic_optimizer": "adam",
    "critic_betas": (0.5, 0.9),
    "lr_critic": 4e-4,
    "critic_features": 32,
    "generator_output": "standardised",
    "gan_selection": "noise-match",
    "g2g_estimate": "images",
    "g2g_noise_offset": "interior",
    "g2g_start": "identity",
}

#: The short profiles start every residual DnCNN as the identity (``methods.nets.DnCNN``, ``start``). From
#: PyTorch's default start a run of a few hundred steps falls to the loss of returning its input and sits
#: there: at sigma 15, 200 steps left G2G_1 at the identity (25.01 dB on BSD68, 28.23 from the identity
#: start) and 500 steps left N2C(oracle) at 27.42 (30.73); README, Profiles.
_SHORT_START: dict[str, Any] = {"start": "identity"}

#: The G2G training recipe of the official code (spec 3.2), used by every 17-layer N2C of the paper profile.
_PAPER_N2C: dict[str, Any] = {
    "depth": 17,
    "features": 64,
    "steps": 4800,
    "batch_size": 128,
    "patch_size": 64,
    "lr": 1e-3,
    "milestones": (1600, 3200),
    "gamma": 0.5,
}


#: DnCNN-B's schedule in each profile; N2N (paper 5.1: the same 20-layer DnCNN) trains with it too.
_SMOKE_DNCNN_B: dict[str, Any] = {
    **_SHORT_START,
    "depth": 5,
    "features": 16,
    "steps": 150,
    "batch_size": 16,
    "patch_size": 32,
    "lr": 2e-3,
    "milestones": (120,),
    "gamma": 0.1,
}
_CPU_DNCNN_B: dict[str, Any] = {
    **_SHORT_START,
    "depth": 20,
    "features": 64,
    "steps": 800,
    "batch_size": 32,
    "patch_size": 40,
    "lr": 1e-3,
    "milestones": (550, 720),
    "gamma": 0.2,
}
_PAPER_DNCNN_B: dict[str, Any] = {
    "depth": 20,
    "features": 64,
    "steps": 150_000,
    "batch_size": 128,
    "patch_size": 50,
    "lr": 1e-3,
    "milestones": (90_000,),
    "gamma": 0.1,
}

#: Noisy N2N (Figure 1), per iteration: the G2G recipe of each profile (it is G2G with the true noise).
_SMOKE_NOISY_N2N: dict[str, Any] = {
    **_SHORT_START,
    "depth": 5,
    "features": 16,
    "steps": 40,
    "batch_size": 8,
    "patch_size": 32,
    "lr": 2e-3,
    "milestones": (),
}
_CPU_NOISY_N2N: dict[str, Any] = {
    **_SHORT_START,
    "depth": 17,
    "features": 64,
    "steps": 200,
    "batch_size": 32,
    "patch_size": 40,
    "lr": 1e-3,
    "milestones": (150,),
    "gamma": 0.3,
}

#: N2C(Eq.4) and N2C(Eq.3) in the short profiles (the paper profile uses _PAPER_N2C).
_SMOKE_N2C_EQ: dict[str, Any] = {
    **_SHORT_START,
    "depth": 5,
    "features": 16,
    "steps": 60,
    "batch_size": 16,
    "patch_size": 32,
    "lr": 2e-3,
    "milestones": (50,),
    "gamma": 0.1,
}
_CPU_N2C_EQ: dict[str, Any] = {
    **_SHORT_START,
    "depth": 17,
    "features": 64,
    "steps": 300,
    "batch_size": 32,
    "patch_size": 40,
    "lr": 1e-3,
    "milestones": (200,),
    "gamma": 0.3,
}


#: N2V at each budget (its masking: see SOURCES); the smoke one trains DnCNN-B's tiny schedule.
_SMOKE_N2V: dict[str, Any] = {**_SMOKE_DNCNN_B, **_SHORT_N2V_MASKING}

_CPU_N2V: dict[str, Any] = {
    **_SHORT_START,
    "depth": 17,
    "features": 64,
    "steps": 400,
    "batch_size": 16,
    "patch_size": 64,
    "lr": 1e-3,
    "milestones": (300,),
    "gamma": 0.3,
    **_SHORT_N2V_MASKING,
}

_PAPER_N2V: dict[str, Any] = {
    "depth": 17,
    "features": 64,
    "steps": 80_000,
    "batch_size": 128,
    "patch_size": 64,
    "lr": 4e-4,
    "milestones": (40_000, 60_000),
    "gamma": 0.5,
    **_BSD68_N2V_MASKING,
}


#: The blind self-supervised methods beyond the paper (issue 24) share N2V's network and schedule at each
#: budget, so that they differ only in how a batch becomes a loss; each adds its own options.
_BEYOND = {
    "n2s": {"width": 4},
    "ne2ne": {"regulariser": 2.0},
    "r2r": {"alpha": 0.5, "eval_samples": 5},
}


def _beyond(n2v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The presets of Noise2Self, Neighbor2Neighbor and R2R from N2V's at one budget."""
    schedule = {k: v for k, v in n2v.items() if k not in ("percent", "radius", "replacement")}
    return {key: {**schedule, **extra} for key, extra in _BEYOND.items()}


def _frozen(methods: dict[str, dict[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(v) for k, v in methods.items()})


#: Budget name -> method registry key -> keyword arguments of the method's constructor.
PRESETS: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "smoke": _frozen(
            {
                "bm3d": {"profile": "np"},
                "bm3d-psd": {"profile": "np"},
                "bm3d-blind": {"profile": "np"},
                "dncnn-b": _SMOKE_DNCNN_B,
                "n2c-oracle": {
                    **_SHORT_START,
                    "depth": 5,
                    "features": 16,
                    "steps": 100,
                    "batch_size": 16,
                    "patch_size": 32,
                    "lr": 2e-3,
                    "milestones": (80,),
                    "gamma": 0.1,
                },
                "n2n": _SMOKE_DNCNN_B,
                "n2v": _SMOKE_N2V,
                "n2v-official": {
                    **_SHORT_N2V_MASKING,
                    "steps": 150,
                    "epochs": 3,
                    "batch_size": 16,
                    "patch_size": 32,
                    "features": 16,
                    "residual": False,
                },
                "gan2gan": {
                    **_BSD_EXTRACTION,
                    **_SHORT_GAN,
                    "stride": 16,
                    "count": 500,
                    "gan_steps": 12,
                    "gan_batch_size": 4,
                    "n_critic": 1,
                    "gan_monitor_every": 4,
                    "features": 8,
                    "g2_depth": 3,
                    "g3_depth": 3,
                    "critic_features": 8,
                    "denoiser_depth": 5,
                    "iterations": 3,
                    "g2g_steps": 40,
                    "g2g_batch_size": 8,
                    "g2g_patch_size": 32,
                    "g2g_lr": 2e-3,
                    "g2g_milestones": (),
                },
                "noisy-n2n": _SMOKE_NOISY_N2N,
                **_beyond(_SMOKE_N2V),
                "zs-n2n": {"steps": 20, "step_size": 10, "channels": 8},
                "n2c-eq4": _SMOKE_N2C_EQ,
                "n2c-gcbd": _SMOKE_N2C_EQ,
            }
        ),
        "cpu": _frozen(
            {
                "bm3d": {"profile": "np"},
                "bm3d-psd": {"profile": "np"},
                "bm3d-blind": {"profile": "np"},
                "dncnn-b": _CPU_DNCNN_B,
                "n2c-oracle": {
                    **_SHORT_START,
                    "depth": 17,
                    "features": 64,
                    "steps": 500,
                    "batch_size": 32,
                    "patch_size": 40,
                    "lr": 1e-3,
                    "milestones": (330, 440),
                    "gamma": 0.2,
                },
                "n2n": _CPU_DNCNN_B,
                "n2v": _CPU_N2V,
                "n2v-official": {
                    **_SHORT_N2V_MASKING,
                    "steps": 400,
                    "epochs": 10,
                    "batch_size": 16,
                    "patch_size": 64,
                    "features": 32,
                    "residual": False,
                },
                "gan2gan": {
                    **_BSD_EXTRACTION,
                    **_SHORT_GAN,
                    "gan_steps": 400,
                    "gan_batch_size": 8,
                    "iterations": 3,
                    "g2g_steps": 200,
                    "g2g_batch_size": 32,
                    "g2g_patch_size": 40,
                    "g2g_lr": 1e-3,
                    "g2g_milestones": (150,),
                    "g2g_gamma": 0.3,
                },
                "noisy-n2n": _CPU_NOISY_N2N,
                **_beyond(_CPU_N2V),
                "zs-n2n": {"steps": 200, "step_size": 100},
                "n2c-eq4": _CPU_N2C_EQ,
                "n2c-gcbd": _CPU_N2C_EQ,
            }
        ),
        "paper": _frozen(
            {
                "bm3d": {"profile": "np"},
                "bm3d-psd": {"profile": "np"},
                "bm3d-blind": {"profile": "np"},
                "dncnn-b": _PAPER_DNCNN_B,
                "n2c-oracle": _PAPER_N2C,
                "n2n": _PAPER_DNCNN_B,
                "n2v": _PAPER_N2V,
                "n2v-official": {
                    **_BSD68_N2V_MASKING,
                    "steps": 80_000,
                    "epochs": 200,
                    "batch_size": 128,
                    "patch_size": 64,
                },
                "gan2gan": {
                    **_BSD_EXTRACTION,
                    "gan_steps": None,
                    "iterations": 3,
                    "g2g_steps": 4800,
                    "g2g_batch_size": 128,
                    "g2g_patch_size": 64,
                    "g2g_lr": 1e-3,
                    "g2g_milestones": (1600, 3200),
                    "g2g_gamma": 0.5,
                },
                "noisy-n2n": _PAPER_N2C,
                **_beyond(_PAPER_N2V),
                "zs-n2n": {"steps": 2000, "step_size": 1000},
                "n2c-eq4": _PAPER_N2C,
                "n2c-gcbd": _PAPER_N2C,
            }
        ),
    }
)

SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "bm3d.profile": "bm3d package default 'np', one thread (bm3d changelog: threads change outputs)",
        "dncnn-b.depth": "paper 5.1 and DnCNN paper: 20-layer DnCNN-B; spec 1.3: 667,008 parameters",
        "dncnn-b.patch_size/steps": "DnCNN paper: 50x50 patches, 128 x 3,000 patches per epoch, 50 epochs",
        "dncnn-b.lr": "cszn/DnCNN MATLAB v1.1: Adam 1e-3 for 30 epochs then 1e-4 (spec peers C)",
        "dncnn-b.noise": "paper 5.1: composite sigma in [0, 55], fresh per patch",
        "n2c-oracle.depth": "paper 5.1: the 17-layer DnCNN of G2G_j (spec 1.3: 556,032 parameters)",
        "gan2gan.extraction": "not published for BSD (spec 4.7): 64x64 windows, stride 4, the 10,000 "
        "smoothest by Eq. (4); see _BSD_EXTRACTION",
        "gan2gan.gan": "official code (spec 2.1): batch 64, n_critic 5, RMSprop 5e-5, clip 0.02, Adam 4e-4 "
        "(0.5, 0.999), alpha/beta/gamma 5/1/10, 30 epochs, linear decay after epoch 10",
        "gan2gan.g2g": "official code (spec 3.2): DnCNN-17, Adam 1e-3, MSE, batch 128, 64x64, 30 epochs of "
        "160 steps, StepLR(10 epochs, 0.5), 3 iterations, warm start",
        "gan2gan.cpu": "cpu profile (issue 20 study, see _SHORT_GAN): WGAN-GP critics without BN (32 wide), "
        "a standardised g_theta1 started at the extracted std, noise-match choice of g_theta1, batch 8, "
        "n_critic 5, the authors' generator rate 4e-4, 400 iterations; G2G 3 x 200 steps of 32 x 40x40 "
        "from whole-image estimates, noise crops off g_theta1's border",
        "short.start": "issue 20 measurement (README, Profiles): smoke and cpu start every residual DnCNN "
        "(DnCNN-B, N2N, N2V, N2S, Ne2Ne, R2R, N2C, G2G_1) as the identity; the paper profile keeps "
        "PyTorch's default start, as the authors' code and the peers' do",
        "cpu.budget": "cpu profile steps sized from measured speeds on 2 cores (DnCNN-17, batch 32 of 40x40: "
        "0.62 s a step; inference 0.52 s per BSD68 image; BM3D 6.6 s) so that the whole Table 2 (4 levels, "
        "all methods) took under 3 h (163 min with two worker processes) with the GAN2GAN of that time: "
        "DnCNN-B/N2N 800 steps, N2V 400, N2C(oracle) 500. Issue 20's GAN2GAN (400 generator iterations, "
        "G2G 3 x 200; about 44 min a fit and 8 of evaluation per level and seed) brings the whole Table 2 "
        "to about 500 core-minutes of tasks (90a2e21's run), about 4-5 h on 2 cores",
        "n2n": "paper 5.1: the 20-layer DnCNN of DnCNN-B on noisy pairs of clean BSD400, sigma in [0, 55] "
        "per pair; the DnCNN-B schedule of each profile (the paper gives none for N2N)",
        "n2v.paper": "n2v package, BSD68 reproducibility notebook (spec peers B): 0.198% masked pixels, "
        "radius 2, uniform_withCP, 64x64 patches, batch 128, 200 epochs x 400 steps, Adam 4e-4; its "
        "ReduceLROnPlateau (0.5) is replaced by halving at 50% and 75%; the network: the paper's DnCNN-17",
        "n2v.cpu_smoke": "n2v package defaults (spec peers B): 1.5% masked pixels (64 per 64x64 patch), "
        "radius 5, so short runs see 8x more loss pixels per patch",
        "n2v-official": "n2v package (spec peers B) with the masking and the step/batch/patch budget of "
        "our n2v in each profile; its own optimiser (Adam 4e-4, ReduceLROnPlateau 0.5/10 epochs) and "
        "U-Net (depth 2, kernel 3; 96 first features and residual in the BSD68 recipe, the package's "
        "32 and non-residual in the cpu profile, 16 in smoke); 5% of the training tiles as validation",
        "n2c-eq4": "paper 5.1: 17-layer DnCNN on clean BSD400 + g_theta1 noise; the G2G recipe",
        "fig4.gan2gan": "spec 4.1: Eq. (4) on 96x96 windows at stride 24, lambda 0.42 (FMD WF) or 0.15 (CT), "
        "at most 40,000 windows (the paper's N for microscopy); the smoothest 40,000 (paper) or 10,000 (cpu) "
        "under that lambda instead of the first in scan order",
        "fig4.train_limit": "cpu profile: 300 of the 2,850 FMD captures per level (round-robin over "
        "fields of view) to fit memory and time on 2 cores; paper: all",
        "n2s/ne2ne/r2r": "issue 24: N2V's DnCNN-17 and schedule at each budget (the blind benchmark sizes "
        "every method's steps to one wall-clock budget, bench.config.profiles); N2S: the authors' grid of "
        "width 4 with neighbour interpolation and their J-invariant inference (16 masked passes); "
        "Ne2Ne: the paper's gamma 2 (its code ramps it 0 -> 2); "
        "R2R: deepinv R2RLoss defaults alpha 0.5, 5 recorruptions averaged at test time",
        "zs-n2n": "Mansour & Heckel 2023: Adam 1e-3, 2000 full-image steps per test image, halved every "
        "1000, 48 channels (paper); cpu: 200 steps (halved every 100), since it trains on every test image",
        "n2c-oracle.schedule": "official code G2G recipe (spec 3.2): Adam 1e-3, batch 128, 64x64 crops, "
        "30 epochs, StepLR(10 epochs, 0.5); an epoch is 160 steps (20,500 patches / 128)",
    }
)


def get_presets(name: str) -> Mapping[str, Mapping[str, Any]]:
    """The hyper-parameters of every method at budget ``name``."""
    if name not in PRESETS:
        raise UnknownPresetError(f"unknown profile {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


def check_presets(name: str, methods: Mapping[str, type]) -> None:
    """Check that every method's hyper-parameters at budget ``name`` are keyword arguments its
    constructor takes (``methods``: registry key -> class).

    Raises
    ------
    ValueError
        Naming the budget, the method and the parameter that does not fit.
    """
    for key, params in get_presets(name).items():
        check_params(methods, key, params, where=f"profile {name!r}")


def check_params(methods: Mapping[str, type], key: str, params: Mapping[str, Any], *, where: str) -> None:
    """Check that ``params`` are keyword arguments of method ``key``'s constructor, following ``**kwargs``
    to the constructors of its base classes (N2V hands its network's options to its base's).

    Raises
    ------
    ValueError
        Naming ``where``, the method and the parameter that does not fit.
    """
    if key not in methods:
        raise ValueError(f"{where} sets hyper-parameters of {key!r}, which is not a method")
    try:
        inspect.signature(methods[key]).bind(**params)
    except TypeError as error:
        raise ValueError(f"{where}, method {key!r}: {error}") from None
    unknown = find_unknown_keywords(methods[key], params)
    if unknown:
        raise ValueError(f"{where}, method {key!r}: no keyword argument {', '.join(map(repr, unknown))}")


def find_unknown_keywords(cls: type, params: Mapping[str, Any]) -> list[str]:
    """The names in ``params`` that no constructor along ``cls``'s ``**kwargs`` chain takes."""
    left = set(params)
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        left -= {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return sorted(left)
    return sorted(left)
