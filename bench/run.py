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
    python -m bench.run fig4 --dataset fmd --data-root DIR   # Figure 4: real noise (FMD WF or CT)
    python -m bench.run all                             # all of the above and the ablations
    python -m bench.run table2 --seeds 3 --executor joblib --jobs 2   # 3 seeds, 2 worker processes
    python -m bench.run table2 --executor slurm --slurm-partition gpu --slurm-gpus 1 --device cuda

    python -m bench.run perf --profile smoke            # speed ratios, small, in seconds

Reports land in ``<out>/<table>/<profile>/`` (``--out`` defaults to ``reports``) for a table's full run,
and beside it, in a folder named for what they hold (``<profile>_methods-bm3d_noise-gaussian25``, with
``_test-...``, ``_train-...``, ``_seeds-...``), for any other: a run never writes over another kind's
report, and a failed one leaves the earlier report whole. Finished cells are cached in ``<out>/.cache``
(``--cache``) and skipped when the command is run again (``--force`` recomputes). Tables run their cells
through ``--executor`` (:mod:`bench.executors`); the figures, ablations and timing run theirs in this
process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cells import (
    CellRunner,
    DatasetKey,
    EvalResult,
    EvalSpec,
    derive_rng,
    is_cached,
    make_fit_spec,
)
from bench.data import DataError, resolve_data_root
from bench.executors import (
    EXECUTORS,
    CellStatus,
    RunnerConfig,
    SlurmOptions,
    collect_cells,
    make_executor,
    measure_peak_rss,
    run_cells,
    write_log_line,
)
from bench.figure1 import NOISE as FIGURE1_NOISE
from bench.figure1 import tabulate_figure1, write_figure1
from bench.figure4 import (
    FIG4_METHODS,
    check_figure4_methods,
    describe_figure4_run,
    format_figure4_header,
    make_figure4_specs,
    merge_figure4_manifest,
    tabulate_figure4,
    write_figure4,
)
from bench.figures import plot_noise_std_histograms, plot_psnr_against_level, plot_theorem1, plot_timing
from bench.perf import run_perf, tabulate_perf, write_perf
from bench.profiles import PROFILES, Profile, UnknownProfileError, get_profile
from bench.provenance import describe_device, describe_git, describe_provenance
from bench.realnoise import LEVELS as REAL_NOISE_LEVELS
from bench.realnoise import check_real_noise_layout
from bench.report import (
    RESULT_COLUMNS,
    describe_test_set,
    format_gan2gan_fits,
    format_noise_levels,
    name_report_folder,
    open_report_folder,
    write_latex,
    write_manifest,
    write_markdown,
    write_summary_csv,
)
from bench.tables import TABLES, TableSpec, UnknownTableError, get_table
from bench.theorem1 import format_theorem1, tabulate_theorem1
from bench.timing import TIMED_METHODS, tabulate_timing
from methods.registry import METHODS, UnknownMethodError, find_method
from methods.training import resolve_device
from noise import NoiseSpecError, parse_noise


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


