"""Figure 1 of the paper: iterative Noisy N2N on BSD68 at sigma 25 (section 3).

For every sigma_0 of the profile, :class:`methods.noisy_n2n.NoisyN2N` trains Noisy-N2N_1..J from initial
estimates at extra noise sigma_0, the true noise simulated exactly; sigma_0 = 0 with one iteration is
ordinary N2N, the upper bound. The x-axis labels carry the initial estimates' PSNR, as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cells import CellRunner, EvalSpec
from bench.figures import plot_noisy_n2n
from bench.metrics import compute_psnr
from bench.profiles import Profile
from methods.noisy_n2n import make_initial_estimates

NOISE = "gaussian:25"


def tabulate_figure1(
    runner: CellRunner, *, profile: Profile, seed: int, make_spec: Callable[[dict[str, Any]], EvalSpec]
) -> pd.DataFrame:
    """One row per (sigma_0, model): the test PSNR/SSIM, and the initial estimates' PSNR on the training
    images (the figure's axis labels). ``make_spec(params)`` builds the evaluation cell of Noisy N2N."""
    sizes = profile.experiments["fig1"]
    base = profile.params("noisy-n2n")
    rows = []
    # N2N gets the training budget of all J iterations together, so it bounds them fairly.
    j = sizes["iterations"]
    budget = {"steps": base["steps"] * j, "milestones": tuple(m * j for m in base.get("milestones", ()))}
    upper = runner.evaluate(make_spec({**base, **budget, "sigma0": 0.0, "iterations": 1}))
    stage = upper.stages[-1]
    rows.append({"sigma0": 0.0, "method": "N2N", "psnr": stage.psnr, "ssim": stage.ssim})
    train = runner.dataset(
        upper.spec.fit.train_data, limit=upper.spec.fit.train_limit, min_size=base["patch_size"]
    )
    for sigma0 in sizes["sigma0"]:
        result = runner.evaluate(
            make_spec({**base, "sigma0": float(sigma0), "iterations": sizes["iterations"]})
        )
        estimates = make_initial_estimates(train.images, sigma0=float(sigma0), seed=seed)
        initial = float(np.mean([compute_psnr(e, c) for e, c in zip(estimates, train.images, strict=True)]))
        for stage in result.stages:
            rows.append(
                {
                    "sigma0": float(sigma0),
                    "initial_psnr": initial,
                    "method": stage.stage,
                    "psnr": stage.psnr,
                    "ssim": stage.ssim,
                }
            )
    return pd.DataFrame(rows)


def write_figure1(frame: pd.DataFrame, *, out_dir: Path, profile: Profile) -> list[Path]:
    """The CSV, the Markdown table (PSNR per sigma_0 and iteration) and the figure."""
    frame.to_csv(out_dir / "fig1.csv", index=False)
    noisy = frame[frame["method"] != "N2N"]
    table = noisy.pivot_table(index=["sigma0", "initial_psnr"], columns="method", values="psnr").reset_index()
    upper = float(frame.loc[frame["method"] == "N2N", "psnr"].iloc[0])
    text = [
        "# Figure 1: iterative Noisy N2N (BSD68, sigma 25, the noise simulated exactly)",
        "",
        f"Profile `{profile.name}`. Initial estimates: the training images plus Gaussian noise of std "
        "sigma_0 (their PSNR on the training images in `initial_psnr`); Noisy-N2N_j trains on pairs of the "
        "previous estimate plus the true noise twice. N2N (pairs of the clean images, trained as long as "
        f"the J iterations together), the upper bound: {upper:.2f} dB.",
        "",
        table.to_markdown(index=False, floatfmt=".2f"),
        "",
        "Theorem 1 in images: each Noisy-N2N_1 should beat its initial estimate's PSNR, and the iterations "
        "should approach N2N.",
        "",
    ]
    (out_dir / "fig1.md").write_text("\n".join(text))
    figure = plot_noisy_n2n(
        out_dir / "fig1", frame=frame, title=f"Figure 1: iterative Noisy N2N ({profile.name} profile)"
    )
    return [out_dir / "fig1.csv", out_dir / "fig1.md", *figure]
