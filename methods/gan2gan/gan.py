"""The generative noise model of GAN2GAN: three generators, two W-GAN critics, Algorithm 1 (Eqs. 5-8).

g_theta1 maps a Gaussian latent r to a noise patch; g_theta2 (the initial denoiser) maps a noisy patch
z to a clean estimate; g_theta3 maps that estimate back to z. Critic f_w1 compares generated noise with
the smooth noise patches N extracted from the noisy images (Eq. 5); critic f_w2 compares
g_theta2(z) + g_theta1(r) with z (Eq. 6); the cycle loss (Eq. 7) ties g_theta3(g_theta2(z)) to z and the
generators minimise Eq. (8). Nothing here ever sees a clean image.

One generator iteration computes the generated samples once and reuses them, detached, across the
``n_critic`` steps of each critic. The authors' loop recomputes them in every critic step and
back-propagates through the generators only to zero those gradients again: the parameter updates are
the same (the generators' forward passes in train mode give the same outputs each time), at about
half the cost. ``reuse_fakes=False`` runs the authors' order, for the benchmark.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn.functional import l1_loss

from methods.batches import ImageBank, draw_noise, seeded_generator
from methods.nets import Critic, DnCNN, NoiseGenerator, init_dcgan_
from methods.training import CHECKPOINT_SECONDS, TrainHistory, make_adam, run_training
from noise.statistics import NoiseStatistics, measure_noise

#: What :class:`GANMonitor` records at each diagnosed iteration (standard deviations in image units).
MONITOR_FIELDS: tuple[str, ...] = (
    "step",
    "g1_total_std",
    "g1_random_std",
    "g1_pattern_std",
    "g1_border_std",
    "g1_interior_std",
    "g1_flatness",
    "g2_residual_std",
    "mismatch",
)
#: Latents and noisy crops a diagnosis looks at.
MONITOR_SAMPLES = 256
MONITOR_CROPS = 16


@dataclass(frozen=True)
class GANConfig:
    """Settings of Algorithm 1 (defaults: the official code, spec sections 2.1 and 8).

    Parameters
    ----------
    steps : int
        Generator iterations. The official code runs 30 epochs of ``len(N) / batch_size`` iterations.
    epochs : float
        Nominal epochs the ``steps`` are divided into, for the generators' learning-rate schedule.
    decay_epoch : int
        The generators' learning rate decays linearly from epoch ``decay_epoch + 2`` (1-based) to
        0.1x in the last epoch, as the code's ``LambdaLR`` stepped with ``step(epoch)`` does.
    batch_size : int
        Mini-batch size m.
    patch_size : int
        Crop size of noisy and noise patches; g_theta1's output is 64x64, so 64.
    n_critic : int
        Critic steps per generator iteration, for each critic.
    alpha, beta, gamma : float
        Weights of L_N (Eq. 5), L_Z (Eq. 6) and the cycle loss (Eq. 7) in Eq. (8).
    lr_generator : float
        Adam learning rate of the generators, betas (0.5, 0.999).
    lr_critic : float
        Critic learning rate.
    critic_optimizer : {"rmsprop", "adam"}
        RMSprop in the code; Adam (betas (0.5, 0.999)) in the paper's Algorithm 1.
    clip : float
        Weight clipping of every critic parameter (BN affine included), when ``lipschitz="clip"``.
    lipschitz : {"clip", "penalty"}
        How the critics are kept 1-Lipschitz: weight clipping (the authors', WGAN) or a gradient penalty
        ``penalty_weight * E[(|grad f(x_mix)| - 1)^2]`` on random mixes of real and fake (WGAN-GP,
        Gulrajani et al. 2017; needs critics without BatchNorm).
    penalty_weight : float
        The gradient penalty's weight (WGAN-GP: 10).
    critic_betas : tuple of float
        Adam's betas for the critics when ``critic_optimizer="adam"`` (WGAN-GP: (0.5, 0.9)).
    critic_batch : {"separate", "joint"}
        The critics score the real and the fake batch in two forward passes (the authors'), or in one
        forward pass of both (so BatchNorm normalises them with the same statistics).
    max_critic_estimate : float
        A W-estimate beyond this counts as divergence and stops the fit.
    checkpoint_seconds : float
        Training time between checkpoints (:data:`methods.training.CHECKPOINT_SECONDS`).
    monitor_every : int
        Generator iterations between two clean-free diagnostics of g_theta1 and g_theta2
        (:class:`GANMonitor`); 0 = never.
    selection : {"last", "noise-match"}
        Keep g_theta1 of the last iteration, or of the diagnosed iteration whose generated noise best
        matches the extracted noise patches (:meth:`GANMonitor.mismatch`); g_theta2 is always the last
        iteration's (chosen with g_theta1 it fell to 18.1 dB from 21.8 at sigma 25, on held-out BSD400
        images). Neither reads a clean image.
    """

    steps: int
    epochs: float = 30
    decay_epoch: int = 10
    batch_size: int = 64
    patch_size: int = 64
    n_critic: int = 5
    alpha: float = 5.0
    beta: float = 1.0
    gamma: float = 10.0
    lr_generator: float = 4e-4
    lr_critic: float = 5e-5
    critic_optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    clip: float = 0.02
    lipschitz: Literal["clip", "penalty"] = "clip"
    penalty_weight: float = 10.0
    critic_betas: tuple[float, float] = (0.5, 0.999)
    critic_batch: Literal["separate", "joint"] = "separate"
    max_critic_estimate: float = 1e3
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    monitor_every: int = 25
    selection: Literal["last", "noise-match"] = "last"

    def __post_init__(self) -> None:
        if self.lipschitz not in ("clip", "penalty"):
            raise ValueError(f"lipschitz must be 'clip' or 'penalty', got {self.lipschitz!r}")
        if self.critic_batch not in ("separate", "joint"):
            raise ValueError(f"critic_batch must be 'separate' or 'joint', got {self.critic_batch!r}")
        if self.selection not in ("last", "noise-match"):
            raise ValueError(f"selection must be 'last' or 'noise-match', got {self.selection!r}")
        if self.selection == "noise-match" and self.monitor_every <= 0:
            raise ValueError("selection 'noise-match' needs monitor_every > 0")

    @property
    def steps_per_epoch(self) -> float:
        """Generator iterations per nominal epoch."""
        return self.steps / self.epochs

    def generator_lr_factor(self, step: int) -> float:
        """Multiplier of the generators' learning rate for 0-based generator iteration ``step``."""
        epoch = math.floor(step / self.steps_per_epoch)
        return 1.0 - max(0, epoch - self.decay_epoch - 1) / (self.epochs - self.decay_epoch)


class GenerativeModel(nn.Module):
    """g_theta1, g_theta2, g_theta3 and the critics f_w1, f_w2, initialised as the official code does.

    The defaults are the authors' architectures (spec 1): a DCGAN g_theta1 (174,448 parameters), a
    15-layer sigmoid DnCNN g_theta2 (482,048), a 17-layer residual DnCNN g_theta3 (556,032) and two
    4-layer DCGAN critics with BN (2,634,369 each). Smaller widths and depths are for tests only.

    Parameters
    ----------
    nz : int
        Latent dimension of g_theta1.
    features : int
        Width of g_theta2 and g_theta3.
    g2_depth, g3_depth : int
        Conv layers of g_theta2 and g_theta3.
    critic_features : int
        Width of the critics' first layer.
    g2_output : {"sigmoid", "linear"}
        g_theta2's output layer: the authors' sigmoid, or linear (the "no sigmoid" ablation, Fig. 6a).
    critic_norm : {"batch", "none"}
        The critics' normalisation (:class:`methods.nets.Critic`).
    generator_upsample : {"transposed", "resize"}
        g_theta1's upsampling layers (:class:`methods.nets.NoiseGenerator`).
    generator_output : {"tanh", "standardised"}
        g_theta1's last layer (:class:`methods.nets.NoiseGenerator`).
    """

    def __init__(
        self,
        *,
        nz: int = 128,
        features: int = 64,
        g2_depth: int = 15,
        g3_depth: int = 17,
        critic_features: int = 128,
        g2_output: Literal["sigmoid", "linear"] = "sigmoid",
        critic_norm: Literal["batch", "none"] = "batch",
        generator_upsample: Literal["transposed", "resize"] = "transposed",
        generator_output: Literal["tanh", "standardised"] = "tanh",
    ) -> None:
        super().__init__()
        self.g1 = init_dcgan_(NoiseGenerator(nz=nz, upsample=generator_upsample, output=generator_output))
        self.g2 = init_dcgan_(DnCNN(depth=g2_depth, features=features, output=g2_output))
        self.g3 = init_dcgan_(DnCNN(depth=g3_depth, features=features, output="linear"))
        self.c1 = init_dcgan_(Critic(features=critic_features, norm=critic_norm))
        self.c2 = init_dcgan_(Critic(features=critic_features, norm=critic_norm))

    def generators(self) -> tuple[nn.Module, ...]:
        """g_theta1, g_theta2, g_theta3."""
        return (self.g1, self.g2, self.g3)

    def critics(self) -> tuple[nn.Module, ...]:
        """f_w1, f_w2."""
        return (self.c1, self.c2)


@dataclass
class GANOptimizers:
    """One optimizer per generator (Adam) and per critic (RMSprop or Adam)."""

    generators: tuple[torch.optim.Optimizer, ...]
    critics: tuple[torch.optim.Optimizer, ...]

    @classmethod
    def build(cls, model: GenerativeModel, config: GANConfig, *, device: torch.device) -> GANOptimizers:
        """The optimizers of Algorithm 1 as coded, for networks that train on ``device``."""
        generators = tuple(
            make_adam(g.parameters(), lr=config.lr_generator, betas=(0.5, 0.999), device=device)
            for g in model.generators()
        )
        if config.critic_optimizer == "rmsprop":
            critics = tuple(torch.optim.RMSprop(c.parameters(), lr=config.lr_critic) for c in model.critics())
        elif config.critic_optimizer == "adam":
            critics = tuple(
                make_adam(c.parameters(), lr=config.lr_critic, betas=config.critic_betas, device=device)
                for c in model.critics()
            )
        else:
            raise ValueError(f"critic_optimizer must be 'rmsprop' or 'adam', got {config.critic_optimizer!r}")
        return cls(generators=generators, critics=critics)


def score_batches(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, joint: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean critic scores of ``real`` and ``fake``, from one forward pass of both or from two."""
    if joint:
        scores = critic(torch.cat([real, fake]))
        return scores[: len(real)].float().mean(), scores[len(real) :].float().mean()
    return critic(real).float().mean(), critic(fake).float().mean()


def _score_fake(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, joint: bool) -> torch.Tensor:
    """The generators' view of a critic: the mean score of ``fake`` (scored beside ``real`` if joint)."""
    scores = critic(torch.cat([real, fake]))[len(real) :] if joint else critic(fake)
    return scores.float().mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's ``E[(|grad_x f(x)| - 1)^2]`` at random mixes x of real and fake samples (one per pair).

    The critic's score of a sample is its mean over the output map; the mixing weights come from the
    torch RNG, which the training loop seeds.
    """
    weight = torch.rand(len(real), 1, 1, 1, device=real.device)
    mixed = (weight * real + (1 - weight) * fake).requires_grad_(True)
    scores = critic(mixed).float().flatten(1).mean(1)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()


def _train_critic(
    critic: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    make_fake: Callable[[], torch.Tensor],
    *,
    steps: int,
    config: GANConfig,
) -> torch.Tensor:
    """``steps`` critic updates on -(E f(real) - E f(fake)), kept Lipschitz; the last W-estimate."""
    estimate = torch.zeros((), device=real.device)
    joint = config.critic_batch == "joint"
    for _ in range(steps):
        fake = make_fake()
        real_score, fake_score = score_batches(critic, real, fake, joint=joint)
        estimate = real_score - fake_score
        loss = -estimate
        if config.lipschitz == "penalty":
            loss = loss + config.penalty_weight * gradient_penalty(critic, real, fake.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if config.lipschitz == "clip":
            with torch.no_grad():
                for p in critic.parameters():
                    p.clamp_(-config.clip, config.clip)
    return estimate.detach()


def step_generative_model(
    model: GenerativeModel,
    optimizers: GANOptimizers,
    *,
    noisy: torch.Tensor,
    noise: torch.Tensor,
    latent: torch.Tensor,
    config: GANConfig,
    reuse_fakes: bool = True,
) -> dict[str, torch.Tensor]:
    """One generator iteration of Algorithm 1: ``n_critic`` steps of each critic, then one of the generators.

    Parameters
    ----------
    model : GenerativeModel
        In train mode.
    optimizers : GANOptimizers
        Its optimizers.
    noisy, noise : Tensor
        (B, 1, H, W) noisy patches Z and mean-subtracted smooth noise patches N.
    latent : Tensor
        (B, nz) Gaussian latent r, shared by the critic and generator steps as in the code.
    config : GANConfig
        Loss weights, critic steps and clipping.
    reuse_fakes : bool
        Compute g_theta1(r) and g_theta2(Z) once and reuse them detached in the critic steps (ours);
        False recomputes them, with gradients, in every critic step (the authors' order).

    Returns
    -------
    dict of Tensor
        W-estimates ``w1`` (Eq. 5) and ``w2`` (Eq. 6) after the critic steps, the generators' adversarial
        terms ``loss_n``, ``loss_z``, the cycle loss ``cycle`` and their weighted sum ``loss`` (Eq. 8).
    """
    g1, g2, g3 = model.generators()
    c1, c2 = model.critics()
    if reuse_fakes:
        generated = g1(latent)
        estimate = g2(noisy)
        fake_noise = generated.detach()
        fake_noisy = (estimate + generated).detach()
        w1 = _train_critic(
            c1, optimizers.critics[0], noise, lambda: fake_noise, steps=config.n_critic, config=config
        )
        w2 = _train_critic(
            c2, optimizers.critics[1], noisy, lambda: fake_noisy, steps=config.n_critic, config=config
        )
    else:
        w1 = _train_critic(
            c1, optimizers.critics[0], noise, lambda: g1(latent), steps=config.n_critic, config=config
        )
        w2 = _train_critic(
            c2,
            optimizers.critics[1],
            noisy,
            lambda: g2(noisy) + g1(latent),
            steps=config.n_critic,
            config=config,
        )
        generated = g1(latent)
        estimate = g2(noisy)
    for critic in (c1, c2):
        critic.requires_grad_(False)
    try:
        joint = config.critic_batch == "joint"
        loss_n = -_score_fake(c1, noise, generated, joint=joint)
        loss_z = -_score_fake(c2, noisy, estimate + generated, joint=joint)
        cycle = l1_loss(g3(estimate).float(), noisy)
        loss = config.alpha * loss_n + config.beta * loss_z + config.gamma * cycle
        for optimizer in optimizers.generators:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in optimizers.generators:
            optimizer.step()
    finally:
        for critic in (c1, c2):
            critic.requires_grad_(True)
    return {
        "loss": loss.detach(),
        "loss_n": loss_n.detach(),
        "loss_z": loss_z.detach(),
        "cycle": cycle.detach(),
        "w1": w1,
        "w2": w2,
    }


def draw_gan_batch(
    *, noisy: ImageBank, noise: ImageBank, batch_size: int, patch_size: int, nz: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One mini-batch of Algorithm 1 on the banks' device: noisy crops Z, mean-subtracted noise crops N
    and latents r, from that device's torch RNG.

    Crops are taken at random positions with random horizontal/vertical flips (the official loader);
    the mean of every noise crop is subtracted after cropping (spec 2.2).
    """
    z = noisy.sample(size=patch_size, count=batch_size, augment="flips")
    n = noise.sample(size=patch_size, count=batch_size, augment="flips")
    n -= n.mean(dim=(1, 2), keepdim=True)
    latent = torch.randn((batch_size, nz), device=noise.device)
    return z, n, latent


class GANMonitor(nn.Module):
    """Clean-free diagnostics along Algorithm 1, and the iteration whose generators match the noise best.

    Every ``every`` generator iterations it measures g_theta1's noise on fixed latents (total, random-part
    and fixed-pattern std, border against interior, spectral flatness: :func:`noise.measure_noise`) and the
    std of g_theta2's residual z - g_theta2(z) on fixed noisy crops, with copies of the generators in train
    mode as Algorithm 1 uses them (so training is unchanged). It keeps a copy of g_theta1 from the iteration
    of least :meth:`mismatch`. Its state is a module's, so a resumed fit resumes it too.

    Parameters
    ----------
    model : GenerativeModel
        The model being trained.
    reference : NoiseStatistics
        The same statistics of the extracted noise patches.
    latents : Tensor
        (MONITOR_SAMPLES, nz) fixed latents.
    noisy : Tensor
        (MONITOR_CROPS, 1, 64, 64) fixed noisy crops.
    steps, every, batch_size : int
        Generator iterations of the fit, iterations between diagnoses, and Algorithm 1's batch size (g_theta1
        is run on batches of this size, as in training).
    """

    def __init__(
        self,
        model: GenerativeModel,
        *,
        reference: NoiseStatistics,
        latents: torch.Tensor,
        noisy: torch.Tensor,
        steps: int,
        every: int,
        batch_size: int,
    ) -> None:
        super().__init__()
        self.reference = reference
        self.every = every
        self.batch_size = batch_size
        self.register_buffer("latents", latents)
        self.register_buffer("noisy", noisy)
        self.steps = steps
        rows = steps // every + 2 if every > 0 else 0
        self.register_buffer(
            "records", torch.full((rows, len(MONITOR_FIELDS)), math.nan, dtype=torch.float64)
        )
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("best", torch.tensor(math.inf, dtype=torch.float64))
        self.best_g1 = copy.deepcopy(model.g1)

    def mismatch(self, stats: NoiseStatistics) -> float:
        """How far generated noise is from the extracted noise: relative error of the random-part std, plus
        the fixed-pattern std relative to the extracted noise std, plus the difference in spectral flatness.
        """
        ref = self.reference
        return (
            abs(stats.random_std - ref.random_std) / ref.random_std
            + stats.pattern_std / ref.random_std
            + abs(stats.flatness - ref.flatness)
        )

    @torch.no_grad()
    def diagnose(self, model: GenerativeModel) -> dict[str, float]:
        """Measure g_theta1 and g_theta2 now (copies in train mode; the model's BN statistics untouched),
        in float32 whatever the training precision."""
        g1 = copy.deepcopy(model.g1).train()
        g2 = copy.deepcopy(model.g2).train()
        with torch.autocast(self.noisy.device.type, enabled=False):
            samples = torch.cat([g1(chunk) for chunk in self.latents.split(self.batch_size)])
            estimate = g2(self.noisy)
        stats = measure_noise(samples[:, 0].double().cpu().numpy())
        residual = (self.noisy - estimate).double()
        residual = residual - residual.mean(dim=(2, 3), keepdim=True)
        return {
            "g1_total_std": stats.total_std,
            "g1_random_std": stats.random_std,
            "g1_pattern_std": stats.pattern_std,
            "g1_border_std": stats.border_std,
            "g1_interior_std": stats.interior_std,
            "g1_flatness": stats.flatness,
            "g2_residual_std": float(residual.std()),
            "mismatch": self.mismatch(stats),
        }

    def observe(self, model: GenerativeModel) -> None:
        """Count one generator iteration; diagnose after every ``every``-th and after the last."""
        self.seen += 1
        step = int(self.seen)
        if self.every > 0 and (step % self.every == 0 or step == self.steps):
            self.record(model, step=step)

    def record(self, model: GenerativeModel, *, step: int) -> None:
        """Diagnose now, as generator iteration ``step``, and keep the generators if they match best."""
        row = self.diagnose(model)
        self.records[int(self.count)] = torch.tensor([step, *row.values()], dtype=torch.float64)
        self.count += 1
        if row["mismatch"] < float(self.best):
            self.best.fill_(row["mismatch"])
            self.best_g1.load_state_dict(model.g1.state_dict())

    def history(self) -> dict[str, list[float]]:
        """Every diagnosis so far: field -> values (``step`` the generator iteration it followed)."""
        rows = self.records[: int(self.count)].tolist()
        return {field: [row[i] for row in rows] for i, field in enumerate(MONITOR_FIELDS)}

    def chosen_step(self) -> int:
        """The diagnosed iteration of least mismatch."""
        history = self.history()
        return int(history["step"][int(np.argmin(history["mismatch"]))])

    def restore_best(self, model: GenerativeModel) -> None:
        """Put the kept g_theta1 into ``model`` (g_theta2 stays the last iteration's)."""
        model.g1.load_state_dict(self.best_g1.state_dict())


def measure_extracted_noise(noise: ImageBank, *, seed: int) -> NoiseStatistics:
    """:func:`noise.measure_noise` of ``MONITOR_SAMPLES`` 64x64 crops of the extracted noise patches
    (drawn from their own generator)."""
    generator = seeded_generator(seed, 0x3018, device=noise.device)
    crops = noise.sample(size=64, count=MONITOR_SAMPLES, augment="none", generator=generator)
    return measure_noise(crops.double().cpu().numpy())


def make_monitor(
    model: GenerativeModel,
    *,
    noisy: ImageBank,
    noise: ImageBank,
    config: GANConfig,
    seed: int,
) -> GANMonitor:
    """A :class:`GANMonitor` on the banks' device that has diagnosed the untrained ``model`` (step 0), with
    fixed latents and crops drawn from their own generator (the training's draws are untouched) and the
    statistics of 256 extracted noise patches (each crop's mean removed)."""
    device = noisy.device
    generator = seeded_generator(seed, 0x3017, device=device)
    crops = noisy.sample(size=64, count=MONITOR_CROPS, augment="none", generator=generator)
    latents = torch.randn((MONITOR_SAMPLES, model.g1.nz), device=device, generator=generator)
    monitor = GANMonitor(
        model,
        reference=measure_extracted_noise(noise, seed=seed),
        latents=latents,
        noisy=crops[:, None],
        steps=config.steps,
        every=config.monitor_every,
        batch_size=config.batch_size,
    ).to(device)
    if monitor.every > 0:
        monitor.record(model.to(device), step=0)
    return monitor


def train_generative_model(
    model: GenerativeModel,
    *,
    noisy_images: Sequence[np.ndarray],
    noise_patches: Sequence[np.ndarray] | np.ndarray,
    config: GANConfig,
    seed: int,
    device: torch.device,
    checkpoint_path: Path | None = None,
    progress: bool = True,
) -> GANFit:
    """Algorithm 1: fit the generative model to noisy images and extracted noise patches, in place.

    Parameters
    ----------
    model : GenerativeModel
        Freshly initialised (or anything to continue from); left in eval mode.
    noisy_images : sequence of ndarray
        The noisy training images Z (HxW, each at least ``config.patch_size``).
    noise_patches : sequence of ndarray or ndarray
        Smooth noise patches N from :mod:`noise.extraction`.
    config : GANConfig
        Algorithm 1's settings.
    seed : int
        Seeds every draw (crops, flips, latents) and the torch RNG.
    device : torch.device
        Where to train.
    checkpoint_path : Path or None
        Resume from / checkpoint to this file.
    progress : bool
        Show a progress bar.

    Returns
    -------
    GANFit
        The training history, the monitor's diagnoses and the iteration whose generators were kept.

    Raises
    ------
    methods.training.TrainingDivergedError
        A loss became NaN or a W-estimate exceeded ``config.max_critic_estimate``; names the epoch.
    """
    if len(noise_patches) == 0:
        raise ValueError("no smooth noise patches were extracted; the generative model cannot be fitted")
    optimizers = GANOptimizers.build(model, config, device=device)
    schedulers = {
        f"g{i + 1}": torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=config.generator_lr_factor)
        for i, opt in enumerate(optimizers.generators)
    }
    nz = model.g1.nz
    noisy_bank = ImageBank(noisy_images, device=device)
    noise_bank = ImageBank(noise_patches, device=device)
    monitor = make_monitor(model, noisy=noisy_bank, noise=noise_bank, config=config, seed=seed)

    def step() -> dict[str, torch.Tensor]:
        noisy, noise, latent = draw_gan_batch(
            noisy=noisy_bank,
            noise=noise_bank,
            batch_size=config.batch_size,
            patch_size=config.patch_size,
            nz=nz,
        )
        logs = step_generative_model(
            model, optimizers, noisy=noisy[:, None], noise=noise[:, None], latent=latent, config=config
        )
        for scheduler in schedulers.values():
            scheduler.step()
        monitor.observe(model)
        return logs

    named_optimizers = {
        **{f"g{i + 1}": opt for i, opt in enumerate(optimizers.generators)},
        **{f"c{i + 1}": opt for i, opt in enumerate(optimizers.critics)},
    }
    history = run_training(
        modules={"model": model, "monitor": monitor},
        optimizers=named_optimizers,
        schedulers=schedulers,
        step=step,
        steps=config.steps,
        settings={k: v for k, v in asdict(config).items() if k != "checkpoint_seconds"},
        seed=seed,
        device=device,
        checkpoint_path=checkpoint_path,
        checkpoint_seconds=config.checkpoint_seconds,
        limits={"w1": config.max_critic_estimate, "w2": config.max_critic_estimate},
        steps_per_epoch=config.steps_per_epoch,
        progress=progress,
        desc="GAN (Alg. 1)",
    )
    chosen = config.steps
    if config.selection == "noise-match":
        chosen = monitor.chosen_step()
        monitor.restore_best(model)
    return GANFit(
        history=history, diagnostics=monitor.history(), reference=monitor.reference, chosen_step=chosen
    )


@dataclass(frozen=True)
class GANFit:
    """What :func:`train_generative_model` reports.

    Attributes
    ----------
    history : TrainHistory
        Logs ``loss`` (Eq. 8), ``loss_n``, ``loss_z``, ``cycle``, ``w1`` and ``w2``.
    diagnostics : dict
        :class:`GANMonitor`'s diagnoses, field -> values (``MONITOR_FIELDS``).
    reference : NoiseStatistics
        The extracted noise patches' statistics the diagnoses are compared with.
    chosen_step : int
        The generator iteration whose g_theta1 the model holds (its g_theta2 is the last iteration's).
    """

    history: TrainHistory
    diagnostics: dict[str, list[float]]
    reference: NoiseStatistics
    chosen_step: int


class LearnedNoise:
    """Noise drawn from a fitted g_theta1 in eval mode: the training noise of N2C(Eq.4).

    It has the :class:`noise.NoiseModel` ``sample`` signature, so a noise-to-clean method can use it in
    place of a synthetic model; patches larger than g_theta1's 64x64 output are refused.

    Parameters
    ----------
    generator : NoiseGenerator
        The fitted g_theta1.
    device : torch.device
        Where it runs.
    """

    spec = "learned:g_theta1"

    def __init__(self, generator: NoiseGenerator, *, device: torch.device) -> None:
        self.generator = generator.to(device).eval()
        self.device = device

    def sample(self, shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        """Float32 noise of ``shape`` (..., H, W), one generated patch (cropped) per leading index."""
        *lead, height, width = shape
        size = self.generator.size
        if height > size or width > size:
            raise ValueError(f"g_theta1 generates {size}x{size} noise; {height}x{width} was requested")
        count = math.prod(lead)
        latents = torch.from_numpy(rng.standard_normal((count, self.generator.nz), dtype=np.float32))
        with torch.no_grad():
            noise = self.generator(latents.to(self.device))[:, 0, :height, :width]
        return noise.cpu().numpy().reshape(shape)


@draw_noise.register
def _(noise: LearnedNoise, shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    """g_theta1's noise as training noise on ``device``: latents from that device's torch RNG, no copy
    through the host."""
    *lead, height, width = shape
    size = noise.generator.size
    if height > size or width > size:
        raise ValueError(f"g_theta1 generates {size}x{size} noise; {height}x{width} was requested")
    generator = noise.generator.to(device)
    latents = torch.randn(math.prod(lead), generator.nz, device=device)
    with torch.no_grad():
        return generator(latents)[:, 0, :height, :width].reshape(shape)
