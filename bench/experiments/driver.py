"""The one driver of every experiment: profile and seeds, invalidation, the executor or ``--collect``,
the report folder, the manifest and the "wrote" line (:func:`run_experiment`)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cells.executors import (
    CellStatus,
    RunnerConfig,
    collect_cells,
    make_executor,
    measure_peak_rss,
    run_cells,
    write_log_line,
)
from bench.cells.provenance import compute_code_digest, describe_provenance
from bench.cells.runner import CellRunner, DatasetKey, is_cached
from bench.cells.specs import Cell, ComputeSpec, EvalSpec, kind_of, list_fits, walk_fits
from bench.cells.store import check_locking
from bench.config.options import RunOptions, UsageError, check_writable
from bench.config.profiles import get_profile
from bench.experiments.base import Context, Experiment, Results, RunRecord
from bench.reporting.report import open_report_folder, write_manifest
from methods.provenance import describe_device
from methods.registry import METHODS
from noise import SEED_SCHEME


class RunInterruptedError(Exception):
    """The user stopped a run (Ctrl-C); finished cells are cached."""


def run_experiment(experiment: Experiment, options: RunOptions) -> int:
    """Plan the experiment's cells, run what is not cached (or gather it, ``--collect``) and write the
    report.

    Returns 0 when every cell finished, 1 when some failed or are not finished, 130 when interrupted.
    """
    log = make_log(quiet=options.quiet)
    ctx = Context(options=options, profile=get_profile(options.profile), runner=make_runner(options), log=log)
    experiment.check(ctx)
    unavailable = experiment.unavailable(ctx)
    for key, reason in unavailable.items():
        print(f"[skip] {METHODS[key].name}: {reason}", file=sys.stderr)
    started = dt.datetime.now(dt.timezone.utc)
    cells = list(experiment.plan(ctx))
    if not options.collect:
        check_training_device(ctx, cells)
    executor = "collect" if options.collect else choose_executor(experiment, options, log=log)
    if executor not in ("collect", "slurm"):  # the cells run on this machine: its device must exist
        try:
            ctx.runner.torch_device  # noqa: B018 (resolves it)
        except ValueError as error:
            raise UsageError(str(error)) from None
    try:
        status = (
            collect_cells(cells, cache_dir=ctx.runner.cache_dir)
            if options.collect
            else execute(ctx, cells, executor=executor)
        )
    except RunInterruptedError:
        return 130
    results = read_results(ctx.runner, cells)
    if cells and not results.values:
        print(
            f"no cell of {experiment.name} has finished ({len(status.unfinished)} tasks failed or not "
            "finished): there is nothing to report; the cache keeps what each failure said",
            file=sys.stderr,
        )
        return 1
    frame = experiment.tabulate(ctx, results)
    previous = final = options.out / experiment.report_folder / experiment.name_folder(ctx)
    record = RunRecord(
        status=status,
        results=results,
        resources=summarise_resources(status, started=started),
        unavailable=unavailable,
        previous=previous,
    )
    unfinished = [o for o in status.unfinished if o.task.kind != "fit"]
    if unfinished and final.exists():
        final = final.with_name(f"{final.name}_incomplete")
        print(
            f"{len(unfinished)} cells failed or did not finish: their report goes to {final}, and the "
            f"earlier report in {previous} is kept",
            file=sys.stderr,
        )
    with open_report_folder(final) as out_dir:
        written = experiment.write(ctx, frame, out_dir, run=record)
        manifest = describe_run(ctx, experiment, cells, record=record, executor=executor, started=started)
        write_manifest(out_dir / "manifest.json", experiment.merge_manifest(manifest, previous=previous))
    print(f"wrote {final}/: {', '.join([*written, 'manifest.json'])}", file=sys.stderr)
    markdown = [name for name in written if name.endswith(".md")]
    if markdown:
        print(f"report: {final / markdown[0]}", file=sys.stderr)
    print(
        f"{len(cells)} cells: {status.count('done')} computed, {status.count('cached')} from cache, "
        f"{len(unfinished)} failed or not finished",
        file=sys.stderr,
    )
    return 1 if unfinished else experiment.exit_status(frame, ctx)


def execute(ctx: Context, cells: list[Cell], *, executor: str) -> CellStatus:
    """Run the cells that are not cached through the run's executor, after checking the cache and the
    data; Ctrl-C cancels what runs and raises :class:`RunInterruptedError` after saying how to resume."""
    options, runner = ctx.options, ctx.runner
    forced = options.force or options.force_methods
    if forced or any(not is_cached(runner.cache_dir, cell) for cell in cells):
        try:
            runner.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create the cache {runner.cache_dir}: {error.strerror}") from None
        check_writable(runner.cache_dir, flag="--cache")
    runner.check_data(cells)
    if forced:
        ctx.log(f"[cells] --force: {runner.invalidate(cells)} cached results deleted")
    running_on = make_executor(
        executor,
        runner=runner,
        config=make_runner_config(
            options, shared_datasets=runner.share_datasets() if executor != "local" else None
        ),
        jobs=options.count_jobs,
        slurm=options.slurm,
        sizes=ctx.profile.slurm,
    )
    try:
        return run_cells(cells, executor=running_on, cache_dir=runner.cache_dir, log=ctx.log)
    except KeyboardInterrupt:
        running = running_on.cancel()
        finished = sum(is_cached(runner.cache_dir, cell) for cell in cells)
        print(
            f"\ninterrupted: {finished} of {len(cells)} cells are finished and cached in {runner.cache_dir}; "
            "run the same command again to resume (finished cells, partial evaluations and checkpoints "
            "are kept)",
            file=sys.stderr,
        )
        if running:
            print(
                f"Slurm jobs still running (their results will land in the cache): {' '.join(running)}; "
                "add --collect to gather what has finished",
                file=sys.stderr,
            )
        raise RunInterruptedError from None


def check_training_device(ctx: Context, cells: Sequence[Cell]) -> None:
    """Refuse to train a GPU profile's networks (``Profile.needs_gpu``) on CPU without ``--allow-cpu``:
    the paper profile would run for days there. Fits already in the cache train nothing; a method that
    trains on each test image (ZS-N2N) trains in its evaluations."""
    options = ctx.options
    where = find_cpu_training(options)
    if not ctx.profile.needs_gpu or options.allow_cpu or where is None:
        return
    redo = options.force or bool(options.force_methods)
    fits = {fit for cell in cells for top in list_fits(cell) for fit in walk_fits(top)}
    trained = sorted(
        {
            METHODS[fit.method].name
            for fit in fits
            if METHODS[fit.method].trains_on_test_image
            or (METHODS[fit.method].trains_network and (redo or not is_cached(ctx.runner.cache_dir, fit)))
        }
    )
    if trained:
        raise UsageError(
            f"the {ctx.profile.name} profile trains {', '.join(trained)} for hours on a GPU, and this run "
            f"would train on the CPU ({where}); add --allow-cpu to do that anyway"
        )


def find_cpu_training(options: RunOptions) -> str | None:
    """Why this run's networks would train on the CPU, or None where they train on a GPU (``--device
    cuda`` is resolved where the cells run)."""
    if options.device_type == "cuda":
        return None
    if options.device == "cpu":
        return "--device cpu"
    if options.executor == "slurm":
        return "Slurm jobs without a GPU, --slurm-gpus 0"
    return "--device auto, and torch sees no GPU here"


def read_results(runner: CellRunner, cells: Sequence[Cell]) -> Results:
    """The results of the finished cells (read from the cache; nothing is computed)."""
    values: dict[str, Any] = {}
    for cell in cells:
        if is_cached(runner.cache_dir, cell):
            values[cell.key] = (
                runner.compute(cell) if isinstance(cell, ComputeSpec) else runner.evaluate(cell)
            )
    return Results(values)


def make_runner(options: RunOptions) -> CellRunner:
    """The cell runner of a command in this process: its cache, data root, device, threads and logging."""
    try:
        runner = make_runner_config(options).make_runner(
            progress=not options.quiet,
            log=make_log(quiet=options.quiet),
            force=options.force,
            force_methods=frozenset(options.force_methods),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    unsafe = check_locking(runner.cache_dir)
    if unsafe is not None:
        print(f"warning: {unsafe}", file=sys.stderr, flush=True)
    return runner


def make_runner_config(
    options: RunOptions, *, shared_datasets: dict[DatasetKey, Path] | None = None
) -> RunnerConfig:
    """What a worker needs to run the command's cells (the device is resolved where they run), with the
    datasets this process decoded and shared (:meth:`~bench.cells.runner.CellRunner.share_datasets`)."""
    return RunnerConfig(
        cache_dir=options.cache_dir,
        data_root=options.data_root,
        device=options.device,
        threads=options.threads,
        deterministic=options.deterministic,
        # local cells spread BM3D's test images over the cores; worker processes already fill them
        image_jobs=options.count_jobs if resolve_executor(options) == "local" else 1,
        shared_datasets=tuple((shared_datasets or {}).items()),
        progress=not options.quiet,
        code_digest=compute_code_digest(),
    )


def resolve_executor(options: RunOptions) -> str:
    """``--executor``; ``auto`` is joblib when more than one process fits the cores (``--jobs``, by
    default cores / ``--threads``) and the cells run on CPU, else local: one GPU serves one process."""
    if options.executor != "auto":
        return options.executor
    on_cpu = options.device_type == "cpu"
    return "joblib" if on_cpu and not options.collect and options.count_jobs > 1 else "local"


def choose_executor(experiment: Experiment, options: RunOptions, *, log: Callable[[str], None]) -> str:
    """:func:`resolve_executor`, except that an experiment whose cells measure time runs them one at a
    time in this process on this machine (said in one line when another executor was asked for)."""
    name = resolve_executor(options)
    if experiment.exclusive and name in ("joblib", "submitit-local"):
        if options.executor != "auto":
            log(f"[note] {experiment.name} measures time: its cells run one at a time in this process")
        return "local"
    return name


def make_log(*, quiet: bool) -> Callable[[str], None]:
    """Status lines go to stderr; ``--quiet`` keeps only failures."""

    def log(message: str) -> None:
        if not quiet or message.startswith("[failed]"):
            write_log_line(message)

    return log


def summarise_resources(status: CellStatus, *, started: dt.datetime) -> dict[str, Any]:
    """Wall time, the time of every task computed in this run, and peak resident memory.

    The peak of a run is bounded by this process's peak plus each worker process's (the workers run
    side by side, and live as long as the run: :data:`bench.cells.executors.WORKER_IDLE_SECONDS`); a task
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
                "method": o.task.method,
                "noise": None if o.task.spec.noise is None else str(o.task.spec.noise),
                "status": o.status,
                "seconds": o.seconds,
                "pid": o.pid,
            }
            for o in status.outcomes.values()
        ],
    }


def describe_run(
    ctx: Context,
    experiment: Experiment,
    cells: Sequence[Cell],
    *,
    record: RunRecord,
    executor: str,
    started: dt.datetime,
) -> dict[str, Any]:
    """The manifest of a run: provenance, the profile's part, seeds and their streams, every cell with
    its status, the datasets with their checksums, device, executor, times and resources."""
    evals = [cell for cell in cells if isinstance(cell, EvalSpec)]
    fits = {fit.key: fit for cell in cells for root in list_fits(cell) for fit in walk_fits(root)}
    outcomes = record.status.outcomes
    return {
        **describe_provenance(prog=experiment.prog, experiment=experiment.name),
        **({"dataset": ctx.options.dataset} if ctx.options.dataset else {}),
        "profile": {
            **experiment.describe_profile(ctx),
            "train_data": ctx.train_data.name,
            "test_data": ctx.test_data.name,
            "train_limit": ctx.profile.train_limit,
            "test_limit": ctx.profile.test_limit,
            "test_crop": ctx.profile.test_crop,
            "methods": {key: ctx.profile.params(key) for key in sorted({f.method for f in fits.values()})},
        },
        "seeds": list(ctx.seeds),
        "seed_streams": SEED_SCHEME,
        "noises": sorted({str(cell.noise) for cell in cells if cell.noise}),
        "methods": sorted({cell.fit.method for cell in evals}),
        "unavailable": dict(record.unavailable),
        "executor": executor,
        "threads_per_cell": ctx.runner.threads,
        "cells": [
            {
                "key": cell.key,
                "kind": kind_of(cell),
                "fit": cell.fit.key if isinstance(cell, EvalSpec) else [f.key for f in cell.fits],
                "label": outcomes[cell.key].task.label if cell.key in outcomes else "",
                "seed": cell.seed,
                "status": outcomes[cell.key].status if cell.key in outcomes else "unknown",
                "reason": outcomes[cell.key].reason if cell.key in outcomes else "",
                "job": outcomes[cell.key].job_id if cell.key in outcomes else None,
            }
            for cell in cells
        ],
        "protocol": experiment.protocol,
        "device": describe_device(ctx.device_type),
        "precision": ctx.options.precision,
        "datasets": experiment.describe_data(ctx, list(cells))
        or describe_datasets(ctx.runner, evals, fits=list(fits.values())),
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **record.resources,
    }


