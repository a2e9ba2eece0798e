"""GAN2GAN behind the one interface: extraction, Algorithm 1, then J iterations of G2G training.

``fit`` sees the noisy training images and nothing else. Its stages are the paper's Table 2 columns:
``g_theta2`` (the generative model's initial denoiser), then ``G2G_1`` ... ``G2G_J``. Every finished
stage is written next to the fit's checkpoint, so an interrupted fit resumes at the stage it was in.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from methods.base import Method, Requirements, TrainingData
from methods.batches import ImageBank, seeded_generator
from methods.gan2gan.gan import (
    GANConfig,
    GenerativeModel,
    LearnedNoise,
    measure_extracted_noise,
    train_generative_model,
)
from methods.gan2gan.iterate import make_pair_sampler
from methods.nets import DnCNN, NoiseGenerator
from methods.training import (
    TrainConfig,
    apply_network,
    init_seeded,
    refresh_batch_norm,
    resolve_device,
    save_atomic,
    train_network,
)
from noise.extraction import ExtractionResult, extract_noise_patches
from noise.seeds import derive_rng, derive_seed
from noise.statistics import measure_noise

#: Batches used to re-estimate BN statistics of g_theta2 and of g_theta1 after Algorithm 1 (g_theta1 is
#: cheap, and a standardised g_theta1's per-pixel means are estimated with an error of its std divided
#: by the root of the samples: 64 batches of 8 leave a fixed pattern of 1/23 of the noise std).
_REFRESH_BATCHES = 16
_G1_REFRESH_BATCHES = 64
#: The integer label of this module's streams (:mod:`noise.seeds`): 1 for the generated-noise
#: statistics, 2 for the BN re-estimation (a torch generator).
_STREAM = 0x6A2


class NetworkStage(Method):
    """One trained network of a multi-stage method, usable wherever a denoiser is evaluated."""

    batched: ClassVar[bool] = True

    def __init__(self, name: str, net: nn.Module, *, device: torch.device) -> None:
        self.name = name
        self.net = net
        self.device = device

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image (or an (N, H, W) stack) in a single forward pass."""
        return apply_network(self.net, noisy, device=self.device)


