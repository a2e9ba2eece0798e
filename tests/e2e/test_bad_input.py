"""Bad input as a new user or a hostile tester gives it (issue 21).

Every case runs a command line in this process and must end with the documented exit status (2), exactly
one ``error:`` line naming the path or option, no traceback, and every file that existed before it ran
(inputs, models, reports, cache records) byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from skimage import io

from bench import ablation as bench_ablation
from bench import cache as bench_cache
from bench import run as bench_run
from methods import cli as methods_cli
from tests.conftest import write_image_folder

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "methods": methods_cli.main,
    "bench.run": bench_run.main,
    "bench.cache": bench_cache.main,
    "bench.ablation": bench_ablation.main,
}


@dataclass(frozen=True)
class World:
    """What a user has on disk before the bad command: noisy images, a model, a report and its cache."""

    root: Path
    noisy: Path
    model: Path
    reports: Path
    read_only: Path

    @property
    def image(self) -> Path:
        return self.noisy / "a.png"


def find_read_only_folder(base: Path) -> Path | None:
    """A folder in which this process cannot create a file (root ignores permission bits: /sys then)."""
    for folder in (base, Path("/sys")):
        if folder == base:
            folder = base / "read-only"
            folder.mkdir()
            folder.chmod(0o555)
        try:
            (folder / ".probe").touch()
        except OSError:
            return folder
        (folder / ".probe").unlink()
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world")
    noisy = write_image_folder(root / "noisy", ("a", "b", "c"))
    model = root / "blind.model"
    assert methods_cli.main(["fit", "bm3d-blind", str(noisy), "--out", str(model), "--quiet"]) == 0
    reports = root / "reports"
    args = ["table2", "--profile", "smoke", "--methods", "bm3d", "--noise", "gaussian:25", "--quiet"]
    assert (
        bench_run.main([*args, "--test-data", f"folder:{noisy}", "--out", str(reports), "--jobs", "1"]) == 0
    )
    read_only = find_read_only_folder(root)
    if read_only is None:
        pytest.skip("no folder here refuses to be written (cannot test unwritable outputs)")
    return World(root=root, noisy=noisy, model=model, reports=reports, read_only=read_only)


def write(path: Path, data: bytes | np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        io.imsave(path, data, check_contrast=False)
    return path


def scratch(w: World, name: str) -> Path:
    """A fresh folder of the case ``name`` beside the world's files."""
    folder = w.root / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def symlinked_folder(w: World) -> Path:
    link = scratch(w, "symlink") / "link"
    if not link.is_symlink():
        link.symlink_to(w.noisy, target_is_directory=True)
    return link


def hard_linked_output(w: World) -> Path:
    target = scratch(w, "hardlink") / "a.png"
    if not target.exists():
        os.link(w.image, target)
    return target


def held_lock(w: World) -> Path:
    out = scratch(w, "locked") / "busy.model"
    lock = FileLock(out.with_name(f".{out.name}.lock"))
    lock.acquire()
    _HELD.append(lock)
    return out


_HELD: list[FileLock] = []


def sixteen_bit_image(w: World) -> Path:
    return write(scratch(w, "sixteen") / "a.tif", np.full((64, 64), 30000, np.uint16))


def folder_with(w: World, name: str, files: dict[str, bytes | np.ndarray]) -> Path:
    folder = scratch(w, name)
    for file, data in files.items():
        if not (folder / file).exists():
            write(folder / file, data)
    return folder


def truncated_folder(w: World) -> Path:
    data = {p.name: p.read_bytes() for p in sorted(w.noisy.iterdir())}
    data["c.png"] = data["c.png"][:300]
    return folder_with(w, "truncated", data)


def mixed_depth_folder(w: World) -> Path:
    return folder_with(w, "mixed", {"a.png": w.image.read_bytes(), "b.tif": np.full((64, 64), 9, np.uint16)})


def existing_output(w: World) -> Path:
    return write(scratch(w, "earlier") / "a.png", b"an earlier result")


@dataclass(frozen=True)
class Case:
    """One bad command: where it goes, its arguments (built from the world) and a needle of its error."""

    command: str
    argv: Callable[[World], list[str]]
    needle: Callable[[World], str] | str
    status: int = 2


