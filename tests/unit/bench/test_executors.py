"""Executors: the plan's order, failures that stop only their dependants, Slurm job construction (with
submitit's own mocked cluster), the code digest, and the seed streams."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from submitit.core import submission
from submitit.slurm.test_slurm import mocked_slurm

import bench.cells.executors as executors
import bench.cells.provenance as provenance
from bench.cells.executors import (
    JoblibExecutor,
    LocalExecutor,
    Outcome,
    RunnerConfig,
    Task,
    collect_cells,
    find_malloc_trim,
    plan_waves,
    read_failure,
    release_memory,
    run_cells,
    write_log_line,
)
from bench.cells.runner import CellRunner, invalidate_cells, is_cached
from bench.cells.specs import EvalSpec, describe_cell, kind_of, make_fit_spec
from bench.cells.store import calls_path, checkpoint_path, fit_folder, record_path
from bench.config.profiles import get_profile
from bench.datasets.base import DatasetSpec
from methods.bm3d import BM3D, BlindBM3D
from methods.gan2gan.method import GAN2GAN
from noise import parse_noise

NOISE = parse_noise("gaussian:25")


def eval_spec(method: str, *, seed: int = 0, params: dict | None = None, test_limit: int = 2) -> EvalSpec:
    return EvalSpec(
        fit=make_fit_spec(
            method,
            params=params or {},
            train_data=DatasetSpec("skimage-train"),
            train_limit=3,
            noise=NOISE,
            seed=seed,
        ),
        test_data=DatasetSpec("skimage-test"),
        test_limit=test_limit,
        test_crop=64,
        noise=NOISE,
        seed=seed,
    )


def quiet_runner(cache: Path) -> CellRunner:
    return CellRunner(cache_dir=cache, device="cpu", progress=False, log=lambda _: None)


def test_plan_puts_upstream_fits_first_and_shares_fits():
    n2c = eval_spec("n2c-eq4")  # builds on GAN2GAN's g_theta1
    bm3d = [eval_spec("bm3d", seed=s) for s in (0, 1)]
    waves = plan_waves([*bm3d, n2c, n2c])
    kinds = [[t.kind for t in wave] for wave in waves]
    assert kinds == [["fit"] * 3, ["fit"], ["eval"] * 3]
    # GAN2GAN heads the longest chain: it starts first although its cell comes last
    assert [t.method for t in waves[0]] == ["gan2gan", "bm3d", "bm3d"]
    assert [t.method for t in waves[1]] == ["n2c-eq4"]
    assert waves[1][0].needs() == [dict(n2c.fit.upstream)["generator"]]


def test_failed_cell_is_reported_while_others_complete(tmp_path, monkeypatch):
    def broken(self, noisy):
        raise RuntimeError("estimator exploded\non two lines")

    monkeypatch.setattr(BlindBM3D, "noise_argument", broken)
    runner = quiet_runner(tmp_path)
    specs = [eval_spec("bm3d-blind"), eval_spec("bm3d")]
    lines: list[str] = []
    status = run_cells(specs, executor=LocalExecutor(runner), cache_dir=tmp_path, log=lines.append)

    assert [o.task.label for o in status.unfinished] == ["eval BM3D(blind) gaussian:25 seed 0"]
    [failed] = status.unfinished
    assert failed.reason == "RuntimeError: estimator exploded on two lines"
    assert is_cached(tmp_path, specs[1]) and not is_cached(tmp_path, specs[0])
    assert read_failure(tmp_path, Task("eval", specs[0])) == failed.reason
    assert any(line.startswith("[failed] eval BM3D(blind)") for line in lines)
    # --collect sees the same without running anything
    collected = collect_cells(specs, cache_dir=tmp_path)
    assert collected.outcomes[specs[0].key].status == "failed"
    assert collected.outcomes[specs[1].key].status == "cached"

    monkeypatch.undo()  # fixed: a rerun computes only the failed cell and clears its record
    rerun = run_cells(specs, executor=LocalExecutor(runner), cache_dir=tmp_path, log=lambda _: None)
    assert rerun.count("done") == 1 and rerun.count("cached") == 1
    assert read_failure(tmp_path, Task("eval", specs[0])) is None


def test_failed_fit_fails_its_dependants_without_running_them(tmp_path, monkeypatch):
    def broken(self, data, **kwargs):
        raise ValueError("generator diverged")

    monkeypatch.setattr(GAN2GAN, "fit", broken)
    spec = eval_spec("n2c-eq4")
    status = run_cells([spec], executor=LocalExecutor(quiet_runner(tmp_path)), cache_dir=tmp_path, log=print)
    reasons = {o.task.label: o.reason for o in status.unfinished}
    assert reasons["fit GAN2GAN gaussian:25 seed 0"] == "ValueError: generator diverged"
    assert reasons["fit N2C(Eq.4) gaussian:25 seed 0"].startswith("needs fit GAN2GAN gaussian:25 seed 0")
    assert reasons["eval N2C(Eq.4) gaussian:25 seed 0"].startswith("needs fit N2C(Eq.4)")
    assert not record_path(tmp_path, "fit", spec.fit.key).exists()


def run_on_threads(monkeypatch, tmp_path: Path, specs: list, task: object) -> tuple:
    """Run ``specs`` on the joblib executor with its worker pool swapped for two threads and each task
    run by ``task(task)``; the status and each task's (label, start, end) times."""
    times: dict[str, tuple[float, float]] = {}

    def timed(one: Task, config: RunnerConfig) -> Outcome:
        start = time.perf_counter()
        outcome = task(one)
        times[one.label] = (start, time.perf_counter())
        return outcome

    monkeypatch.setattr(executors, "start_worker_pool", lambda jobs, **_: ThreadPoolExecutor(jobs))
    monkeypatch.setattr(executors, "submit_in_worker", lambda pool, f, *args: pool.submit(f, *args))
    monkeypatch.setattr(executors, "run_task", timed)
    config = RunnerConfig(cache_dir=tmp_path, data_root=None, device="cpu", threads=1)
    status = run_cells(specs, executor=JoblibExecutor(config, jobs=2), cache_dir=tmp_path, log=print)
    return status, times


