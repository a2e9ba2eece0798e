"""The README's worked example of a new experiment runs as written: one module and one registry line give
it seeds, the cache, a report folder, a manifest and ``--collect``."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
from pathlib import Path

import pandas as pd

import bench.run
from bench.run import main

README = Path(__file__).resolve().parents[3] / "README.md"


def read_example() -> str:
    """The Python block of the README's "Adding a method or an experiment" section."""
    section = README.read_text().split("## Adding a method or an experiment", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


def test_the_readme_example_experiment_runs_with_seeds_and_collect(tmp_path, monkeypatch):
    package = tmp_path / "readme_example"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "noisy_input.py").write_text(read_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("readme_example.noisy_input")
    monkeypatch.setitem(bench.run.EXPERIMENTS, "noisy-input", module.NoisyInput())  # the registry line
    argv = ["noisy-input", "--profile", "smoke", "--seeds", "2", "--out", str(tmp_path / "out")]
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main([*argv, "--executor", "local"]) == 0
        assert main([*argv, "--collect"]) == 0
    folder = tmp_path / "out" / "noisy-input" / "smoke_seeds-0+1"
    frame = pd.read_csv(folder / "noisy-input.csv")
    assert sorted(frame["seed"].unique()) == [0, 1] and set(frame["noise"]) == {"gaussian:15", "gaussian:50"}
    by_noise = frame.groupby("noise")["psnr"].mean()
    assert 20 < by_noise["gaussian:15"] < 26 and 10 < by_noise["gaussian:50"] < 16  # 20log10(255/sigma)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1] and {c["status"] for c in manifest["cells"]} == {"cached"}
    assert "4 cells: 4 computed" in err.getvalue() and "4 cells: 0 computed, 4 from cache" in err.getvalue()
