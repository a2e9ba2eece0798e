"""The protocol every experiment implements, and what the driver hands it.

An experiment declares three things, the way a benchopt benchmark declares its datasets, solvers and
objective: the cells it needs for a profile and seeds (:meth:`Experiment.plan`), how their results become
one tidy frame with a ``seed`` column (:meth:`Experiment.tabulate`), and how that frame is written
(:meth:`Experiment.write`). The driver (:mod:`bench.experiments.driver`) does everything else once:
profile and seeds, invalidation, the executor or ``--collect``, the report folder, the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from bench.cells.executors import CellStatus
from bench.cells.runner import CellRunner, EvalResult, StageResult
from bench.cells.specs import Cell, ComputeSpec, EvalSpec, make_fit_spec
from bench.config.options import RunOptions, UsageError
from bench.config.profiles import Profile
from bench.datasets.base import DatasetSpec
from bench.reporting.report import name_report_folder
from methods.registry import METHODS
from noise import NoiseSpec


@dataclass(frozen=True)
class Context:
    """One run of an experiment: the user's options, the profile and the cell runner of this process."""

    options: RunOptions
    profile: Profile
    runner: CellRunner
    log: Callable[[str], None] = print

    @property
    def seeds(self) -> tuple[int, ...]:
        """The run's seeds."""
        return self.options.seeds

    @property
    def device_type(self) -> str:
        """Where the run's networks train, ``cpu`` or ``cuda`` (:attr:`RunOptions.device_type`)."""
        return self.options.device_type

    def device_label(self) -> str:
        """The device type the run's networks train on, with its precision unless float32, e.g. ``cuda
        (bf16)``, for report headers."""
        precision = self.options.precision
        return self.device_type + ("" if precision == "fp32" else f" ({precision})")

    @property
    def train_data(self) -> DatasetSpec:
        """The training set: ``--train-data`` or the profile's."""
        return self.options.train_data or self.profile.train_data

    @property
    def test_data(self) -> DatasetSpec:
        """The test set: ``--test-data`` or the profile's."""
        return self.options.test_data or self.profile.test_data

    def eval_spec(
        self,
        method: str,
        *,
        noise: NoiseSpec,
        seed: int,
        params: Mapping[str, Any] | None = None,
        test_crop: int | None = None,
    ) -> EvalSpec:
        """The evaluation cell of ``method`` (the profile's hyper-parameters, or ``params``) on the run's
        test set at ``noise`` (centre-cropped to ``test_crop``, or as the profile crops it), fitted on its
        training set."""
        return EvalSpec(
            fit=make_fit_spec(
                method,
                params=dict(self.profile.params(method) if params is None else params),
                train_data=self.train_data,
                train_limit=self.profile.train_limit,
                noise=noise,
                seed=seed,
                params_of=self.profile.params,
                device=self.device_type,
                precision=self.options.precision,
            ),
            test_data=self.test_data,
            test_limit=self.profile.test_limit,
            test_crop=self.profile.test_crop if test_crop is None else test_crop,
            noise=noise,
            seed=seed,
        )


@dataclass(frozen=True)
class Results:
    """The finished results of a run's cells, by cell; a cell that failed or has not finished is absent."""

    values: Mapping[str, EvalResult | dict[str, Any]]

    def __contains__(self, cell: Cell) -> bool:
        return cell.key in self.values

    def evaluation(self, spec: EvalSpec) -> EvalResult | None:
        """The result of an evaluation cell, or None."""
        return self.values.get(spec.key)

    def computation(self, spec: ComputeSpec) -> dict[str, Any] | None:
        """The result of a computation cell, or None."""
        return self.values.get(spec.key)


@dataclass(frozen=True)
class RunRecord:
    """What the driver knows of the run when the report is written: each task's outcome, the finished
    results, time and memory, and the methods that could not run here."""

    status: CellStatus
    results: Results
    resources: Mapping[str, Any]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    #: The report folder this run replaces (it may not exist).
    previous: Path | None = None


