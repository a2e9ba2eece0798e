"""Performance: our code against the bare frameworks and the authors' loops, as ratios measured in one run.

Each measure times ours and a reference side by side, alternating between them so both see the same
machine state, and reports the medians; ``ratio = reference / ours`` (above 1: ours is faster) must
reach ``bound``. Budgets (extraction time, the cpu-profile Table 2 run, its memory) are references too:
``ratio = budget / ours``.

- training step: :func:`methods.training.train_network` against a bare torch loop (same network, batch,
  optimizer and schedule, the data already in memory as tensors); bound 1 / 1.1 (at most 10% slower);
- inference: :func:`methods.base.denoise_images` of every torch method of Table 2 on the test set
  (stacks of equal-size images) against a bare forward pass of the same network on the same stacks
  under ``torch.inference_mode``; bound 0.95 (ours runs the BatchNorm-folded copy of
  :func:`methods.training.fold_batch_norm`, the reference the network as it is). Networks are untrained:
  speed does not depend on the weights;
- seconds per image of BM3D and of G2G (the paper's claim: 4.5-5.0 s against 4 ms on a GPU);
- GAN2GAN: one generator iteration of Algorithm 1 (generated samples reused, detached, across the
  critic steps) against the authors' order (recomputed in every critic step), bound 1.7; G2G pair
  generation for a mini-batch in two forward passes against one sample at a time, bound 1.3 (CPU);
- sampling a GAN batch on the training device from 40,000 noise patches against 10,000 (the FMD/CT
  extraction against BSD's): at most 1.2 times as long;
- batch sampling: a training batch of DnCNN-B, N2N, N2C(oracle) and N2V at the paper's batch (128 noisy
  50x50 or 64x64 patches, cut from the training set and noised on the training device: one core on CPU)
  against 20,000 patches of 50x50 a second (as many pixels in 64x64 patches), what a GPU consumes in
  bf16 (DnCNN-B's step measured on an H200: 9.6 ms in bf16, 15.4 ms in TF32, for 128 patches);
- the training images on the training device (one flat float32 tensor) against their float32 size: at
  most 1.1 times it;
- a GAN checkpoint (the authors' networks and optimizers, written atomically and fsync'd into the cache)
  against 1% of the 10 minutes of training between two checkpoints;
- BM3D: the test images over ``jobs`` processes against one process, identical outputs; bound 1.8;
- extraction rule (4) over the training set against a 10-second budget;
- the last ``table2`` run of the profile (from its manifest, when it computed every cell of the
  whole table itself): wall time against 3 hours and peak memory against 6 GiB.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bench.cells.runner import CellRunner, crop_centre
from bench.cells.specs import Cell, ComputeSpec, make_compute_spec
from bench.config.profiles import Profile, get_profile
from bench.datasets.base import Dataset
from bench.experiments.base import Context, Experiment, Results, RunRecord
from bench.reporting.published import TABLE2_METHODS
from methods.base import TrainingData, build_training_data, denoise_images, plan_batches
from methods.batches import ImageBank
from methods.gan2gan.gan import (
    GANConfig,
    GANOptimizers,
    GenerativeModel,
    draw_gan_batch,
    step_generative_model,
)
from methods.gan2gan.iterate import make_pair_sampler
from methods.gan2gan.method import NetworkStage
from methods.nets import DnCNN, NoiseGenerator
from methods.provenance import describe_device, describe_git
from methods.registry import METHODS, make_method
from methods.training import CHECKPOINT_SECONDS, TrainConfig, make_adam, save_atomic, train_network
from noise import derive_rng, parse_noise

#: The noise every measure draws its noisy images with.
NOISE = parse_noise("gaussian:25")
#: Budgets of the issue on performance (seconds, bytes).
EXTRACTION_BUDGET_S = 10.0
TABLE2_BUDGET_S = 3 * 3600.0
TABLE2_MEMORY_BUDGET = 6 * 2**30


@dataclass(frozen=True)
class PerfRow:
    """One measure: ours and the reference (medians, in ``unit``), their ratio and its bound.

    ``valid`` is False when ours broke a condition of the measure (BM3D: outputs that differ);
    ``ours`` is NaN when the measure could not be taken (its ``note`` says why).
    """

    measure: str
    ours: float
    reference: float
    bound: float
    unit: str
    note: str = ""
    valid: bool = True

    @property
    def ratio(self) -> float:
        """reference / ours: above 1 when ours is faster (or within budget)."""
        return self.reference / self.ours

    @property
    def ok(self) -> bool | None:
        """Whether the ratio reaches its bound (None: no bound, or not measured)."""
        if np.isnan(self.bound) or np.isnan(self.ours):
            return None
        return bool(self.valid and self.ratio >= self.bound)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_alternating(
    variants: dict[str, Callable[[], object]], *, repeats: int, device: torch.device
) -> dict[str, float]:
    """Median seconds of each variant, run in turn ``repeats`` times after one warm-up call each."""
    for run in variants.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            _sync(device)
            start = time.perf_counter()
            run()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def make_training_runs(
    params: dict[str, Any], *, steps: int, device: torch.device
) -> dict[str, Callable[[], None]]:
    """``steps`` steps of :func:`train_network` (``"ours"``) and of a bare torch loop (``"bare"``) from
    the same DnCNN, on the same in-memory batches, with Adam, MultiStepLR and MSE."""
    config = TrainConfig(
        steps=steps,
        batch_size=params["batch_size"],
        patch_size=params["patch_size"],
        lr=params["lr"],
        milestones=tuple(params.get("milestones", ())),
        gamma=params.get("gamma", 0.1),
    )
    generator = torch.Generator().manual_seed(0)
    shape = (config.batch_size, config.patch_size, config.patch_size)
    batches = [
        (torch.rand(shape, generator=generator).to(device), torch.rand(shape, generator=generator).to(device))
        for _ in range(steps)
    ]
    torch.manual_seed(0)
    template = DnCNN(depth=params["depth"], features=params["features"]).to(device)

    def ours() -> None:
        order = iter(batches)  # the bare loop's batches in its order
        train_network(
            copy.deepcopy(template),
            draw_batch=lambda: next(order),
            config=config,
            seed=0,
            device=device,
            progress=False,
        )

    def bare() -> None:
        net = copy.deepcopy(template).train()
        optimizer = make_adam(net.parameters(), lr=config.lr, device=device)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(config.milestones), gamma=config.gamma
        )
        for inputs, targets in batches:
            loss = nn.functional.mse_loss(net(inputs[:, None]), targets[:, None])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()

    return {"ours": ours, "bare": bare}


def measure_training_step(
    *, params: dict[str, Any], steps: int, repeats: int, device: torch.device
) -> PerfRow:
    """Seconds per step of :func:`train_network` and of a bare loop (:func:`make_training_runs`)."""
    times = time_alternating(
        make_training_runs(params, steps=steps, device=device), repeats=repeats, device=device
    )
    return PerfRow(
        "training step: shared loop vs bare torch loop",
        times["ours"] / steps,
        times["bare"] / steps,
        1 / 1.1,
        "s/step",
        f"DnCNN-{params['depth']}, batch {params['batch_size']} of {params['patch_size']}x"
        f"{params['patch_size']}, {steps} steps a run, median of {repeats}; a fit's checkpoints (every 10 "
        "minutes of training) are not timed",
    )


def forward_bare(net: nn.Module, stack: Sequence[np.ndarray], *, device: torch.device) -> np.ndarray:
    """The reference of the inference measure: one forward pass of the equal-size images under
    ``torch.inference_mode``, nothing else."""
    with torch.inference_mode():
        return net(torch.from_numpy(np.stack(stack))[:, None].to(device))[:, 0].cpu().numpy()


def list_inference_subjects(profile: Profile, *, device: torch.device) -> list[tuple[str, Any, nn.Module]]:
    """(label, denoiser, its network) for every torch method of Table 2, untrained, as the profile builds
    them; GAN2GAN twice: unfitted it denoises with g_theta2, and its G2G_j stages are 17-layer DnCNNs."""
    subjects: list[tuple[str, Any, nn.Module]] = []
    for key in TABLE2_METHODS:
        if not METHODS[key].batched:
            continue
        method = make_method(key, params=profile.params(key), device=str(device))
        if key == "gan2gan":
            subjects.append(("GAN2GAN g_theta2", method, method.model.g2))
            net = DnCNN(depth=method.params["denoiser_depth"], features=method.params["features"]).to(device)
            subjects.append(("GAN2GAN G2G_j", NetworkStage("G2G_j", net.eval(), device=device), net))
        else:
            subjects.append((METHODS[key].name, method, method.net))
    return subjects


def measure_inference(
    label: str, denoiser: Any, net: nn.Module, images: Sequence[np.ndarray], *, device: torch.device
) -> PerfRow:
    """Seconds per image of :func:`denoise_images` and of a bare forward pass on the same stacks."""
    net.eval()

    def bare(stack: Sequence[np.ndarray]) -> None:
        forward_bare(net, stack, device=device)

    stacks = [[images[i] for i in stack] for stack in plan_batches([image.shape for image in images])]
    totals = {"ours": 0.0, "bare": 0.0}
    denoise_images(denoiser, stacks[0])
    bare(stacks[0])
    for stack in stacks:
        for name in ("ours", "bare"):
            _sync(device)
            start = time.perf_counter()
            if name == "ours":
                denoise_images(denoiser, stack)
            else:
                bare(stack)
            _sync(device)
            totals[name] += time.perf_counter() - start
    return PerfRow(
        f"inference: {label} denoise vs bare forward",
        totals["ours"] / len(images),
        totals["bare"] / len(images),
        0.95,
        "s/image",
        f"{len(images)} images in {len(stacks)} stacks, alternating per stack",
    )


def measure_generator_iteration(*, batch: int, repeats: int, device: torch.device) -> PerfRow:
    """Seconds per generator iteration (the authors' networks, n_critic 5): reused vs recomputed samples."""
    torch.manual_seed(0)
    model = GenerativeModel().to(device).train()
    config = GANConfig(steps=1, batch_size=batch)
    optimizers = GANOptimizers.build(model, config, device=device)
    noisy = torch.rand(batch, 1, 64, 64, device=device)
    noise = 0.1 * torch.randn(batch, 1, 64, 64, device=device)
    latent = torch.randn(batch, 128, device=device)

    def run(reuse: bool) -> Callable[[], object]:
        return lambda: step_generative_model(
            model, optimizers, noisy=noisy, noise=noise, latent=latent, config=config, reuse_fakes=reuse
        )

    times = time_alternating({"ours": run(True), "authors": run(False)}, repeats=repeats, device=device)
    return PerfRow(
        "GAN2GAN generator iteration vs the authors' order",
        times["ours"],
        times["authors"],
        1.7 if device.type == "cpu" else float("nan"),
        "s/iteration",
        f"batch {batch}, n_critic {config.n_critic}, median of {repeats}",
    )


def measure_pair_generation(*, batch: int, patch: int, repeats: int, device: torch.device) -> PerfRow:
    """Seconds per G2G mini-batch of pairs (g_theta1 + a 17-layer DnCNN estimator): batched vs per sample."""
    torch.manual_seed(0)
    rng = derive_rng(0)
    images = [rng.random((180, 180), dtype=np.float32) for _ in range(8)]
    generator, estimator = NoiseGenerator(), DnCNN(depth=17)

    def run(per_sample: bool) -> Callable[[], object]:
        draw = make_pair_sampler(
            images,
            generator=generator,
            estimator=estimator,
            batch_size=batch,
            patch_size=patch,
            device=device,
            per_sample=per_sample,
        )
        return draw

    times = time_alternating({"ours": run(False), "authors": run(True)}, repeats=repeats, device=device)
    return PerfRow(
        "G2G pair generation: batched vs per sample",
        times["ours"],
        times["authors"],
        1.3 if device.type == "cpu" else float("nan"),
        "s/mini-batch",
        f"batch {batch} of {patch}x{patch}, median of {repeats}",
    )


def measure_patch_sampling(*, batch: int, repeats: int, device: torch.device) -> PerfRow:
    """Seconds per mini-batch of Algorithm 1 (:func:`methods.gan2gan.gan.draw_gan_batch`: noisy crops,
    64x64 noise crops and latents on ``device``) with 40,000 extracted noise patches (the paper's FMD/CT
    extraction) against 10,000 (BSD): an :class:`methods.batches.ImageBank` cuts a batch in O(batch)."""
    base = derive_rng(0, "perf", "sources").random((64, 64, 64), dtype=np.float32)
    noisy = ImageBank(list(base[:8]), device=device)
    banks = {
        count: ImageBank([base[i % len(base)] for i in range(count)], device=device)
        for count in (10_000, 40_000)
    }

    def draw(count: int) -> Callable[[], object]:
        return lambda: draw_gan_batch(
            noisy=noisy, noise=banks[count], batch_size=batch, patch_size=64, nz=128
        )

    runs = max(repeats, 20)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        times = time_alternating({"40k": draw(40_000), "10k": draw(10_000)}, repeats=runs, device=device)
    return PerfRow(
        f"GAN batch sampling on {device.type} from 40,000 noise patches vs 10,000",
        times["40k"],
        times["10k"],
        1 / 1.2,
        "s/batch",
        f"batch {batch} of 64x64 with flips, median of {runs}",
    )


#: Pixels per second a GPU training step consumes: 20,000 patches of 50x50 (DnCNN-B at batch 128 in bf16
#: on an H200: 13k/s measured, 20k/s estimated for the fastest cards); a step's cost grows with its pixels,
#: so a batch of 64x64 patches has 1.64 times as long. The sampler must cut and noise at least as fast.
SAMPLING_BUDGET = 20_000.0 * 50 * 50


def measure_batch_sampling(
    method: str, images: Sequence[np.ndarray], *, repeats: int, seed: int, device: torch.device
) -> PerfRow:
    """Seconds per training batch of ``method`` at the paper profile's batch, made by the method's own
    sampler (:meth:`methods.n2c.NoiseToClean.batch_sampler`: patches and noise on ``device``,
    :mod:`methods.batches`) from ``images``, against the time a GPU step takes to consume it
    (:data:`SAMPLING_BUDGET`)."""
    params = get_profile("paper").params(method)
    denoiser = make_method(method, params=params, device=str(device))
    data = build_training_data(
        denoiser.requires,
        clean=images,
        noise_model=NOISE,
        rng=derive_rng(seed, "perf", "host"),
        pair_noise=denoiser.pair_noise,
    )
    draw = denoiser.batch_sampler(data)
    runs = max(repeats, 20)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        times = time_alternating({"draw": draw}, repeats=runs, device=device)
    batch, patch = params["batch_size"], params["patch_size"]
    where = "one core" if device.type == "cpu" else device.type
    return PerfRow(
        f"batch sampling: {denoiser.name} on {device.type} vs 20,000 patches of 50x50 a second",
        times["draw"],
        batch * patch**2 / SAMPLING_BUDGET,
        1.0,
        "s/batch",
        f"{batch} x {patch}x{patch} with noise, {where}, median of {runs}; "
        f"{batch / times['draw']:,.0f} patches/s",
    )


def measure_bank_memory(images: Sequence[np.ndarray], *, device: torch.device) -> PerfRow:
    """Peak memory that putting the training images on ``device`` takes (:class:`methods.batches.ImageBank`:
    traced host allocations on CPU, the allocator's peak on a GPU), against their float32 size: the
    training set is held once, so memory grows with it and nothing else."""
    size = sum(image.size for image in images) * 4
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        bank = ImageBank(images, device=device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        tracemalloc.start()
        try:
            bank = ImageBank(images, device=device)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return PerfRow(
        f"training images on {device.type}: peak memory vs their float32 size",
        peak / 2**20,
        size / 2**20,
        1 / 1.1,
        "MiB",
        f"{len(bank)} images, {size // 4:,} pixels, held as one flat tensor",
    )


def measure_checkpoint(folder: Path, *, repeats: int) -> PerfRow:
    """Seconds to write a GAN checkpoint (the authors' generators and critics with their optimizers'
    states, :func:`methods.training.save_atomic`) into ``folder``, against 1% of
    :data:`methods.training.CHECKPOINT_SECONDS`."""
    model = GenerativeModel()
    optimizers = GANOptimizers.build(model, GANConfig(steps=1, batch_size=2), device=torch.device("cpu"))
    everything = [*optimizers.generators, *optimizers.critics]
    for parameter in model.parameters():  # one step of zero gradients: the optimizers hold their state
        parameter.grad = torch.zeros_like(parameter)
    for optimizer in everything:
        optimizer.step()
    state = {
        "modules": {"model": model.state_dict()},
        "optimizers": {str(i): o.state_dict() for i, o in enumerate(everything)},
    }
    path = folder / "perf-checkpoint.ckpt"
    try:
        times = time_alternating(
            {"save": lambda: save_atomic(state, path)}, repeats=repeats, device=torch.device("cpu")
        )
        size = path.stat().st_size
    finally:
        path.unlink(missing_ok=True)
    return PerfRow(
        "GAN checkpoint write vs 1% of the checkpoint interval",
        times["save"],
        0.01 * CHECKPOINT_SECONDS,
        1.0,
        "s",
        f"{size / 2**20:.0f} MiB, written atomically and fsync'd every {CHECKPOINT_SECONDS / 60:.0f} min "
        f"of training, median of {repeats}",
    )


def measure_bm3d_processes(
    images: Sequence[np.ndarray], *, jobs: int, profile: Profile
) -> tuple[PerfRow, float]:
    """BM3D over ``jobs`` processes (in the evaluation's groups of ``jobs`` images) against one process;
    also returns the one-process seconds per image."""
    method = make_method("bm3d", params=profile.params("bm3d"), device="cpu")
    method.fit(TrainingData(noise_model=NOISE), seed=0)
    denoise_images(
        method, images[:jobs], jobs=jobs
    )  # start the worker pool, as the first group of a run does
    start = time.perf_counter()
    serial = denoise_images(method, images, jobs=1)
    one = time.perf_counter() - start
    start = time.perf_counter()
    spread = [
        out
        for i in range(0, len(images), jobs)
        for out in denoise_images(method, images[i : i + jobs], jobs=jobs)
    ]
    many = time.perf_counter() - start
    identical = all(np.array_equal(a, b) for a, b in zip(serial, spread, strict=True))
    row = PerfRow(
        f"BM3D evaluation: {jobs} processes vs 1",
        many / len(images),
        one / len(images),
        1.8,
        "s/image",
        f"{len(images)} test images, one thread each; outputs {'identical' if identical else 'DIFFER'}",
        valid=identical,
    )
    return row, one / len(images)


def measure_extraction(method: Any, noisy: tuple[np.ndarray, ...], *, repeats: int) -> PerfRow:
    """Seconds of GAN2GAN's extraction (rule (4) with the profile's window, stride and count)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = method.extract(noisy)
        seconds.append(time.perf_counter() - start)
    p = method.params
    return PerfRow(
        "extraction rule (4) over the training set vs a 10 s budget",
        statistics.median(seconds),
        EXTRACTION_BUDGET_S,
        1.0,
        "s",
        f"{len(noisy)} images, {p['window']}x{p['window']} windows at stride {p['stride']}, "
        f"{len(result.patches)} patches kept, median of {repeats}",
    )


def read_table2_run(folder: Path) -> list[PerfRow]:
    """Wall time and peak memory of the last ``table2`` run written to ``folder``, when that run
    computed every cell of the whole table (all methods, the four noise levels) itself."""
    manifest = folder / "manifest.json"
    why = f"no table2 run in {folder}"
    if manifest.exists():
        state = json.loads(manifest.read_text())
        statuses = {task["status"] for task in state.get("tasks", [])}
        if "wall_seconds" not in state:
            why = f"{manifest} predates the timing records"
        elif not set(TABLE2_METHODS) <= set(state["methods"]) or len(state["noises"]) < 4:
            why = f"{manifest} covers {len(state['methods'])} methods and {len(state['noises'])} noise levels"
        elif statuses != {"done"}:
            why = f"{manifest}: not every cell was computed in that run ({', '.join(sorted(statuses))})"
        else:
            note = f"{manifest}: {state['executor']}, {state['threads_per_cell']} thread(s) per cell"
            return [
                PerfRow("table2 end to end vs 3 h", state["wall_seconds"], TABLE2_BUDGET_S, 1.0, "s", note),
                PerfRow(
                    "table2 peak resident memory vs 6 GiB",
                    state["peak_rss_bytes"]["total"] / 2**30,
                    TABLE2_MEMORY_BUDGET / 2**30,
                    1.0,
                    "GiB",
                    f"{note}; an upper bound: the peaks of the command's process and its workers "
                    f"({len(state['peak_rss_bytes']['workers'])}) added up",
                ),
            ]
    nan = float("nan")
    return [
        PerfRow("table2 end to end vs 3 h", nan, TABLE2_BUDGET_S, 1.0, "s", f"not measured: {why}"),
        PerfRow("table2 peak resident memory vs 6 GiB", nan, TABLE2_MEMORY_BUDGET / 2**30, 1.0, "GiB", why),
    ]


def run_perf(runner: CellRunner, profile: Profile, *, jobs: int, seed: int) -> list[PerfRow]:
    """Every measure of the module docstring but the table2 run's, with the sizes of
    ``profile.perf``; BM3D over ``jobs`` processes."""
    sizes = profile.perf
    device = runner.torch_device
    repeats = sizes.repeats
    start = time.perf_counter()
    train = runner.dataset(profile.train_data, limit=profile.train_limit)
    test = runner.dataset(profile.test_data, limit=profile.test_limit, min_size=profile.test_crop)
    decode = time.perf_counter() - start
    noise = NOISE
    rng = derive_rng(seed, "perf", NOISE.spec)
    clean = [crop_centre(image, profile.test_crop) for image in test.images]
    noisy = [(image + noise.sample(image.shape, rng=rng)).astype(np.float32) for image in clean]
    rows = [
        measure_training_step(
            params=profile.params("n2c-oracle"), steps=sizes.train_steps, repeats=repeats, device=device
        )
    ]
    inference = [
        measure_inference(label, denoiser, net, noisy, device=device)
        for label, denoiser, net in list_inference_subjects(profile, device=device)
    ]
    rows += inference
    bm3d, bm3d_seconds = measure_bm3d_processes(noisy[: sizes.bm3d_images], jobs=jobs, profile=profile)
    g2g = next(row for row in inference if "G2G" in row.measure)
    rows.append(
        PerfRow(
            f"seconds per image, G2G ({device.type}) vs BM3D (cpu)",
            g2g.ours,
            bm3d_seconds,
            float("nan"),
            "s/image",
            "the paper: BM3D 4.5-5.0 s, G2G 0.004 s on a GPU",
        )
    )
    rows += [
        measure_generator_iteration(batch=sizes.gan_batch, repeats=repeats, device=device),
        measure_pair_generation(
            batch=sizes.pair_batch, patch=sizes.pair_patch, repeats=repeats, device=device
        ),
        measure_patch_sampling(batch=sizes.gan_batch, repeats=repeats, device=device),
        *(
            measure_batch_sampling(key, train.images, repeats=repeats, seed=seed, device=device)
            for key in ("dncnn-b", "n2n", "n2c-oracle", "n2v")
        ),
        measure_bank_memory(train.images, device=device),
        measure_checkpoint(runner.cache_dir, repeats=repeats),
        bm3d,
    ]
    gan2gan = make_method("gan2gan", params=profile.params("gan2gan"), device=str(device))
    training_noisy = tuple(
        (image + noise.sample(image.shape, rng=rng)).astype(np.float32) for image in train.images
    )
    rows.append(measure_extraction(gan2gan, training_noisy, repeats=repeats))
    rows.append(
        PerfRow(
            "decoding the training and test sets (once per run; workers map the shared copy)",
            decode,
            float("nan"),
            float("nan"),
            "s",
            f"{_describe_dataset(train)}, {_describe_dataset(test)}",
        )
    )
    return rows


def measure_perf(runner: CellRunner, spec: ComputeSpec) -> dict[str, Any]:
    """A computation cell: every measure of :func:`run_perf` for one seed, with the machine described."""
    rows = run_perf(runner, get_profile(spec.param("profile")), jobs=spec.param("jobs"), seed=spec.seed)
    return {
        "rows": [{**asdict(row), "ratio": row.ratio, "ok": row.ok} for row in rows],
        "device": describe_device(str(runner.torch_device)),
        "threads": runner.threads,
    }


class Perf(Experiment):
    """Speed ratios against the bare frameworks and the authors' loops, measured in one cell per seed
    (its cells run one at a time: they measure time)."""

    name = "perf"
    title = "speed ratios against the bare frameworks and the authors' loops"
    exclusive = True

    def plan(self, ctx: Context) -> list[Cell]:
        profile = ctx.profile
        return [
            make_compute_spec(
                measure_perf,
                seed=seed,
                label="perf",
                profile=profile.name,
                settings=json.dumps(
                    {"methods": profile.methods, "perf": profile.perf.describe()},
                    default=str,
                    sort_keys=True,
                ),
                jobs=ctx.options.count_jobs,
            )
            for seed in ctx.seeds
        ]

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """One row per measure and seed, then the last table2 run's rows (seed NaN)."""
        rows = []
        for cell in self.plan(ctx):
            result = results.computation(cell)
            if result is not None:
                rows += [{"seed": cell.seed, **row} for row in result["rows"]]
        table2 = read_table2_run(ctx.options.out / "table2" / ctx.profile.name)
        rows += [{"seed": None, **asdict(row), "ratio": row.ratio, "ok": row.ok} for row in table2]
        frame = pd.DataFrame(rows)
        return frame[["seed", "measure", "ours", "reference", "ratio", "bound", "ok", "unit", "note"]]

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """``perf.csv`` (per seed) and ``perf.md``: the median over seeds of ours, reference and ratio,
        each measure ok when it is ok for every seed."""
        frame.to_csv(out_dir / "perf.csv", index=False)
        measured = frame.assign(ok=frame["ok"].map({True: 1.0, False: 0.0}))
        table = (
            measured.groupby(["measure", "unit", "bound"], sort=False, dropna=False)
            .agg(
                ours=("ours", "median"),
                reference=("reference", "median"),
                ratio=("ratio", "median"),
                ratio_min=("ratio", "min"),
                ok=("ok", "min"),
                note=("note", "first"),
            )
            .reset_index()
        )
        table["ok"] = table["ok"].map({1.0: "yes", 0.0: "NO"}).fillna("-")
        device, git = describe_device(str(ctx.runner.torch_device)), describe_git()
        sizes = ctx.profile.perf
        header = (
            f"Profile `{ctx.profile.name}`; device `{ctx.runner.torch_device}` ({device.get('cpu', '')}, "
            f"{device.get('cpu_count', '')} CPUs), {ctx.runner.threads} torch thread(s), "
            f"{ctx.options.count_jobs} BM3D processes; git {git['revision'][:10]}"
            f"{' (dirty)' if git['dirty'] else ''}; seeds {', '.join(map(str, ctx.seeds))} (medians over "
            "seeds; ok: for every seed). Sizes: "
            + ", ".join(f"{key} {value}" for key, value in sizes.describe().items())
            + "."
        )
        columns = ["measure", "ours", "reference", "ratio", "ratio_min", "bound", "ok", "unit", "note"]
        (out_dir / "perf.md").write_text(
            "# Performance: ours against the bare frameworks and the authors' loops\n\n"
            + header
            + "\n\n"
            + table[columns].to_markdown(index=False, floatfmt=".4g")
            + "\n\nratio = reference / ours (above 1: ours is faster, or within its budget); "
            "ok: ratio >= bound."
            + f" Written {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}.\n"
        )
        return ["perf.csv", "perf.md"]

    def exit_status(self, frame: pd.DataFrame, ctx: Context) -> int:
        """1 when a measured ratio misses its bound and the profile enforces them (cpu, paper)."""
        return 1 if frame["ok"].eq(False).any() and ctx.profile.perf.enforce else 0


def _describe_dataset(dataset: Dataset) -> str:
    return f"{dataset.name}: {len(dataset.images)} images"
