"""The command line's edge: the options every experiment command shares, parsed once into a frozen
:class:`RunOptions` that is all the code below the command line sees (it never sees argparse)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cells.executors import EXECUTORS, SlurmOptions
from bench.config.profiles import PROFILES, ProfileError
from bench.datasets.catalog import DatasetSpec, parse_dataset
from bench.reporting.published import UnknownTableError
from methods.images import DataError
from methods.registry import UnknownMethodError, find_method
from methods.training import PRECISIONS, check_device_name
from noise import NoiseModel, NoiseSpecError, parse_noise


class UsageError(ValueError):
    """A command-line value that cannot be used."""


#: The errors a command reports as one line and exit status 2.
USER_ERRORS = (
    UsageError,
    DataError,
    NoiseSpecError,
    UnknownMethodError,
    ProfileError,
    UnknownTableError,
)


@dataclass(frozen=True)
class RunOptions:
    """What a user asked of an experiment command, checked and parsed.

    ``methods`` and ``noises`` are None when the experiment's own apply; ``methods`` holds registry keys
    and ``noises`` noise models (parsed once, by :func:`noise.parse_noise`).
    """

    command: str
    profile: str = "cpu"
    seeds: tuple[int, ...] = (0,)
    methods: tuple[str, ...] | None = None
    noises: tuple[NoiseModel, ...] | None = None
    correlated: str = "code"
    dataset: str | None = None
    device: str = "auto"
    precision: str = "fp32"
    allow_cpu: bool = False
    deterministic: bool = False
    threads: int = 1
    data_root: Path | None = None
    train_data: DatasetSpec | None = None
    test_data: DatasetSpec | None = None
    out: Path = Path("reports")
    cache: Path | None = None
    force: bool = False
    force_methods: tuple[str, ...] = ()
    quiet: bool = False
    executor: str = "auto"
    jobs: int | None = None
    collect: bool = False
    slurm: SlurmOptions = field(default_factory=SlurmOptions)

    @property
    def cache_dir(self) -> Path:
        """The cache folder: ``--cache``, by default ``<out>/.cache``, absolute."""
        return (self.cache or self.out / ".cache").resolve()

    @property
    def device_type(self) -> str:
        """Where the run's networks train, ``cpu`` or ``cuda``, decided without touching a GPU (a Slurm
        login node has none; :func:`methods.training.resolve_device` picks the card where a cell runs):
        ``--device`` names it; ``auto`` is CUDA when Slurm jobs get GPUs (``--slurm-gpus``) or, for cells
        run on this machine, when torch sees one. Cache keys hold it."""
        if self.device != "auto":
            return "cpu" if self.device == "cpu" else "cuda"
        if self.executor == "slurm":
            return "cuda" if self.slurm.gpus else "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def count_jobs(self) -> int:
        """``--jobs``, by default the CPU cores this process may use over ``--threads``."""
        return self.jobs or max(1, count_usable_cpus() // self.threads)


def count_usable_cpus() -> int:
    """The CPU cores this process may run on: its affinity (``taskset``, a Slurm allocation), which can be
    fewer than the machine's ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
    parser.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda or cuda:N (default: auto, CUDA where torch sees it); resolved where each cell "
        "runs, so a Slurm login node needs no GPU",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="training arithmetic: fp32 (default; TF32 convolutions on a GPU) or bf16 autocast (DnCNN "
        "steps 1.6x faster on an H200, the GAN iteration 1.1x; losses and critic scores reduced in fp32); "
        "in every cache key",
    )
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="train a GPU profile's networks (paper) on CPU anyway, which takes days",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="on a GPU, deterministic algorithms only: the same numbers on every run, slower (CPU runs "
        "are deterministic already)",
    )
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
    executors = parser.add_argument_group("executors")
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
        "test images (default: the CPU cores this process may use / --threads)",
    )
    executors.add_argument(
        "--collect", action="store_true", help="run nothing: gather finished cells and write the reports"
    )
    executors.add_argument("--slurm-partition", help="Slurm partition")
    executors.add_argument(
        "--slurm-time",
        type=int,
        help="time limit of every Slurm (and submitit-local) job, minutes (default: each cell kind's "
        "limit in the profile's SlurmSizes, bench/config/profiles.py)",
    )
    executors.add_argument(
        "--slurm-gpus",
        type=int,
        default=0,
        help="GPUs of each Slurm job that trains or runs a network (default 0); BM3D and CPU "
        "computations never ask for one",
    )
    executors.add_argument(
        "--slurm-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any further sbatch option, e.g. --slurm-param account=abc --slurm-param mem=16G (repeatable)",
    )