class Experiment:
    """One claim of the paper (a table, a figure, an ablation): subclasses set the class attributes and
    implement :meth:`plan`, :meth:`tabulate` and :meth:`write`.

    Attributes
    ----------
    name : str
        The command's name (``python -m bench.run NAME``, or ``python -m bench.ablation NAME``).
    title : str
        One line for the command list.
    folder : str
        The report folder under ``--out`` (default: ``name``).
    prog : str
        The command that runs it (recorded in the manifest).
    takes : frozenset of str
        The experiment-specific options it accepts: ``methods``, ``noise``, ``dataset``, ``correlated``.
    exclusive : bool
        Its cells measure time, so on this machine they run one at a time in the command's process
        (the ``auto``, ``joblib`` and ``submitit-local`` executors become ``local``; Slurm jobs keep
        their own nodes).
    protocol : str
        How its results are measured (recorded in the manifest).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    folder: ClassVar[str] = ""
    prog: ClassVar[str] = "python -m bench.run"
    takes: ClassVar[frozenset[str]] = frozenset()
    exclusive: ClassVar[bool] = False
    protocol: ClassVar[str] = (
        "images float32 in [0,1]; noise in 0-255 units /255, not clipped or quantised; PSNR 10log10(1/MSE) "
        "per image on outputs clipped to [0,1], averaged; SSIM data_range=1 (ssim_authors: data range of the "
        "denoised image); model selection: last step"
    )

    @property
    def report_folder(self) -> str:
        """The report folder under ``--out``."""
        return self.folder or self.name

    def check(self, ctx: Context) -> None:
        """Refuse options this experiment cannot honour, before any work (:class:`UsageError`)."""
        given = {"methods": ctx.options.methods, "noise": ctx.options.noises, "dataset": ctx.options.dataset}
        for option, value in given.items():
            if value is not None and option not in self.takes:
                raise UsageError(f"{self.name} takes no --{option}")

    def plan(self, ctx: Context) -> Sequence[Cell]:
        """The cells of the run, for every seed."""
        raise NotImplementedError

    def unavailable(self, ctx: Context) -> dict[str, str]:
        """Methods of the run that cannot run here, with the reason (left out of :meth:`plan`)."""
        return {}

    def tabulate(self, ctx: Context, results: Results) -> pd.DataFrame:
        """The tidy frame of the finished cells: one row per measured value and seed."""
        raise NotImplementedError

    def write(self, ctx: Context, frame: pd.DataFrame, out_dir: Path, *, run: RunRecord) -> list[str]:
        """Write the report's files (CSV, Markdown, figures) into ``out_dir``; return their names."""
        raise NotImplementedError

    def exit_status(self, frame: pd.DataFrame, ctx: Context) -> int:
        """The command's exit status when every cell finished (perf: 1 when a ratio misses its bound)."""
        return 0

    def describe_profile(self, ctx: Context) -> dict[str, Any]:
        """The part of the profile this experiment used, for the manifest."""
        sizes = ctx.profile.sizes(self.name)
        return {"name": ctx.profile.name, **({self.name: sizes.describe()} if sizes is not None else {})}

    def describe_data(self, ctx: Context, cells: list[Cell]) -> dict[str, Any] | None:
        """The datasets the run read with their checksums, for the manifest; None: the driver's account
        (every test set, and the training sets of methods that learn from images)."""
        return None

    def merge_manifest(self, manifest: dict[str, Any], *, previous: Path) -> dict[str, Any]:
        """The manifest to write, given the report folder it replaces (Figure 4 keeps the other dataset's)."""
        return manifest

    def name_folder(self, ctx: Context) -> str:
        """The report folder's name under :attr:`report_folder`: the profile, with a suffix for each
        departure from the full default run (:func:`bench.reporting.report.name_report_folder`)."""
        return name_report_folder(
            ctx.profile.name,
            test_data=_departure(ctx.options.test_data, ctx.profile.test_data),
            train_data=_departure(ctx.options.train_data, ctx.profile.train_data),
            methods=self.subset_methods(ctx),
            noises=self.subset_noises(ctx),
            seeds=ctx.seeds if ctx.seeds != (0,) else (),
            precision=ctx.options.precision,
        )

    def subset_methods(self, ctx: Context) -> Sequence[str]:
        """The run's methods when they are a subset of the experiment's default, else ()."""
        return ()

    def subset_noises(self, ctx: Context) -> Sequence[str]:
        """The run's noises when they are a subset of the experiment's default, else ()."""
        return ()


def describe_stage(noise: NoiseSpec, method: str, stage: StageResult, result: EvalResult) -> dict[str, Any]:
    """One tidy row of an ablation: the noise, the method or variant, the stage's PSNR/SSIM, the seed,
    the fit's seconds and the number of test images."""
    return {
        "noise": noise.spec,
        "method": method,
        "seed": result.spec.seed,
        "psnr": stage.psnr,
        "ssim": stage.ssim,
        "fit_seconds": result.fit_seconds,
        "n_images": stage.n_images,
    }


def _departure(value: DatasetSpec | None, default: DatasetSpec) -> DatasetSpec | None:
    return value if value not in (None, default) else None


def find_unavailable(methods: Sequence[str]) -> dict[str, str]:
    """Methods that cannot run here (e.g. the official n2v without its environment), with the reason."""
    reasons = {key: METHODS[key].unavailable_reason() for key in methods}
    return {key: reason for key, reason in reasons.items() if reason is not None}