def describe_datasets(runner: CellRunner, evals: Sequence[EvalSpec], *, fits: Sequence) -> dict[str, Any]:
    """The test sets of the run, and the training sets of methods that learn from images: their source,
    size and each image's SHA-256."""
    names = {(s.test_data, s.test_limit) for s in evals}
    for fit in fits:
        req = METHODS[fit.method].requires
        if req.clean or req.noisy_images or req.pairs:
            names.add((fit.train_data, fit.train_limit))
    datasets = [runner.dataset(name, limit=limit) for name, limit in sorted(names, key=str)]
    return {
        ds.name: {
            "source": ds.source,
            "n_images": len(ds.images),
            "sha256": dict(zip(ds.names, ds.checksums, strict=True)),
        }
        for ds in {id(d): d for d in datasets}.values()
    }


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
    # a computation's task has no method: None, or NaN once pandas mixes it with the methods' keys
    names = computed["method"].map(lambda key: METHODS[key].name if isinstance(key, str) else "computations")
    by_stage = computed.assign(method=names).pivot_table(
        index="method", columns="kind", values="seconds", aggfunc="sum"
    )
    kinds = ["fit", "eval", *(["compute"] if "compute" in by_stage.columns else [])]
    by_stage = by_stage.reindex(columns=kinds).fillna(0.0)
    by_stage["total"] = by_stage.sum(axis=1)
    table = by_stage.sort_values("total", ascending=False).rename(
        columns={
            "fit": "fit (s)",
            "eval": "evaluation (s)",
            "compute": "computation (s)",
            "total": "total (s)",
        }
    )
    return [
        *lines,
        f"Seconds of the {len(computed)} tasks computed in this run, by method (every noise level and "
        "seed; tasks of parallel workers overlap in time):",
        "",
        table.to_markdown(floatfmt=".0f"),
        "",
    ]