CASES: dict[str, Case] = {
    # --- denoise: inputs are sacred
    "denoise an image onto itself": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(w.image)],
        "is one of the input images",
    ),
    "denoise a folder into itself": Case(
        "methods", lambda w: ["denoise", str(w.model), str(w.noisy), str(w.noisy)], "is the input folder"
    ),
    "denoise a folder into itself, trailing slash": Case(
        "methods", lambda w: ["denoise", str(w.model), str(w.noisy), f"{w.noisy}/"], "is the input folder"
    ),
    "denoise an image into its own folder": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(w.noisy)],
        "is one of the input images",
    ),
    "denoise a folder into a symlink to it": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.noisy), str(symlinked_folder(w))],
        "is the input folder",
    ),
    "denoise onto a hard link of the input": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(hard_linked_output(w))],
        "is one of the input images",
    ),
    "denoise over an earlier output": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(existing_output(w))],
        "exists; pass --overwrite",
    ),
    "denoise into a missing folder": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(w.root / "nowhere" / "a.png")],
        "does not exist",
    ),
    "denoise into a read-only folder": Case(
        "methods", lambda w: ["denoise", str(w.model), str(w.image), str(w.read_only)], "cannot write in"
    ),
    "denoise a folder into a read-only folder": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.noisy), str(w.read_only / "out")],
        "cannot create the output folder",
    ),
    "denoise a folder into a file": Case(
        "methods", lambda w: ["denoise", str(w.model), str(w.noisy), str(w.model)], "needs an output folder"
    ),
    "denoise into another format": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(w.root / "out.tif")],
        "must keep the input's format",
    ),
    "denoise a text file": Case(
        "methods",
        lambda w: [
            "denoise",
            str(w.model),
            str(write(scratch(w, "text") / "notes.txt", b"x")),
            str(w.root / "o"),
        ],
        "notes.txt is not a PNG, TIFF, BMP or JPEG image",
    ),
    "denoise a missing image": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.root / "missing.png"), str(w.root / "o.png")],
        "missing.png does not exist",
    ),
    "denoise a truncated image": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(truncated_folder(w)), str(w.root / "out-trunc")],
        "c.png",
    ),
    "denoise with an image as the model": Case(
        "methods", lambda w: ["denoise", str(w.image), str(w.noisy), str(w.root / "o")], "is not a model file"
    ),
    "denoise with a missing model": Case(
        "methods",
        lambda w: ["denoise", str(w.root / "no.model"), str(w.noisy), str(w.root / "o")],
        "no.model does not exist",
    ),
    "denoise at a stage the model lacks": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(w.root / "o.png"), "--stage", "G2G_9"],
        "has no stage 'G2G_9'",
    ),
    "denoise a 1x1 image blind": Case(
        "methods",
        lambda w: [
            "denoise",
            str(w.model),
            str(write(scratch(w, "tiny") / "dot.png", np.full((1, 1), 9, np.uint8))),
            str(w.root / "dot.png"),
        ],
        "cannot denoise",
    ),
    "denoise 16-bit with an 8-bit model": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(sixteen_bit_image(w)), str(w.root / "o.tif")],
        "16-bit but the model was trained on 8-bit",
    ),
    "denoise on a missing device": Case(
        "methods",
        lambda w: ["denoise", str(w.model), str(w.image), str(w.root / "o.png"), "--device", "tpu"],
        "tpu",
    ),
    # --- fit: the model file is checked before any training
    "fit into a folder": Case(
        "methods", lambda w: ["fit", "bm3d-blind", str(w.noisy), "--out", str(w.root)], "is a folder"
    ),
    "fit into a missing folder": Case(
        "methods",
        lambda w: ["fit", "n2v", str(w.noisy), "--out", str(w.root / "nowhere" / "m")],
        "does not exist",
    ),
    "fit into a read-only folder": Case(
        "methods", lambda w: ["fit", "n2v", str(w.noisy), "--out", str(w.read_only / "m")], "cannot write in"
    ),
    "fit with a negative seed": Case(
        "methods",
        lambda w: ["fit", "n2v", str(w.noisy), "--out", str(w.root / "m"), "--seed", "-1"],
        "--seed must be",
    ),
    "fit over a model": Case(
        "methods",
        lambda w: ["fit", "bm3d-blind", str(w.noisy), "--out", str(w.model)],
        "exists; pass --overwrite",
    ),
    "fit over a model of another method": Case(
        "methods",
        lambda w: ["fit", "n2v", str(w.noisy), "--out", str(w.model), "--overwrite"],
        "holds a BM3D(blind) model",
    ),
    "fit over a file that is no model": Case(
        "methods", lambda w: ["fit", "n2v", str(w.noisy), "--out", str(w.image)], "is not a model file"
    ),
    "fit while another fit writes the model": Case(
        "methods",
        lambda w: ["fit", "n2v", str(w.noisy), "--out", str(held_lock(w))],
        "another fit is writing",
    ),
    "fit a method that needs clean images": Case(
        "methods", lambda w: ["fit", "dncnn-b", str(w.noisy), "--out", str(w.root / "m")], "fit takes: "
    ),
    "fit an unknown method": Case(
        "methods", lambda w: ["fit", "n2x", str(w.noisy), "--out", str(w.root / "m")], "unknown method 'n2x'"
    ),
    "fit at an unknown profile": Case(
        "methods",
        lambda w: ["fit", "n2v", str(w.noisy), "--out", str(w.root / "m"), "--profile", "gpu"],
        "unknown profile 'gpu'",
    ),
    "fit on an empty folder": Case(
        "methods",
        lambda w: ["fit", "n2v", str(scratch(w, "empty")), "--out", str(w.root / "m")],
        "holds no images",
    ),
    "fit on a folder with a text file": Case(
        "methods",
        lambda w: [
            "fit",
            "n2v",
            str(folder_with(w, "texty", {"notes.txt": b"x"})),
            "--out",
            str(w.root / "m"),
        ],
        "notes.txt",
    ),
    "fit on mixed bit depths": Case(
        "methods",
        lambda w: ["fit", "bm3d-blind", str(mixed_depth_folder(w)), "--out", str(w.root / "m")],
        "mixes bit depths",
    ),
    "fit on a missing folder": Case(
        "methods",
        lambda w: ["fit", "n2v", str(w.root / "absent"), "--out", str(w.root / "m")],
        "absent is not a folder",
    ),
    "info on an image": Case("methods", lambda w: ["info", str(w.image)], "is not a model file"),
    # --- bench.run: options and folders are checked before any work
    "bench --out is a file": Case(
        "bench.run", lambda w: [*bm3d_table(w), "--out", str(w.model)], "is a file"
    ),
    "bench --cache is a file": Case(
        "bench.run", lambda w: [*bm3d_table(w), "--out", str(w.reports), "--cache", str(w.model)], "is a file"
    ),
    "bench --out in a read-only folder": Case(
        "bench.run", lambda w: [*bm3d_table(w), "--out", str(w.read_only / "reports")], "cannot create --out"
    ),
    "bench read-only cache with cells to compute": Case(
        "bench.run",
        lambda w: [*bm3d_table(w, "gaussian:30"), "--out", str(w.reports), "--cache", str(w.read_only)],
        "cannot write in --cache",
    ),
    "bench --jobs 0": Case(
        "bench.run",
        lambda w: [*bm3d_table(w), "--out", str(w.reports), "--jobs", "0"],
        "--jobs must be at least 1",
    ),
    "bench --methods empty": Case(
        "bench.run",
        lambda w: ["table2", "--profile", "smoke", "--methods", "", "--out", str(w.reports)],
        "--methods names nothing",
    ),
    "bench --noise gaussian:1e9": Case(
        "bench.run",
        lambda w: ["table2", "--profile", "smoke", "--noise", "gaussian:1e9", "--out", str(w.reports)],
        "levels are in 0-255 units",
    ),
    "bench --executor slurm without Slurm": Case(
        "bench.run", lambda w: [*bm3d_table(w), "--out", str(w.reports), "--executor", "slurm"], "needs Slurm"
    ),
    "bench unknown command": Case(
        "bench.run", lambda w: ["table9", "--out", str(w.reports)], "unknown command 'table9'"
    ),
    "bench unknown method": Case(
        "bench.run",
        lambda w: ["table2", "--profile", "smoke", "--methods", "n2x", "--out", str(w.reports)],
        "unknown method 'n2x'",
    ),
    "bench missing test folder": Case(
        "bench.run",
        lambda w: [*bm3d_table(w), "--out", str(w.reports), "--test-data", f"folder:{w.root / 'gone'}"],
        "does not exist",
    ),
    "ablation --out is a file": Case(
        "bench.ablation", lambda w: ["extraction", "--profile", "smoke", "--out", str(w.model)], "is a file"
    ),
    "cache show of an unknown key": Case(
        "bench.cache", lambda w: ["--cache", str(w.reports / ".cache"), "show", "abcdef"], "no finished cell"
    ),
    "cache show of a non-key": Case(
        "bench.cache", lambda w: ["--cache", str(w.reports / ".cache"), "show", "xyz"], "is not a cell key"
    ),
    "cache in a missing folder": Case(
        "bench.cache", lambda w: ["--cache", str(w.root / "nocache"), "list"], "does not exist"
    ),
}


def bm3d_table(w: World, noise: str = "gaussian:25") -> list[str]:
    """A BM3D Table 2 run on the world's images (its gaussian:25 cell is cached by the world)."""
    return [
        "table2",
        "--profile",
        "smoke",
        "--methods",
        "bm3d",
        "--noise",
        noise,
        "--test-data",
        f"folder:{w.noisy}",
        "--quiet",
    ]


def snapshot(root: Path) -> dict[Path, str]:
    """Every file under ``root`` (symlinks not followed) and the SHA-256 of its bytes."""
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_loses_nothing(name: str, world: World, capsys: pytest.CaptureFixture[str]):
    case = CASES[name]
    argv = case.argv(world)
    before = snapshot(world.root)
    capsys.readouterr()
    status = COMMANDS[case.command](argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == case.status, err
    assert len(errors) == 1, err
    needle = case.needle(world) if callable(case.needle) else case.needle
    assert needle in errors[0]
    assert "Traceback" not in err
    after = snapshot(world.root)
    changed = [path for path, digest in before.items() if after.get(path) != digest]
    assert not changed, f"{name} changed or removed {changed}"


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30
