"""Denoise your own images (issue 7): fit on a folder of noisy images, denoise, inspect, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from skimage import io

from bench.cells.metrics import compute_psnr
from methods.cli import main
from methods.modelfile import ModelFileError, load_model_file, read_model_info
from noise import parse_noise
from tests.conftest import REPO, find_shared_data


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Six BSD68 images with one fixed correlated noise, as a user would have them: 8-bit PNGs."""
    root = find_shared_data()
    if root is None:
        pytest.skip("BSD data not found: set GAN2GAN_DATA or put shared/data beside the checkout")
    base = tmp_path_factory.mktemp("user")
    noisy, clean = base / "noisy", base / "clean"
    noisy.mkdir()
    clean.mkdir()
    rng = np.random.default_rng(7)
    noise = parse_noise("correlated:25")
    for path in sorted((root / "BSD68").glob("*.png"))[:6]:
        image = io.imread(path).astype(np.float64) / 255
        io.imsave(clean / path.name, np.rint(image * 255).astype(np.uint8), check_contrast=False)
        corrupted = np.clip(image + noise.sample(image.shape, rng=rng), 0, 1)
        io.imsave(noisy / path.name, np.rint(corrupted * 255).astype(np.uint8), check_contrast=False)
    return noisy, clean


@pytest.fixture(scope="module")
def gan2gan_model(user_folder, tmp_path_factory) -> Path:
    noisy, _ = user_folder
    model = tmp_path_factory.mktemp("model") / "cells.g2g"
    assert main(["fit", "gan2gan", str(noisy), "--out", str(model), "--profile", "smoke", "--quiet"]) == 0
    return model


def test_new_user_fits_and_denoises_a_folder(user_folder, gan2gan_model, tmp_path):
    noisy, clean = user_folder
    out = tmp_path / "denoised"
    assert main(["denoise", str(gan2gan_model), str(noisy), str(out), "--quiet"]) == 0
    before, after = [], []
    for path in sorted(clean.iterdir()):
        truth = io.imread(path) / 255
        result = io.imread(out / path.name)
        assert result.dtype == np.uint8 and result.shape == truth.shape
        before.append(compute_psnr(io.imread(noisy / path.name) / 255, truth))
        after.append(compute_psnr(result / 255, truth))
    assert len(after) == 6
    assert np.mean(after) > np.mean(before)
    assert not list(gan2gan_model.parent.glob(".*checkpoint*"))  # the finished fit left no checkpoint


