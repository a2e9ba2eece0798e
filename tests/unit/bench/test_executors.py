"""Executors: the plan's order, failures that stop only their dependants, Slurm job construction (with
submitit's own mocked cluster), the code digest, and the seed streams."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from submitit.core import submission
from submitit.slurm.test_slurm import mocked_slurm

import bench.cells.provenance as provenance
from bench.cells.executors import (
    LocalExecutor,
    RunnerConfig,
    SlurmOptions,
    Task,
    collect_cells,
    find_malloc_trim,
    make_executor,
    plan_waves,
    read_failure,
    release_memory,
    run_cells,
    write_log_line,
)
from bench.cells.runner import CellRunner, invalidate_cells, is_cached
from bench.cells.specs import EvalSpec, describe_cell, kind_of, make_fit_spec
from bench.cells.store import record_path
from bench.datasets.base import DatasetSpec
from methods.bm3d import BlindBM3D
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


def test_slurm_jobs_carry_the_requested_resources(tmp_path):
    config = RunnerConfig(cache_dir=tmp_path, data_root=None, device="cpu", threads=2)
    extra = (("account", "lab42"), ("mem", "16G"))
    slurm = SlurmOptions(partition="gpu", time_min=30, gpus=1, array_parallelism=1, extra=extra)
    specs = [eval_spec("bm3d", seed=s, test_limit=1) for s in (0, 1)]
    with mocked_slurm() as mock:
        executor = make_executor("slurm", runner=quiet_runner(tmp_path), config=config, jobs=1, slurm=slurm)
        submitit_executor = executor.executor
        submit = submitit_executor.map_array

        def submit_and_run(fn, *iterables):  # the mocked cluster runs each array task at once
            jobs = submit(fn, *iterables)
            for job in jobs:
                with mock.job_context(job.job_id):
                    submission.process_job(job.paths.folder)
                mock.set_job_state(job.job_id, "COMPLETED")
            return jobs

        submitit_executor.map_array = submit_and_run
        lines: list[str] = []
        status = run_cells(specs, executor=executor, cache_dir=tmp_path, log=lines.append)

    sbatch = sorted((tmp_path / "submitit").rglob("*submission.sh"))
    assert len(sbatch) == 2  # one job array per wave: the fits, then the evaluations
    text = sbatch[0].read_text()
    for option in (
        "--partition=gpu",
        "--time=30",
        "--gpus-per-node=1",
        "--cpus-per-task=2",
        "--account=lab42",
        "--mem=16G",
        "--array=0-1%1",
    ):
        assert f"#SBATCH {option}" in text, option
    assert status.count("done") == 2 and not status.unfinished
    assert {status.outcomes[spec.key].job_id for spec in specs} == {"13_0", "13_1"}  # the evaluation array
    assert all(is_cached(tmp_path, spec) for spec in specs)
    assert sum("[submitted]" in line and "slurm job" in line for line in lines) == 4


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
    base = read_resident_bytes()
    blocks = [np.ones(8192) for _ in range(3000)]  # 64 KiB each: heap, not mmap
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