#: Every command of ``python -m bench.run`` and what it makes.
COMMAND_HELP: dict[str, str] = {
    "table1": "Table 1: which method needs what (from the registry)",
    **{name: spec.title for name, spec in TABLES.items()},
    "theorem1": "Theorem 1 in closed form with its Monte Carlo check",
    "fig1": "Figure 1: iterative Noisy N2N",
    "fig4": "Figure 4: real noise, FMD wide field or CT (--dataset)",
    "timing": "inference time per test image, beside the paper's claims",
    "perf": "speed ratios against the bare frameworks and the authors' loops",
    "all": "every table, figure and ablation, sharing one cache",
}
COMMANDS: tuple[str, ...] = tuple(COMMAND_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench.run`` argument parser; ``--help`` ends with the module's examples."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__.split("\n")[0],
        epilog=format_examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("table", nargs="?", help="the command: " + ", ".join(COMMANDS))
    parser.add_argument(
        "--dataset",
        choices=tuple(REAL_NOISE_LEVELS),
        help="fig4: the real-noise data under --data-root, FMD wide field (fmd) or CT (ct)",
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
    """The options every experiment command shares (profile, seeds, device, data, output, cache, executor)."""
    parser.add_argument("--profile", default="cpu", help=f"{', '.join(PROFILES)} (default: cpu)")
    parser.add_argument(
        "--seeds",
        nargs="+",
        default=["1"],
        metavar="SEED",
        help="one number N: the first N seeds (0..N-1); several: those seeds (--seeds 0 3 7); a range "
        "START:STOP, e.g. 5:6 for seed 5 alone (default: 1, i.e. seed 0)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per cell (default 1); CPU results depend on it, never on the executor",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        help="folder holding BSD400/ and BSD68/ (or set $GAN2GAN_DATA); fig4: the FMD or CT data",
    )
    parser.add_argument("--train-data", help="override the profile's training set (e.g. folder:PATH)")
    parser.add_argument("--test-data", help="override the profile's test set (e.g. folder:PATH)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report root (default: reports)")
    parser.add_argument("--cache", type=Path, help="shared cache folder (default: <out>/.cache)")
    parser.add_argument("--force", action="store_true", help="recompute every cell of the run")
    parser.add_argument(
        "--force-method",
        action="append",
        default=[],
        metavar="NAME",
        help="recompute the cells of this method and of those built on it (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or status lines")
    executors = parser.add_argument_group("executors (tables)")
    executors.add_argument(
        "--executor",
        choices=("auto", *EXECUTORS),
        default="auto",
        help="where cells run; auto (default): joblib over --jobs processes when more than one fits and "
        "the cells run on CPU, else local (in this process)",
    )
    executors.add_argument(
        "--jobs",
        type=int,
        help="processes at once for joblib and submitit-local, and over which a local run spreads BM3D's "
        "test images (default: CPU cores / --threads); with slurm, the job array's parallelism "
        "(default: unlimited)",
    )
    executors.add_argument(
        "--collect", action="store_true", help="run nothing: gather finished cells and write the reports"
    )
    executors.add_argument("--slurm-partition", help="Slurm partition")
    executors.add_argument(
        "--slurm-time", type=int, default=60, help="Slurm (and submitit-local) time limit, minutes (60)"
    )
    executors.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per Slurm job (default 0)")
    executors.add_argument(
        "--slurm-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any further sbatch option, e.g. --slurm-param account=abc --slurm-param mem=16G (repeatable)",
    )


def make_runner(args: argparse.Namespace) -> CellRunner:
    """The cell runner of a command in this process: its cache, data root, device, threads and logging."""
    config = make_runner_config(args)
    try:
        return config.make_runner(
            progress=not args.quiet,
            log=make_log(quiet=args.quiet),
            force=args.force,
            force_methods=frozenset(find_method(m) for m in args.force_method),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def make_runner_config(
    args: argparse.Namespace, *, shared_datasets: dict[DatasetKey, Path] | None = None
) -> RunnerConfig:
    """What a worker needs to run the command's cells (the device is resolved where they run), with the
    datasets this process decoded and shared (:meth:`~bench.cells.CellRunner.share_datasets`)."""
    return RunnerConfig(
        cache_dir=(args.cache or args.out / ".cache").resolve(),
        data_root=args.data_root.resolve() if args.data_root else None,
        device=args.device,
        threads=args.threads,
        # local cells spread BM3D's test images over the cores; worker processes already fill them
        image_jobs=count_jobs(args) if resolve_executor(args) == "local" else 1,
        shared_datasets=tuple((shared_datasets or {}).items()),
        progress=not args.quiet,
    )


def resolve_executor(args: argparse.Namespace) -> str:
    """``--executor``; ``auto`` is joblib when more than one process fits the cores (``--jobs``, by
    default cores / ``--threads``) and the cells run on CPU, else local: one GPU serves one process."""
    if args.executor != "auto":
        return args.executor
    try:
        on_cpu = resolve_device(args.device).type == "cpu"
    except ValueError as error:
        raise UsageError(str(error)) from None
    return "joblib" if on_cpu and not args.collect and count_jobs(args) > 1 else "local"


def count_jobs(args: argparse.Namespace) -> int:
    """``--jobs``, by default the CPU cores over ``--threads``."""
    return args.jobs or max(1, (os.cpu_count() or 1) // max(1, args.threads))


def make_log(*, quiet: bool):
    """Status lines go to stderr; ``--quiet`` keeps only failures."""

    def log(message: str) -> None:
        if not quiet or message.startswith("[failed]"):
            write_log_line(message)

    return log


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


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user error prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = format_warning
    if args.table is None:
        print(format_commands())
        return 0
    try:
        if args.table not in COMMANDS:
            raise UsageError(f"unknown command {args.table!r}; valid: {', '.join(COMMANDS)}")
        if args.table == "table1":
            print(format_table1())
            return 0
        check_run_options(args)
        if args.table not in (*TABLES, "all"):
            check_in_process(args, command=args.table)
        if args.table == "theorem1":
            return run_theorem1(args)
        if args.table == "fig1":
            return run_figure1(args)
        if args.table == "fig4":
            return run_figure4(args)
        if args.table == "timing":
            return run_timing(args)
        if args.table == "perf":
            return run_perf_command(args)
        if args.table == "all":
            return run_all(args)
        return run_table(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file system problem no check could foresee (a disk filling up mid-run)
        print(f"error: {format_os_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished cells are cached, and a fit under way wrote its checkpoint; run the "
            "same command again to resume",
            file=sys.stderr,
        )
        return 130


def format_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> str:
    """A warning as one line, ``warning: MESSAGE``, without Python's source line."""
    return f"warning: {message}\n"


def format_commands() -> str:
    """What ``python -m bench.run`` alone prints: every command, one line each, and where to read more."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {about}" for name, about in COMMAND_HELP.items()]
    return "\n".join(
        [
            "usage: python -m bench.run COMMAND [options]   (python -m bench.run --help for the options)",
            "",
            "commands:",
            *lines,
            "",
            "ablations: python -m bench.ablation {extraction,generator,init,convergence}",
        ]
    )


def format_examples(doc: str) -> str:
    """The ``Examples`` section of a command module's docstring, for the end of its ``--help``."""
    _, _, rest = doc.partition("Examples\n--------\n::\n")
    return "examples:\n" + rest.rstrip() if rest else ""


def format_os_error(error: OSError) -> str:
    """One line for a file system error: the path and the problem."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def check_run_options(args: argparse.Namespace) -> None:
    """Refuse, before any work, option values that cannot work: bounds, empty lists, and output or cache
    folders that are files or cannot be created."""
    for flag, value in (
        ("--methods", getattr(args, "methods", None)),
        ("--noise", getattr(args, "noise", None)),
    ):
        if value is not None and not _split(value):
            raise UsageError(f"{flag} names nothing; give a comma-separated list or leave {flag} out")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if args.slurm_time < 1 or args.slurm_gpus < 0:
        raise UsageError("--slurm-time must be at least 1 minute and --slurm-gpus at least 0")
    if args.executor == "slurm" and shutil.which("sbatch") is None:
        raise UsageError(
            "--executor slurm needs Slurm (no sbatch on PATH here); run on a Slurm login node, or use "
            "--executor joblib or local"
        )
    for flag, folder in (("--out", args.out), ("--cache", args.cache)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise UsageError(f"{flag} {folder} is a file; it must name a folder")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out {args.out}: {error.strerror or error}") from None
    check_writable(args.out, flag="--out")


def check_writable(folder: Path, *, flag: str) -> None:
    """Refuse a folder where a file cannot be created (permissions, a read-only or full file system)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write in {flag} {folder}: {error.strerror or error}") from None


def check_in_process(args: argparse.Namespace, *, command: str) -> None:
    """Figures, ablations and timing run their cells in this process, for one seed: ``--collect`` cannot
    apply, and another ``--executor`` or further seeds are noted and ignored (``args.executor`` becomes
    local)."""
    if args.collect:
        raise UsageError(f"--collect gathers tables only; {command} runs its cells in this process")
    log = make_log(quiet=args.quiet)
    if args.executor not in ("auto", "local"):
        log(f"[note] {command} runs its cells in this process (--executor is for tables)")
    args.executor = "local"  # so BM3D's test images spread over --jobs processes here
    seeds = parse_seeds(args.seeds)
    if len(seeds) > 1:
        log(f"[note] {command} runs seed {seeds[0]} only (several seeds are for tables)")


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
    """Expand the table into cells, run what is not cached, and write the report.

    Returns 0 when every cell finished, 1 when some failed or are not finished (``--collect``), 130
    when interrupted.
    """
    table = get_table(args.table)
    profile = get_profile(args.profile)
    methods = [find_method(m) for m in _split(args.methods)] if args.methods else list(table.methods)
    noises = [parse_noise(n).spec for n in _split(args.noise)] if args.noise else list(table.noises)
    noises = choose_correlated(noises, args.correlated)
    seeds = parse_seeds(args.seeds)
    unavailable = find_unavailable(methods)
    runner = make_runner(args)
    log = make_log(quiet=args.quiet)
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
    if args.collect:
        status = collect_cells(specs, cache_dir=runner.cache_dir)
    else:
        todo = [spec for spec in specs if not is_cached(runner.cache_dir, spec)]
        if todo or args.force or args.force_method:
            try:
                runner.cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UsageError(f"cannot create the cache {runner.cache_dir}: {error.strerror}") from None
            check_writable(runner.cache_dir, flag="--cache")
        runner.check_data(specs)
        if args.force or args.force_method:
            log(f"[cells] --force: {runner.invalidate(specs)} cached results deleted")
        name = resolve_executor(args)
        executor = make_executor(
            name,
            runner=runner,
            config=make_runner_config(
                args, shared_datasets=runner.share_datasets() if name != "local" else None
            ),
            jobs=count_jobs(args),
            slurm=parse_slurm_options(args),
        )
        try:
            status = run_cells(specs, executor=executor, cache_dir=runner.cache_dir, log=log)
        except KeyboardInterrupt:
            running = executor.cancel()
            finished = sum(is_cached(runner.cache_dir, spec) for spec in specs)
            print(
                f"\ninterrupted: {finished} of {len(specs)} cells are finished and cached in "
                f"{runner.cache_dir}; run the same command again to resume (finished cells and partial "
                "evaluations are kept)",
                file=sys.stderr,
            )
            if running:
                print(
                    f"Slurm jobs still running (their results will land in the cache): {' '.join(running)}; "
                    "add --collect to gather what has finished",
                    file=sys.stderr,
                )
            return 130
    results = [runner.evaluate(spec) for spec in specs if is_cached(runner.cache_dir, spec)]
    write_table_report(
        args,
        table=table,
        profile=profile,
        runner=runner,
        specs=specs,
        results=results,
        status=status,
        noises=noises,
        methods=methods,
        seeds=seeds,
        unavailable=unavailable,
        started=started,
    )
    unfinished = [o for o in status.unfinished if o.task.kind == "eval"]
    computed = status.count("done")
    print(
        f"{len(specs)} cells: {computed} computed, {status.count('cached')} from cache, "
        f"{len(unfinished)} failed or not finished",
        file=sys.stderr,
    )
    return 1 if unfinished else 0


def write_table_report(
    args: argparse.Namespace,
    *,
    table: TableSpec,
    profile: Profile,
    runner: CellRunner,
    specs: list[EvalSpec],
    results: list[EvalResult],
    status: CellStatus,
    noises: list[str],
    methods: list[str],
    seeds: list[int],
    unavailable: dict[str, str],
    started: dt.datetime,
) -> None:
    """CSV (per seed and summary), Markdown, LaTeX, figure and manifest of a table run, written whole into
    its keyed folder (:func:`bench.report.open_report_folder`); when cells failed and an earlier report is
    there, beside it in ``<folder>_incomplete``."""
    device = runner.device
    test_data = args.test_data or profile.test_data
    folder = name_table_folder(
        args, table=table, profile=profile, methods=methods, noises=noises, seeds=seeds
    )
    final = args.out / table.name / folder
    unfinished = [o for o in status.unfinished if o.task.kind == "eval"]
    if unfinished and final.exists():
        kept, final = final, final.with_name(f"{final.name}_incomplete")
        print(
            f"{len(unfinished)} cells failed or did not finish: their report goes to {final}, and the "
            f"earlier report in {kept} is kept",
            file=sys.stderr,
        )
    frame = _tidy(results, table=table.name, profile=profile.name, device=device)
    test_set = describe_test_set(test_data, limit=profile.test_limit, crop=profile.test_crop)
    with open_report_folder(final) as out_dir:
        stem = out_dir / table.name
        frame.to_csv(stem.with_suffix(".csv"), index=False)
        write_summary_csv(out_dir / f"{table.name}_summary.csv", frame)
        names = list(dict.fromkeys([*frame["method"], *(METHODS[key].name for key in unavailable)]))
        header = (
            f"Profile `{profile.name}` ({profile.description}); test set `{test_data}`, seeds "
            f"{', '.join(map(str, seeds))}, device `{device}`, {runner.threads} torch thread(s) per cell. "
            + ("Each cell: ours / paper / ours - paper." if test_set is None else "Each cell: ours.")
        )
        fits = [(r.spec.noise, r.fit_report) for r in results if "extraction" in r.fit_report]
        resources = summarise_resources(status, started=started)
        write_markdown(
            stem.with_suffix(".md"),
            table=table,
            results=frame,
            methods=names,
            header=header,
            test_set=test_set,
            notes=[
                *format_unfinished(status),
                *format_noise_levels(noises),
                *format_shown_params(table, profile, methods),
                *(f"- {METHODS[key].name} was not run: {reason}" for key, reason in unavailable.items()),
                *format_gan2gan_fits(fits),
                *format_resources(resources),
            ],
        )
        if fits:
            plot_noise_std_histograms(out_dir / "gan2gan_noise_std", fits=fits)
        write_latex(stem.with_suffix(".tex"), table=table, results=frame, methods=names, test_set=test_set)
        plot_psnr_against_level(
            stem,
            table=table,
            results=frame,
            methods=names,
            title=f"{table.title.split(':')[0]} ({profile.name} profile, on {(test_set or 'BSD68')})".replace(
                "`", ""
            ),
            with_paper=test_set is None,
        )
        write_manifest(
            out_dir / "manifest.json",
            _manifest(
                args,
                runner,
                specs,
                profile=profile,
                status=status,
                started=started,
                unavailable=unavailable,
                resources=resources,
            ),
        )
    print(
        f"wrote {final}/: {table.name}.csv, _summary.csv, .md, .tex, .png, .pdf, manifest.json",
        file=sys.stderr,
    )
    print(f"report: {final / table.name}.md", file=sys.stderr)


def name_table_folder(
    args: argparse.Namespace,
    *,
    table: TableSpec,
    profile: Profile,
    methods: list[str],
    noises: list[str],
    seeds: list[int],
) -> str:
    """The report folder of a table run: the profile's name, with a suffix for each departure from the
    table's full default run (test or training set, a subset of methods or noises, seeds other than 0)."""
    defaults = choose_correlated(list(table.noises), args.correlated)
    return name_report_folder(
        profile.name,
        test_data=args.test_data if args.test_data not in (None, profile.test_data) else None,
        train_data=args.train_data if args.train_data not in (None, profile.train_data) else None,
        methods=methods if set(methods) != set(table.methods) else (),
        noises=noises if set(noises) != set(defaults) else (),
        seeds=seeds if seeds != [0] else (),
    )


def name_experiment_folder(args: argparse.Namespace, profile: Profile, *, methods: list[str] = ()) -> str:
    """The report folder of an experiment that is not a table: the profile, with the test and training
    sets when they are not the profile's, ``methods`` when they are a subset, and a seed other than 0."""
    seed = parse_seeds(args.seeds)[0]
    return name_report_folder(
        profile.name,
        test_data=args.test_data if args.test_data not in (None, profile.test_data) else None,
        train_data=args.train_data if args.train_data not in (None, profile.train_data) else None,
        methods=methods,
        seeds=[seed] if seed != 0 else (),
    )


def choose_correlated(noises: list[str], correlated: str) -> list[str]:
    """``noises`` with correlated noise as ``--correlated`` asks (the authors' code's or the paper's)."""
    if correlated != "paper":
        return noises
    return [n.replace("correlated:", "correlated-paper:") for n in noises]


def summarise_resources(status: CellStatus, *, started: dt.datetime) -> dict[str, Any]:
    """Wall time, the time of every task computed in this run, and peak resident memory.

    The peak of a run is bounded by this process's peak plus each worker process's (the workers run
    side by side, and live as long as the run: :data:`bench.executors.WORKER_IDLE_SECONDS`); a task
    that came from the cache took no time.
    """
    peaks = {os.getpid(): measure_peak_rss()}
    for outcome in status.outcomes.values():
        if outcome.pid is not None and outcome.peak_rss is not None:
            peaks[outcome.pid] = max(peaks.get(outcome.pid, 0), outcome.peak_rss)
    return {
        "wall_seconds": (dt.datetime.now(dt.timezone.utc) - started).total_seconds(),
        "peak_rss_bytes": {
            "this_process": peaks[os.getpid()],
            "workers": {str(pid): peak for pid, peak in peaks.items() if pid != os.getpid()},
            "total": sum(peaks.values()),
        },
        "tasks": [
            {
                "task": o.task.label,
                "kind": o.task.kind,
                "method": o.task.fit.method,
                "noise": o.task.spec.noise,
                "status": o.status,
                "seconds": o.seconds,
                "pid": o.pid,
            }
            for o in status.outcomes.values()
        ],
    }


def format_resources(resources: dict[str, Any]) -> list[str]:
    """Markdown lines: wall time, peak memory and the seconds of each method's fits and evaluations."""
    tasks = pd.DataFrame(resources["tasks"])
    computed = tasks[tasks["seconds"].notna()] if len(tasks) else tasks
    peak = resources["peak_rss_bytes"]
    workers = len(peak["workers"])
    lines = [
        "## Time and memory",
        "",
        f"Wall time {resources['wall_seconds'] / 60:.1f} min; peak resident memory at most "
        f"{peak['total'] / 2**30:.2f} GiB (this process {peak['this_process'] / 2**30:.2f} GiB"
        + (f", plus {workers} worker processes at their peaks)." if workers else ")."),
        "",
    ]
    if len(computed) == 0:
        return [*lines, "Every cell came from the cache.", ""]
    by_stage = computed.pivot_table(index="method", columns="kind", values="seconds", aggfunc="sum")
    by_stage = by_stage.reindex(columns=["fit", "eval"]).fillna(0.0)
    by_stage.index = [METHODS[key].name for key in by_stage.index]
    by_stage["total"] = by_stage.sum(axis=1)
    table = by_stage.sort_values("total", ascending=False).rename(
        columns={"fit": "fit (s)", "eval": "evaluation (s)", "total": "total (s)"}
    )
    return [
        *lines,
        f"Seconds of the {len(computed)} tasks computed in this run, by method (every noise level and "
        "seed; tasks of parallel workers overlap in time):",
        "",
        table.to_markdown(floatfmt=".0f"),
        "",
    ]


def format_unfinished(status: CellStatus) -> list[str]:
    """Markdown lines: every cell that failed or has not finished, with its one-line reason."""
    rows = [
        {"cell": o.task.label, "status": o.status, "reason": o.reason}
        for o in status.outcomes.values()
        if o.status in ("failed", "missing")
    ]
    if not rows:
        return []
    return [
        "## Cells that failed or have not finished (their numbers are missing above)",
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
    ]


def parse_slurm_options(args: argparse.Namespace) -> SlurmOptions:
    """The ``--slurm-*`` options; ``--slurm-param`` must read KEY=VALUE."""
    extra = []
    for item in args.slurm_param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--slurm-param must read KEY=VALUE, got {item!r}")
        extra.append((key.strip(), value.strip()))
    return SlurmOptions(
        partition=args.slurm_partition,
        time_min=args.slurm_time,
        gpus=args.slurm_gpus,
        array_parallelism=args.jobs,
        extra=tuple(extra),
    )


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
        keys = {"table": table, "profile": profile, "noise": noise.family, "level": noise.level}
        rows += [{**keys, **row} for row in result.stage_rows(device=device)]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _manifest(
    args: argparse.Namespace,
    runner: CellRunner,
    specs: list[EvalSpec],
    *,
    profile: Profile,
    status: CellStatus,
    started: dt.datetime,
    unavailable: dict[str, str],
    resources: dict[str, Any],
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
        "executor": "collect" if args.collect else resolve_executor(args),
        "threads_per_cell": runner.threads,
        "cells": [
            {
                "eval": s.key,
                "fit": s.fit.key,
                "method": s.fit.method,
                "noise": s.noise,
                "seed": s.seed,
                "status": status.outcomes[s.key].status if s.key in status.outcomes else "unknown",
                "reason": status.outcomes[s.key].reason if s.key in status.outcomes else "",
                "job": status.outcomes[s.key].job_id if s.key in status.outcomes else None,
            }
            for s in specs
        ],
        "protocol": "images float32 in [0,1]; noise in 0-255 units /255, not clipped or quantised; PSNR "
        "10log10(1/MSE) per image on outputs clipped to [0,1], averaged; SSIM data_range=1 "
        "(ssim_authors: data range of the denoised image); model selection: last step",
        "device": describe_device(runner.device),
        "datasets": datasets,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **resources,
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
    final = args.out / "fig1" / name_experiment_folder(args, profile)
    with open_report_folder(final) as out_dir:
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
    print(f"wrote {final}/: {', '.join(p.name for p in written)}, manifest.json", file=sys.stderr)
    return 0


def run_figure4(args: argparse.Namespace) -> int:
    """Figure 4 (real noise): every level of FMD wide field or CT through the cache, then CSV, Markdown,
    figure and manifest in ``<out>/fig4/<profile>/``."""
    if args.dataset is None:
        raise UsageError("fig4 needs --dataset fmd (FMD wide field) or --dataset ct")
    data_root = resolve_data_root(args.data_root)
    if data_root is None:
        raise UsageError(
            f"fig4 needs --data-root DIR (or $GAN2GAN_DATA) holding the {args.dataset} data (layout in "
            "bench/realnoise.py; python -m bench.realnoise fmd DIR writes a small synthetic one)"
        )
    for flag, value in (("--noise", args.noise), ("--test-data", args.test_data)):
        if value:
            raise UsageError(
                f"fig4 evaluates every level on the dataset's own noisy test images; drop {flag}"
            )
    profile = get_profile(args.profile)
    seed = parse_seeds(args.seeds)[0]
    methods = [find_method(m) for m in _split(args.methods)] if args.methods else list(FIG4_METHODS)
    try:
        check_figure4_methods(methods)
    except ValueError as error:
        raise UsageError(str(error)) from None
    root = check_real_noise_layout(args.dataset, data_root)  # before any work; reads no pixels
    unavailable = find_unavailable(methods)
    runner = make_runner(args)
    started = dt.datetime.now(dt.timezone.utc)
    specs = make_figure4_specs(
        args.dataset,
        root=root,
        profile=profile,
        methods=[m for m in methods if m not in unavailable],
        seed=seed,
        clean_train_data=args.train_data or profile.train_data,
    )
    if args.force or args.force_method:
        make_log(quiet=args.quiet)(f"[cells] --force: {runner.invalidate(specs)} cached results deleted")
    frame = tabulate_figure4(runner, specs, dataset=args.dataset)
    header = format_figure4_header(
        args.dataset,
        root=root,
        profile=profile,
        seed=seed,
        device=runner.device,
        threads=runner.threads,
        clean_train_data=args.train_data or profile.train_data,
    )
    final = args.out / "fig4" / name_experiment_folder(args, profile)
    with open_report_folder(final) as out_dir:
        # the other dataset's figure shares the folder: keep its files, replace this one's
        for kept in final.glob("fig4_*") if final.is_dir() else ():
            if not kept.name.startswith(f"fig4_{args.dataset}."):
                shutil.copy2(kept, out_dir / kept.name)
        written = write_figure4(frame, dataset=args.dataset, out_dir=out_dir, profile=profile, header=header)
        write_manifest(
            out_dir / "manifest.json",
            merge_figure4_manifest(
                final / "manifest.json",
                describe_figure4_run(runner, specs, dataset=args.dataset, profile=profile, started=started),
                dataset=args.dataset,
            ),
        )
    print(f"wrote {final}/: {', '.join(p.name for p in written)}, manifest.json", file=sys.stderr)
    return 0


def run_perf_command(args: argparse.Namespace) -> int:
    """The performance suite (:mod:`bench.perf`): ``<out>/perf/<profile>/perf.{csv,md}``, ``manifest.json``;
    status 1 when a measured ratio misses its bound (profiles that enforce them: cpu, paper)."""
    profile = get_profile(args.profile)
    sizes = profile.experiments["perf"]
    runner = make_runner(args)
    started = dt.datetime.now(dt.timezone.utc)
    rows = run_perf(runner, profile, table2_folder=args.out / "table2" / profile.name)
    frame = tabulate_perf(rows)
    final = args.out / "perf" / name_experiment_folder(args, profile)
    device, git = describe_device(runner.device), describe_git()
    header = (
        f"Profile `{profile.name}`; device `{runner.device}` ({device.get('cpu', '')}, "
        f"{device.get('cpu_count', '')} CPUs), {runner.threads} torch thread(s), {runner.image_jobs} BM3D "
        f"processes; git {git['revision'][:10]}{' (dirty)' if git['dirty'] else ''}. Sizes: "
        + ", ".join(f"{key} {value}" for key, value in sizes.items())
        + "."
    )
    with open_report_folder(final) as out_dir:
        write_perf(frame, out_dir, header=header)
        write_experiment_manifest(
            out_dir,
            prog="python -m bench.run",
            experiment="perf",
            profile={"name": profile.name, "perf": dict(sizes)},
            seeds=[0],
            device=runner.device,
            started=started,
        )
    print((final / "perf.md").read_text())
    print(f"wrote {final}/: perf.csv, perf.md, manifest.json", file=sys.stderr)
    missed = frame["ok"].eq(False).any()
    return 1 if missed and sizes["enforce"] else 0


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
    subset = methods if set(methods) != set(TIMED_METHODS) else []
    final = args.out / "timing" / name_experiment_folder(args, profile, methods=subset)
    with open_report_folder(final) as out_dir:
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
        title = f"Inference time per image ({profile.name} profile)"
        plot_timing(out_dir / "timing", frame=frame, title=title)
        write_experiment_manifest(
            out_dir,
            prog="python -m bench.run",
            experiment="timing",
            profile={"name": profile.name, "timing": dict(sizes)},
            seeds=[seed],
            device=runner.device,
            started=started,
        )
    print(f"wrote {final}/: timing.csv, timing.md, timing.png, timing.pdf, manifest.json", file=sys.stderr)
    return 0


def run_all(args: argparse.Namespace) -> int:
    """Every table, figure and ablation of the paper with the command's options, sharing one cache."""
    from bench import ablation  # imports this module

    print(format_table1())
    status = 0
    for name in ("table2", "table3", "n2v-check", "theorem1", "fig1", "timing"):
        if args.collect and name not in TABLES:
            continue
        print(f"[all] {name}", file=sys.stderr)
        status |= main([name, *_shared_options(args)])
    for name in () if args.collect else ablation.ABLATIONS:
        print(f"[all] ablation {name}", file=sys.stderr)
        status |= ablation.main([name, *_shared_options(args)])
    return status


def _shared_options(args: argparse.Namespace) -> list[str]:
    """The command line of ``args`` as the options every experiment accepts."""
    options = ["--profile", args.profile, "--seeds", *args.seeds, "--device", args.device]
    options += ["--threads", str(args.threads), "--out", str(args.out), "--executor", args.executor]
    options += ["--slurm-time", str(args.slurm_time), "--slurm-gpus", str(args.slurm_gpus)]
    for flag, value in (
        ("--data-root", args.data_root),
        ("--train-data", args.train_data),
        ("--test-data", args.test_data),
        ("--cache", args.cache),
        ("--jobs", args.jobs),
        ("--slurm-partition", args.slurm_partition),
    ):
        if value is not None:
            options += [flag, str(value)]
    for flag, values in (("--force-method", args.force_method), ("--slurm-param", args.slurm_param)):
        for value in values:
            options += [flag, value]
    flags = (("--force", args.force), ("--quiet", args.quiet), ("--collect", args.collect))
    options += [flag for flag, on in flags if on]
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
    final = args.out / "theorem1" / name_experiment_folder(args, profile)
    with open_report_folder(final) as out_dir:
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
        f"wrote {final}/: theorem1.csv, theorem1_summary.csv, .md, .png, .pdf, manifest.json",
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


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_seeds(tokens: list[str]) -> list[int]:
    """The ``--seeds`` values: one number N means seeds 0..N-1, several mean those seeds, and
    ``START:STOP`` a range; commas separate like spaces."""
    parts = [part for token in tokens for part in _split(token)]
    try:
        bounds = [[int(x) for x in part.split(":", 1)] for part in parts]
    except ValueError:
        raise UsageError(
            f"--seeds takes integers (a count, several seeds or START:STOP), got {' '.join(tokens)!r}"
        ) from None
    if len(bounds) == 1 and len(bounds[0]) == 1:
        (count,) = bounds[0]
        if count < 1:
            raise UsageError(
                f"--seeds {count} asks for {count} seeds; give a count of at least 1, several seeds "
                "(--seeds 0 1 2) or a range (--seeds 5:6 for seed 5 alone)"
            )
        return list(range(count))
    seeds = [seed for b in bounds for seed in (range(b[0], b[1]) if len(b) == 2 else b)]
    if not seeds or any(seed < 0 for seed in seeds):
        raise UsageError(f"--seeds {' '.join(tokens)} gives no usable seeds (seeds are integers >= 0)")
    return list(dict.fromkeys(seeds))


if __name__ == "__main__":
    sys.exit(main())