def parse_options(args: argparse.Namespace, *, command: str) -> RunOptions:
    """Check the parsed command line and freeze it; a value that cannot work raises :class:`UsageError`
    (or the error of the parser that refused it) before any work.

    Output and cache folders that are files, or an ``--out`` that cannot be created or written, are
    refused here; so are empty ``--methods``/``--noise`` lists and out-of-range counts.
    """
    methods = _parse_list(getattr(args, "methods", None), flag="--methods")
    noises = _parse_list(getattr(args, "noise", None), flag="--noise")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if (args.slurm_time is not None and args.slurm_time < 1) or args.slurm_gpus < 0:
        raise UsageError("--slurm-time must be at least 1 minute and --slurm-gpus at least 0")
    if args.executor == "slurm" and args.device.startswith("cuda") and args.slurm_gpus == 0:
        raise UsageError(f"--device {args.device} on Slurm needs GPUs in the jobs: add --slurm-gpus 1")
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
    return RunOptions(
        command=command,
        profile=args.profile,
        seeds=tuple(parse_seeds(args.seeds)),
        methods=None if methods is None else tuple(dict.fromkeys(find_method(m) for m in methods)),
        noises=None if noises is None else tuple(dict.fromkeys(parse_noise(n) for n in noises)),
        correlated=getattr(args, "correlated", "code"),
        dataset=getattr(args, "dataset", None),
        device=parse_device(args.device),
        precision=args.precision,
        allow_cpu=args.allow_cpu,
        deterministic=args.deterministic,
        threads=args.threads,
        data_root=args.data_root.resolve() if args.data_root else None,
        train_data=None if args.train_data is None else parse_dataset(args.train_data),
        test_data=None if args.test_data is None else parse_dataset(args.test_data),
        out=args.out,
        cache=args.cache,
        force=args.force,
        force_methods=tuple(dict.fromkeys(find_method(m) for m in args.force_method)),
        quiet=args.quiet,
        executor=args.executor,
        jobs=args.jobs,
        collect=args.collect,
        slurm=parse_slurm_options(args),
    )


def parse_device(name: str) -> str:
    """``--device`` as given, refused here unless it names a device (whether this machine has the GPU is
    checked where the cells run)."""
    try:
        return check_device_name(name)
    except ValueError as error:
        raise UsageError(f"--device: {error}") from None


def check_writable(folder: Path, *, flag: str) -> None:
    """Refuse a folder where a file cannot be created (permissions, a read-only or full file system)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write in {flag} {folder}: {error.strerror or error}") from None


def parse_seeds(tokens: list[str]) -> list[int]:
    """The ``--seeds`` values: one number N means seeds 0..N-1, several mean those seeds, and
    ``START:STOP`` a range; commas separate like spaces."""
    parts = [part for token in tokens for part in split_list(token)]
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
        extra=tuple(extra),
    )


def split_list(text: str) -> list[str]:
    """The items of a comma-separated list, stripped, empty ones dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_list(text: str | None, *, flag: str) -> list[str] | None:
    if text is None:
        return None
    items = split_list(text)
    if not items:
        raise UsageError(f"{flag} names nothing; give a comma-separated list or leave {flag} out")
    return items


def call_command(run: Callable[[], int]) -> int:
    """Run a command's body: a user error prints one line and returns 2, a file system error no check
    could foresee (a disk filling up mid-run) too, and Ctrl-C returns 130 after saying how to resume;
    Python warnings print as one ``warning:`` line."""
    warnings.formatwarning = format_warning
    try:
        return run()
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
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


def format_os_error(error: OSError) -> str:
    """One line for a file system error: the path and the problem."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def format_examples(doc: str) -> str:
    """The ``Examples`` section of a command module's docstring, for the end of its ``--help``."""
    _, _, rest = doc.partition("Examples\n--------\n::\n")
    return "examples:\n" + rest.rstrip() if rest else ""
