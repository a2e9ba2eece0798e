"""Command line: reproduce a table, a figure or a claim of the paper.

Examples
--------
::

    python -m bench.run table1                          # which method needs what (from the registry)
    python -m bench.run table2 --profile smoke          # the whole table in minutes, no download
    python -m bench.run table2 --profile cpu --data-root ../shared/data --methods bm3d --noise gaussian:25
    python -m bench.run table3 --correlated paper       # mixture and correlated noise (paper's formula)
    python -m bench.run n2v-check                       # our N2V against the official n2v package
    python -m bench.run theorem1 | fig1 | timing        # Theorem 1, Figure 1, inference time
    python -m bench.run all                             # all of the above and the ablations

Reports land in ``<out>/<table>/<profile>/`` (``--out`` defaults to ``reports``); finished cells are
cached in ``<out>/.cache`` and skipped when the command is run again (``--force`` recomputes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import inspect
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

from bench.cells import CellRunner, EvalResult, EvalSpec, compute_code_digest, derive_rng, make_fit_spec
from bench.data import DataError
from bench.figure1 import NOISE as FIGURE1_NOISE
from bench.figure1 import tabulate_figure1, write_figure1
from bench.figures import plot_noise_std_histograms, plot_psnr_against_level, plot_theorem1, plot_timing
from bench.profiles import PROFILES, Profile, UnknownProfileError, get_profile
from bench.report import (
    RESULT_COLUMNS,
    format_gan2gan_fits,
    format_noise_levels,
    write_latex,
    write_manifest,
    write_markdown,
)
from bench.tables import TABLES, TableSpec, UnknownTableError, get_table
from bench.theorem1 import format_theorem1, tabulate_theorem1
from bench.timing import TIMED_METHODS, tabulate_timing
from methods.registry import METHODS, UnknownMethodError, find_method
from methods.training import resolve_device
from noise import NoiseSpecError, parse_noise

_ROOT = Path(__file__).resolve().parent.parent
_PACKAGES = ("numpy", "scipy", "torch", "scikit-image", "bm3d", "PyWavelets", "pandas", "matplotlib")


class UsageError(ValueError):
    """A command-line value that cannot be used."""


USER_ERRORS = (
    UsageError,
    DataError,
    NoiseSpecError,
    UnknownMethodError,
    UnknownProfileError,
    UnknownTableError,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench.run`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "table",
        help="table1, table2, table3, n2v-check (our N2V against the n2v package), theorem1, fig1, "
        "timing, all",
    )
    parser.add_argument("--methods", help="comma-separated method keys or names (default: the table's)")
    parser.add_argument(
        "--noise", help="comma-separated noise specs, e.g. gaussian:25 (default: the table's)"
    )
    parser.add_argument(
        "--correlated",
        choices=("code", "paper"),
        default="code",
        help="correlated noise as the authors' code made it (default) or by the paper's formula",
    )
    add_run_options(parser)
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every experiment command shares (profile, seeds, device, data, output, cache)."""
    parser.add_argument("--profile", default="cpu", help=f"{', '.join(PROFILES)} (default: cpu)")
    parser.add_argument("--seeds", default="0", help="comma-separated integer seeds (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument(
        "--data-root", type=Path, help="folder holding BSD400/ and BSD68/ (or set $GAN2GAN_DATA)"
    )
    parser.add_argument("--train-data", help="override the profile's training set (e.g. folder:PATH)")
    parser.add_argument("--test-data", help="override the profile's test set (e.g. folder:PATH)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report root (default: reports)")
    parser.add_argument("--cache", type=Path, help="cache folder (default: <out>/.cache)")
    parser.add_argument("--force", action="store_true", help="recompute cells even if cached")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def make_runner(args: argparse.Namespace) -> CellRunner:
    """The cell runner of a command: its cache, data root, device and progress settings."""
    try:
        device = str(resolve_device(args.device))
    except ValueError as error:
        raise UsageError(str(error)) from None
    return CellRunner(
        cache_dir=args.cache or args.out / ".cache",
        data_root=args.data_root,
        device=device,
        force=args.force,
        progress=not args.no_progress,
        log=lambda message: print(message, file=sys.stderr),
    )


