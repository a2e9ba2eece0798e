"""bench.speed: the comparison runs and reports ratios (the timings themselves are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from bench.speed import TARGETS, main, run_benchmarks, time_alternating


def test_time_alternating_runs_each_variant_in_turn() -> None:
    calls: list[str] = []
    times = time_alternating(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        repeats=3,
        device=torch.device("cpu"),
    )
    assert calls == ["a", "b"] * 4  # one warm-up each, then alternating
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_run_benchmarks_reports_both_speedups() -> None:
    frame = run_benchmarks(device=torch.device("cpu"), gan_batch=2, pair_batch=2, patch=32, repeats=1)
    assert list(frame["benchmark"]) == list(TARGETS)
    assert (frame["ours_s"] > 0).all() and (frame["authors_s"] > 0).all()
    assert frame["speedup"].tolist() == (frame["authors_s"] / frame["ours_s"]).tolist()


def test_main_writes_csv_and_markdown(tmp_path: Path) -> None:
    code = main(
        ["--gan-batch", "2", "--pair-batch", "2", "--patch", "32", "--repeats", "1", "--out", str(tmp_path)]
    )
    frame = pd.read_csv(tmp_path / "gan2gan_cpu.csv")
    assert code == (1 if (~frame["meets_target"]).any() else 0)
    assert "speedup" in (tmp_path / "gan2gan_cpu.md").read_text()
