"""bench.experiments.perf: ratios, bounds and the table2 run record (timings themselves are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bench.experiments.perf import (
    PerfRow,
    measure_generator_iteration,
    measure_pair_generation,
    read_table2_run,
    time_alternating,
)
from bench.reporting.published import TABLE2_METHODS


def test_time_alternating_runs_each_variant_in_turn() -> None:
    calls: list[str] = []
    times = time_alternating(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        repeats=3,
        device=torch.device("cpu"),
    )
    assert calls == ["a", "b"] * 4  # one warm-up each, then alternating
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_ratio_is_reference_over_ours_and_ok_needs_bound_and_validity() -> None:
    assert PerfRow("m", 2.0, 4.0, 1.5, "s").ratio == 2.0
    assert PerfRow("m", 2.0, 4.0, 1.5, "s").ok is True
    assert PerfRow("m", 2.0, 4.0, 2.5, "s").ok is False
    assert PerfRow("m", 2.0, 4.0, 1.5, "s", valid=False).ok is False  # e.g. BM3D outputs differ
    assert PerfRow("m", 2.0, 4.0, float("nan"), "s").ok is None
    assert PerfRow("m", float("nan"), 4.0, 1.0, "s").ok is None


def test_gan2gan_measures_time_both_orders() -> None:
    cpu = torch.device("cpu")
    for row in (
        measure_generator_iteration(batch=2, repeats=1, device=cpu),
        measure_pair_generation(batch=2, patch=32, repeats=1, device=cpu),
    ):
        assert row.ours > 0 and row.reference > 0 and row.bound > 1


def write_manifest(folder: Path, *, statuses: list[str], noises: int = 4) -> None:
    folder.mkdir(parents=True)
    state = {
        "methods": list(TABLE2_METHODS),
        "noises": [f"gaussian:{s}" for s in (15, 25, 30, 50)[:noises]],
        "executor": "joblib",
        "threads_per_cell": 1,
        "wall_seconds": 5400.0,
        "peak_rss_bytes": {"this_process": 2**30, "workers": {"7": 2**30}, "total": 2**31},
        "tasks": [{"status": status} for status in statuses],
    }
    (folder / "manifest.json").write_text(json.dumps(state))


def test_table2_run_counts_only_when_it_computed_the_whole_table(tmp_path: Path) -> None:
    missing = read_table2_run(tmp_path / "none")
    assert all(np.isnan(row.ours) and row.ok is None for row in missing)
    write_manifest(tmp_path / "done", statuses=["done", "done"])
    wall, memory = read_table2_run(tmp_path / "done")
    assert (wall.ours, wall.ratio, wall.ok) == (5400.0, 2.0, True)
    assert (memory.ours, memory.ratio, memory.ok) == (2.0, 3.0, True)
    assert "its workers (1) added up" in memory.note
    write_manifest(tmp_path / "resumed", statuses=["done", "cached"])
    assert "not every cell" in read_table2_run(tmp_path / "resumed")[0].note
    write_manifest(tmp_path / "partial", statuses=["done"], noises=1)
    assert np.isnan(read_table2_run(tmp_path / "partial")[0].ours)
