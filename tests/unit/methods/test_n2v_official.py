"""The official n2v package behind our interface: what runs without its environment, and with it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.config.profiles import PROFILES
from bench.run import main
from methods.base import Requirements, build_training_data
from methods.n2v_official import MethodUnavailableError, Noise2VoidOfficial, check_official_environment
from methods.n2v_official_worker import augment_dihedral, tile_images
from methods.registry import make_method
from noise import parse_noise
from tests.conftest import find_report

MASKING = ("percent", "radius", "replacement")
BUDGET = ("steps", "batch_size", "patch_size")


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    missing = str(tmp_path / "absent" / "bin" / "python")
    monkeypatch.setenv("N2V_OFFICIAL_PYTHON", missing)
    return missing


def test_tiles_are_one_common_square_side_multiple_of_the_unet_factor():
    images = [np.zeros((180, 180)), np.ones((70, 200))]
    tiles = tile_images(images, multiple=4)
    assert tiles.shape == (2 * 2 + 1 * 2, 68, 68)  # the side: 70 rounded down to a multiple of 4
    assert tiles.dtype == np.float32


def test_tiles_cover_bsd400_images_whole():
    images = [np.arange(180 * 180, dtype=np.float32).reshape(180, 180)]
    np.testing.assert_array_equal(tile_images(images, multiple=4)[0], images[0])


def test_tiles_refuse_images_smaller_than_the_unet_factor():
    with pytest.raises(ValueError, match="below 4 pixels"):
        tile_images([np.zeros((3, 50))], multiple=4)


def test_dihedral_augmentation_gives_eight_distinct_views():
    tile = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    views = augment_dihedral(tile)
    assert views.shape == (8, 4, 4)
    assert len({view.tobytes() for view in views}) == 8


def test_package_config_maps_our_masking_names_to_the_package():
    method = Noise2VoidOfficial(percent=1.5, radius=5, replacement="uniform_noCP", steps=600, epochs=10)
    config = method.package_config(seed=3)
    assert config["n2v_manipulator"] == "uniform_withoutCP"
    assert (config["n2v_perc_pix"], config["n2v_neighborhood_radius"]) == (1.5, 5)
    assert (config["train_epochs"], config["train_steps_per_epoch"]) == (10, 60)
    assert config["train_loss"] == "mse" and config["seed"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 100, "epochs": 3}, "multiple of epochs"),
        ({"patch_size": 30, "depth": 2}, "multiple of 2\\*\\*depth"),
        ({"replacement": "median"}, "replacement"),
        ({"percent": 0.198, "patch_size": 16}, "masks no pixel"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Noise2VoidOfficial(**kwargs)


def test_every_profile_matches_the_masking_and_budget_of_our_n2v():
    for profile in PROFILES.values():
        ours, official = profile.params("n2v"), profile.params("n2v-official")
        for name in (*MASKING, *BUDGET):
            assert ours[name] == official[name], (profile.name, name)


def test_missing_environment_is_one_line_naming_it(no_environment):
    reason = check_official_environment()
    assert reason is not None and "\n" not in reason
    assert no_environment in reason and "tox -e n2v" in reason
    assert Noise2VoidOfficial.unavailable_reason() == reason


def test_fit_without_environment_raises_the_reason(no_environment):
    data = build_training_data(
        Requirements(),
        clean=(np.zeros((64, 64)),),
        noise_model=parse_noise("gaussian:25"),
        rng=np.random.default_rng(0),
    )
    with pytest.raises(MethodUnavailableError, match="unavailable: no official n2v environment"):
        Noise2VoidOfficial().fit(data, seed=0)


def test_loading_a_corrupt_file_names_it(tmp_path):
    path = tmp_path / "model"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=f"{path}: not a model file"):
        Noise2VoidOfficial.load(path)


def test_n2v_check_without_environment_leaves_the_official_cells_empty(no_environment, tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["n2v-check", "--profile", "smoke", "--out", str(tmp_path), "--quiet"]) == 0
    skipped = [line for line in err.getvalue().splitlines() if line.startswith("[skip]")]
    assert len(skipped) == 1 and no_environment in skipped[0]
    folder = find_report(tmp_path, "n2v-check")
    assert list(pd.read_csv(folder / "n2v-check.csv")["method"]) == ["N2V"]
    report = (folder / "n2v-check.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| gaussian 25"))
    assert row.replace(" ", "").endswith("|-|")  # the official column is kept, empty
    assert "N2V (official) was not run: no official n2v environment" in report


needs_environment = pytest.mark.skipif(
    check_official_environment() is not None, reason=str(check_official_environment())
)


@pytest.mark.n2v_official
@needs_environment
def test_official_fits_a_few_steps_and_denoises_through_our_interface(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    clean = tuple(0.5 + 0.3 * np.sin(xx / (4 + i)) * np.cos(yy / 6) for i in range(4))
    noise = parse_noise("gaussian:25")
    data = build_training_data(Requirements(), clean=clean, noise_model=noise, rng=rng)
    params = {"steps": 20, "epochs": 2, "batch_size": 8, "patch_size": 32, "features": 8, "residual": False}
    method = make_method("n2v-official", params={**params, "percent": 1.5, "radius": 5}, device="cpu")
    method.fit(data, seed=0, progress=False)
    noisy = (clean[0] + noise.sample(clean[0].shape, rng=rng)).astype(np.float32)
    denoised = method.denoise(noisy)
    assert denoised.shape == noisy.shape and denoised.dtype == np.float32
    assert np.isfinite(denoised).all() and not np.array_equal(denoised, noisy)
    method.save(tmp_path / "model")
    again = Noise2VoidOfficial.load(tmp_path / "model")
    np.testing.assert_array_equal(again.denoise(noisy), denoised)
    assert np.isfinite(method.report["final_loss"])


@pytest.mark.n2v_official
@needs_environment
def test_n2v_check_reports_both_side_by_side(tmp_path):
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["n2v-check", "--profile", "smoke", "--out", str(tmp_path), "--quiet"]) == 0
    frame = pd.read_csv(find_report(tmp_path, "n2v-check") / "n2v-check.csv")
    assert sorted(frame["method"]) == ["N2V", "N2V (official)"]
    assert frame["psnr"].notna().all() and (frame["n_images"] == frame["n_images"].iloc[0]).all()
