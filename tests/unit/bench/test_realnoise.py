"""Tests of bench.datasets.realnoise: FMD and CT layouts, pairing by name, hold-outs, errors and the
demo data."""

from __future__ import annotations

import itertools
import pathlib
import random
from pathlib import Path

import numpy as np
import pytest
from skimage import io

from bench.cells.runner import draw_noisy_test_set
from bench.cells.specs import EvalSpec, FitSpec
from bench.datasets.base import DatasetSpec
from bench.datasets.catalog import DataError, load_dataset
from bench.datasets.demo import write_ct_fixture, write_fmd_fixture
from bench.datasets.realnoise import (
    CT_SCALE,
    FMD_LEVELS,
    RealNoiseDataset,
    check_real_noise_layout,
    check_real_noise_method,
    describe_real_noise_files,
    find_real_noise_root,
    list_ct_slices,
    list_fmd_pairs,
    load_ct,
    load_fmd,
    make_real_noise_spec,
)
from methods.base import Requirements
from noise import RealNoise


@pytest.fixture(scope="module")
def fmd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FMD fixture at a small size: 2 types x (2 training FoVs + FoV 19), 2 captures each."""
    return write_fmd_fixture(tmp_path_factory.mktemp("fmd"), size=64, captures=2, test_images=2)


def _save(path: Path, grey: int, *, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(path, np.full((size, size), grey, dtype=np.uint8), check_contrast=False)


def _grey(path: Path) -> int:
    return int(io.imread(path).mean())


def _write_tagged_fmd(root: Path) -> dict[tuple[str, str], int]:
    """A hand-made FMD layout where every image's grey level says whose it is: each (type, FoV) has its
    own ground-truth level, its captures that level plus 3; test images likewise, named so that a
    listing in another order would pair them with the wrong ground truth."""
    greys = {}
    for t, kind in enumerate(("zeta", "alpha")):
        for f, fov in enumerate(("10", "2", "19")):
            greys[(kind, fov)] = 20 + 60 * t + 25 * f
            _save(root / "train" / "WF" / "gt" / kind / fov / "avg50.png", greys[(kind, fov)])
            for level in FMD_LEVELS:
                for name in ("z_capture.png", "a_capture.png"):
                    _save(root / "train" / "WF" / level / kind / fov / name, greys[(kind, fov)] + 3)
    for i, name in enumerate(("b.png", "c.png", "a.png")):
        _save(root / "test" / "WF" / "gt" / name, 40 + 40 * i)
        for level in FMD_LEVELS:
            _save(root / "test" / "WF" / level / name, 40 + 40 * i + 3)
    return greys


@pytest.fixture
def shuffled_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Folder listings in a random order (what os.listdir may return), different at every call."""
    original = pathlib.Path.iterdir
    rng = random.Random(0)

    def iterdir(self):
        entries = list(original(self))
        rng.shuffle(entries)
        return iter(entries)

    monkeypatch.setattr(pathlib.Path, "iterdir", iterdir)


def test_training_captures_pair_with_the_ground_truth_of_their_type_and_fov(tmp_path, shuffled_listing):
    greys = _write_tagged_fmd(tmp_path)
    pairs = list_fmd_pairs(tmp_path, level="avg4", split="train")
    assert [p.name for p in pairs] == sorted(p.name for p in pairs)
    assert len(pairs) == 2 * 2 * 2  # 2 types x 2 training FoVs x 2 captures
    for pair in pairs:
        kind, fov, _ = pair.name.split("/")
        assert pair.clean.parent.parts[-2:] == (kind, fov)
        assert _grey(pair.clean) == greys[(kind, fov)] and _grey(pair.noisy) == greys[(kind, fov)] + 3


def test_test_images_pair_by_identical_file_name(tmp_path, shuffled_listing):
    _write_tagged_fmd(tmp_path)
    test = load_fmd(tmp_path, level="avg2", split="test")
    assert test.names == ("a.png", "b.png", "c.png")
    assert [round(float(c.mean()) * 255) for c in test.images] == [120, 40, 80]
    for clean, noisy in zip(test.images, test.noisy, strict=True):
        assert float(np.mean(noisy - clean)) == pytest.approx(3 / 255, abs=1e-6)
    assert len(set(test.checksums)) == 3 and len(set(test.noisy_checksums)) == 3


def test_the_held_out_fov_is_absent_from_training(fmd):
    train = load_fmd(fmd, level="avg1", split="train")
    fovs = {name.split("/")[1] for name in train.names}
    assert fovs == {"1", "2"} and train.noisy is None
    other = list_fmd_pairs(fmd, level="avg1", split="train", held_out_fov="1")
    assert {p.name.split("/")[1] for p in other} == {"2", "19"}


