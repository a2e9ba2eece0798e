"""Speed benchmarks of GAN2GAN's training loops against the authors' order, as ratios measured in one run.

Two comparisons, each on the same networks, batch and inputs:

- one generator iteration of Algorithm 1: generated samples computed once and reused, detached, across
  the critic steps (ours) against recomputing them, with gradients, in every critic step (the
  official code's order);
- G2G pair generation: one mini-batch generated in two forward passes (ours) against one sample at a
  time, its crop twice through the estimator (the official data loader).

Timings alternate between the two variants and report medians, so both see the same machine state.

Examples
--------
::

    python -m bench.speed                       # CPU, batch 16 / 32; writes reports/speed/gan2gan.{csv,md}
    python -m bench.speed --device cuda --gan-batch 64 --pair-batch 128
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from methods.gan2gan.gan import GANConfig, GANOptimizers, GenerativeModel, step_generative_model
from methods.gan2gan.iterate import make_pair_sampler
from methods.nets import DnCNN, NoiseGenerator
from methods.training import resolve_device

#: Speed-ups the issue asks for on CPU (ours / authors' time).
TARGETS = {"generator iteration": 1.7, "pair generation": 1.3}


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


def measure_generator_iteration(*, batch: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Seconds per generator iteration (n_critic 5, the authors' networks), reused vs recomputed samples."""
    torch.manual_seed(0)
    model = GenerativeModel().to(device).train()
    config = GANConfig(steps=1, batch_size=batch)
    optimizers = GANOptimizers.build(model, config)
    noisy = torch.rand(batch, 1, 64, 64, device=device)
    noise = 0.1 * torch.randn(batch, 1, 64, 64, device=device)
    latent = torch.randn(batch, 128, device=device)

    def run(reuse: bool) -> Callable[[], object]:
        return lambda: step_generative_model(
            model, optimizers, noisy=noisy, noise=noise, latent=latent, config=config, reuse_fakes=reuse
        )

    return time_alternating({"ours": run(True), "authors": run(False)}, repeats=repeats, device=device)


def measure_pair_generation(
    *, batch: int, patch: int, repeats: int, device: torch.device
) -> dict[str, float]:
    """Seconds per G2G mini-batch of pairs (g_theta1 + a 17-layer DnCNN estimator), batched vs per sample."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
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
        return lambda: draw(np.random.default_rng(1))

    return time_alternating({"ours": run(False), "authors": run(True)}, repeats=repeats, device=device)


def run_benchmarks(
    *, device: torch.device, gan_batch: int, pair_batch: int, patch: int, repeats: int
) -> pd.DataFrame:
    """Both comparisons as a table: seconds of ours and the authors' order, and the speed-up."""
    rows = []
    for name, batch, timings in (
        (
            "generator iteration",
            gan_batch,
            measure_generator_iteration(batch=gan_batch, repeats=repeats, device=device),
        ),
        (
            "pair generation",
            pair_batch,
            measure_pair_generation(batch=pair_batch, patch=patch, repeats=repeats, device=device),
        ),
    ):
        speedup = timings["authors"] / timings["ours"]
        target = TARGETS[name] if device.type == "cpu" else float("nan")
        rows.append(
            {
                "benchmark": name,
                "batch": batch,
                "ours_s": timings["ours"],
                "authors_s": timings["authors"],
                "speedup": speedup,
                "cpu_target": target,
                "meets_target": bool(speedup >= target) if device.type == "cpu" else None,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print and write the table; exit 1 when a CPU target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    parser.add_argument("--gan-batch", type=int, default=16, help="Algorithm 1 batch (default 16; paper 64)")
    parser.add_argument("--pair-batch", type=int, default=32, help="G2G batch (default 32; paper 128)")
    parser.add_argument("--patch", type=int, default=64, help="G2G crop size (default 64)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each variant (default 5)")
    parser.add_argument("--out", type=Path, default=Path("reports/speed"), help="output folder")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    frame = run_benchmarks(
        device=device,
        gan_batch=args.gan_batch,
        pair_batch=args.pair_batch,
        patch=args.patch,
        repeats=args.repeats,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"gan2gan_{device.type}"
    frame.to_csv(args.out / f"{name}.csv", index=False)
    threads = torch.get_num_threads()
    header = f"GAN2GAN training loops, ours vs the authors' order: device {device}, {threads} torch threads, "
    header += f"torch {torch.__version__}, median of {args.repeats} alternating runs.\n\n"
    (args.out / f"{name}.md").write_text(header + frame.to_markdown(index=False, floatfmt=".3f") + "\n")
    print(header + frame.to_markdown(index=False, floatfmt=".3f"))
    missed = frame["meets_target"].eq(False).any()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
