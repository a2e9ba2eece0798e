"""Datasets decoded once per run: the shared file maps back to the same images, is written once, is
rewritten when damaged, and a worker's runner maps it instead of decoding."""

from __future__ import annotations

import numpy as np
import pytest

import bench.cells.runner as runner_module
from bench.cells.executors import RunnerConfig
from bench.cells.runner import CellRunner
from bench.datasets.base import DatasetSpec
from bench.datasets.catalog import DataError, load_dataset
from bench.datasets.shared import map_dataset, share_dataset


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("skimage-test", limit=3)


def test_a_shared_dataset_maps_back_to_the_same_read_only_images(tmp_path, dataset):
    mapped = map_dataset(share_dataset(dataset, tmp_path))
    assert (mapped.name, mapped.names, mapped.source, mapped.checksums) == (
        dataset.name,
        dataset.names,
        dataset.source,
        dataset.checksums,
    )
    assert [image.shape for image in mapped.images] == [image.shape for image in dataset.images]
    for ours, theirs in zip(mapped.images, dataset.images, strict=True):
        np.testing.assert_array_equal(ours, theirs)
        assert ours.dtype == np.float32 and not ours.flags.writeable and type(ours) is np.ndarray


def test_an_identical_shared_file_is_kept(tmp_path, dataset):
    path = share_dataset(dataset, tmp_path)
    written = path.stat().st_mtime_ns
    assert share_dataset(dataset, tmp_path) == path
    assert path.stat().st_mtime_ns == written
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npy"]


def test_a_damaged_shared_file_is_named_and_rewritten(tmp_path, dataset):
    path = share_dataset(dataset, tmp_path)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size - 4)
    with pytest.raises(DataError, match=str(path)):
        map_dataset(path)
    assert share_dataset(dataset, tmp_path) == path
    np.testing.assert_array_equal(map_dataset(path).images[-1], dataset.images[-1])


def test_a_worker_runner_maps_the_datasets_its_command_shared(tmp_path, monkeypatch):
    driver = CellRunner(cache_dir=tmp_path, device="cpu", progress=False)
    decoded = driver.dataset(DatasetSpec("skimage-test"), limit=2, min_size=40)
    config = RunnerConfig(
        cache_dir=tmp_path,
        data_root=None,
        device="cpu",
        threads=1,
        shared_datasets=tuple(driver.share_datasets().items()),
    )

    def no_decoding(*args, **kwargs):
        raise AssertionError("a worker decoded a dataset its command had shared")

    monkeypatch.setattr(runner_module, "load_dataset", no_decoding)
    worker = config.make_runner(progress=False, log=print)
    mapped = worker.dataset(DatasetSpec("skimage-test"), limit=2, min_size=40)
    assert mapped.checksums == decoded.checksums
    np.testing.assert_array_equal(mapped.images[1], decoded.images[1])
    with pytest.raises(AssertionError, match="decoded"):
        worker.dataset(DatasetSpec("skimage-test"), limit=1)  # not shared: decoded as before