class GAN2GAN(Method):
    """GAN2GAN (Cha et al., ICLR 2021): blind denoising learned from single noisy images only.

    Parameters
    ----------
    extraction : {"wavelet", "gcbd"}
        Smooth-patch rule: the paper's Eq. (4) or GCBD's Eq. (3) (:mod:`noise.extraction`).
    window, stride : int
        Extraction window and scan stride.
    lam : float or None
        Eq. (4) threshold; None chooses the smallest lambda keeping ``count`` windows.
    count : int or None
        Number of windows to keep when ``lam`` is None.
    max_lambda : float or None
        Cap on the chosen lambda.
    gan_steps : int or None
        Generator iterations of Algorithm 1; None = ``gan_epochs`` passes over the noise patches.
    gan_epochs, gan_decay_epoch, gan_batch_size, n_critic, alpha, beta, cycle_weight, lr_generator,
    lr_critic, critic_optimizer, critic_betas, clip, lipschitz, penalty_weight, critic_batch :
        Algorithm 1 (:class:`methods.gan2gan.gan.GANConfig`; ``cycle_weight`` is its gamma).
    gan_selection, gan_monitor_every :
        Which generators Algorithm 1 keeps and how often it diagnoses them (``GANConfig.selection``,
        ``GANConfig.monitor_every``).
    iterations : int
        Number J of G2G iterations.
    g2g_init : {"g_theta2", "noisy"}
        The first clean estimate of the G2G iterations: g_theta2's output (the paper), or the noisy
        images themselves (the Fig. 6(b, c) ablation).
    g2g_start : {"default", "identity"}
        How G2G_1's fresh DnCNN starts (:class:`methods.nets.DnCNN`): PyTorch's default initialisation
        (the authors'), or with its last convolution zeroed so that it starts as the identity. From the
        default start G2G_1's pair loss sits at the identity's for about 200 steps of 32 x 40x40 at
        sigma 15 (75 at sigma 25), from the identity start for about 110. Later iterations are
        warm-started.
    g2g_steps, g2g_batch_size, g2g_patch_size, g2g_lr, g2g_milestones, g2g_gamma, g2g_warmup :
        Training of each G2G iteration (Adam, MSE, MultiStepLR on steps after ``g2g_warmup`` steps of
        linear warmup: :class:`methods.training.TrainConfig`).
    g2g_snapshot_every : int
        Keep each G2G iteration's DnCNN after every this many steps (0 = none) as extra stages
        ``"G2G_j step s"`` (:meth:`stages`), so that an evaluation draws test PSNR against the step.
    g2g_estimate, g2g_noise_offset : str
        How each G2G pair is made (:func:`methods.gan2gan.iterate.make_pair_sampler`): the clean estimate
        from each noisy crop (``"crops"``, the code) or from each whole image once per iteration
        (``"images"``); the noise crop from g_theta1's top-left corner (``"corner"``, the code) or at a
        random offset inside its outer pixel ring (``"interior"``).
    nz, features, g2_depth, g3_depth, critic_features, denoiser_depth :
        Architectures; the defaults are the authors'. Smaller values are for tests.
    critic_norm, generator_upsample, generator_output :
        The critics' normalisation, g_theta1's upsampling and last layer
        (:class:`methods.gan2gan.gan.GenerativeModel`); a standardised g_theta1 starts at the extracted
        noise's std.
    g2_output : {"sigmoid", "linear"}
        g_theta2's output layer (linear: the "no sigmoid" ablation of Fig. 6a).
    device : str
        'auto', 'cpu' or 'cuda'.
    """

    name: ClassVar[str] = "GAN2GAN"
    requires: ClassVar[Requirements] = Requirements()
    batched: ClassVar[bool] = True

    def __init__(
        self,
        *,
        extraction: str = "wavelet",
        window: int = 96,
        stride: int = 24,
        lam: float | None = 0.42,
        count: int | None = None,
        max_lambda: float | None = None,
        gan_steps: int | None = None,
        gan_epochs: float = 30,
        gan_decay_epoch: int = 10,
        gan_batch_size: int = 64,
        n_critic: int = 5,
        alpha: float = 5.0,
        beta: float = 1.0,
        cycle_weight: float = 10.0,
        lr_generator: float = 4e-4,
        lr_critic: float = 5e-5,
        critic_optimizer: str = "rmsprop",
        critic_betas: tuple[float, float] = (0.5, 0.999),
        clip: float = 0.02,
        lipschitz: str = "clip",
        penalty_weight: float = 10.0,
        critic_batch: str = "separate",
        gan_selection: str = "last",
        gan_monitor_every: int = 25,
        iterations: int = 3,
        g2g_init: str = "g_theta2",
        g2g_start: str = "default",
        g2g_steps: int = 4800,
        g2g_batch_size: int = 128,
        g2g_patch_size: int = 64,
        g2g_lr: float = 1e-3,
        g2g_milestones: tuple[int, ...] = (1600, 3200),
        g2g_gamma: float = 0.5,
        g2g_warmup: int = 0,
        g2g_snapshot_every: int = 0,
        g2g_estimate: str = "crops",
        g2g_noise_offset: str = "corner",
        nz: int = 128,
        features: int = 64,
        g2_depth: int = 15,
        g3_depth: int = 17,
        critic_features: int = 128,
        denoiser_depth: int = 17,
        g2_output: str = "sigmoid",
        critic_norm: str = "batch",
        generator_upsample: str = "transposed",
        generator_output: str = "tanh",
        device: str = "auto",
    ) -> None:
        if extraction not in ("wavelet", "gcbd"):
            raise ValueError(f"extraction must be 'wavelet' (Eq. 4) or 'gcbd' (Eq. 3), got {extraction!r}")
        if g2g_init not in ("g_theta2", "noisy"):
            raise ValueError(f"g2g_init must be 'g_theta2' or 'noisy', got {g2g_init!r}")
        if g2g_start not in ("default", "identity"):
            raise ValueError(f"g2g_start must be 'default' or 'identity', got {g2g_start!r}")
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        if g2g_snapshot_every < 0:
            raise ValueError(f"g2g_snapshot_every must be >= 0, got {g2g_snapshot_every}")
        self.params: dict[str, Any] = {
            key: value for key, value in locals().items() if key not in ("self", "device", "__class__")
        }
        self.params["g2g_milestones"] = tuple(g2g_milestones)
        self.params["critic_betas"] = tuple(critic_betas)
        self.device = resolve_device(device)
        self.model = self._build_model()
        self.denoisers: list[DnCNN] = []
        #: ``snapshots[j][step]``: G2G_j's DnCNN after ``step`` steps (``g2g_snapshot_every``).
        self.snapshots: dict[int, dict[int, DnCNN]] = {}
        self.report: dict[str, Any] = {}

    # construction -----------------------------------------------------------------------------------

    def _build_model(self) -> GenerativeModel:
        p = self.params
        return GenerativeModel(
            nz=p["nz"],
            features=p["features"],
            g2_depth=p["g2_depth"],
            g3_depth=p["g3_depth"],
            critic_features=p["critic_features"],
            g2_output=p["g2_output"],
            critic_norm=p["critic_norm"],
            generator_upsample=p["generator_upsample"],
            generator_output=p["generator_output"],
        )

    def _build_denoiser(self) -> DnCNN:
        p = self.params
        return DnCNN(depth=p["denoiser_depth"], features=p["features"], start=p["g2g_start"])

    def gan_config(self, n_patches: int) -> GANConfig:
        """Algorithm 1's settings; ``n_patches`` sets the epoch length when ``gan_steps`` is None."""
        p = self.params
        steps = p["gan_steps"]
        if steps is None:
            steps = max(1, round(p["gan_epochs"] * n_patches / p["gan_batch_size"]))
        return GANConfig(
            steps=steps,
            epochs=p["gan_epochs"],
            decay_epoch=p["gan_decay_epoch"],
            batch_size=p["gan_batch_size"],
            n_critic=p["n_critic"],
            alpha=p["alpha"],
            beta=p["beta"],
            gamma=p["cycle_weight"],
            lr_generator=p["lr_generator"],
            lr_critic=p["lr_critic"],
            critic_optimizer=p["critic_optimizer"],
            critic_betas=p["critic_betas"],
            clip=p["clip"],
            lipschitz=p["lipschitz"],
            penalty_weight=p["penalty_weight"],
            critic_batch=p["critic_batch"],
            monitor_every=p["gan_monitor_every"],
            selection=p["gan_selection"],
        )

    def g2g_config(self) -> TrainConfig:
        """Training settings of each G2G iteration."""
        p = self.params
        return TrainConfig(
            steps=p["g2g_steps"],
            batch_size=p["g2g_batch_size"],
            patch_size=p["g2g_patch_size"],
            lr=p["g2g_lr"],
            milestones=p["g2g_milestones"],
            gamma=p["g2g_gamma"],
            loss="mse",
            warmup=p["g2g_warmup"],
        )

    # fitting ----------------------------------------------------------------------------------------

    def extract(self, noisy: tuple[np.ndarray, ...]) -> ExtractionResult:
        """Smooth noise patches of the noisy training images (Eq. 4 or Eq. 3)."""
        p = self.params
        if p["extraction"] == "wavelet":
            options = {"lam": p["lam"], "count": p["count"], "max_lambda": p["max_lambda"]}
        else:
            options = {}
        return extract_noise_patches(
            noisy, rule=p["extraction"], size=p["window"], stride=p["stride"], **options
        )

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Extract noise patches, fit the generative model, then run the G2G iterations.

        ``checkpoint`` names the stage files: ``<checkpoint>-gan`` etc. hold finished stages and
        ``<checkpoint>-gan.ckpt`` etc. the training state of the stage in progress.
        """
        noisy = data.noisy
        if not noisy:
            raise ValueError(f"{self.name} learns from noisy images, but the training data has none")
        small = [i for i, im in enumerate(noisy) if min(im.shape) < self.min_image_size]
        if small:
            raise ValueError(
                f"{self.name} needs noisy images of at least {self.min_image_size} pixels a side; "
                f"training image {small[0]} is {noisy[small[0]].shape}"
            )
        self.report = {"seconds": {}, "g2g": {}}
        self._fit_generative_model(noisy, seed=seed, progress=progress, checkpoint=checkpoint)
        self.denoisers = []
        self.snapshots = {}
        estimator: nn.Module = self.model.g2 if self.params["g2g_init"] == "g_theta2" else nn.Identity()
        for j in range(1, self.params["iterations"] + 1):
            net = self._fit_iteration(
                j, noisy, estimator=estimator, seed=seed, progress=progress, checkpoint=checkpoint
            )
            self.denoisers.append(net)
            estimator = net

    def _fit_generative_model(
        self, noisy: tuple[np.ndarray, ...], *, seed: int, progress: bool, checkpoint: Path | None
    ) -> None:
        done = _stage_file(checkpoint, "gan")
        if done is not None and done.exists():
            state = torch.load(done, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state["model"])
            self.report.update(json.loads(state["report"]))
            self.model.to(self.device).eval()
            return
        start = time.perf_counter()
        extraction = self.extract(noisy)
        self.report["extraction"] = _summarise_extraction(extraction)
        self.report["seconds"]["extraction"] = time.perf_counter() - start
        config = self.gan_config(extraction.n_patches)
        self.model = init_seeded(self._build_model, seed=seed)
        if self.params["generator_output"] == "standardised":
            noise = ImageBank(extraction.patches, device=self.device)
            self.model.g1.set_gain(measure_extracted_noise(noise, seed=seed).random_std)
        fit = train_generative_model(
            self.model,
            noisy_images=noisy,
            noise_patches=extraction.patches,
            config=config,
            seed=seed,
            device=self.device,
            checkpoint_path=_stage_file(checkpoint, "gan.ckpt"),
            progress=progress,
        )
        self._refresh_statistics(noisy, seed=seed)
        history = fit.history
        generated = measure_noise(
            self.learned_noise().sample((256, 64, 64), rng=derive_rng(seed, _STREAM, 1))
        )
        self.report["gan"] = {
            "steps": config.steps,
            "selection": config.selection,
            "chosen_step": fit.chosen_step,
            "final": {key: values[-1] for key, values in history.logs.items()},
            "history": {"step": history.steps, **history.logs},
            "diagnostics": fit.diagnostics,
            "extracted_noise_255": fit.reference.scaled(255),
            "generated_noise_255": generated.scaled(255),
        }
        self.report["seconds"]["gan"] = history.seconds
        if done is not None:
            state = {"model": self.model.state_dict(), "report": json.dumps(self.report, default=float)}
            save_atomic(state, done)

    def _refresh_statistics(self, noisy: tuple[np.ndarray, ...], *, seed: int) -> None:
        """Re-estimate the BN statistics of g_theta1 and g_theta2 (used in eval mode) from final weights."""
        generator = seeded_generator(seed, _STREAM, 2, device=self.device)
        batch, nz = self.params["gan_batch_size"], self.params["nz"]
        latents = [
            torch.randn((batch, nz), device=self.device, generator=generator)
            for _ in range(_G1_REFRESH_BATCHES)
        ]
        refresh_batch_norm(self.model.g1, latents)
        bank = ImageBank(noisy, device=self.device)
        crops = [
            bank.sample(size=64, count=batch, augment="flips", generator=generator)[:, None]
            for _ in range(_REFRESH_BATCHES)
        ]
        refresh_batch_norm(self.model.g2, crops)
        self.model.eval()

    def _fit_iteration(
        self,
        j: int,
        noisy: tuple[np.ndarray, ...],
        *,
        estimator: nn.Module,
        seed: int,
        progress: bool,
        checkpoint: Path | None,
    ) -> DnCNN:
        """G2G_j (Eq. 10): a fresh DnCNN for j = 1, the previous one warm-started after."""
        done = _stage_file(checkpoint, f"g2g{j}")
        if done is not None and done.exists():
            state = torch.load(done, map_location="cpu", weights_only=True)
            self.report["seconds"][f"G2G_{j}"] = state["seconds"]
            self.report["g2g"][f"G2G_{j}"] = json.loads(state["losses"])
            self.snapshots[j] = {
                step: self._load_denoiser(weights) for step, weights in state.get("snapshots", {}).items()
            }
            return self._load_denoiser(state["net"])
        stage_seed = derive_seed(seed, j)
        net = init_seeded(self._build_denoiser, seed=stage_seed) if j == 1 else copy.deepcopy(estimator)
        config = self.g2g_config()
        draw = make_pair_sampler(
            noisy,
            generator=self.model.g1,
            estimator=estimator,
            batch_size=config.batch_size,
            patch_size=config.patch_size,
            device=self.device,
            estimate=self.params["g2g_estimate"],
            noise_offset=self.params["g2g_noise_offset"],
        )
        history = train_network(
            net,
            draw_batch=draw,
            config=config,
            seed=stage_seed,
            device=self.device,
            checkpoint_path=_stage_file(checkpoint, f"g2g{j}.ckpt"),
            snapshot_steps=self._snapshot_steps(),
            progress=progress,
            desc=f"G2G_{j}",
        )
        self.report["seconds"][f"G2G_{j}"] = history.seconds
        # the pair loss at the end against returning the input: a ratio near 1 is the identity plateau;
        # the logged curve of both draws the G2G convergence without a clean image
        losses = {
            **{name: history.final(name) for name in ("loss", "identity_loss")},
            "history": {"step": history.steps, **history.logs},
        }
        self.report["g2g"][f"G2G_{j}"] = losses
        snapshots = {step: state["net"] for step, state in history.snapshots.items()}
        self.snapshots[j] = {step: self._load_denoiser(weights) for step, weights in snapshots.items()}
        if done is not None:
            state = {
                "net": net.state_dict(),
                "seconds": history.seconds,
                "losses": json.dumps(losses),
                "snapshots": snapshots,
            }
            save_atomic(state, done)
        return net

    def _snapshot_steps(self) -> list[int]:
        """The G2G steps after which each iteration's DnCNN is kept (before the last step)."""
        every, steps = self.params["g2g_snapshot_every"], self.params["g2g_steps"]
        return list(range(every, steps, every)) if every else []

    def _load_denoiser(self, weights: Mapping[str, torch.Tensor]) -> DnCNN:
        net = self._build_denoiser()
        net.load_state_dict(weights)
        return net.to(self.device).eval()

    @property
    def min_image_size(self) -> int:
        """Smallest training image side: the extraction window, g_theta1's 64 and the G2G crops."""
        return max(self.params["window"], 64, self.params["g2g_patch_size"])

    # using ------------------------------------------------------------------------------------------

    def learned_noise(self) -> LearnedNoise:
        """The fitted noise generator g_theta1 as a noise model (for N2C(Eq.4))."""
        return LearnedNoise(self.model.g1, device=self.device)

    @property
    def generator(self) -> NoiseGenerator:
        """The fitted g_theta1."""
        return self.model.g1

    def stages(self) -> Mapping[str, NetworkStage | GAN2GAN]:
        """``g_theta2``, then ``G2G_1`` ... ``G2G_J`` (the paper's Table 2 columns); the last is ``self``.

        With ``g2g_snapshot_every``, each ``G2G_j`` is preceded by its snapshots ``"G2G_j step s"``.
        """
        nets: dict[str, nn.Module] = {"g_theta2": self.model.g2}
        for j, net in enumerate(self.denoisers, start=1):
            nets.update({f"G2G_{j} step {s}": snap for s, snap in sorted(self.snapshots.get(j, {}).items())})
            nets[f"G2G_{j}"] = net
        *earlier, last = nets
        return {
            **{name: NetworkStage(name, nets[name], device=self.device) for name in earlier},
            last: self,
        }

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image (or an (N, H, W) stack) with the last stage (G2G_J, or g_theta2 when
        J = 0)."""
        net = self.denoisers[-1] if self.denoisers else self.model.g2
        return apply_network(net, noisy, device=self.device)

    def save(self, path: Path) -> None:
        """Save hyper-parameters, g_theta1, g_theta2, every G2G_j and the fit report.

        g_theta3 and the critics are only needed for training and are not saved, as in the official code.
        """
        torch.save(
            {
                "params": self.params,
                "g1": self.model.g1.state_dict(),
                "g2": self.model.g2.state_dict(),
                "denoisers": [net.state_dict() for net in self.denoisers],
                "snapshots": {
                    j: {step: net.state_dict() for step, net in nets.items()}
                    for j, nets in self.snapshots.items()
                },
                "report": json.dumps(self.report, default=float),
            },
            path,
        )

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> GAN2GAN:
        """Rebuild from :meth:`save`'s file."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        method = cls(**state["params"], device=device)
        method.model.g1.load_state_dict(state["g1"])
        method.model.g2.load_state_dict(state["g2"])
        method.model.to(method.device).eval()
        method.denoisers = [method._load_denoiser(weights) for weights in state["denoisers"]]
        method.snapshots = {
            j: {step: method._load_denoiser(weights) for step, weights in nets.items()}
            for j, nets in state.get("snapshots", {}).items()
        }
        method.report = json.loads(state["report"])
        return method


def _stage_file(checkpoint: Path | None, stage: str) -> Path | None:
    return None if checkpoint is None else checkpoint.with_name(f"{checkpoint.name}-{stage}")


def _summarise_extraction(result: ExtractionResult) -> dict[str, Any]:
    """What the report says about the extracted noise: count, threshold and the histogram of their std."""
    sigma = result.smooth_sigma() * 255
    counts, edges = np.histogram(sigma, bins=30) if len(sigma) else (np.zeros(0), np.zeros(0))
    return {
        "rule": result.rule,
        "size": result.size,
        "stride": result.stride,
        "threshold": float(result.threshold),
        "n_windows": result.n_candidates,
        "n_patches": int(result.n_patches),
        "sigma_255_quantiles": {
            f"p{q}": float(np.quantile(sigma, q / 100)) if len(sigma) else float("nan") for q in (5, 50, 95)
        },
        "sigma_255_histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }
