"""Executors: an experiment's cells run in process, in worker processes (joblib) or as submitit jobs.

A run is planned as waves of tasks (:func:`plan_waves`): first the fits no other fit feeds, then the
fits built on them (N2C(Eq.4) on GAN2GAN), then every evaluation and computation. The tasks of one wave
are independent, so an executor may run them in any order and in parallel; the in-process and
submitit-local executors start a wave when the one before it has finished, the joblib and Slurm
executors take the whole plan and start each task as soon as the fits it needs have finished. Every
worker writes its results to the shared cache folder (:mod:`bench.cells.runner`), so a worker's result
reaches the reports through the cache, whatever executor ran it. A task that fails records its one-line
reason in the cache (``<task>.failed.json``); the tasks that need it are not started and fail with the
same reason.

- ``local``: one task after another, in this process;
- ``joblib``: ``--jobs`` worker processes on this machine, each task handed to a free worker as soon as
  the fits it needs are done (:class:`JoblibExecutor`);
- ``submitit-local``: submitit's local executor (subprocesses with logs under ``<cache>/submitit``);
- ``slurm``: one Slurm job per task through submitit, all submitted at once: each asks for what its kind
  needs (:func:`plan_resources`: a GPU only for the tasks that train or run a network) and starts when
  the fits it needs have finished (Slurm's ``afterok`` dependencies), not when a whole wave has.

The command line's default, ``auto`` (:func:`bench.experiments.driver.resolve_executor`), is joblib on
CPU when more than one process fits the cores, else local.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from joblib.externals.loky.process_executor import ProcessPoolExecutor

from bench.cells.provenance import compute_code_digest
from bench.cells.runner import CellRunner, DatasetKey, is_cached
from bench.cells.specs import Cell, ComputeSpec, EvalSpec, FitSpec, kind_of, list_fits
from bench.cells.store import Kind, failure_path, submitit_folder, write_atomic
from methods.provenance import now_utc
from methods.registry import METHODS
from methods.workers import start_worker_pool, submit_in_worker

if TYPE_CHECKING:
    from bench.config.profiles import SlurmSizes

#: The ``--executor`` choices.
EXECUTORS: tuple[str, ...] = ("local", "joblib", "submitit-local", "slurm")

#: How long a joblib worker may wait for work before loky retires it. Loky's default (300 s) retires a
#: worker that waits for the last long fit of a wave and starts a fresh one for the next wave, so a run
#: would have more worker processes than ``--jobs`` and the sum of their peaks (the run's memory bound,
#: :func:`bench.experiments.driver.summarise_resources`) would count a retired worker as still resident.
#: A worker whose command is gone does not wait that long: it exits with it
#: (:func:`methods.workers.call_in_worker`).
WORKER_IDLE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Task:
    """One fit, evaluation or computation to run."""

    kind: Kind
    spec: FitSpec | EvalSpec | ComputeSpec

    @property
    def key(self) -> str:
        """The cache key of the task's cell."""
        return self.spec.key

    @property
    def method(self) -> str | None:
        """The registry key of the method the task fits or evaluates; None for a computation."""
        if isinstance(self.spec, ComputeSpec):
            return None
        return self.spec.method if isinstance(self.spec, FitSpec) else self.spec.fit.method

    @property
    def label(self) -> str:
        """A short human name, e.g. ``fit GAN2GAN gaussian:25 seed 0``."""
        if isinstance(self.spec, ComputeSpec):
            return f"compute {self.spec.label} seed {self.spec.seed}"
        noise = self.spec.noise or "noise-independent"
        return f"{self.kind} {METHODS[self.method].name} {noise} seed {self.spec.seed}"

    def needs(self) -> list[FitSpec]:
        """The fits that must be finished before this task starts."""
        if isinstance(self.spec, FitSpec):
            return [up for _, up in self.spec.upstream]
        return list_fits(self.spec)


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``cached``, ``done``, ``failed`` (with its one-line reason) or ``missing``
    (``--collect`` found it neither finished nor failed); ``job_id`` names the submitit job that ran it;
    ``seconds``, ``pid`` and ``peak_rss`` (bytes: the peak resident memory of that process so far) say
    what running it took (all recorded in the manifest)."""

    task: Task
    status: Literal["cached", "done", "failed", "missing"]
    reason: str = ""
    job_id: str | None = None
    seconds: float | None = None
    pid: int | None = None
    peak_rss: int | None = None


@dataclass(frozen=True)
class RunnerConfig:
    """What a worker process needs to build its own :class:`~bench.cells.runner.CellRunner` (picklable)."""

    cache_dir: Path
    data_root: Path | None
    device: str
    threads: int
    deterministic: bool = False
    image_jobs: int = 1
    #: The datasets the command's process decoded and shared
    #: (:meth:`~bench.cells.runner.CellRunner.share_datasets`).
    shared_datasets: tuple[tuple[DatasetKey, Path], ...] = ()
    #: Whether workers report progress (a line every tenth of a training run, and every half minute of an
    #: evaluation); off with ``--quiet``.
    progress: bool = True
    #: The code digest the command computed its cells' keys with (:func:`compute_code_digest`); a worker
    #: whose checkout has changed since refuses to compute, so no result is filed under another code's
    #: key. None: not checked.
    code_digest: str | None = None

    def make_runner(
        self,
        *,
        progress: bool,
        log: Callable[[str], None],
        force: bool = False,
        force_methods: frozenset[str] = frozenset(),
    ) -> CellRunner:
        """A runner on this config (workers never force: the driver deletes forced results first)."""
        return CellRunner(
            cache_dir=self.cache_dir,
            data_root=self.data_root,
            device=self.device,
            threads=self.threads,
            deterministic=self.deterministic,
            image_jobs=self.image_jobs,
            shared_datasets=dict(self.shared_datasets),
            force=force,
            force_methods=force_methods,
            progress=progress,
            log=log,
        )


def plan_waves(cells: list[Cell]) -> list[list[Task]]:
    """The tasks of ``cells`` in waves: fits by depth (a fit after every fit it builds on), then the
    evaluations and computations.

    Fits shared by several evaluations (DnCNN-B across noise levels) appear once. In a wave, the fits
    that later fits build on come first (GAN2GAN before the rest, N2C(Eq.4) waiting on it): they head
    the longest chains, and a wave ends with its last task, so starting them late leaves cores idle.
    """
    depth: dict[str, tuple[int, FitSpec]] = {}

    def visit(fit: FitSpec) -> int:
        if fit.key not in depth:
            level = 1 + max((visit(up) for _, up in fit.upstream), default=-1)
            depth[fit.key] = (level, fit)
        return depth[fit.key][0]

    for cell in cells:
        for fit in list_fits(cell):
            visit(fit)
    waves: list[list[Task]] = [[] for _ in range(1 + max((d for d, _ in depth.values()), default=-1))]
    built_on = {up.key for _, fit in depth.values() for _, up in fit.upstream}
    for level, fit in sorted(depth.values(), key=lambda item: item[1].key not in built_on):
        waves[level].append(Task("fit", fit))
    last = {cell.key: Task(kind_of(cell), cell) for cell in cells}
    return [*waves, list(last.values())]


def read_failure(cache_dir: Path, task: Task) -> str | None:
    """The recorded one-line reason a task failed, or None."""
    path = failure_path(cache_dir, task.kind, task.key)
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text())["reason"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        return f"its failure record {path} cannot be read ({type(error).__name__})"


def record_failure(cache_dir: Path, task: Task, reason: str, *, details: str = "") -> None:
    """Record that ``task`` failed (read by ``--collect`` and the reports)."""
    path = failure_path(cache_dir, task.kind, task.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"task": task.label, "reason": reason, "details": details, "time": now_utc()}
    write_atomic(path, lambda p: p.write_text(json.dumps(record, indent=1)))


def execute_task(runner: CellRunner, task: Task) -> Outcome:
    """Run one task with ``runner``; an exception becomes a ``failed`` outcome recorded in the cache."""
    failure_path(runner.cache_dir, task.kind, task.key).unlink(missing_ok=True)
    start = time.perf_counter()
    status, reason = "done", ""
    try:
        if task.kind == "fit":
            runner.fit(task.spec)
        elif task.kind == "compute":
            runner.compute(task.spec)
        else:
            runner.evaluate(task.spec)
    except Exception as error:  # a failed cell must not stop the others
        status, reason = "failed", " ".join(f"{type(error).__name__}: {error}".split())
        record_failure(runner.cache_dir, task, reason, details=traceback.format_exc())
    release_memory()
    return Outcome(
        task,
        status,
        reason,
        seconds=time.perf_counter() - start,
        pid=os.getpid(),
        peak_rss=measure_peak_rss(),
    )


def release_memory() -> None:
    """Hand the memory freed by the last task back to the system (glibc's ``malloc_trim``).

    glibc keeps freed blocks under its mmap threshold (which grows to 32 MB, the size of a batch of
    DnCNN activations) in a fragmented heap, so a process that runs task after task grows by what each
    one left behind. Measured, six short cpu-profile fits and evaluations in one process: resident
    memory between tasks grows from 1.1 to 2.0 GiB, and stays under 0.7 GiB when trimmed after each
    (whose peak, 1.9 GiB, is the largest task's). No-op where the C library has no ``malloc_trim``.
    """
    gc.collect()
    trim = find_malloc_trim()
    if trim is not None:
        trim(0)


@cache
def find_malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` (glibc on Linux), or None where it has none."""
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name and sys.platform.startswith("linux") else None
    return getattr(library, "malloc_trim", None)


def measure_peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes (``getrusage``; kilobytes on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def run_task(task: Task, config: RunnerConfig) -> Outcome:
    """Entry point of a worker process (joblib, submitit): run ``task`` with this process's runner, if
    its code is the code the command planned with."""
    if config.code_digest is not None and config.code_digest != compute_code_digest():
        reason = (
            "the code changed after the run was submitted (its cache keys no longer match this "
            "checkout); restore the submitted code, or submit the command again"
        )
        record_failure(config.cache_dir, task, reason)
        return Outcome(task, "failed", reason, pid=os.getpid())
    return execute_task(_worker_runner(config), task)


@cache
def _worker_runner(config: RunnerConfig) -> CellRunner:
    """One runner per worker process and config, so a worker maps each shared dataset once."""
    return config.make_runner(
        progress=config.progress, log=write_log_line if config.progress else log_failure
    )


def log_failure(message: str) -> None:
    """The log of a worker under ``--quiet``: failures only."""
    if message.startswith("[failed]"):
        write_log_line(message)


def write_log_line(message: str) -> None:
    """One status line to stderr in a single write, so that the lines of the command and of its worker
    processes, which share the stream, never interleave mid-line (``print`` writes the text and its
    newline separately, and Python's stderr writes through)."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


class Executor(Protocol):
    """Runs the tasks of one wave; yields each outcome as it comes."""

    def run_wave(self, tasks: list[Task], *, log: Callable[[str], None]) -> Iterator[Outcome]: ...

    def cancel(self) -> list[str]:
        """Stop what was started; return the ids of jobs that keep running (Slurm)."""
        ...


@dataclass
class LocalExecutor:
    """Tasks one after another in this process, sharing its loaded data and fitted models."""

    runner: CellRunner

    def run_wave(self, tasks: list[Task], *, log: Callable[[str], None]) -> Iterator[Outcome]:
        """Run each task in turn."""
        for task in tasks:
            log(f"[running] {task.label}")
            yield execute_task(self.runner, task)

    def cancel(self) -> list[str]:
        """Nothing keeps running after this process."""
        return []


@dataclass
class JoblibExecutor:
    """Tasks in ``jobs`` worker processes (loky, joblib's process pool), outcomes in completion order.

    It takes a whole plan at once and hands a worker the first task, in plan order, whose fits have all
    finished: the fits first (those others build on ahead), then each evaluation as soon as its own fit
    is done, not when every fit of the plan is (:func:`plan_waves`' waves). Measured on the cpu Table 3
    (187 core-minutes of tasks), the wave barrier made two workers take 110 min: one idled 26 min while
    the last GAN2GAN fit ran, with every evaluation waiting for it.
    """

    config: RunnerConfig
    jobs: int
    _pool: ProcessPoolExecutor | None = field(default=None, repr=False)

    @property
    def follows_needs(self) -> bool:
        """Takes every task at once and starts each when its needs have finished."""
        return True

    def run_wave(self, tasks: list[Task], *, log: Callable[[str], None]) -> Iterator[Outcome]:
        """Run ``tasks`` (a plan in order: every task after the fits it needs, or those cached) and yield
        each outcome as it ends; a task whose need failed fails with its reason without running."""
        self._pool = start_worker_pool(self.jobs, idle_seconds=WORKER_IDLE_SECONDS)
        planned = {task.key for task in tasks}
        waiting, running, ended = list(tasks), {}, {}
        while waiting or running:
            for task in list(waiting):
                needs = [fit.key for fit in task.needs() if fit.key in planned]
                failed = [ended[key] for key in needs if key in ended and ended[key].status == "failed"]
                if failed:
                    waiting.remove(task)
                    reason = f"needs {failed[0].task.label}, which failed: {failed[0].reason}"
                    record_failure(self.config.cache_dir, task, reason)
                    ended[task.key] = Outcome(task, "failed", reason)
                    yield ended[task.key]
                elif len(running) < self.jobs and all(key in ended for key in needs):
                    waiting.remove(task)
                    running[submit_in_worker(self._pool, run_task, task, self.config)] = task
                    log(f"[queued] {task.label}")
            if not running:
                if waiting:
                    raise RuntimeError(f"{waiting[0].label} needs a fit that is not in its plan")
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                outcome = self._outcome(future, running.pop(future))
                ended[outcome.task.key] = outcome
                yield outcome

    def _outcome(self, future: Future, task: Task) -> Outcome:
        error = future.exception()
        if error is None:
            return future.result()
        # a worker process died (out of memory, killed): loky stops the whole pool, so every task running
        # in it ends here, and the tasks still waiting get a new pool
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        reason = f"its worker process died: {reason}"
        record_failure(self.config.cache_dir, task, reason)
        self._pool = start_worker_pool(self.jobs, idle_seconds=WORKER_IDLE_SECONDS)
        return Outcome(task, "failed", reason)

    def cancel(self) -> list[str]:
        """Kill the workers (what they had finished is in the cache)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, kill_workers=True)
        return []


@dataclass
class SubmititExecutor:
    """Tasks as submitit jobs, on submitit's local executor (a wave at a time, at most ``limit`` jobs
    alive: it starts every job it is given at once) or on Slurm (:meth:`run_graph`)."""

    config: RunnerConfig
    executor: object  # submitit.Executor
    cluster: str
    limit: int | None = None
    poll_seconds: float = 1.0
    #: Slurm only: the job of each task (:func:`plan_resources`) and further ``#SBATCH`` options by name.
    resources: Callable[[Task], TaskResources] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    _running: dict = field(default_factory=dict, repr=False)

    @property
    def follows_needs(self) -> bool:
        """Whether this executor takes every task at once and starts each when its needs have finished
        (Slurm dependencies), instead of wave by wave."""
        return self.cluster == "slurm"

    def run_wave(self, tasks: list[Task], *, log: Callable[[str], None]) -> Iterator[Outcome]:
        """Run ``tasks`` and yield outcomes as their jobs finish; on Slurm, ``tasks`` may be a whole plan
        in order (every task after the fits it needs)."""
        if self.follows_needs:
            yield from self.run_graph(tasks, log=log)
            return
        pending = list(tasks)
        while pending or self._running:
            room = len(pending) if self.limit is None else self.limit - len(self._running)
            batch, pending = pending[:room], pending[room:]
            if batch:
                jobs = self.executor.map_array(run_task, batch, [self.config] * len(batch))
                for job, task in zip(jobs, batch, strict=True):
                    self._running[job] = task
                    log(f"[submitted] {task.label}: {self.cluster} job {job.job_id}")
            yield from self._wait()

    def run_graph(self, tasks: list[Task], *, log: Callable[[str], None]) -> Iterator[Outcome]:
        """Submit one job per task, each with its own resources and an ``afterok`` dependency on the jobs
        of the fits it needs (a failed need cancels it: ``kill-on-invalid-dep``)."""
        job_of: dict[str, object] = {}
        failed: dict[str, str] = {}
        for task in tasks:
            needs = [str(job_of[fit.key].job_id) for fit in task.needs() if fit.key in job_of]
            job = self._submit(task, needs=needs)
            job_of[task.key] = job
            self._running[job] = task
            after = f" after {', '.join(needs)}" if needs else ""
            log(f"[submitted] {task.label}: slurm job {job.job_id}{after}")
        while self._running:
            for outcome in self._wait():
                need = next((fit for fit in outcome.task.needs() if fit.key in failed), None)
                if outcome.status == "failed":
                    failed[outcome.task.key] = outcome.reason if need is None else failed[need.key]
                if outcome.status == "failed" and need is not None:  # cancelled, or failed the same way
                    reason = f"needs {Task('fit', need).label}, which failed: {failed[need.key]}"
                    record_failure(self.config.cache_dir, outcome.task, reason)
                    outcome = replace(outcome, reason=reason)
                yield outcome

    def _submit(self, task: Task, *, needs: list[str]) -> object:
        config, parameters = self.config, {}
        if self.resources is not None:
            wanted = self.resources(task)
            parameters = {k: v for k, v in wanted.sbatch().items() if k not in self.extra}
            config = config if wanted.gpus else replace(config, device="cpu")
        extra = dict(self.extra)
        if needs:
            extra.update(dependency=f"afterok:{':'.join(needs)}", kill_on_invalid_dep="yes")
        self.executor.update_parameters(**parameters, additional_parameters=extra)
        return self.executor.submit(run_task, task, config)

    def _wait(self) -> Iterator[Outcome]:
        """The outcomes of the jobs that have finished; sleeps a poll interval when none has."""
        finished = [job for job in self._running if job.done()]
        if not finished:
            time.sleep(self.poll_seconds)
        for job in finished:
            yield self._outcome(job, self._running.pop(job))

    def _outcome(self, job: object, task: Task) -> Outcome:
        try:
            outcome = job.result()
        except Exception as error:  # the job itself failed (time limit, node failure, ...)
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            reason = f"{self.cluster} job {job.job_id} failed: {reason}"
            record_failure(self.config.cache_dir, task, reason)
            outcome = Outcome(task, "failed", reason)
        return replace(outcome, job_id=str(job.job_id))

    def cancel(self) -> list[str]:
        """Cancel local jobs; leave Slurm jobs running (their results land in the cache) and list them."""
        unfinished = [job for job in self._running if not job.done()]
        self._running = {}
        if self.cluster == "slurm":
            return [str(job.job_id) for job in unfinished]
        for job in unfinished:
            job.cancel(check=False)
        return []


@dataclass(frozen=True)
class SlurmOptions:
    """What Slurm jobs ask for: ``time_min`` replaces every task kind's time limit (None: the profile's,
    :class:`~bench.config.profiles.SlurmSizes`), ``gpus`` is what a task that trains or runs a network
    gets; ``extra`` holds any further ``#SBATCH`` option by name (e.g. ``mem``, which then replaces the
    profile's)."""

    partition: str | None = None
    time_min: int | None = None
    gpus: int = 0
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TaskResources:
    """What one Slurm job asks for."""

    gpus: int
    cpus: int
    mem_gb: int
    minutes: int

    def sbatch(self) -> dict[str, object]:
        """The job's parameters for submitit's Slurm executor."""
        return {
            "gpus_per_node": self.gpus or None,
            "cpus_per_task": self.cpus,
            "mem": f"{self.mem_gb}G",
            "time": self.minutes,
        }


def plan_resources(task: Task, *, slurm: SlurmOptions, sizes: SlurmSizes, threads: int) -> TaskResources:
    """The Slurm job of ``task``: a fit that trains a network gets ``--slurm-gpus`` GPUs and the profile's
    training time; an evaluation of a network, or a computation that reads one (a timing), the GPUs
    and the evaluation time; everything else (BM3D, Monte Carlo checks, extraction statistics) no GPU
    and the CPU time. ``threads`` CPUs each; the profile's host memory unless ``--slurm-param mem=``
    gives it; ``--slurm-time`` replaces the time. A method that trains on each test image (ZS-N2N) gets
    its GPUs in its evaluations."""
    networks = [
        METHODS[fit.method].trains_network or METHODS[fit.method].trains_on_test_image for fit in task.needs()
    ]
    if task.kind == "fit":
        network, minutes = METHODS[task.method].trains_network, sizes.train_minutes
    else:
        network, minutes = any(networks), sizes.evaluate_minutes
    if not network:
        minutes = sizes.cpu_minutes
    return TaskResources(
        gpus=slurm.gpus if network else 0,
        cpus=threads,
        mem_gb=sizes.network_mem_gb if network else sizes.cpu_mem_gb,
        minutes=slurm.time_min or minutes,
    )


def make_executor(
    name: str,
    *,
    runner: CellRunner,
    config: RunnerConfig,
    jobs: int,
    slurm: SlurmOptions,
    sizes: SlurmSizes,
) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`); ``jobs`` caps the processes alive at
    once on this machine (joblib, submitit-local); Slurm jobs ask for what :func:`plan_resources` plans
    from ``slurm`` and the profile's ``sizes``."""
    if name == "local":
        return LocalExecutor(runner)
    if name == "joblib":
        return JoblibExecutor(config, jobs=jobs)
    if name == "submitit-local":
        executor = make_submitit_executor(name, config=config, slurm=slurm)
        executor.update_parameters(timeout_min=slurm.time_min or sizes.train_minutes)
        return SubmititExecutor(config, executor, name, limit=jobs, poll_seconds=0.5)
    if name == "slurm":
        executor = make_submitit_executor(name, config=config, slurm=slurm)
        plan = functools.partial(plan_resources, slurm=slurm, sizes=sizes, threads=config.threads)
        return SubmititExecutor(
            config, executor, name, poll_seconds=15.0, resources=plan, extra=dict(slurm.extra)
        )
    raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")


def make_submitit_executor(name: str, *, config: RunnerConfig, slurm: SlurmOptions) -> object:
    """submitit's local or Slurm executor with its logs under ``<cache>/submitit`` (each Slurm job's
    resources are set when it is submitted)."""
    import submitit

    folder = submitit_folder(config.cache_dir) / "%j"
    if name == "submitit-local":
        return submitit.LocalExecutor(folder=folder)
    executor = submitit.SlurmExecutor(folder=folder)
    executor.update_parameters(
        job_name="gan2gan-bench", **({"partition": slurm.partition} if slurm.partition else {})
    )
    return executor


@dataclass
class CellStatus:
    """What became of every task of a run, for the report, the manifest and the exit status."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def unfinished(self) -> list[Outcome]:
        """The tasks that failed or are missing."""
        return [o for o in self.outcomes.values() if o.status in ("failed", "missing")]

    def count(self, status: str, kinds: tuple[str, ...] = ("eval", "compute")) -> int:
        """How many tasks of ``kinds`` (by default the cells a report reads) ended with ``status``."""
        return sum(o.status == status and o.task.kind in kinds for o in self.outcomes.values())


def run_cells(
    specs: list[Cell],
    *,
    executor: Executor,
    cache_dir: Path,
    log: Callable[[str], None],
) -> CellStatus:
    """Run what is not cached of ``specs``, wave by wave; a failed task fails only what needs it."""
    status = CellStatus()
    waves = plan_waves(specs)
    evals = waves[-1]
    cached_evals = sum(is_cached(cache_dir, task.spec) for task in evals)
    log(f"[cells] {len(evals)} evaluation cells: {cached_evals} cached, {len(evals) - cached_evals} to run")
    total = sum(not is_cached(cache_dir, task.spec) for wave in waves for task in wave)
    ended = 0
    if getattr(executor, "follows_needs", False):  # joblib, Slurm: every task at once, each after its needs
        waves = [[task for wave in waves for task in wave]]
    for wave in waves:
        todo = []
        for task in wave:
            missing = _failed_need(task, status)
            if is_cached(cache_dir, task.spec):
                status.outcomes[task.key] = Outcome(task, "cached")
            elif missing is not None:
                reason = f"needs {missing.task.label}, which failed: {missing.reason}"
                record_failure(cache_dir, task, reason)
                status.outcomes[task.key] = Outcome(task, "failed", reason)
                ended += 1
                log(f"[failed] {task.label}: {reason} ({ended} of {total} tasks)")
            else:
                todo.append(task)
        for outcome in executor.run_wave(todo, log=log):
            status.outcomes[outcome.task.key] = outcome
            ended += 1
            if outcome.status == "failed":
                log(f"[failed] {outcome.task.label}: {outcome.reason} ({ended} of {total} tasks)")
            else:
                log(f"[done] {outcome.task.label} ({ended} of {total} tasks)")
    return status


def collect_cells(specs: list[Cell], *, cache_dir: Path) -> CellStatus:
    """The status of every task of ``specs`` from the cache alone, running nothing (``--collect``)."""
    status = CellStatus()
    for wave in plan_waves(specs):
        for task in wave:
            reason = read_failure(cache_dir, task)
            if is_cached(cache_dir, task.spec):
                status.outcomes[task.key] = Outcome(task, "cached")
            elif reason is not None:
                status.outcomes[task.key] = Outcome(task, "failed", reason)
            else:
                status.outcomes[task.key] = Outcome(task, "missing", "not finished")
    return status


def _failed_need(task: Task, status: CellStatus) -> Outcome | None:
    for fit in task.needs():
        outcome = status.outcomes.get(fit.key)
        if outcome is not None and outcome.status == "failed":
            return outcome
    return None