def test_joblib_starts_an_evaluation_when_its_own_fit_is_done(tmp_path, monkeypatch):
    """No wave barrier: BM3D's evaluation runs while GAN2GAN still trains, and N2C(Eq.4) trains only after
    the GAN2GAN fit it builds on."""

    bm3d_evaluated = threading.Event()

    def run(task: Task) -> Outcome:
        # GAN2GAN trains until BM3D's evaluation is done: behind a wave barrier it would wait in vain (a
        # causal check, not a race between sleeps, which a loaded machine can reorder)
        if task.method == "gan2gan" and not bm3d_evaluated.wait(timeout=30):
            return Outcome(task, "failed", reason="BM3D's evaluation waited for GAN2GAN's fit")
        if task.kind == "eval" and task.method == "bm3d":
            bm3d_evaluated.set()
        return Outcome(task, "done")

    status, times = run_on_threads(monkeypatch, tmp_path, [eval_spec("n2c-eq4"), eval_spec("bm3d")], run)
    assert len(status.outcomes) == 5 and not status.unfinished, [o.reason for o in status.unfinished]
    gan2gan = times["fit GAN2GAN gaussian:25 seed 0"]
    assert times["eval BM3D gaussian:25 seed 0"][1] <= gan2gan[1]
    assert times["fit N2C(Eq.4) gaussian:25 seed 0"][0] >= gan2gan[1]
    assert times["eval N2C(Eq.4) gaussian:25 seed 0"][0] >= times["fit N2C(Eq.4) gaussian:25 seed 0"][1]