def test_info_says_what_how_and_on_what(gan2gan_model, user_folder):
    result = subprocess.run(
        [sys.executable, "-m", "methods", "info", str(gan2gan_model)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    text = result.stdout
    assert "GAN2GAN (method gan2gan" in text and "profile: smoke, seed 0" in text
    assert f"6 8-bit images of {user_folder[0].resolve()}" in text
    assert "git revision:" in text and "torch" in text
    assert "g_theta2, G2G_1, G2G_2, G2G_3" in text
    assert "warning: the model" in result.stderr and "profile smoke" in result.stderr


def test_bmp_jpeg_color_and_alpha_are_read_with_one_note_each(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(2)
    gray = np.rint(np.clip(0.5 + 0.1 * rng.standard_normal((48, 40)), 0, 1) * 255).astype(np.uint8)
    io.imsave(folder / "a.bmp", gray, check_contrast=False)
    io.imsave(folder / "b.jpg", np.stack([gray] * 3, axis=-1), check_contrast=False)
    opaque = np.full_like(gray, 255)
    io.imsave(folder / "c.png", np.stack([gray, gray, gray, opaque], axis=-1), check_contrast=False)
    model = tmp_path / "blind.model"
    assert main(["fit", "bm3d-blind", str(folder), "--out", str(model)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: color converted to gray as 0.2125 R + 0.7154 G + 0.0721 B in 2 of 3 images: b.jpg, c.png",
        "note: alpha channel dropped in 1 of 3 images: c.png",
    ]
    assert main(["denoise", str(model), str(folder), str(tmp_path / "out"), "--quiet"]) == 0
    for name in ("a.bmp", "b.jpg", "c.png"):
        result = io.imread(tmp_path / "out" / name)
        assert result.shape == (48, 40) and result.dtype == np.uint8  # same name and format, gray


def test_large_image_is_denoised_by_tiles_like_untiled(gan2gan_model, tmp_path):
    method, _ = load_model_file(gan2gan_model, device="cpu")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:2000, :3000]
    big = (0.5 + 0.3 * np.sin(xx / 40) * np.cos(yy / 25) + 0.08 * rng.standard_normal((2000, 3000))).astype(
        np.float32
    )
    stage = method.stages()["G2G_3"]
    tiled = stage.denoise(big)  # 6 Mpixels: above one forward pass, so tiled
    top, left, size, margin = 1200, 1700, 256, 64
    crop = stage.denoise(np.ascontiguousarray(big[top : top + size, left : left + size]))  # untiled
    inner = slice(margin, size - margin)
    np.testing.assert_allclose(
        tiled[top : top + size, left : left + size][inner, inner], crop[inner, inner], atol=1e-5
    )
    path = tmp_path / "big.png"
    io.imsave(path, np.rint(np.clip(big, 0, 1) * 255).astype(np.uint8), check_contrast=False)
    assert main(["denoise", str(gan2gan_model), str(path), str(tmp_path / "big_out.png"), "--quiet"]) == 0
    assert io.imread(tmp_path / "big_out.png").shape == (2000, 3000)


def test_16_bit_tiff_in_gives_16_bit_tiff_out(tmp_path):
    folder = tmp_path / "tiffs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        image = np.clip(0.5 + 0.1 * rng.standard_normal((64, 80)), 0, 1)
        io.imsave(folder / f"s{i}.tif", np.rint(image * 65535).astype(np.uint16), check_contrast=False)
    model = tmp_path / "bm3d.model"
    assert main(["fit", "bm3d-blind", str(folder), "--out", str(model), "--quiet"]) == 0
    assert read_model_info(model).record["trained_on"]["bit_depth"] == "16-bit"
    assert main(["denoise", str(model), str(folder), str(tmp_path / "out"), "--quiet"]) == 0
    for i in range(2):
        result = io.imread(tmp_path / "out" / f"s{i}.tif")
        assert result.dtype == np.uint16 and result.shape == (64, 80)
        assert result.std() < io.imread(folder / f"s{i}.tif").std()  # it did denoise


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_inputs_exit_2_with_one_line_and_keep_what_exists(gan2gan_model, user_folder, tmp_path, capsys):
    noisy, _ = user_folder
    out = tmp_path / "out"
    out.mkdir()
    kept = out / "earlier.png"
    kept.write_bytes(b"an earlier result")
    model_bytes = gan2gan_model.read_bytes()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fit", "gan2gan", str(empty), "--out", str(tmp_path / "m")]) == 2
    assert "holds no images" in error_line(capsys)

    texty = tmp_path / "texty"
    texty.mkdir()
    (texty / "notes.txt").write_text("not an image")
    assert main(["denoise", str(gan2gan_model), str(texty), str(out)]) == 2
    assert "notes.txt" in error_line(capsys)

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for path in sorted(noisy.iterdir())[:2]:
        (truncated / path.name).write_bytes(path.read_bytes())
    last = sorted(truncated.iterdir())[-1]
    last.write_bytes(last.read_bytes()[:500])
    assert main(["denoise", str(gan2gan_model), str(truncated), str(out)]) == 2
    assert last.name in error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["earlier.png"]  # nothing written before the check

    other = tmp_path / "blind.model"
    assert main(["fit", "bm3d-blind", str(noisy), "--out", str(other), "--quiet"]) == 0
    other_bytes = other.read_bytes()
    assert main(["fit", "gan2gan", str(noisy), "--out", str(other)]) == 2
    assert "holds a BM3D(blind) model" in error_line(capsys)
    assert other.read_bytes() == other_bytes

    sixteen = tmp_path / "sixteen"
    sixteen.mkdir()
    io.imsave(sixteen / "a.tif", np.full((64, 64), 30000, np.uint16), check_contrast=False)
    assert main(["denoise", str(gan2gan_model), str(sixteen), str(out)]) == 2
    assert "16-bit but the model was trained on 8-bit" in error_line(capsys)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.tif").write_bytes((sixteen / "a.tif").read_bytes())
    (mixed / "b.png").write_bytes(sorted(noisy.iterdir())[0].read_bytes())
    assert main(["fit", "bm3d-blind", str(mixed), "--out", str(tmp_path / "x")]) == 2
    assert "mixes bit depths" in error_line(capsys)

    assert main(["denoise", str(sorted(noisy.iterdir())[0]), str(noisy), str(out)]) == 2
    assert "is not a model file of this suite" in error_line(capsys)

    assert main(["fit", "dncnn-b", str(noisy), "--out", str(tmp_path / "d")]) == 2
    assert "fit takes: " in error_line(capsys)

    assert kept.read_bytes() == b"an earlier result" and gan2gan_model.read_bytes() == model_bytes


def test_corrupt_or_newer_model_files_are_clear_errors(gan2gan_model, tmp_path):
    truncated = tmp_path / "truncated.g2g"
    truncated.write_bytes(gan2gan_model.read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="is not a model file of this suite"):
        load_model_file(truncated)

    newer = tmp_path / "newer.g2g"
    with zipfile.ZipFile(gan2gan_model) as source, zipfile.ZipFile(newer, "w") as target:
        header = json.loads(source.read("model.json"))
        target.writestr("model.json", json.dumps({**header, "format_version": 99}))
        target.writestr("weights", source.read("weights"))
    with pytest.raises(ModelFileError, match=r"format version 99; .* upgrade"):
        load_model_file(newer)

    broken = tmp_path / "broken.g2g"
    with zipfile.ZipFile(gan2gan_model) as source, zipfile.ZipFile(broken, "w") as target:
        target.writestr("model.json", source.read("model.json"))
        target.writestr("weights", b"garbage")
    with pytest.raises(ModelFileError, match="the GAN2GAN weights cannot be loaded"):
        load_model_file(broken)