def make_eval_spec(
    method: str,
    *,
    params: dict,
    profile: Profile,
    noise: str,
    seed: int,
    args: argparse.Namespace,
) -> EvalSpec:
    """The evaluation cell of ``method`` (with ``params``) under the profile and the command's data."""
    return EvalSpec(
        fit=make_fit_spec(
            method,
            params=params,
            train_data=args.train_data or profile.train_data,
            train_limit=profile.train_limit,
            noise=noise,
            seed=seed,
            params_of=profile.params,
        ),
        test_data=args.test_data or profile.test_data,
        test_limit=profile.test_limit,
        test_crop=profile.test_crop,
        noise=noise,
        seed=seed,
    )


#: Every command of ``python -m bench.run``.
COMMANDS: tuple[str, ...] = ("table1", *TABLES, "theorem1", "fig1", "timing", "all")


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user error prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        if args.table not in COMMANDS:
            raise UsageError(f"unknown command {args.table!r}; valid: {', '.join(COMMANDS)}")
        if args.table == "table1":
            print(format_table1())
            return 0
        if args.table == "theorem1":
            return run_theorem1(args)
        if args.table == "fig1":
            return run_figure1(args)
        if args.table == "timing":
            return run_timing(args)
        if args.table == "all":
            return run_all(args)
        return run_table(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def format_table1() -> str:
    """The paper's Table 1 (what each method needs), generated from the registered methods."""
    rows = []
    for key, cls in METHODS.items():
        req = cls.requires
        rows.append(
            {
                "method": cls.name,
                "key": key,
                "clean image": req.clean,
                "noisy pairs": req.pairs,
                "noise model": req.noise_model,
            }
        )
    frame = pd.DataFrame(rows).set_index("method")
    for column in ("clean image", "noisy pairs", "noise model"):
        frame[column] = frame[column].map({True: "yes", False: "no"})
    return "Table 1: what each method needs besides single noisy images\n\n" + frame.to_markdown()


def run_table(args: argparse.Namespace) -> int:
    """Expand the table into cells, run what is not cached, and write the report."""
    table = get_table(args.table)
    profile = get_profile(args.profile)
    methods = [find_method(m) for m in _split(args.methods)] if args.methods else list(table.methods)
    noises = [parse_noise(n).spec for n in _split(args.noise)] if args.noise else list(table.noises)
    if args.correlated == "paper":
        noises = [n.replace("correlated:", "correlated-paper:") for n in noises]
    seeds = parse_seeds(args.seeds)
    unavailable = find_unavailable(methods)
    runner = make_runner(args)
    device = runner.device
    test_data = args.test_data or profile.test_data
    out_dir = args.out / table.name / profile.name
    started = dt.datetime.now(dt.timezone.utc)
    specs = [
        make_eval_spec(
            method, params=profile.params(method), profile=profile, noise=noise, seed=seed, args=args
        )
        for noise in noises
        for method in methods
        if method not in unavailable
        for seed in seeds
    ]
    results = [runner.evaluate(spec) for spec in specs]
    computed = sum(not r.from_cache for r in results)
    frame = _tidy(results, table=table.name, profile=profile.name, device=device)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / table.name
    frame.to_csv(stem.with_suffix(".csv"), index=False)
    names = list(dict.fromkeys([*frame["method"], *(METHODS[key].name for key in unavailable)]))
    header = (
        f"Profile `{profile.name}` ({profile.description}); test set `{test_data}`, seeds "
        f"{', '.join(map(str, seeds))}, device `{device}`. Each cell: ours / paper / ours - paper."
    )
    fits = [(r.spec.noise, r.fit_report) for r in results if "extraction" in r.fit_report]
    write_markdown(
        stem.with_suffix(".md"),
        table=table,
        results=frame,
        methods=names,
        header=header,
        notes=[
            *format_noise_levels(noises),
            *format_shown_params(table, profile, methods),
            *(f"- {METHODS[key].name} was not run: {reason}" for key, reason in unavailable.items()),
            *format_gan2gan_fits(fits),
        ],
    )
    if fits:
        plot_noise_std_histograms(out_dir / "gan2gan_noise_std", fits=fits)
    write_latex(stem.with_suffix(".tex"), table=table, results=frame, methods=names)
    plot_psnr_against_level(
        stem,
        table=table,
        results=frame,
        methods=names,
        title=f"{table.title.split(':')[0]} ({profile.name} profile)",
    )
    write_manifest(
        out_dir / "manifest.json",
        _manifest(
            args, runner, specs, profile=profile, device=device, started=started, unavailable=unavailable
        ),
    )
    if computed == 0:
        print(f"all {len(specs)} cells were cached: nothing recomputed", file=sys.stderr)
    else:
        print(
            f"{computed} of {len(specs)} cells computed, {len(specs) - computed} from cache", file=sys.stderr
        )
    print(f"wrote {out_dir}/: {table.name}.csv .md .tex .png .pdf, manifest.json", file=sys.stderr)
    print(f"report: {stem.with_suffix('.md')}", file=sys.stderr)
    return 0


def find_unavailable(methods: list[str]) -> dict[str, str]:
    """Methods that cannot run here (e.g. the official n2v without its environment), with the reason;
    each is announced on stderr as ``[skip] NAME: reason``."""
    reasons = {key: getattr(METHODS[key], "unavailable_reason", lambda: None)() for key in methods}
    unavailable = {key: reason for key, reason in reasons.items() if reason is not None}
    for key, reason in unavailable.items():
        print(f"[skip] {METHODS[key].name}: {reason}", file=sys.stderr)
    return unavailable


def format_shown_params(table: TableSpec, profile: Profile, methods: list[str]) -> list[str]:
    """Markdown lines: the table's ``shown_params`` of every method under the profile, side by side.

    A value the profile leaves out is the method's default, read from its signature.
    """
    if not table.shown_params:
        return []
    columns = {}
    for key in methods:
        defaults = {
            name: parameter.default for name, parameter in inspect.signature(METHODS[key]).parameters.items()
        }
        params = {**defaults, **profile.params(key)}
        columns[METHODS[key].name] = [params.get(name, "-") for name in table.shown_params]
    frame = pd.DataFrame(
        columns,
        index=pd.Index(table.shown_params, name="hyper-parameter"),
    )
    return [f"## Hyper-parameters (profile `{profile.name}`)", "", frame.to_markdown(), ""]


def _tidy(results: list[EvalResult], *, table: str, profile: str, device: str) -> pd.DataFrame:
    rows = []
    for result in results:
        noise = parse_noise(result.spec.noise)
        for stage in result.stages:
            rows.append(
                {
                    "table": table,
                    "profile": profile,
                    "noise": noise.family,
                    "level": noise.level,
                    "method": stage.stage,
                    "seed": result.spec.seed,
                    "psnr": stage.psnr,
                    "ssim": stage.ssim,
                    "ssim_authors": stage.ssim_authors,
                    "n_images": stage.n_images,
                    "fit_seconds": result.fit_seconds,
                    "denoise_seconds": stage.denoise_seconds,
                    "device": device,
                }
            )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _manifest(
    args: argparse.Namespace,
    runner: CellRunner,
    specs: list[EvalSpec],
    *,
    profile: Profile,
    device: str,
    started: dt.datetime,
    unavailable: dict[str, str],
) -> dict:
    datasets = {
        ds.name: {
            "source": ds.source,
            "n_images": len(ds.images),
            "sha256": dict(zip(ds.names, ds.checksums, strict=True)),
        }
        for ds in {id(d): d for d in _datasets_for_manifest(runner, specs)}.values()
    }
    return {
        **describe_provenance(prog="python -m bench.run", experiment=args.table),
        "profile": {
            "name": profile.name,
            "train_data": args.train_data or profile.train_data,
            "test_data": args.test_data or profile.test_data,
            "train_limit": profile.train_limit,
            "test_limit": profile.test_limit,
            "test_crop": profile.test_crop,
            "methods": {k: dict(v) for k, v in profile.methods.items()},
        },
        "seeds": sorted({s.seed for s in specs}),
        "seed_streams": "numpy default_rng([seed, crc32(purpose), crc32(noise spec)]); test noise: purpose "
        "'test-noise', drawn over the test images sorted by name; training noise: 'train-noise'",
        "noises": sorted({s.noise for s in specs}),
        "methods": sorted({s.fit.method for s in specs}),
        "unavailable": unavailable,
        "cells": [
            {"eval": s.key, "fit": s.fit.key, "method": s.fit.method, "noise": s.noise, "seed": s.seed}
            for s in specs
        ],
        "protocol": "images float32 in [0,1]; noise in 0-255 units /255, not clipped or quantised; PSNR "
        "10log10(1/MSE) per image on outputs clipped to [0,1], averaged; SSIM data_range=1 "
        "(ssim_authors: data range of the denoised image); model selection: last step",
        "device": describe_device(device),
        "datasets": datasets,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_experiment_manifest(
    out_dir: Path,
    *,
    prog: str,
    experiment: str,
    profile: dict,
    seeds: list[int],
    device: str,
    started: dt.datetime,
) -> None:
    """``manifest.json`` of an experiment that is not a table: provenance, profile, seeds, device, times."""
    write_manifest(
        out_dir / "manifest.json",
        {
            **describe_provenance(prog=prog, experiment=experiment),
            "profile": profile,
            "seeds": seeds,
            "device": describe_device(device),
            "started": started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )


def describe_provenance(*, prog: str, experiment: str) -> dict:
    """What every manifest records: the command, the experiment, versions, git revision, code digest."""
    return {
        "command": " ".join([prog, *sys.argv[1:]]),
        "experiment": experiment,
        "versions": {
            "python": platform.python_version(),
            **{p: importlib.metadata.version(p) for p in _PACKAGES},
        },
        "git_revision": _git_revision(),
        "code_digest": compute_code_digest(),
    }


def run_figure1(args: argparse.Namespace) -> int:
    """Figure 1 (iterative Noisy N2N): cells through the cache, then CSV, Markdown, figure and manifest."""
    profile = get_profile(args.profile)
    seed = parse_seeds(args.seeds)[0]
    runner = make_runner(args)
    started = dt.datetime.now(dt.timezone.utc)
    frame = tabulate_figure1(
        runner,
        profile=profile,
        seed=seed,
        make_spec=lambda params: make_eval_spec(
            "noisy-n2n", params=params, profile=profile, noise=FIGURE1_NOISE, seed=seed, args=args
        ),
    )
    out_dir = args.out / "fig1" / profile.name
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_figure1(frame, out_dir=out_dir, profile=profile)
    write_experiment_manifest(
        out_dir,
        prog="python -m bench.run",
        experiment="fig1",
        profile={
            "name": profile.name,
            "fig1": dict(profile.experiments["fig1"]),
            "noisy-n2n": profile.params("noisy-n2n"),
        },
        seeds=[seed],
        device=runner.device,
        started=started,
    )
    print(f"wrote {out_dir}/: {', '.join(p.name for p in written)}, manifest.json", file=sys.stderr)
    return 0


def run_timing(args: argparse.Namespace) -> int:
    """Seconds per test image of every method's denoise, per device, beside the paper's claims."""
    profile = get_profile(args.profile)
    seed = parse_seeds(args.seeds)[0]
    sizes = profile.experiments["timing"]
    runner = make_runner(args)
    started = dt.datetime.now(dt.timezone.utc)
    methods = [find_method(m) for m in _split(args.methods)] if args.methods else list(TIMED_METHODS)
    unavailable = find_unavailable(methods)
    specs = [
        make_eval_spec(
            key, params=profile.params(key), profile=profile, noise="gaussian:25", seed=seed, args=args
        )
        for key in methods
        if key not in unavailable
    ]
    frame = tabulate_timing(runner, specs, images=sizes["images"], repeats=sizes["repeats"])
    out_dir = args.out / "timing" / profile.name
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "timing.csv", index=False)
    (out_dir / "timing.md").write_text(
        "\n".join(
            [
                "# Inference time per test image (median over images of the median of repeats)",
                "",
                f"Profile `{profile.name}` (its architectures); test set "
                f"`{specs[0].test_data if specs else ''}`; {sizes['images']} images, {sizes['repeats']} "
                "repeats after one warm-up call; devices: "
                f"{', '.join(dict.fromkeys(frame['device']))}. The paper's claims beside (section 5.2).",
                "",
                frame.to_markdown(index=False, floatfmt=".4g"),
                "",
            ]
        )
    )
    plot_timing(out_dir / "timing", frame=frame, title=f"Inference time per image ({profile.name} profile)")
    write_experiment_manifest(
        out_dir,
        prog="python -m bench.run",
        experiment="timing",
        profile={"name": profile.name, "timing": dict(sizes)},
        seeds=[seed],
        device=runner.device,
        started=started,
    )
    print(f"wrote {out_dir}/: timing.csv, timing.md, timing.png, timing.pdf, manifest.json", file=sys.stderr)
    return 0


def run_all(args: argparse.Namespace) -> int:
    """Every table, figure and ablation of the paper with the command's options, sharing one cache."""
    from bench import ablation  # imports this module

    print(format_table1())
    status = 0
    for name in ("table2", "table3", "n2v-check", "theorem1", "fig1", "timing"):
        print(f"[all] {name}", file=sys.stderr)
        status |= main([name, *_shared_options(args)])
    for name in ablation.ABLATIONS:
        print(f"[all] ablation {name}", file=sys.stderr)
        status |= ablation.main([name, *_shared_options(args)])
    return status


def _shared_options(args: argparse.Namespace) -> list[str]:
    """The command line of ``args`` as the options every experiment accepts."""
    options = [
        "--profile",
        args.profile,
        "--seeds",
        args.seeds,
        "--device",
        args.device,
        "--out",
        str(args.out),
    ]
    for flag, value in (
        ("--data-root", args.data_root),
        ("--train-data", args.train_data),
        ("--test-data", args.test_data),
        ("--cache", args.cache),
    ):
        if value is not None:
            options += [flag, str(value)]
    options += [flag for flag, on in (("--force", args.force), ("--no-progress", args.no_progress)) if on]
    return options


def run_theorem1(args: argparse.Namespace) -> int:
    """Theorem 1 in closed form with its Monte Carlo check: CSV, Markdown, figure and manifest."""
    profile = get_profile(args.profile)
    sizes = profile.experiments["theorem1"]
    seed = parse_seeds(args.seeds)[0]
    started = dt.datetime.now(dt.timezone.utc)
    curves, summary = tabulate_theorem1(
        points=sizes["points"], samples=sizes["samples"], rng=derive_rng(seed, "theorem1")
    )
    out_dir = args.out / "theorem1" / profile.name
    out_dir.mkdir(parents=True, exist_ok=True)
    curves.to_csv(out_dir / "theorem1.csv", index=False)
    summary.to_csv(out_dir / "theorem1_summary.csv", index=False)
    (out_dir / "theorem1.md").write_text(format_theorem1(summary))
    plot_theorem1(out_dir / "theorem1", curves=curves, summary=summary)
    write_experiment_manifest(
        out_dir,
        prog="python -m bench.run",
        experiment="theorem1",
        profile={"name": profile.name, "theorem1": dict(sizes)},
        seeds=[seed],
        device="cpu",  # numpy only
        started=started,
    )
    print(
        f"wrote {out_dir}/: theorem1.csv, theorem1_summary.csv, .md, .png, .pdf, manifest.json",
        file=sys.stderr,
    )
    return 0


def _datasets_for_manifest(runner: CellRunner, specs: list[EvalSpec]) -> list:
    """The test sets of the run, and the training sets of methods that learn from images."""
    names = {(s.test_data, s.test_limit) for s in specs}
    for s in specs:
        req = METHODS[s.fit.method].requires
        if req.clean or req.noisy_images or req.pairs:
            names.add((s.fit.train_data, s.fit.train_limit))
    return [runner.dataset(name, limit=limit) for name, limit in sorted(names, key=str)]


def describe_device(device: str) -> dict:
    import torch

    info = {
        "name": device,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in _split(text)]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise UsageError("--seeds is empty")
    return seeds


if __name__ == "__main__":
    sys.exit(main())
