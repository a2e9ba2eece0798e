"""A damaged cache is detected, named, set aside and recomputed (issue 21): the table equals a clean run's."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from bench import cache as bench_cache
from bench.run import main
from tests.conftest import find_report, write_image_folder

SMOKE = ["table2", "--profile", "smoke", "--methods", "bm3d,n2v", "--noise", "gaussian:25", "--quiet"]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A finished smoke run (BM3D and N2V on two images) and the arguments that made it, less ``--out``."""
    root = tmp_path_factory.mktemp("damage")
    images = write_image_folder(root / "images", ("img0", "img1"))
    args = [*SMOKE, "--test-data", f"folder:{images}", "--jobs", "1"]
    assert main([*args, "--out", str(root / "clean")]) == 0
    return root / "clean", args


def metrics(out: Path) -> pd.DataFrame:
    table = pd.read_csv(find_report(out, "table2") / "table2.csv")
    return table[[c for c in table.columns if "second" not in c and "time" not in c]]


def n2v_records(cache: Path) -> tuple[Path, Path]:
    """The N2V cell's evaluation record and fit folder."""
    for path in (cache / "evals").glob("*.json"):
        if path.name.count(".") == 1:
            record = json.loads(path.read_text())
            if record["spec"]["fit"]["method"] == "n2v":
                return path, cache / "fits" / record["fit_key"]
    raise AssertionError("no N2V evaluation in the cache")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def edit_psnr(path: Path) -> None:
    record = json.loads(path.read_text())
    record["stages"][0]["psnr"] = 99.0
    path.write_text(json.dumps(record, indent=1))


def edit_seconds(path: Path) -> None:
    record = json.loads(path.read_text())
    record["seconds"] = 0.001
    path.write_text(json.dumps(record, indent=1))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "evaluation truncated": ("eval", truncate),
    "evaluation emptied": ("eval", empty),
    "evaluation's PSNR edited": ("eval", edit_psnr),
    "fit record truncated": ("fit.json", truncate),
    "fit record edited": ("fit.json", edit_seconds),
    "model file truncated": ("model", truncate),
    "model file emptied": ("model", empty),
    "model file with one byte flipped": ("model", flip_a_byte),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_record_is_named_set_aside_and_recomputed(name, clean_run, tmp_path, capsys):
    clean, args = clean_run
    out = tmp_path / "out"
    shutil.copytree(clean, out)
    cache = out / ".cache"
    evaluation, fit = n2v_records(cache)
    which, damage = DAMAGE[name]
    damaged = {"eval": evaluation, "fit.json": fit / "fit.json", "model": fit / "model"}[which]
    damage(damaged)
    if which != "eval":  # a cached evaluation never reads its fit: make the run need the fit again
        evaluation.unlink()

    capsys.readouterr()
    assert bench_cache.main(["--cache", str(cache), "verify"]) == 1
    assert f"damaged: {damaged}:" in capsys.readouterr().out

    assert main([*args, "--out", str(out)]) == 0
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: cache record")
    ]
    assert len(warnings) == 1 and str(damaged) in warnings[0]
    pd.testing.assert_frame_equal(metrics(out), metrics(clean))
    assert [p.name.split("-", 2)[2] for p in (cache / "damaged").iterdir()] != []  # kept, not deleted
    assert bench_cache.main(["--cache", str(cache), "verify"]) == 0


def test_a_damaged_computation_is_listed_set_aside_and_recomputed(tmp_path, capsys):
    """Computation cells (Theorem 1's Monte Carlo) are records like the others: listed, shown, verified,
    and a damaged one is moved to damaged/ and computed again to the same numbers."""
    argv = ["theorem1", "--profile", "smoke", "--executor", "local", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    before = pd.read_csv(find_report(tmp_path, "theorem1") / "theorem1.csv")
    cache = tmp_path / ".cache"
    (record,) = (cache / "computed").glob("*.json")
    assert bench_cache.main(["--cache", str(cache), "list"]) == 0
    assert f"{record.stem}  comp  Theorem 1  seed 0" in capsys.readouterr().out
    assert bench_cache.main(["--cache", str(cache), "show", record.stem[:8]]) == 0
    assert "function: bench.experiments.theorem1:simulate_theorem1" in capsys.readouterr().out
    record.write_text(record.read_text().replace('"seed": 0', '"seed": 9', 1))  # an edited record
    assert bench_cache.main(["--cache", str(cache), "verify"]) == 1
    assert main(argv) == 0
    assert "is damaged" in capsys.readouterr().err and len(list((cache / "damaged").iterdir())) == 1
    pd.testing.assert_frame_equal(before, pd.read_csv(find_report(tmp_path, "theorem1") / "theorem1.csv"))