def test_joblib_fails_what_needs_a_dead_worker_and_runs_the_rest(tmp_path, monkeypatch):
    """A worker that dies (its future raises, as loky's does when the OOM killer ends it) fails its task
    and what builds on it, recorded for ``--collect``; the other tasks still run."""

    def die(task: Task) -> Outcome:
        if task.method == "gan2gan":
            raise MemoryError("killed")
        return Outcome(task, "done")

    n2c = eval_spec("n2c-eq4")
    status, times = run_on_threads(monkeypatch, tmp_path, [n2c, eval_spec("bm3d")], die)
    reasons = {o.task.label: o.reason for o in status.unfinished}
    assert reasons["fit GAN2GAN gaussian:25 seed 0"] == "its worker process died: MemoryError: killed"
    assert reasons["eval N2C(Eq.4) gaussian:25 seed 0"].startswith("needs fit N2C(Eq.4) gaussian:25 seed 0")
    assert "fit N2C(Eq.4) gaussian:25 seed 0" not in times  # never started
    assert status.outcomes[eval_spec("bm3d").key].status == "done"
    assert read_failure(tmp_path, Task("eval", n2c)) == reasons["eval N2C(Eq.4) gaussian:25 seed 0"]


def test_deterministic_reaches_the_workers_runner_and_every_record(tmp_path, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    config = RunnerConfig(cache_dir=tmp_path, data_root=None, device="cpu", threads=1, deterministic=True)
    try:
        runner = config.make_runner(progress=False, log=lambda line: None)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # set before CUDA would start
        assert runner.describe_provenance(started="now")["deterministic"] is True
    finally:
        quiet_runner(tmp_path)  # the default: the fastest algorithms again
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark


def test_slurm_submission_of_a_gpu_run_from_a_host_without_cuda(tmp_path, monkeypatch):
    """The README's Slurm command on a login node without a GPU: nothing is resolved there; training
    and network evaluations become GPU jobs, BM3D CPU-only jobs, and each job waits for the fits it
    needs (afterok), not for a wave. The mocked cluster runs each job at once on this CUDA-less host,
    so BM3D's cells finish and the GPU cells fail with one clear line."""
    import bench.config.options as options_module
    from bench.cells.executors import SubmititExecutor
    from bench.config.options import parse_options
    from bench.experiments import EXPERIMENTS
    from bench.experiments.driver import run_experiment
    from bench.run import build_parser

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(options_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    argv = ["table2", "--profile", "smoke", "--methods", "bm3d,n2c-eq4", "--noise", "gaussian:25"]
    argv += ["--device", "cuda", "--executor", "slurm", "--slurm-gpus", "1", "--quiet"]
    argv += ["--slurm-param", "account=lab42", "--out", str(tmp_path)]
    options = parse_options(build_parser().parse_args(argv), command="table2")
    submitted: dict[str, tuple[str, str]] = {}
    submit = SubmititExecutor._submit

    def submit_and_run(self, task, *, needs):  # the mocked cluster runs each job at once
        job = submit(self, task, needs=needs)
        submitted[task.label] = (str(job.job_id), Path(job.paths.submission_file).read_text())
        with mock.job_context(job.job_id):
            submission.process_job(job.paths.folder)
        mock.set_job_state(job.job_id, "COMPLETED")
        return job

    monkeypatch.setattr(SubmititExecutor, "_submit", submit_and_run)
    with mocked_slurm() as mock:
        status = run_experiment(EXPERIMENTS["table2"], options)

    assert status == 1  # the GPU cells failed here, BM3D's finished
    gan, eq4 = "fit GAN2GAN gaussian:25 seed 0", "fit N2C(Eq.4) gaussian:25 seed 0"
    bm3d_fit, bm3d_eval = "fit BM3D gaussian:25 seed 0", "eval BM3D gaussian:25 seed 0"
    assert set(submitted) == {gan, eq4, bm3d_fit, bm3d_eval, "eval N2C(Eq.4) gaussian:25 seed 0"}
    sizes = get_profile("smoke").slurm
    for label, (_, text) in submitted.items():
        network = "BM3D" not in label
        minutes = sizes.cpu_minutes if not network else sizes.train_minutes if "fit" in label else None
        mem = sizes.network_mem_gb if network else sizes.cpu_mem_gb
        assert ("#SBATCH --gpus-per-node=1" in text) == network, label
        assert f"#SBATCH --mem={mem}G" in text and "#SBATCH --account=lab42" in text
        assert f"#SBATCH --time={minutes or sizes.evaluate_minutes}" in text, label
        assert "#SBATCH --cpus-per-task=1" in text
    job = {label: job_id for label, (job_id, _) in submitted.items()}
    assert f"#SBATCH --dependency=afterok:{job[gan]}" in submitted[eq4][1]
    assert f"#SBATCH --dependency=afterok:{job[eq4]}" in submitted["eval N2C(Eq.4) gaussian:25 seed 0"][1]
    assert f"#SBATCH --dependency=afterok:{job[bm3d_fit]}" in submitted[bm3d_eval][1]
    assert "--kill-on-invalid-dep=yes" in submitted[bm3d_eval][1]
    assert "dependency" not in submitted[gan][1]
    reasons = [json.loads(path.read_text())["reason"] for path in options.cache_dir.rglob("*.failed.json")]
    assert reasons and all("torch.cuda.is_available() is False" in r or "needs a fit" in r for r in reasons)
    (csv,) = tmp_path.rglob("table2.csv")
    frame = pd.read_csv(csv)
    assert set(frame["method"]) == {"BM3D"} and set(frame["device"]) == {"cpu"}


def test_code_digest_changes_with_any_shared_helper(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    for entry in provenance.CODE_FILES:
        source = provenance._ROOT / entry
        target = root / entry
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    monkeypatch.setattr(provenance, "_ROOT", root)
    provenance.compute_code_digest.cache_clear()
    spec = eval_spec("n2n")
    before = (provenance.compute_code_digest(), spec.key, spec.fit.key)
    # a helper no method file names in its spec: the shared training loop
    helper = root / "methods" / "training.py"
    helper.write_text(helper.read_text() + "\n# a changed helper\n")
    provenance.compute_code_digest.cache_clear()
    after = (provenance.compute_code_digest(), spec.key, spec.fit.key)
    monkeypatch.undo()
    provenance.compute_code_digest.cache_clear()
    assert all(a != b for a, b in zip(before, after, strict=True))


def test_force_method_deletes_the_method_and_what_builds_on_it(tmp_path):
    n2c, bm3d = eval_spec("n2c-eq4"), eval_spec("bm3d")
    gan = dict(n2c.fit.upstream)["generator"]
    for spec in (gan, n2c.fit, bm3d.fit, n2c, bm3d):
        path = record_path(tmp_path, kind_of(spec), spec.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    removed = invalidate_cells(tmp_path, [n2c, bm3d], methods={"gan2gan"})
    assert removed == 3  # the GAN2GAN fit, the N2C(Eq.4) fit built on it, and its evaluation
    assert is_cached(tmp_path, bm3d) and is_cached(tmp_path, bm3d.fit)
    assert not is_cached(tmp_path, n2c) and not is_cached(tmp_path, n2c.fit)


@pytest.mark.parametrize("kept", [30.0, None])
def test_a_resumed_fit_counts_the_seconds_its_checkpoints_kept(tmp_path, monkeypatch, kept):
    """A call interrupted after a checkpoint written ``kept`` s into it adds those seconds to the fit's
    time; one interrupted before any checkpoint (``None``) adds nothing: its work is redone."""
    spec = eval_spec("bm3d").fit
    checkpoint = checkpoint_path(tmp_path, spec.key)
    fit = BM3D.fit

    def interrupted(self, data, **kwargs):
        if kept is not None:
            started = json.loads(calls_path(tmp_path, spec.key).read_text())["started"]
            checkpoint.write_bytes(b"state")
            os.utime(checkpoint, (started + kept, started + kept))
        raise KeyboardInterrupt

    monkeypatch.setattr(BM3D, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quiet_runner(tmp_path).fit(spec)
    monkeypatch.setattr(BM3D, "fit", fit)
    _, seconds = quiet_runner(tmp_path).fit(spec)

    record = json.loads(record_path(tmp_path, "fit", spec.key).read_text())
    assert record["calls"] == 2 and record["seconds"] == seconds
    assert (kept or 0.0) <= seconds < (kept or 0.0) + 5.0
    assert not calls_path(tmp_path, spec.key).exists() and not checkpoint.exists()
    assert sorted(p.name for p in fit_folder(tmp_path, spec.key).iterdir()) == [".lock", "fit.json", "model"]


def test_a_fit_done_in_one_call_leaves_no_ledger(tmp_path):
    spec = eval_spec("bm3d").fit
    _, seconds = quiet_runner(tmp_path).fit(spec)
    record = json.loads(record_path(tmp_path, "fit", spec.key).read_text())
    assert record["calls"] == 1 and 0.0 <= seconds == record["seconds"] < 5.0
    assert not calls_path(tmp_path, spec.key).exists()


@pytest.mark.parametrize("threads", [0, -1])
def test_runner_refuses_no_threads(tmp_path, threads):
    with pytest.raises(ValueError, match="threads must be at least 1"):
        CellRunner(cache_dir=tmp_path, device="cpu", threads=threads)


@pytest.mark.parametrize(
    ("options", "cuda", "expected"),
    [
        (["--jobs", "2"], False, "joblib"),  # the default fills the cores with worker processes
        (["--jobs", "1"], False, "local"),
        (["--jobs", "2", "--collect"], False, "local"),
        (["--jobs", "2"], True, "local"),  # one GPU serves one process
        (["--jobs", "2", "--device", "cpu"], True, "joblib"),
        (["--jobs", "2", "--executor", "local"], False, "local"),
        (["--jobs", "1", "--executor", "submitit-local"], False, "submitit-local"),
    ],
)
def test_auto_executor_fills_the_cores_on_cpu(monkeypatch, tmp_path, options, cuda, expected):
    import torch

    from bench.config.options import parse_options
    from bench.experiments.driver import make_runner_config, resolve_executor
    from bench.run import build_parser

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    args = build_parser().parse_args(["table2", "--out", str(tmp_path), *options])
    run = parse_options(args, command="table2")
    assert resolve_executor(run) == expected
    # cells in this process spread BM3D's test images; worker processes already fill the cores
    assert make_runner_config(run).image_jobs == (2 if expected == "local" and "2" in options else 1)


def read_resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


@pytest.mark.skipif(find_malloc_trim() is None, reason="the C library has no malloc_trim")
def test_release_memory_returns_a_fragmented_heap_to_the_system():
    """Blocks freed between live ones stay resident until trimmed; a worker must not keep them."""
    release_memory()
    base = read_resident_bytes()
    # 64 KiB each: heap, not mmap; twice what the check needs, since the heap may already hold free
    # chunks from earlier tests in this process that these blocks reuse without growing
    blocks = [np.ones(8192) for _ in range(6000)]
    grown = read_resident_bytes() - base
    kept = blocks[::16]
    del blocks
    release_memory()
    left = read_resident_bytes() - base
    assert grown > 150 * 2**20
    assert left < 0.3 * grown, f"{left / 2**20:.0f} of {grown / 2**20:.0f} MiB still resident"
    assert all(block[-1] == 1.0 for block in kept)  # what is still in use is untouched


def test_log_line_is_one_write(monkeypatch):
    """The command and its workers share stderr: a line written in two pieces can be split by another's."""
    writes: list[str] = []

    class Stream:
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stderr", Stream())
    write_log_line("[fit] N2N: fitting (skimage-train, noise-independent, seed 0)")
    assert writes == ["[fit] N2N: fitting (skimage-train, noise-independent, seed 0)\n"]


def test_cell_records_and_keys_hold_each_noise_as_its_spec_text():
    spec = eval_spec("n2c-eq4")
    plain = describe_cell(spec)
    assert plain["noise"] == plain["fit"]["noise"] == "gaussian:25"
    assert dict(plain["fit"]["upstream"])["generator"]["noise"] == "gaussian:25"
    again = EvalSpec(**{**vars(spec), "noise": parse_noise(NOISE.spec)})
    assert again.key == spec.key
    assert eval_spec("n2c-eq4").key != EvalSpec(**{**vars(spec), "noise": parse_noise("gaussian:26")}).key