def test_training_sets_hold_the_noisy_captures_and_test_sets_the_pairs(fmd):
    train = load_dataset(make_real_noise_spec("fmd", fmd, level="avg1", split="train"))
    test = load_dataset(make_real_noise_spec("fmd", fmd, level="avg1", split="test"))
    assert isinstance(train, RealNoiseDataset) and isinstance(test, RealNoiseDataset)
    assert len(train) == 2 * 2 * 2 and len(test) == 2 * 2
    assert train.images[0].dtype == np.float32 and not train.images[0].flags.writeable
    assert test.noisy is not None and len(test.noisy) == len(test.images)
    assert (test.split, test.level, test.dataset) == ("test", "avg1", "fmd")


def test_a_training_limit_takes_captures_round_robin_over_fields_of_view(fmd):
    train = load_fmd(fmd, level="avg2", split="train", limit=4)
    assert len(train) == 4
    assert {name.rsplit("/", 1)[0] for name in train.names} == {
        "WideField_BPAE_B/1",
        "WideField_BPAE_B/2",
        "WideField_BPAE_G/1",
        "WideField_BPAE_G/2",
    }


def test_the_fixture_noise_falls_with_averaging(fmd):
    std = {}
    for level in FMD_LEVELS:
        test = load_fmd(fmd, level=level, split="test")
        std[level] = float(np.mean([np.std(n - c) for n, c in zip(test.noisy, test.images, strict=True)]))
    values = [std[level] for level in FMD_LEVELS]
    assert all(a > b for a, b in itertools.pairwise(values)), std
    assert 8 / 255 < std["avg1"] < 30 / 255  # plausible microscopy noise at 8 bits
    assert std["avg16"] < std["avg1"] / 2.5  # about 1/4 for independent captures, plus quantisation
    train = load_fmd(fmd, level="avg1", split="train")
    assert len({c for c in train.checksums}) == len(train)  # distinct captures


def test_a_capture_without_ground_truth_is_one_line_naming_it(tmp_path):
    _write_tagged_fmd(tmp_path)
    (tmp_path / "train" / "WF" / "gt" / "alpha" / "2" / "avg50.png").unlink()
    with pytest.raises(DataError) as error:
        list_fmd_pairs(tmp_path, level="avg1", split="train")
    message = str(error.value)
    assert "\n" not in message and "has no ground truth" in message
    assert str(tmp_path / "train" / "WF" / "avg1" / "alpha" / "2" / "a_capture.png") in message


def test_a_ground_truth_without_captures_is_one_line_naming_it(tmp_path):
    _write_tagged_fmd(tmp_path)
    for capture in (tmp_path / "train" / "WF" / "avg8" / "zeta" / "10").iterdir():
        capture.unlink()
    with pytest.raises(DataError, match="has no captures") as error:
        list_fmd_pairs(tmp_path, level="avg8", split="train")
    assert str(tmp_path / "train" / "WF" / "gt" / "zeta" / "10" / "avg50.png") in str(error.value)
    list_fmd_pairs(tmp_path, level="avg4", split="train")  # other levels are intact


def test_a_test_image_without_ground_truth_and_the_reverse_are_errors(tmp_path):
    _write_tagged_fmd(tmp_path / "one")
    (tmp_path / "one" / "test" / "WF" / "gt" / "b.png").unlink()
    with pytest.raises(DataError, match=r"test image .*avg1/b\.png has no ground truth"):
        load_fmd(tmp_path / "one", level="avg1", split="test")
    _write_tagged_fmd(tmp_path / "two")
    (tmp_path / "two" / "test" / "WF" / "avg16" / "c.png").unlink()
    with pytest.raises(DataError, match=r"ground truth .*gt/c\.png has no noisy test image"):
        list_fmd_pairs(tmp_path / "two", level="avg16", split="test")


def test_a_root_without_the_layout_is_one_line(tmp_path):
    with pytest.raises(DataError, match="no FMD wide-field data in") as error:
        find_real_noise_root("fmd", tmp_path)
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="no CT data in"):
        find_real_noise_root("ct", tmp_path)


def test_the_authors_parent_folder_is_accepted(tmp_path):
    _write_tagged_fmd(tmp_path / "Real_FM_images")
    assert check_real_noise_layout("fmd", tmp_path) == (tmp_path / "Real_FM_images").resolve()


def test_a_missing_level_stops_the_layout_check(tmp_path):
    _write_tagged_fmd(tmp_path)
    for path in sorted((tmp_path / "test" / "WF" / "avg8").iterdir()):
        path.unlink()
    (tmp_path / "test" / "WF" / "avg8").rmdir()
    with pytest.raises(DataError, match=r"avg8 not found"):
        check_real_noise_layout("fmd", tmp_path)


