"""methods.base.denoise_images and iterate_denoised: stacks of equal-size images for torch methods, processes
for BM3D."""

from __future__ import annotations

import _thread
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from methods.base import Method, TrainingData, denoise_images, iterate_denoised, plan_batches
from methods.bm3d import BM3D
from methods.n2c import NoiseToClean
from noise import parse_noise


class Recorder(Method):
    """A batched denoiser that records the shapes it is called with and halves its input."""

    batched = True

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        self.calls.append(noisy.shape)
        return noisy / 2


class Sleeper(Method):
    """A denoiser of one image per call that takes ``seconds`` and halves its input; it leaves a file in
    ``marks`` as each call starts."""

    def __init__(self, seconds: float, *, marks: Path | None = None) -> None:
        self.seconds = seconds
        self.marks = marks

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        if self.marks is not None:
            (self.marks / f"{os.getpid()}-{time.monotonic_ns()}").touch()
        time.sleep(self.seconds)
        return noisy / 2


def test_plan_batches_stacks_equal_sizes_within_the_pixel_budget() -> None:
    shapes = [(4, 4)] * 3 + [(4, 8)] * 2 + [(4, 4)] * 2
    assert plan_batches(shapes, batch_pixels=32) == [[0, 1], [2, 5], [6], [3], [4]]
    assert plan_batches([(10, 10)] * 2, batch_pixels=1) == [[0], [1]]


def test_batched_denoiser_gets_stacks_and_outputs_keep_the_input_order() -> None:
    rng = np.random.default_rng(0)
    images = [rng.random(shape, dtype=np.float32) for shape in [(6, 5), (5, 6), (6, 5), (6, 5)]]
    recorder = Recorder()
    out = denoise_images(recorder, images, batch_pixels=1000)
    assert recorder.calls == [(3, 6, 5), (5, 6)]
    for image, denoised in zip(images, out, strict=True):
        np.testing.assert_array_equal(denoised, image / 2)


def test_torch_method_stack_matches_one_image_at_a_time() -> None:
    method = NoiseToClean(depth=3, features=4, steps=1, batch_size=1, patch_size=8)
    rng = np.random.default_rng(1)
    images = [rng.random((12, 10), dtype=np.float32) for _ in range(3)]
    stacked = denoise_images(method, images)
    for image, denoised in zip(images, stacked, strict=True):
        np.testing.assert_allclose(denoised, method.denoise(image), atol=1e-6)


def test_bm3d_over_processes_gives_the_outputs_of_one_process() -> None:
    method = BM3D()
    method.fit(TrainingData(noise_model=parse_noise("gaussian:25")), seed=0)
    rng = np.random.default_rng(2)
    images = [np.clip(0.5 + 0.1 * rng.standard_normal((40, 40)), 0, 1).astype(np.float32) for _ in range(3)]
    serial = denoise_images(method, images, jobs=1)
    parallel = denoise_images(method, images, jobs=2)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("jobs", [1, 3])
def test_empty_input_gives_no_output(jobs: int) -> None:
    assert denoise_images(Recorder(), [], jobs=jobs) == []
    assert denoise_images(BM3D(), [], jobs=jobs) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_iterate_denoised_gives_each_group_back_in_order(jobs: int) -> None:
    rng = np.random.default_rng(3)
    groups = [[rng.random((4, 4), dtype=np.float32) for _ in range(size)] for size in (2, 1, 3)]
    out = list(iterate_denoised(Sleeper(0.0), groups, jobs=jobs))
    assert [len(group) for group in out] == [2, 1, 3]
    for group, denoised in zip(groups, out, strict=True):
        for image, half in zip(group, denoised, strict=True):
            np.testing.assert_array_equal(half, image / 2)


@pytest.mark.usefixtures("default_sigint")
def test_ctrl_c_after_the_workers_start_leaves_no_failed_pool_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (KeyboardInterrupt in the main thread) once the workers have taken their first calls:
    joblib then kills the pool, and loky's manager thread must not fail on a call it was handed but had
    not queued (it does when more calls are handed over ahead than its queue takes, as with
    ``pre_dispatch="all"``)."""
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)

    def interrupt_when_both_workers_run() -> None:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()

    watcher = threading.Thread(target=interrupt_when_both_workers_run)
    watcher.start()
    image = np.zeros((4, 4), dtype=np.float32)
    with pytest.raises(KeyboardInterrupt):
        list(iterate_denoised(Sleeper(2.0, marks=tmp_path), [[image]] * 6, jobs=2))
    watcher.join()
    for thread in threading.enumerate():
        if thread.name == "ExecutorManagerThread":
            thread.join(timeout=30)
    assert [f"{f.exc_type.__name__}: {f.exc_value}" for f in failures] == []
