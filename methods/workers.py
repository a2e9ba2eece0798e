"""Worker processes that end with the process that started them, and pools that stop quietly.

joblib's loky workers outlive a parent that is killed (SIGKILL, SIGTERM from ``kill`` or Slurm, the
OOM killer): they hold both ends of their call pipe, so they never see it close, and run on with their
memory until their idle timeout (a day for the table executor's workers). A worker started through
:func:`call_in_worker` watches its parent and exits as soon as it is gone; what it had finished is in
the cache, what it had not is redone by the rerun, as after a SIGKILL. A pool stopped by Ctrl-C
while calls wait to be queued trips a loky race that :func:`silence_pool_shutdown_race` keeps quiet.
:func:`start_worker_pool` gives loky's pool itself, for a caller that hands over each call when it is
ready (the table executor: an evaluation as soon as its fit is done) instead of a whole batch at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import cache
from typing import TypeVar

import joblib
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import ProcessPoolExecutor, _ExecutorManagerThread
from joblib.parallel import ParallelBackendBase

#: How often a worker checks that its parent is still there, in seconds.
POLL_SECONDS = 0.5

T = TypeVar("T")


@cache
def exit_with_parent(parent: int) -> None:
    """End this process once ``parent``, the process that started it, is gone (once per process).

    A daemon thread polls the parent process id; run in ``parent`` itself (joblib runs one job in
    the calling process), it does nothing.
    """
    if os.getpid() == parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def call_in_worker(parent: int, function: Callable[..., T], /, *args: object) -> T:
    """``function(*args)`` in a worker process that ends with ``parent`` (the caller's ``os.getpid()``)."""
    exit_with_parent(parent)
    return function(*args)


def delay_in_worker(function: Callable[..., T]) -> Callable[..., tuple]:
    """``joblib.delayed(function)`` for a pool of this process whose workers end with it, and whose
    stop by Ctrl-C stays quiet (:func:`silence_pool_shutdown_race`)."""
    silence_pool_shutdown_race()
    parent = os.getpid()

    def delayed(*args: object) -> tuple:
        return joblib.delayed(call_in_worker)(parent, function, *args)

    return delayed


def start_worker_pool(jobs: int, *, idle_seconds: float) -> ProcessPoolExecutor:
    """loky's pool of ``jobs`` worker processes (the one ``joblib.Parallel`` uses), its workers' thread
    pools capped as joblib caps them, retired after ``idle_seconds`` without work; calls go in through
    :func:`submit_in_worker`. A pool stopped by Ctrl-C stays quiet (:func:`silence_pool_shutdown_race`).
    """
    silence_pool_shutdown_race()
    threads = str(max(joblib.cpu_count() // jobs, 1))
    env = {var: os.environ.get(var, threads) for var in ParallelBackendBase.MAX_NUM_THREADS_VARS}
    if ParallelBackendBase.TBB_ENABLE_IPC_VAR not in os.environ:
        env[ParallelBackendBase.TBB_ENABLE_IPC_VAR] = "1"
    return get_reusable_executor(max_workers=jobs, timeout=idle_seconds, env=env)


def submit_in_worker(pool: ProcessPoolExecutor, function: Callable[..., T], /, *args: object) -> Future:
    """``function(*args)`` in a worker of ``pool`` (:func:`start_worker_pool`) that ends with this
    process; the future of its result."""
    return pool.submit(call_in_worker, os.getpid(), function, *args)


@cache
def silence_pool_shutdown_race() -> None:
    """Keep loky's harmless traceback off the screen when a pool is stopped (Ctrl-C) (once per process).

    Stopping a loky pool that still has calls waiting to be queued for its workers (as right after a
    wave of tasks is handed over) makes its manager thread fail with ``KeyError``: it drops those
    calls' records, then looks one up. The workers are killed and the command ends as interrupted all
    the same; only that thread's traceback is silenced, nothing else.
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        thread = args.thread
        if not (
            args.exc_type is KeyError
            and isinstance(thread, _ExecutorManagerThread)
            and thread.executor_flags.kill_workers
            and thread.is_shutting_down()
        ):
            previous(args)

    threading.excepthook = hook