def test_the_manifest_entry_hashes_every_file_read(fmd):
    entry = describe_real_noise_files(make_real_noise_spec("fmd", fmd, level="avg1", split="test"))
    assert entry["n_images"] == 4 and len(entry["noisy_sha256"]) == 4
    assert len(entry["clean_sha256"]) == 4  # test images of one type share a ground truth, file names differ
    train = describe_real_noise_files(make_real_noise_spec("fmd", fmd, level="avg1", split="train"), limit=3)
    assert train["n_images"] == 3 and "clean_sha256" not in train
    assert all(key.startswith("train/WF/avg1/") for key in train["noisy_sha256"])


def test_real_noise_cells_add_nothing_and_refuse_methods_that_need_clean_images(fmd, tmp_path, monkeypatch):
    from bench.cells.runner import CellRunner
    from bench.cells.specs import make_fit_spec
    from methods.n2v import Noise2Void

    seen = []

    class StopError(Exception):
        pass

    def record(self, data, **kwargs):
        seen.append(data)
        raise StopError

    monkeypatch.setattr(Noise2Void, "fit", record)
    train = make_real_noise_spec("fmd", fmd, level="avg1", split="train")
    spec = make_fit_spec("n2v", params={}, train_data=train, train_limit=3, noise=RealNoise("avg1"), seed=0)
    runner = CellRunner(cache_dir=tmp_path, device="cpu", progress=False, log=lambda _: None)
    with pytest.raises(StopError):
        runner.fit(spec)
    [data] = seen
    captures = load_dataset(train, limit=3).images
    assert data.clean is None and data.noise_model is None and len(data.noisy) == 3
    for given, capture in zip(data.noisy, captures, strict=True):
        np.testing.assert_array_equal(given, capture)  # the captures, nothing added
    check_real_noise_method(RealNoise("avg1"), requires=Requirements())
    with pytest.raises(DataError, match="already noisy"):
        check_real_noise_method(RealNoise("avg1"), requires=Requirements(clean=True, noise_model=True))


def test_the_evaluation_takes_the_test_sets_own_noisy_images(fmd):
    name = make_real_noise_spec("fmd", fmd, level="avg4", split="test")
    test = load_dataset(name)
    fit = FitSpec(
        method="n2v",
        params=(),
        train_data=DatasetSpec("x"),
        train_limit=None,
        noise=RealNoise("avg4"),
        seed=0,
    )
    spec = EvalSpec(fit=fit, test_data=name, test_limit=None, test_crop=32, noise=RealNoise("avg4"), seed=0)
    pairs = list(draw_noisy_test_set(test, spec))
    assert [p[0] for p in pairs] == list(test.names)
    for (_, clean, noisy), reference, given in zip(pairs, test.images, test.noisy, strict=True):
        assert clean.shape == (32, 32) and np.array_equal(clean, reference[16:48, 16:48])
        assert np.array_equal(noisy, given[16:48, 16:48])
    synthetic = EvalSpec(
        fit=fit,
        test_data=DatasetSpec("skimage-test"),
        test_limit=1,
        test_crop=None,
        noise=RealNoise("avg4"),
        seed=0,
    )
    with pytest.raises(DataError, match="needs a test set with noisy images"):
        list(draw_noisy_test_set(load_dataset("skimage-test", limit=1), synthetic))


def test_ct_slices_pair_by_patient_and_index_with_the_authors_split(tmp_path):
    root = write_ct_fixture(tmp_path, size=32, slices=3)
    train = list_ct_slices(root, level="Dose50", split="train")
    test = list_ct_slices(root, level="Dose50", split="test")
    assert {p.name.split("/")[0] for p in train} == {"female_1", "male_1"}
    assert {p.name.split("/")[0] for p in test} == {"female_13", "male_12"}
    data = load_ct(root, level="Dose50", split="test")
    assert len(data) == 6 and data.names[0] == "female_13/000"
    for clean, noisy in zip(data.images, data.noisy, strict=True):
        assert clean.min() >= 0.0 and clean.max() <= 1.0 and noisy.max() <= 2.0
        # the slice pairs with its own clean slice, not a neighbour's
        assert np.corrcoef(clean.ravel(), noisy.ravel())[0, 1] > 0.5
    assert float(np.max(data.images[0])) > CT_SCALE  # divided by 0.4 (stored values stay below 0.4)
    loaded = load_dataset(make_real_noise_spec("ct", root, level="Dose100", split="train"), limit=4)
    assert isinstance(loaded, RealNoiseDataset) and len(loaded) == 4 and loaded.noisy is None


def test_a_ct_stack_without_its_clean_stack_is_an_error(tmp_path):
    root = write_ct_fixture(tmp_path, size=32, slices=2)
    (root / "Clean" / "male_1.tif").unlink()
    with pytest.raises(DataError, match=r"CT stack .*male_1\.tif has no clean stack"):
        list_ct_slices(root, level="Dose25", split="train")
